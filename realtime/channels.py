"""Channel names and who may subscribe to them (contract §4).

Shared by the web node (token response), the outbox writers, the publisher actor and
the gateway.
"""
import re

ATTENDANCES = "attendances"
SERVERS = "servers"
LEAVE = "leave"
#: attendance requests (contract §3.1): ``request.created`` / ``request.updated``
REQUESTS = "requests"
#: each branch's live today Summary (webapp.attendance.summaries); kept off ``attendances``,
#: whose events outside consumers count one per attendance change
SUMMARIES = "summaries"
#: roster changes (``schedule.updated``) for the admins' live week grid; like ``summaries``
#: not one of the contract's channels, so not listed either
SCHEDULES = "schedules"
#: channels only admins may read, listed in token responses and ``ready`` frames
ADMIN_CHANNELS = (ATTENDANCES, SERVERS, LEAVE, REQUESTS)
#: admin-only too, but not listed: only the dashboards ask for them, and the lists the
#: contract shows stay as they were
UNLISTED_ADMIN_CHANNELS = (SUMMARIES, SCHEDULES)
_USER_CHANNEL = re.compile(r"^user\.([1-9][0-9]{0,18})$")


def user_channel(user_id):
    return f"user.{user_id}"


def is_valid(channel):
    return (channel in ADMIN_CHANNELS or channel in UNLISTED_ADMIN_CHANNELS
            or bool(_USER_CHANNEL.match(str(channel))))


def may_subscribe(*, user_id, role, channel):
    """Admins: every channel. Employees: only their own ``user.{id}``."""
    if not is_valid(channel):
        return False
    if role == "admin":
        return True
    return channel == user_channel(user_id)


def default_channels(*, user_id, role):
    """The channels listed in a token response and the gateway's ``ready`` frame."""
    if role == "admin":
        return [*ADMIN_CHANNELS, user_channel(user_id)]
    return [user_channel(user_id)]


def channels_for_attendance_event(user_id):
    return [ATTENDANCES, user_channel(user_id)]


def channels_for_leave_event(user_id):
    return [LEAVE, user_channel(user_id)]


def channels_for_request_event(user_id):
    return [REQUESTS, user_channel(user_id)]


def channels_for_schedule_event():
    return [SCHEDULES]

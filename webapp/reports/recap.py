"""The monthly recap (contract ``Recap``), computed with a fixed number of queries.

Whatever the number of employees and days: one query each for the users, the holidays,
the month's attendances and the month's approved leave; the rest is arithmetic in memory
(a 2,000-employee month is ~60,000 small rows).

Definitions (contract §3 and README "Monthly recap"): the counted days of a user are
the month's days from the later of the 1st and the day the user was created, up to today
(branch-local), today only once the branch's shift has ended. ``work_days`` are the
counted days that are branch work days and not holidays; ``leave`` counts those covered
by approved leave; ``absent`` those with neither an attendance nor approved leave.
``present``, ``late``, ``late_minutes``, ``early_leave`` and ``worked_minutes`` count every
attendance of the month up to today, on any day.
"""
import calendar
import datetime as dt
import re

from sqlalchemy import select

from webapp.accounts.models import User
from webapp.attendance.models import Attendance
from webapp.clock import utcnow
from webapp.holidays.services import branch_holidays, days_between, holidays_by_scope
from webapp.leave.models import KINDS, LeaveRequest

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)


def parse_month(raw, errors, *, default):
    if raw in (None, ""):
        return default
    match = MONTH_RE.match(raw) if isinstance(raw, str) else None
    if match and 2000 <= int(match.group(1)) <= 2100:
        return int(match.group(1)), int(match.group(2))
    errors["month"] = "Bulan harus berformat YYYY-MM."
    return None


def month_bounds(year, month):
    return dt.date(year, month, 1), dt.date(year, month, calendar.monthrange(year, month)[1])


def last_counted_day(branch, month_end, now):
    """The last day of the month that counts: today only after the shift end."""
    today = branch.local_date(now)
    if month_end < today:
        return month_end
    if now >= branch.local_instant(today, branch.shift_end):
        return today
    return today - dt.timedelta(days=1)


def _minutes(delta):
    return int(delta.total_seconds() // 60)


def late_minutes(branch, work_date, check_in_at):
    start = branch.local_instant(work_date, branch.shift_start)
    return max(0, _minutes(check_in_at.replace(tzinfo=dt.timezone.utc) - start))


def monthly_recap(dbsession, *, year, month, branches, now=None):
    """``[Recap]`` for the active users of ``branches``, ordered by branch then name."""
    now = now or utcnow()
    month_start, month_end = month_bounds(year, month)
    by_id = {b.id: b for b in branches}
    users = dbsession.execute(
        select(User.id, User.name, User.branch_id, User.created_at)
        .where(User.active.is_(True), User.branch_id.in_(list(by_id)))
        .order_by(User.branch_id, User.name, User.id)
    ).all()
    user_ids = [u.id for u in users]
    holidays = holidays_by_scope(dbsession, month_start, month_end)
    attendances = dbsession.execute(
        select(Attendance.user_id, Attendance.work_date, Attendance.check_in_at,
               Attendance.check_out_at, Attendance.status, Attendance.early_leave)
        .where(Attendance.user_id.in_(user_ids), Attendance.work_date >= month_start,
               Attendance.work_date <= month_end)
    ).all() if user_ids else []
    leaves = dbsession.execute(
        select(LeaveRequest.user_id, LeaveRequest.kind, LeaveRequest.date_from,
               LeaveRequest.date_to)
        .where(LeaveRequest.user_id.in_(user_ids), LeaveRequest.status == "approved",
               LeaveRequest.date_from <= month_end, LeaveRequest.date_to >= month_start)
    ).all() if user_ids else []

    per_user = {uid: [] for uid in user_ids}
    for row in attendances:
        per_user[row.user_id].append(row)
    leave_days = {uid: {} for uid in user_ids}
    for row in leaves:
        for day in days_between(max(row.date_from, month_start), min(row.date_to, month_end)):
            leave_days[row.user_id][day] = row.kind

    calendars = {}  # per branch: the month's work days up to the last counted day
    for branch in branches:
        off = branch_holidays(holidays, branch)
        last = last_counted_day(branch, month_end, now)
        calendars[branch.id] = [day for day in days_between(month_start, last)
                                if day.isoweekday() in branch.weekdays and day not in off]

    return [
        _recap(user, by_id[user.branch_id], calendars[user.branch_id], per_user[user.id],
               leave_days[user.id])
        for user in users
    ]


def _recap(user, branch, branch_work_days, attendances, leave_days):
    created = user.created_at.replace(tzinfo=dt.timezone.utc).astimezone(branch.zone).date()
    counted = [day for day in branch_work_days if day >= created]
    attended = {a.work_date for a in attendances}
    leave = dict.fromkeys(KINDS, 0)
    absent = 0
    for day in counted:
        kind = leave_days.get(day)
        if kind:
            leave[kind] += 1
        elif day not in attended:
            absent += 1
    late = [a for a in attendances if a.status == "late"]
    return {
        "user": {"id": user.id, "name": user.name},
        "branch": branch.code,
        "work_days": len(counted),
        "present": len(attendances),
        "late": len(late),
        "late_minutes": sum(late_minutes(branch, a.work_date, a.check_in_at) for a in late),
        "early_leave": sum(1 for a in attendances if a.early_leave),
        "leave": leave,
        "absent": absent,
        "worked_minutes": sum(_minutes(a.check_out_at - a.check_in_at)
                              for a in attendances if a.check_out_at is not None),
    }

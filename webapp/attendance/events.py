"""Attendance events for the outbox: type, channels and payload of an attendance change."""
from webapp.attendance.serializers import attendance_json
from webapp.events.services import record_event
from realtime.channels import channels_for_attendance_event

ATTENDANCE_CREATED = "attendance.created"
ATTENDANCE_UPDATED = "attendance.updated"


def record_attendance_event(dbsession, *, event_type, attendance, node_id):
    dbsession.flush()  # the attendance needs its id in the payload
    return record_event(
        dbsession, event_type=event_type, aggregate_id=attendance.id,
        user_id=attendance.user_id, channels=channels_for_attendance_event(attendance.user_id),
        payload=attendance_json(attendance), node_id=node_id,
    )

"""The attendance audit trail: one appended row per change, in the change's transaction.

This module only ever *adds* ``AttendanceAudit`` rows; nothing in the code base updates
or deletes them (tests/unit/test_audit_append_only.py checks the source, and database
triggers refuse it anyway).
"""
from sqlalchemy import insert, select

from webapp.attendance.models import AttendanceAudit
from webapp.clock import local_iso
from webapp.clock import utcnow_naive
from webapp.db import execute_write

#: the fields an entry's ``changes`` compares, as the API shows them
AUDITED = ("check_in_at", "check_out_at", "status", "early_leave", "note", "auto_closed",
           "overtime_minutes", "overtime_status")
#: what a not-yet-existing attendance "was" (so a new one lists what it was created with)
NOTHING = {"check_in_at": None, "check_out_at": None, "status": None, "early_leave": False,
           "note": None, "auto_closed": False, "overtime_minutes": 0, "overtime_status": "none"}


def snapshot(attendance):
    zone = attendance.branch.zone
    return {
        "check_in_at": local_iso(attendance.check_in_at, zone),
        "check_out_at": local_iso(attendance.check_out_at, zone),
        "status": attendance.status,
        "early_leave": bool(attendance.early_leave),
        "note": attendance.note,
        "auto_closed": bool(attendance.auto_closed),
        "overtime_minutes": attendance.overtime_minutes or 0,
        "overtime_status": attendance.overtime_status or "none",
    }


def changes_between(before, after):
    return {field: [before[field], after[field]] for field in AUDITED
            if before[field] != after[field]}


def append(dbsession, attendance, *, action, before, actor, node_id, reason=None):
    """Append the entry for ``attendance``'s change since ``before`` (a :func:`snapshot`).

    One Core INSERT (no ORM unit of work): check-in and check-out append one per request.
    Returns the new entry's id."""
    dbsession.flush()  # an ORM-managed attendance needs its id and its changes written
    return execute_write(dbsession, insert(AttendanceAudit.__table__), {
        "attendance_id": attendance.id, "at": utcnow_naive(),
        "actor_id": actor.id if actor else None, "action": action,
        "changes": changes_between(before, snapshot(attendance)), "reason": reason,
        "node_id": node_id,
    }).inserted_primary_key[0]


def entries(dbsession, attendance_id):
    return list(dbsession.scalars(
        select(AttendanceAudit).where(AttendanceAudit.attendance_id == attendance_id)
        .order_by(AttendanceAudit.id)
    ))

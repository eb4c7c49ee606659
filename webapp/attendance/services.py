"""Attendance rules: check in, check out, the end-of-day flag, and the read queries.

Correctness under races comes from the database, not from read-then-write:
the unique index (user_id, work_date) decides between concurrent check-ins, and a
guarded UPDATE (``check_out_at IS NULL``) between concurrent check-outs. Every change
appends its audit entry and its outbox event in the same transaction.
"""
import datetime as dt

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.attendance import audit
from webapp.attendance.events import (ATTENDANCE_CREATED, ATTENDANCE_UPDATED,
                                      record_attendance_event)
from webapp.attendance.models import Attendance
from webapp.attendance.serializers import attendance_json
from webapp.branches.geofence import check_location
from webapp.branches.services import all_branches
from webapp.clock import utcnow
from webapp.db import execute_write
from webapp.errors import ApiError


def status_for(branch, local_instant):
    """``late`` strictly after shift start + grace (08:15:00 is still on time)."""
    start = dt.datetime.combine(local_instant.date(), branch.shift_start, tzinfo=branch.zone)
    deadline = start + dt.timedelta(minutes=branch.grace_minutes)
    return "late" if local_instant > deadline else "present"


def is_early_leave(branch, attendance):
    """Checked out before the shift end of its (branch-local) work date."""
    if attendance.check_out_at is None:
        return False
    shift_end = branch.local_instant(attendance.work_date, branch.shift_end)
    return attendance.check_out_at.replace(tzinfo=dt.timezone.utc) < shift_end


def _naive(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def attendance_for_day(dbsession, user_id, work_date):
    return dbsession.scalar(
        select(Attendance).where(Attendance.user_id == user_id, Attendance.work_date == work_date)
    )


def _already_checked_in(existing):
    return ApiError(
        409, "already_checked_in", "Anda sudah absen masuk hari ini.",
        extra={"attendance": attendance_json(existing)} if existing else None,
    )


def _check_in_location(dbsession, branch, location, *, user_id, work_date):
    """The geofence distance. A repeated check-in from outside the fence still answers
    ``already_checked_in`` (the 409 it got before), not a 422."""
    try:
        return check_location(branch, location)
    except ApiError:
        existing = attendance_for_day(dbsession, user_id, work_date)
        if existing is not None:
            raise _already_checked_in(existing) from None
        raise


def _detached(user, branch, **values):
    """An Attendance that is not in the session: the answer and the event's payload are
    built from what was written, without reading it back (see check_in)."""
    attendance = Attendance(**values)
    attendance.user, attendance.branch = user, branch
    return attendance


def check_in(dbsession, *, user, node_id, note=None, now=None, location=None):
    """Create today's attendance, or raise 409 ``already_checked_in`` (with the existing one).

    Where the branch has a geofence, ``location`` must be inside it (422 otherwise).
    The hot path of the morning rush, so it is three INSERT statements (attendance, audit,
    outbox) without the ORM's unit of work. The unique index decides, and a duplicate
    fails only its own statement on MariaDB and SQLite alike, so neither a SELECT before
    it nor a SAVEPOINT around it is needed (the loser then reads the winner's committed
    row, READ COMMITTED).
    """
    now = (now or utcnow()).replace(microsecond=0)
    branch = user.branch
    local = now.astimezone(branch.zone)
    work_date = local.date()
    distance = _check_in_location(dbsession, branch, location, user_id=user.id,
                                  work_date=work_date)
    values = {
        "user_id": user.id, "branch_id": branch.id, "work_date": work_date,
        "check_in_at": _naive(now), "check_out_at": None, "status": status_for(branch, local),
        "check_in_node": node_id, "check_out_node": None, "note": note, "auto_closed": False,
        "early_leave": False, "corrected": False, "check_in_distance_m": distance,
        "check_out_distance_m": None,
    }
    try:
        inserted = execute_write(dbsession, insert(Attendance.__table__), values)
    except IntegrityError:
        raise _already_checked_in(attendance_for_day(dbsession, user.id, work_date)) from None
    attendance = _detached(user, branch, id=inserted.inserted_primary_key[0], **values)
    audit.append(dbsession, attendance, action="check_in", before=audit.NOTHING, actor=user,
                 node_id=node_id)
    record_attendance_event(dbsession, event_type=ATTENDANCE_CREATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _already_checked_out(attendance):
    return ApiError(
        409, "already_checked_out", "Anda sudah absen pulang hari ini.",
        extra={"attendance": attendance_json(attendance)},
    )


def _open_attendance(dbsession, user, work_date):
    """Today's attendance row (columns only: the user and branch are already known)."""
    row = dbsession.execute(
        select(Attendance.__table__)
        .where(Attendance.user_id == user.id, Attendance.work_date == work_date)
    ).mappings().first()
    if row is None:
        return None
    branch = user.branch if row["branch_id"] == user.branch_id else None
    if branch is None:  # moved to another branch since (an admin's change): read it whole
        return attendance_for_day(dbsession, user.id, work_date)
    return _detached(user, branch, **row)


def check_out(dbsession, *, user, node_id, note=None, now=None, location=None):
    """Close today's attendance; 409 ``not_checked_in`` / ``already_checked_out``; 422 for a
    location outside the branch's geofence. One SELECT, a guarded UPDATE, two INSERTs."""
    now = (now or utcnow()).replace(microsecond=0)
    work_date = now.astimezone(user.branch.zone).date()
    attendance = _open_attendance(dbsession, user, work_date)
    if attendance is None:
        raise ApiError(409, "not_checked_in", "Anda belum absen masuk hari ini.")
    if attendance.check_out_at is not None:
        raise _already_checked_out(attendance)
    branch = attendance.branch
    distance = check_location(branch, location)
    before = audit.snapshot(attendance)
    shift_end = branch.local_instant(work_date, branch.shift_end)
    values = {"check_out_at": _naive(now), "check_out_node": node_id,
              "early_leave": now < shift_end, "check_out_distance_m": distance}
    if note:
        values["note"] = note
    closed = execute_write(
        dbsession,
        update(Attendance.__table__)
        .where(Attendance.id == attendance.id, Attendance.check_out_at.is_(None))
        .values(**values),
    ).rowcount
    if not closed:
        # a concurrent check-out won: answer with its row
        raise _already_checked_out(attendance_for_day(dbsession, user.id, work_date))
    attendance = _detached(user, branch, **{**_columns(attendance), **values})
    audit.append(dbsession, attendance, action="check_out", before=before, actor=user,
                 node_id=node_id)
    record_attendance_event(dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _columns(attendance):
    return {column.key: getattr(attendance, column.key)
            for column in Attendance.__table__.columns}


def flag_open_attendances(dbsession, *, node_id, now=None, branch_codes=None):
    """End of day: mark attendances still open after their branch-local day ``auto_closed``.

    Returns the outbox event ids written (one ``attendance.updated`` each). Idempotent:
    a flagged row is not flagged again.
    """
    now = now or utcnow()
    event_ids = []
    for branch in all_branches(dbsession):
        if branch_codes and branch.code not in branch_codes:
            continue
        today = branch.local_date(now)
        stale = dbsession.scalars(
            select(Attendance).where(
                Attendance.branch_id == branch.id,
                Attendance.work_date < today,
                Attendance.check_out_at.is_(None),
                Attendance.auto_closed.is_(False),
            ).with_for_update()
        ).all()
        for attendance in stale:
            before = audit.snapshot(attendance)
            attendance.auto_closed = True
            audit.append(dbsession, attendance, action="auto_close", before=before, actor=None,
                         node_id=node_id)
            event = record_attendance_event(
                dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance, node_id=node_id
            )
            event_ids.append(event.id)
    return event_ids


# -- queries --------------------------------------------------------------------------

def history_query(*, date_from=None, date_to=None, branch=None, user_id=None, status=None):
    query = select(Attendance)
    if date_from:
        query = query.where(Attendance.work_date >= date_from)
    if date_to:
        query = query.where(Attendance.work_date <= date_to)
    if branch is not None:
        query = query.where(Attendance.branch_id == branch.id)
    if user_id:
        query = query.where(Attendance.user_id == user_id)
    if status:
        query = query.where(Attendance.status == status)
    return query


NEWEST_FIRST = (Attendance.work_date.desc(), Attendance.check_in_at.desc(), Attendance.id.desc())

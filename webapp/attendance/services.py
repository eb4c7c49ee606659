"""Attendance rules: check in, check out, the end-of-day flag, and the read queries.

An attendance belongs to the shift the employee is scheduled for (webapp.shifts.roster):
its ``work_date`` is the date the shift starts, lateness, early leave and overtime are
measured against that shift, and a check-in on a day off has no shift (every minute
worked is overtime). The shift's code and instants are written on the attendance.

Correctness under races comes from the database, not from read-then-write:
the unique index (user_id, work_date) decides between concurrent check-ins, and a
guarded UPDATE (``check_out_at IS NULL``) between concurrent check-outs. Every change
appends its audit entry and its outbox event in the same transaction.
"""
import datetime as dt

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.attendance import audit
from webapp.attendance.events import (ATTENDANCE_CREATED, ATTENDANCE_UPDATED,
                                      record_attendance_event)
from webapp.attendance.models import Attendance
from webapp.attendance.serializers import attendance_json
from webapp.branches.geofence import locate
from webapp.branches.models import ShiftType
from webapp.branches.services import all_branches
from webapp.clock import utcnow
from webapp.db import execute_write
from webapp.errors import ApiError
from webapp.shifts.roster import shift_for_check_in

#: an attendance still open this long after its shift's end is closed at the shift's end
#: (a day off's: after the end of its work date)
AUTO_CLOSE_AFTER = dt.timedelta(hours=4)
#: the rules of a shift type that is gone (there is no delete, but be safe)
_NO_RULES = ShiftType(grace_minutes=0, early_leave_grace_minutes=0, overtime_after_minutes=0)


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
    """``(distance, site)``. A repeated check-in from outside the fence still answers
    ``already_checked_in`` (the 409 it got before), not a 422."""
    try:
        return locate(branch, location)
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


def _whole_minutes(delta):
    return max(0, int(delta.total_seconds() // 60))


def shift_columns(shift, work_date, zone):
    """The attendance columns naming its shift (all NULL on a day off)."""
    if shift is None:
        return {"shift_type_id": None, "shift_code": None, "shift_start_at": None,
                "shift_end_at": None}
    start, end = shift.instants(work_date, zone)
    return {"shift_type_id": shift.id, "shift_code": shift.code,
            "shift_start_at": _naive(start), "shift_end_at": _naive(end)}


def shift_rules(dbsession, branch, shift_type_id):
    """The ShiftType whose grace and thresholds apply (the branch's default is cached)."""
    if shift_type_id is None:
        return None
    default = branch.default_shift
    if default is not None and default.id == shift_type_id:
        return default
    return dbsession.get(ShiftType, shift_type_id) or _NO_RULES


def shift_status(rules, shift_start_at, check_in_at):
    """``late`` strictly after the shift's start + grace; a day off is ``present``.
    Instants naive UTC."""
    if shift_start_at is None:
        return "present"
    deadline = shift_start_at + dt.timedelta(minutes=rules.grace_minutes)
    return "late" if check_in_at > deadline else "present"


def shift_early_leave(rules, shift_end_at, check_out_at):
    """Checked out before the shift's end − ``early_leave_grace_minutes``."""
    if shift_end_at is None or check_out_at is None:
        return False
    return check_out_at < shift_end_at - dt.timedelta(minutes=rules.early_leave_grace_minutes)


def shift_overtime(rules, shift_end_at, check_in_at, check_out_at):
    """Minutes worked after the shift's end when they exceed ``overtime_after_minutes``
    (else 0); on a day off every minute worked; 0 while open."""
    if check_out_at is None:
        return 0
    if shift_end_at is None:
        return _whole_minutes(check_out_at - check_in_at)
    after = _whole_minutes(check_out_at - max(check_in_at, shift_end_at))
    return after if after > rules.overtime_after_minutes else 0


def overtime_status_for(minutes, previous="none"):
    """``pending`` once there is overtime (a decided one stays decided while it lasts)."""
    if not minutes:
        return "none"
    return previous if previous in ("approved", "rejected") else "pending"


def apply_rules(dbsession, attendance):
    """Recompute status, early leave and overtime of *attendance* (ORM or detached) from
    its shift and instants."""
    rules = shift_rules(dbsession, attendance.branch, attendance.shift_type_id)
    attendance.status = shift_status(rules, attendance.shift_start_at, attendance.check_in_at)
    attendance.early_leave = shift_early_leave(rules, attendance.shift_end_at,
                                               attendance.check_out_at)
    minutes = shift_overtime(rules, attendance.shift_end_at, attendance.check_in_at,
                             attendance.check_out_at)
    attendance.overtime_status = overtime_status_for(
        minutes, attendance.overtime_status if minutes == attendance.overtime_minutes
        else "none")
    attendance.overtime_minutes = minutes


def closable_until(attendance, zone):
    """The instant (naive UTC) after which an open attendance is auto-closed, and no
    check-out closes it any more: 4 hours after its shift's end; without a shift, 4 hours
    after the end of its work date (branch-local midnight)."""
    if attendance.shift_end_at is not None:
        return attendance.shift_end_at + AUTO_CLOSE_AFTER
    midnight = dt.datetime.combine(attendance.work_date + dt.timedelta(days=1), dt.time(0),
                                   tzinfo=zone)
    return _naive(midnight) + AUTO_CLOSE_AFTER


def _offline_reason(offline, now, zone):
    """The audit's reason of an action made offline: its entry's ``at`` is when it
    arrived, its changes carry the device's time."""
    if not offline:
        return None
    return f"Dicatat offline pukul {now.astimezone(zone).isoformat(timespec='seconds')}."


def check_in(dbsession, *, user, node_id, note=None, now=None, location=None,
             at_kiosk=False, offline=False, holidays=None):
    """Create the attendance of the shift *now* belongs to, or raise 409
    ``already_checked_in`` (with the existing one).

    Where the branch has sites (or a geofence), ``location`` must be inside one (422
    otherwise). The hot path of the morning rush: the roster's small read (the holidays
    come from *holidays*, the node's cache, when given: webapp.holidays.cache), then three
    INSERT statements (attendance, audit, outbox) without the ORM's unit of work. The
    unique index (user, work date) decides, and a duplicate fails only its own statement on
    MariaDB and SQLite alike, so neither a SELECT before it nor a SAVEPOINT around it is
    needed (the loser then reads the winner's committed row, READ COMMITTED).

    ``at_kiosk``: a kiosk code proved presence, which satisfies the sites. ``offline``:
    the action was made without a network and *now* is the device's time of it.
    """
    now = (now or utcnow()).replace(microsecond=0)
    branch = user.branch
    work_date, shift = shift_for_check_in(dbsession, user=user, branch=branch, now=now,
                                          holidays=holidays)
    distance, site = (None, None) if at_kiosk else _check_in_location(
        dbsession, branch, location, user_id=user.id, work_date=work_date)
    columns = shift_columns(shift, work_date, branch.zone)
    values = {
        "user_id": user.id, "branch_id": branch.id, "work_date": work_date,
        "check_in_at": _naive(now), "check_out_at": None,
        "status": shift_status(shift, columns["shift_start_at"], _naive(now)),
        "check_in_node": node_id, "check_out_node": None, "note": note, "auto_closed": False,
        "early_leave": False, "corrected": False, "check_in_distance_m": distance,
        "check_out_distance_m": None, **columns, "overtime_minutes": 0,
        "overtime_status": "none", "check_in_site": site, "check_out_site": None,
        "offline": bool(offline),
    }
    try:
        inserted = execute_write(dbsession, insert(Attendance.__table__), values)
    except IntegrityError:
        raise _already_checked_in(attendance_for_day(dbsession, user.id, work_date)) from None
    attendance = _detached(user, branch, id=inserted.inserted_primary_key[0], **values)
    audit.append(dbsession, attendance, action="check_in", before=audit.NOTHING, actor=user,
                 node_id=node_id, reason=_offline_reason(offline, now, branch.zone))
    record_attendance_event(dbsession, event_type=ATTENDANCE_CREATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _already_checked_out(attendance):
    return ApiError(
        409, "already_checked_out", "Anda sudah absen pulang hari ini.",
        extra={"attendance": attendance_json(attendance)},
    )


def _recent_attendances(dbsession, user, today):
    """The user's attendances of yesterday, today and tomorrow (a check-in 3 hours before
    a shift after midnight), newest work date first (columns only: the user and branch
    are already known)."""
    rows = dbsession.execute(
        select(Attendance.__table__)
        .where(Attendance.user_id == user.id,
               Attendance.work_date >= today - dt.timedelta(days=1),
               Attendance.work_date <= today + dt.timedelta(days=1))
        .order_by(Attendance.work_date.desc())
    ).mappings().all()
    attendances = []
    for row in rows:
        if row["branch_id"] != user.branch_id:  # moved since (an admin's change): read whole
            attendances.append(dbsession.get(Attendance, row["id"]))
        else:
            attendances.append(_detached(user, user.branch, **row))
    return attendances


def check_out(dbsession, *, user, node_id, note=None, now=None, location=None,
              at_kiosk=False, offline=False):
    """Close the open attendance of the user's current shift: the newest one still open and
    not past its auto-close time (a night shift's check-out the next morning closes the
    attendance of the day before). 409 ``not_checked_in`` / ``already_checked_out``; 422
    for a location outside the branch's sites. One SELECT, a guarded UPDATE, two INSERTs.
    ``at_kiosk`` and ``offline`` as for :func:`check_in`.
    """
    now = (now or utcnow()).replace(microsecond=0)
    naive_now = _naive(now)
    recent = _recent_attendances(dbsession, user, now.astimezone(user.branch.zone).date())
    attendance = next((a for a in recent if a.check_out_at is None and not a.auto_closed
                       and naive_now <= closable_until(a, a.branch.zone)), None)
    if attendance is None:
        newest = next((a for a in recent if a.work_date <= user.branch.local_date(now)), None)
        if newest is not None and newest.check_out_at is not None:
            raise _already_checked_out(newest)
        raise ApiError(409, "not_checked_in", "Anda belum absen masuk hari ini.")
    branch = attendance.branch
    if offline and naive_now < attendance.check_in_at:
        raise ApiError(422, "offline_proof_invalid",
                       "Waktu pulang offline sebelum waktu masuk.")
    distance, site = (None, None) if at_kiosk else locate(branch, location)
    before = audit.snapshot(attendance)
    rules = shift_rules(dbsession, branch, attendance.shift_type_id)
    minutes = shift_overtime(rules, attendance.shift_end_at, attendance.check_in_at, naive_now)
    values = {"check_out_at": naive_now, "check_out_node": node_id,
              "early_leave": shift_early_leave(rules, attendance.shift_end_at, naive_now),
              "check_out_distance_m": distance, "check_out_site": site,
              "overtime_minutes": minutes, "overtime_status": overtime_status_for(minutes)}
    if note:
        values["note"] = note
    if offline:
        values["offline"] = True
    closed = execute_write(
        dbsession,
        update(Attendance.__table__)
        .where(Attendance.id == attendance.id, Attendance.check_out_at.is_(None))
        .values(**values),
    ).rowcount
    if not closed:
        # a concurrent check-out won: answer with its row
        raise _already_checked_out(attendance_for_day(dbsession, user.id,
                                                      attendance.work_date))
    attendance = _detached(attendance.user, branch, **{**_columns(attendance), **values})
    audit.append(dbsession, attendance, action="check_out", before=before, actor=user,
                 node_id=node_id, reason=_offline_reason(offline, now, branch.zone))
    record_attendance_event(dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _columns(attendance):
    return {column.key: getattr(attendance, column.key)
            for column in Attendance.__table__.columns}


def flag_open_attendances(dbsession, *, node_id, now=None, branch_codes=None):
    """Auto-close: every attendance still open 4 hours after its shift's end is closed at
    the shift's end (``auto_closed``; without a shift, 4 hours after the end of its work
    date, and its check-out stays unknown). Tomorrow's check-in is then never taken for a
    check-out of today.

    Returns the outbox event ids written (one ``attendance.updated`` each). Idempotent:
    a closed row is not closed again.
    """
    now = now or utcnow()
    naive_now = _naive(now)
    event_ids = []
    for branch in all_branches(dbsession):
        if branch_codes and branch.code not in branch_codes:
            continue
        # a day off's attendance of a date D is due at D+1 04:00 local
        due_day = (now - AUTO_CLOSE_AFTER).astimezone(branch.zone).date()
        stale = dbsession.scalars(
            select(Attendance).where(
                Attendance.branch_id == branch.id,
                Attendance.work_date <= branch.local_date(now),
                Attendance.check_out_at.is_(None),
                Attendance.auto_closed.is_(False),
                or_(Attendance.shift_end_at <= naive_now - AUTO_CLOSE_AFTER,
                    and_(Attendance.shift_end_at.is_(None), Attendance.work_date < due_day)),
            ).with_for_update()
        ).all()
        for attendance in stale:
            before = audit.snapshot(attendance)
            attendance.auto_closed = True
            if attendance.shift_end_at is not None:
                attendance.check_out_at = max(attendance.check_in_at, attendance.shift_end_at)
                attendance.check_out_node = node_id
                apply_rules(dbsession, attendance)
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

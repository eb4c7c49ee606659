"""Which shift each employee works on each date: the roster (contract §3.1 ``Roster``).

For a user and a date, in this order:
1. the newest assignment (highest id) covering the date (and its weekday, if it names
   weekdays) decides: its shift type (``source`` ``assignment``) or a day off (``off``);
2. else a holiday of the user's branch (national or its own) is a day off (``holiday``);
3. else the branch's work days have its default shift type (``branch_default``);
4. else it is a day off (``off``).

Computed in one pass, with a fixed number of queries whatever the number of users and
days: the branches (cached rows), the shift types, the holidays of the range (the check-in
takes them from the node's cache) and the assignments overlapping it; the days are then
painted in Python, oldest assignment first, so that each later one overwrites the days it
shares with earlier ones.
"""
import datetime as dt
import functools

from sqlalchemy import bindparam, select

from webapp.branches.models import ShiftType
from webapp.holidays.services import branch_holidays, days_between, holidays_by_scope
from webapp.shifts.models import ShiftAssignment

ASSIGNMENT, BRANCH_DEFAULT, HOLIDAY, OFF = "assignment", "branch_default", "holiday", "off"
#: a check-in this long before a shift's start counts for that shift (contract §3.1)
EARLY_CHECK_IN = dt.timedelta(hours=3)


def weekday_set(text):
    return frozenset(int(d) for d in text.split(",")) if text else None


def _painted(assignments, date_from, date_to):
    """``{(user_id, day): shift_type_id or None}`` of *assignments* (oldest first)."""
    painted = {}
    for user_id, first, last, weekdays, shift_type_id in assignments:
        days = weekday_set(weekdays)
        for day in days_between(max(first, date_from), min(last, date_to)):
            if days is None or day.isoweekday() in days:
                painted[(user_id, day)] = shift_type_id
    return painted


_ASSIGNMENT_COLUMNS = (ShiftAssignment.user_id, ShiftAssignment.date_from,
                       ShiftAssignment.date_to, ShiftAssignment.weekdays,
                       ShiftAssignment.shift_type_id)
_OVERLAPPING = (ShiftAssignment.date_from <= bindparam("date_to"),
                ShiftAssignment.date_to >= bindparam("date_from"))
#: one user's assignments (every check-in and check-out asks): built once, since building
#: and keying a SELECT costs several times what executing this one does
_ONE_USERS_ASSIGNMENTS = (select(*_ASSIGNMENT_COLUMNS)
                          .where(ShiftAssignment.user_id == bindparam("user_id"), *_OVERLAPPING)
                          .order_by(ShiftAssignment.id))


def _assignments(dbsession, user_ids, date_from, date_to):
    dates = {"date_from": date_from, "date_to": date_to}
    if len(user_ids) == 1:
        return dbsession.execute(_ONE_USERS_ASSIGNMENTS,
                                 {"user_id": next(iter(user_ids)), **dates}).all()
    query = (select(*_ASSIGNMENT_COLUMNS)
             .where(ShiftAssignment.user_id.in_(sorted(user_ids)), *_OVERLAPPING)
             .order_by(ShiftAssignment.id))
    return dbsession.execute(query, dates).all()


def roster(dbsession, *, users, branches, date_from, date_to, shift_types=None,
           holidays=None):
    """``{user_id: [(day, ShiftType or None, source)]}`` for *users* (rows with ``id`` and
    ``branch_id``) over [date_from, date_to]; *branches* ``{id: Branch}`` (with their
    default shift types); *shift_types* ``{id: ShiftType}`` (read when not given);
    *holidays* ``(start, end) -> {scope: {dates}}`` (read from the database when not
    given: :func:`holidays_by_scope`)."""
    if not users:
        return {}
    assignments = _assignments(dbsession, {u.id for u in users}, date_from, date_to)
    painted = _painted(assignments, date_from, date_to)
    if shift_types is None:
        wanted = {row.shift_type_id for row in assignments if row.shift_type_id is not None}
        shift_types = {s.id: s for s in dbsession.scalars(
            select(ShiftType).where(ShiftType.id.in_(wanted)))} if wanted else {}
    by_scope = (holidays or functools.partial(holidays_by_scope, dbsession))(date_from, date_to)
    days = list(days_between(date_from, date_to))
    calendars = {}  # per branch: [(day, shift, source)] without assignments
    for branch_id in {u.branch_id for u in users}:
        branch = branches[branch_id]
        off, default = branch_holidays(by_scope, branch), branch.default_shift_type()
        calendars[branch_id] = [
            (day, None, HOLIDAY) if day in off
            else (day, default, BRANCH_DEFAULT) if day.isoweekday() in branch.weekdays
            else (day, None, OFF)
            for day in days]
    result = {}
    for user in users:
        calendar = calendars[user.branch_id]
        if not any((user.id, day) in painted for day in days):
            result[user.id] = calendar
            continue
        entries = []
        for entry in calendar:
            key = (user.id, entry[0])
            if key in painted:
                shift_id = painted[key]
                shift = shift_types.get(shift_id) if shift_id is not None else None
                entry = (entry[0], shift, ASSIGNMENT if shift is not None else OFF)
            entries.append(entry)
        result[user.id] = entries
    return result


def shift_instance(shift, day, zone):
    """``(start, end)`` aware instants of *shift* starting on local *day*."""
    return shift.instants(day, zone)


def shift_for_check_in(dbsession, *, user, branch, now, holidays=None):
    """``(work_date, ShiftType or None)`` of a check-in at *now* (aware).

    The shift whose window (3 hours before its start to its end) holds *now* (the one
    starting nearest to *now* if several do: a night shift ending at 06:00 and a day shift
    starting at 08:00); else today's shift, if today has one (an early or very late
    check-in); else a day off today (``None``: every minute is overtime). *holidays*: as
    for :func:`roster`.
    """
    zone = branch.zone
    today = now.astimezone(zone).date()
    one_day = dt.timedelta(days=1)
    schedule = roster(dbsession, users=[user], branches={branch.id: branch},
                      date_from=today - one_day, date_to=today + one_day,
                      holidays=holidays)[user.id]
    candidates = []
    for day, shift, _ in schedule:
        if shift is None:
            continue
        start, end = shift.instants(day, zone)
        if start - EARLY_CHECK_IN <= now <= end:
            candidates.append((abs(now - start), day, shift))
    if candidates:
        _, day, shift = min(candidates, key=lambda c: (c[0], c[1]))
        return day, shift
    return today, schedule[1][1]

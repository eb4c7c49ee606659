"""Holidays and the work-day calendar every HR rule counts with.

A day is a *work day* of a branch when its ISO weekday is one of the branch's
``work_days`` and it is neither a national holiday nor one of that branch's own.
"""
import csv
import datetime as dt
from pathlib import Path

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from webapp.errors import ApiError
from webapp.holidays.models import NATIONAL_SCOPE, Holiday

DATA_FILE = Path(__file__).with_name("data") / "indonesia.csv"
NATIONAL = "libur_nasional"
JOINT_LEAVE = "cuti_bersama"


def holiday_json(holiday):
    return {
        "id": holiday.id,
        "date": holiday.date.isoformat(),
        "name": holiday.name,
        "branch": holiday.branch.code if holiday.branch else None,
    }


def days_between(start, end):
    """Every date from ``start`` to ``end``, both included."""
    for offset in range((end - start).days + 1):
        yield start + dt.timedelta(days=offset)


def holiday_dates(dbsession, branch, start, end):
    """The dates in [start, end] that are holidays for ``branch`` (national or its own)."""
    return set(dbsession.scalars(
        select(Holiday.date).where(
            Holiday.date >= start, Holiday.date <= end,
            or_(Holiday.branch_id.is_(None), Holiday.branch_id == branch.id),
        )
    ))


def holidays_by_scope(dbsession, start, end):
    """``{scope: {dates}}`` for [start, end] in one query (scope 0 = national); the
    check-in reads the same from the node's cache (webapp.holidays.cache)."""
    result = {}
    for day, scope in dbsession.execute(
        select(Holiday.date, Holiday.scope).where(Holiday.date >= start, Holiday.date <= end)
    ):
        result.setdefault(scope, set()).add(day)
    return result


def branch_holidays(by_scope, branch):
    return by_scope.get(NATIONAL_SCOPE, set()) | by_scope.get(branch.id, set())


def is_work_day(branch, day, holidays):
    return day.isoweekday() in branch.weekdays and day not in holidays


def work_days(branch, start, end, holidays):
    """The branch's work days in [start, end] (empty when start > end)."""
    return [day for day in days_between(start, end) if is_work_day(branch, day, holidays)]


def count_work_days(dbsession, branch, start, end):
    return len(work_days(branch, start, end, holiday_dates(dbsession, branch, start, end)))


def list_holidays(dbsession, year):
    return list(dbsession.scalars(
        select(Holiday)
        .where(Holiday.date >= dt.date(year, 1, 1), Holiday.date <= dt.date(year, 12, 31))
        .order_by(Holiday.date, Holiday.scope, Holiday.id)
    ))


def _exists():
    return ApiError(409, "holiday_exists", "Tanggal ini sudah menjadi hari libur.",
                    fields={"date": "Sudah ada hari libur pada tanggal ini."})


def add_holiday(dbsession, *, day, name, branch):
    """Insert a holiday; 409 ``holiday_exists`` when that date is already a holiday for
    that scope, or a national holiday (a branch holiday on it would change nothing)."""
    scope = branch.id if branch else NATIONAL_SCOPE
    clash = dbsession.scalar(select(Holiday.id).where(
        Holiday.date == day, Holiday.scope.in_({scope, NATIONAL_SCOPE})))
    if clash is not None:
        raise _exists()
    holiday = Holiday(date=day, name=name, branch=branch, scope=scope)
    try:
        with dbsession.begin_nested():
            dbsession.add(holiday)
            dbsession.flush()
    except IntegrityError:
        raise _exists() from None  # two admins adding the same day at once
    return holiday


def delete_holiday(dbsession, holiday_id):
    holiday = dbsession.get(Holiday, holiday_id)
    if holiday is None:
        raise ApiError(404, "not_found", "Hari libur tidak ditemukan.")
    dbsession.delete(holiday)
    dbsession.flush()


def read_data_file(path=DATA_FILE, *, kinds=(NATIONAL,)):
    """``[(date, name)]`` of the repository's holiday file, only rows of ``kinds``."""
    with open(path, newline="", encoding="utf-8") as handle:
        return [
            (dt.date.fromisoformat(row["tanggal"]), row["nama"])
            for row in csv.DictReader(handle) if row["jenis"] in kinds
        ]


def import_national(dbsession, rows):
    """Add the national holidays of ``rows`` that are missing (idempotent); return the count."""
    existing = set(dbsession.scalars(
        select(Holiday.date).where(Holiday.scope == NATIONAL_SCOPE)))
    added = 0
    for day, name in rows:
        if day not in existing:
            dbsession.add(Holiday(date=day, name=name, branch_id=None, scope=NATIONAL_SCOPE))
            existing.add(day)
            added += 1
    dbsession.flush()
    return added

"""HR rules without HTTP: work days across weekends and holidays, geofence distance, the
recap's day window around month ends in WIB and WITA, lateness minutes."""
import datetime as dt
import math

import pytest

from webapp.attendance.services import is_early_leave
from webapp.attendance.models import Attendance
from webapp.branches.geofence import check_location, distance_m
from webapp.branches.models import Branch
from webapp.errors import ApiError
from webapp.holidays.services import read_data_file, work_days
from webapp.reports.recap import _shift_start_after_midnight_utc, last_counted_day, month_bounds

UTC = dt.timezone.utc
D = dt.date


def branch(code="JKT", tz="Asia/Jakarta", work_days="1,2,3,4,5", fence=None):
    lat, lon, radius = fence or (None, None, None)
    return Branch(code=code, name=code, timezone=tz, shift_start=dt.time(8, 0),
                  shift_end=dt.time(17, 0), grace_minutes=15, work_days=work_days,
                  geofence_lat=lat, geofence_lon=lon, geofence_radius_m=radius)


JAKARTA, BALI = branch(), branch("DPS", "Asia/Makassar")


@pytest.mark.parametrize("start, end, holidays, expected", [
    (D(2026, 11, 16), D(2026, 11, 22), set(), 5),  # one Monday–Sunday week
    (D(2026, 11, 14), D(2026, 11, 15), set(), 0),  # a weekend
    (D(2026, 11, 13), D(2026, 11, 16), set(), 2),  # Friday over the weekend to Monday
    (D(2026, 12, 21), D(2026, 12, 31), {D(2026, 12, 25)}, 8),  # Christmas on a Friday
    (D(2026, 8, 15), D(2026, 8, 17), {D(2026, 8, 17)}, 0),  # holiday on the only weekday
    (D(2026, 11, 20), D(2026, 11, 19), set(), 0),  # empty range
])
def test_work_days_skip_weekends_and_holidays(start, end, holidays, expected):
    assert len(work_days(JAKARTA, start, end, holidays)) == expected


def test_a_six_day_branch_counts_saturdays():
    six = branch(work_days="1,2,3,4,5,6")
    assert len(work_days(six, D(2026, 11, 16), D(2026, 11, 22), set())) == 6
    assert six.weekdays == frozenset({1, 2, 3, 4, 5, 6})


def test_the_holiday_file_has_both_years_and_only_national_days_by_default():
    national = read_data_file()
    years = {day.year for day, _ in national}
    assert years == {2026, 2027}
    assert sum(1 for day, _ in national if day.year == 2026) == 17
    assert (D(2026, 8, 17), "Hari Proklamasi Kemerdekaan Republik Indonesia") in national
    joint = read_data_file(kinds=("cuti_bersama",))
    assert D(2026, 12, 24) in {day for day, _ in joint}
    assert not {day for day, _ in joint} & {day for day, _ in national}


def test_distance_is_the_great_circle():
    assert distance_m(-6.2, 106.8, -6.2, 106.8) == 0
    one_degree = 2 * math.pi * 6_371_008.8 / 360
    assert distance_m(0, 0, 1, 0) == pytest.approx(one_degree, rel=1e-9)
    assert distance_m(0, 0, 0, 1) == pytest.approx(one_degree, rel=1e-9)
    assert distance_m(0, 179.5, 0, -179.5) == pytest.approx(one_degree, rel=1e-9)  # antimeridian
    # Monas to Bundaran HI, Jakarta: about 2.3 km
    assert distance_m(-6.175392, 106.827153, -6.194953, 106.823005) == pytest.approx(2223, abs=15)
    # Jakarta to Denpasar: about 980 km
    assert distance_m(-6.2088, 106.8456, -8.6705, 115.2126) == pytest.approx(965_000, rel=0.02)


@pytest.mark.parametrize("location, code", [
    (None, "location_required"),
    ({"lat": -6.2, "lon": 106.8, "accuracy_m": 100.5}, "location_inaccurate"),
    ({"lat": -6.2, "lon": 106.8015, "accuracy_m": 5}, "outside_geofence"),  # ~166 m
])
def test_geofence_refusals(location, code):
    fenced = branch(fence=(-6.2, 106.8, 100))
    with pytest.raises(ApiError) as error:
        check_location(fenced, location)
    assert (error.value.status, error.value.code) == (422, code)


def test_geofence_accepts_the_edge_and_ignores_unfenced_branches():
    fenced = branch(fence=(-6.2, 106.8, 100))
    assert check_location(fenced, {"lat": -6.2, "lon": 106.8009, "accuracy_m": 100}) == 99
    assert check_location(JAKARTA, None) is None


@pytest.mark.parametrize("now, java, bali", [
    # 16:30 WIB = 17:30 WITA: Bali's 20th has ended, Java's not yet
    ("2026-11-20T16:30:00+07:00", D(2026, 11, 19), D(2026, 11, 20)),
    ("2026-11-20T17:00:00+07:00", D(2026, 11, 20), D(2026, 11, 20)),
    # 23:30 WIB on the 30th is already 1 December in Bali: November is complete there
    ("2026-11-30T23:30:00+07:00", D(2026, 11, 30), D(2026, 11, 30)),
    ("2026-11-30T09:00:00+07:00", D(2026, 11, 29), D(2026, 11, 29)),
    ("2026-12-01T07:30:00+08:00", D(2026, 11, 30), D(2026, 11, 30)),
])
def test_recap_window_ends_today_only_after_the_shift(now, java, bali):
    instant = dt.datetime.fromisoformat(now)
    _, end = month_bounds(2026, 11)
    assert last_counted_day(JAKARTA, end, instant) == java
    assert last_counted_day(BALI, end, instant) == bali


def test_first_of_the_month_before_the_shift_end_counts_nothing():
    start, end = month_bounds(2026, 12)
    last = last_counted_day(JAKARTA, end, dt.datetime(2026, 12, 1, 3, tzinfo=UTC))
    assert last < start
    assert work_days(JAKARTA, start, last, set()) == []


def test_month_bounds_know_february():
    assert month_bounds(2026, 2) == (D(2026, 2, 1), D(2026, 2, 28))
    assert month_bounds(2028, 2) == (D(2028, 2, 1), D(2028, 2, 29))


def test_lateness_is_measured_from_the_shift_start_in_the_branch_zone():
    # 08:00 WIB is 01:00 UTC, 08:00 WITA is 00:00 UTC (what the recap's SQL subtracts)
    assert _shift_start_after_midnight_utc(JAKARTA, D(2026, 11, 20)) == 3600
    assert _shift_start_after_midnight_utc(BALI, D(2026, 11, 20)) == 0
    early = branch(tz="Asia/Jakarta")
    early.shift_start = dt.time(6, 30)  # before 07:00 WIB = the previous UTC day
    assert _shift_start_after_midnight_utc(early, D(2026, 11, 20)) == -1800


def test_early_leave_is_before_the_branch_local_shift_end():
    attendance = Attendance(work_date=D(2026, 11, 20), check_in_at=dt.datetime(2026, 11, 20, 1),
                            check_out_at=dt.datetime(2026, 11, 20, 9, 59, 59))  # 16:59:59 WIB
    assert is_early_leave(JAKARTA, attendance) is True
    attendance.check_out_at = dt.datetime(2026, 11, 20, 10)  # 17:00 WIB
    assert is_early_leave(JAKARTA, attendance) is False
    attendance.check_out_at = dt.datetime(2026, 11, 20, 9, 30)  # 16:30 WIB = 17:30 WITA
    assert is_early_leave(JAKARTA, attendance) is True
    assert is_early_leave(BALI, attendance) is False
    attendance.check_out_at = None
    assert is_early_leave(JAKARTA, attendance) is False

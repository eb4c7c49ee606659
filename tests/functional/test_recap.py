"""The monthly recap as JSON and CSV (GET /api/reports/monthly[.csv])."""
import csv
import datetime as dt
import io

import pytest
from sqlalchemy import update

from tests.factories import at, login
from webapp.accounts.models import User

FRIDAY_EVENING = "2026-11-20T18:00:00+07:00"


def created_on(app, user, iso):
    """Backdate a factory user (the recap does not count days before an account existed)."""
    instant = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc).replace(tzinfo=None)
    with app.app.registry["dbsession_factory"].begin() as dbsession:
        dbsession.execute(update(User).where(User.id == user["id"]).values(created_at=instant))


@pytest.fixture()
def admin_app(logged_in):
    return logged_in("admin", now=FRIDAY_EVENING, name="Admin HR", branch="SBY")


def attend(app, user, day, check_in, check_out):
    app.post_json("/api/attendances", {
        "user_id": user["id"], "check_in_at": f"{day}T{check_in}:00+07:00",
        "check_out_at": f"{day}T{check_out}:00+07:00", "reason": "data uji"}, status=201)


def leave(make_app, admin_app, user, kind, date_from, date_to, approve=True):
    app = make_app()
    login(app, user)
    at(app, "2026-11-01T09:00:00+07:00")
    body = app.post_json("/api/leave", {"kind": kind, "date_from": date_from,
                                        "date_to": date_to, "reason": "x"}, status=201).json
    if approve:
        admin_app.post(f"/api/leave/{body['id']}/approve", status=200)


@pytest.fixture()
def november(make_app, factory, admin_app):
    """Budi (Jakarta, employed since October) with a mixed November; Ani joined on the 16th."""
    budi = factory.user(name="Budi", branch="JKT")
    ani = factory.user(name="Ani", branch="JKT")
    created_on(admin_app, budi, "2026-10-01T09:00:00+07:00")
    created_on(admin_app, ani, "2026-11-16T10:00:00+07:00")
    attend(admin_app, budi, "2026-11-02", "08:00", "17:00")  # 540 min
    attend(admin_app, budi, "2026-11-03", "08:20", "17:00")  # late by 20 min, 520 min
    attend(admin_app, budi, "2026-11-04", "08:00", "16:00")  # early leave, 480 min
    attend(admin_app, budi, "2026-11-07", "07:30", "17:30")  # a Saturday, 600 min
    leave(make_app, admin_app, budi, "sakit", "2026-11-05", "2026-11-06")
    leave(make_app, admin_app, budi, "cuti", "2026-11-09", "2026-11-09")
    leave(make_app, admin_app, budi, "izin", "2026-11-10", "2026-11-10", approve=False)
    return budi, ani


def recap(app, query, status=200):
    return app.get(f"/api/reports/monthly?{query}", status=status).json


def test_recap_follows_the_contracts_definitions(admin_app, november):
    budi, ani = november
    body = recap(admin_app, "month=2026-11&branch=JKT")
    assert body["month"] == "2026-11"
    rows = {r["user"]["name"]: r for r in body["data"]}
    assert list(rows) == ["Ani", "Budi"]  # active users of the branch, by name
    assert rows["Budi"] == {
        "user": {"id": budi["id"], "name": "Budi"}, "branch": "JKT",
        "work_days": 15,  # 2–20 November, Monday to Friday, today after the shift end
        "present": 4, "late": 1, "late_minutes": 20, "early_leave": 1,
        "leave": {"izin": 0, "sakit": 2, "cuti": 1},  # the pending izin does not count
        "absent": 9,  # 15 − 3 attended work days − 3 leave days
        "worked_minutes": 2140,
        # contract §3.1: no overtime approved, no night shift, the branch default on 15 days
        "overtime_minutes": 0, "night_shifts": 0, "scheduled_days": 15,
    }
    # Ani's days before her account existed are not counted
    assert (rows["Ani"]["work_days"], rows["Ani"]["absent"]) == (5, 5)


def test_today_counts_only_after_the_branchs_shift_end(admin_app, november):
    at(admin_app, "2026-11-20T16:59:00+07:00")
    rows = {r["user"]["name"]: r for r in recap(admin_app, "month=2026-11&branch=JKT")["data"]}
    assert (rows["Budi"]["work_days"], rows["Budi"]["absent"]) == (14, 8)
    assert rows["Ani"]["work_days"] == 4


def test_bali_ends_its_day_an_hour_before_java(make_app, factory, admin_app):
    # 16:30 WIB is 17:30 WITA: Bali's Friday has ended, Jakarta's has not
    at(admin_app, "2026-11-20T16:30:00+07:00")
    for code in ("JKT", "DPS"):
        user = factory.user(name=f"Karyawan {code}", branch=code)
        created_on(admin_app, user, "2026-11-16T00:00:00+07:00")
    rows = {r["branch"]: r for r in recap(admin_app, "month=2026-11")["data"]}
    assert rows["JKT"]["work_days"] == 4
    assert rows["DPS"]["work_days"] == 5


def test_a_past_month_counts_to_its_last_day_and_holidays_are_not_work_days(
        admin_app, factory):
    user = factory.user(name="Lama", branch="SBY")
    created_on(admin_app, user, "2026-01-01T00:00:00+07:00")
    at(admin_app, "2026-12-01T00:30:00+08:00")
    rows = {r["user"]["name"]: r for r in recap(admin_app, "month=2026-08&branch=SBY")["data"]}
    # August 2026: 21 weekdays, minus Independence Day (Mon 17th) and Maulid (Tue 25th)
    assert rows["Lama"]["work_days"] == 19
    assert rows["Lama"]["absent"] == 19
    # A future month has nothing to count yet
    assert recap(admin_app, "month=2027-01&branch=SBY")["data"][0]["work_days"] == 0


def test_recap_csv_has_indonesian_columns(admin_app, november):
    response = admin_app.get("/api/reports/monthly.csv?month=2026-11&branch=JKT")
    assert response.content_type == "text/csv"
    assert 'filename="rekap-2026-11-JKT.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["id_karyawan", "nama", "cabang", "hari_kerja", "hadir",
                             "terlambat", "menit_terlambat", "pulang_awal", "izin", "sakit",
                             "cuti", "alpa", "menit_kerja", "menit_lembur", "shift_malam",
                             "hari_terjadwal"]
    budi = next(r for r in rows if r["nama"] == "Budi")
    assert (budi["hari_kerja"], budi["hadir"], budi["alpa"], budi["menit_kerja"]) == (
        "15", "4", "9", "2140")


@pytest.mark.parametrize("query, field", [
    ("month=2026-13", "month"), ("month=2026-1", "month"), ("month=abcd-ef", "month"),
    ("month=1999-12", "month"), ("month=2026-11&branch=XYZ", "branch"),
])
def test_bad_recap_queries_are_422(admin_app, query, field):
    assert field in recap(admin_app, query, status=422)["fields"]
    admin_app.get(f"/api/reports/monthly.csv?{query}", status=422)


def test_recap_is_for_admins(app, factory):
    login(app, factory.user())
    app.get("/api/reports/monthly", status=403)
    app.get("/api/reports/monthly.csv", status=403)

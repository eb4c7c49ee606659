"""The recap with shifts (contract §3.1): approved overtime, night shifts, scheduled days,
work days from the roster, and GET /api/reports/monthly.xlsx opened as a workbook."""
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from tests.functional.shift_helpers import at, check_in, check_out, person
from webapp.accounts.models import User

NOW = "2026-11-30T18:00:00+07:00"  # Monday evening, after the shift end: all of November


def _backdate(app, user_id):
    instant = dt.datetime(2026, 10, 1)
    with app.app.registry["dbsession_factory"].begin() as dbsession:
        dbsession.execute(update(User).where(User.id == user_id).values(created_at=instant))


@pytest.fixture()
def admin(make_app, factory):
    app = person(make_app, factory, "admin", now=NOW, branch="SBY")
    app.post_json("/api/shift-types", {"code": "MALAM", "name": "Malam", "start": "22:00",
                                       "end": "06:00"}, status=201)
    return app


@pytest.fixture()
def guard(make_app, factory, admin):
    """Joko (Jakarta): nights from Monday 23 to Friday 27 November, Thursday off, and two
    nights worked (one with an hour's overtime, approved)."""
    app = person(make_app, factory, name="Joko")
    _backdate(admin, app.user["id"])
    user_ids = [app.user["id"]]
    admin.post_json("/api/schedules", {"user_ids": user_ids, "date_from": "2026-11-23",
                                       "date_to": "2026-11-29", "weekdays": [1, 2, 3, 4, 5],
                                       "shift_type": "MALAM"}, status=201)
    admin.post_json("/api/schedules", {"user_ids": user_ids, "date_from": "2026-11-26",
                                       "date_to": "2026-11-26", "shift_type": None},
                    status=201)
    check_in(app, "2026-11-23T21:55:00+07:00")
    closed = check_out(app, "2026-11-24T07:00:00+07:00")["attendance"]
    check_in(app, "2026-11-24T21:55:00+07:00")
    check_out(app, "2026-11-25T06:40:00+07:00")  # 40 minutes: pending, then rejected
    at(admin, NOW)
    admin.post(f"/api/attendances/{closed['id']}/overtime/approve", status=200)
    second = app.get("/api/me/attendances").json["data"][0]
    admin.post(f"/api/attendances/{second['id']}/overtime/reject", status=200)
    return app


def _row(admin, user_id, branch="JKT"):
    data = admin.get("/api/reports/monthly", params={"month": "2026-11",
                                                     "branch": branch}).json["data"]
    return next(r for r in data if r["user"]["id"] == user_id)


def test_the_recap_counts_approved_overtime_night_shifts_and_the_roster(admin, guard):
    row = _row(admin, guard.user["id"])
    # November has 21 weekdays; 23–27 are nights but Thursday 26 is off; the rest default
    assert row["scheduled_days"] == 20
    assert row["work_days"] == 20  # no holiday in November 2026
    assert row["night_shifts"] == 2
    assert row["overtime_minutes"] == 60  # approved only (the rejected 40 do not count)
    assert row["present"] == 2
    assert row["absent"] == 18
    assert row["late"] == 0


def test_a_shift_on_a_holiday_is_scheduled_but_not_a_work_day(admin, factory, make_app):
    # Given a Surabaya holiday on Wednesday 25 November and an employee assigned a shift on it
    app = person(make_app, factory, branch="SBY")
    _backdate(admin, app.user["id"])
    admin.post_json("/api/holidays", {"date": "2026-11-25", "name": "Libur kota",
                                      "branch": "SBY"}, status=201)
    admin.post_json("/api/schedules", {"user_ids": [app.user["id"]], "date_from": "2026-11-25",
                                       "date_to": "2026-11-25", "shift_type": "MALAM"},
                    status=201)
    row = _row(admin, app.user["id"], "SBY")
    # Then 21 scheduled days (every weekday), 20 of them work days
    assert (row["scheduled_days"], row["work_days"], row["absent"]) == (21, 20, 20)


def test_monthly_xlsx_has_one_sheet_per_branch_with_numbers_as_numbers(admin, guard):
    # When an admin downloads the workbook of every branch
    response = admin.get("/api/reports/monthly.xlsx", params={"month": "2026-11"})
    assert response.content_type == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert 'filename="rekap-2026-11-SEMUA.xlsx"' in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.body))
    # Then each branch is a sheet, with the CSV's columns and numbers as numbers
    assert workbook.sheetnames == ["JKT", "BDG", "SBY", "DPS"]
    rows = list(workbook["JKT"].iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("id_karyawan", "nama", "cabang")
    assert header[-3:] == ("menit_lembur", "shift_malam", "hari_terjadwal")
    joko = dict(zip(header, next(r for r in rows[1:] if r[1] == "Joko")))
    assert (joko["id_karyawan"], joko["cabang"], joko["menit_lembur"], joko["shift_malam"],
            joko["hari_terjadwal"], joko["hadir"]) == (guard.user["id"], "JKT", 60, 2, 20, 2)
    assert all(isinstance(joko[k], int) for k in ("hari_kerja", "alpa", "menit_kerja"))
    # And one branch is one sheet; a bad month is 422 as for JSON
    one = load_workbook(io.BytesIO(admin.get("/api/reports/monthly.xlsx",
                                             params={"branch": "DPS"}).body))
    assert one.sheetnames == ["DPS"]
    admin.get("/api/reports/monthly.xlsx", params={"month": "2026-13"}, status=422)
    guard.get("/api/reports/monthly.xlsx", status=403)

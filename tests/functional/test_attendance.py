"""Check-in and check-out rules through the API, with the clock pinned."""
import datetime as dt

import pytest
from sqlalchemy import func, select

from tests.factories import at, login, outbox

UTC = dt.timezone.utc


def test_check_in_and_out(employee_app):
    app = employee_app
    at(app, "2026-11-20T07:58:09+07:00")
    created = app.post_json("/api/attendance/check-in", {"note": " kantor "}, status=201).json
    attendance = created["attendance"]
    assert attendance == {
        "id": attendance["id"],
        "user": {"id": app.user["id"], "name": "Budi"},
        "branch": "JKT",
        "work_date": "2026-11-20",
        "check_in_at": "2026-11-20T07:58:09+07:00",
        "check_out_at": None,
        "status": "present",
        "check_in_node": "app-node-1",
        "check_out_node": None,
        "duration_minutes": None,
        "note": "kantor",
        "early_leave": False,
        "corrected": False,
        "auto_closed": False,
        "check_in_distance_m": None,
        "check_out_distance_m": None,
        "shift": {"code": "JKT-REG", "start": "08:00", "end": "17:00"},
        "overtime_minutes": 0,
        "overtime_status": "none",
        "check_in_site": None,
        "check_out_site": None,
        "offline": False,
    }
    at(app, "2026-11-20T17:03:10+07:00")
    closed = app.post("/api/attendance/check-out", status=200).json["attendance"]
    assert closed["check_out_at"] == "2026-11-20T17:03:10+07:00"
    assert closed["check_out_node"] == "app-node-1"
    assert closed["duration_minutes"] == 545
    # Each committed change wrote one domain event, with the attendance as it was then
    events = outbox(app)
    assert [e.event_type for e in events] == ["attendance.created", "attendance.updated"]
    assert events[0].payload["check_out_at"] is None
    assert events[1].payload == closed
    assert all(e.published_at is None and e.node_id == "app-node-1" for e in events)


def test_second_check_in_is_a_conflict_carrying_the_first(employee_app):
    first = employee_app.post("/api/attendance/check-in", status=201).json["attendance"]
    again = employee_app.post("/api/attendance/check-in", status=409).json
    assert again["error"] == "already_checked_in"
    assert again["attendance"] == first
    assert len(outbox(employee_app)) == 1


def test_check_out_conflicts(employee_app):
    assert employee_app.post("/api/attendance/check-out", status=409).json["error"] == \
        "not_checked_in"
    employee_app.post("/api/attendance/check-in", status=201)
    employee_app.post("/api/attendance/check-out", status=200)
    again = employee_app.post("/api/attendance/check-out", status=409).json
    assert again["error"] == "already_checked_out"


@pytest.mark.parametrize("local_time, status", [
    ("08:00:00", "present"), ("08:15:00", "present"), ("08:15:01", "late"), ("13:00:00", "late"),
    ("06:00:00", "present"),
])
def test_late_threshold_is_shift_start_plus_grace(employee_app, local_time, status):
    at(employee_app, f"2026-11-20T{local_time}+07:00")
    assert employee_app.post("/api/attendance/check-in").json["attendance"]["status"] == status


def test_bali_uses_its_own_offset_and_day(app, factory):
    # Given an employee in Bali (UTC+8)
    login(app, factory.user(branch="DPS"))
    # When they check in at 08:10 WITA (07:10 in Jakarta)
    at(app, "2026-11-20T00:10:00+00:00")
    attendance = app.post("/api/attendance/check-in").json["attendance"]
    # Then the day, the offset and the status are Bali's
    assert attendance["work_date"] == "2026-11-20"
    assert attendance["check_in_at"] == "2026-11-20T08:10:00+08:00"
    assert attendance["status"] == "present"


def test_work_day_turns_at_branch_local_midnight(app, factory):
    login(app, factory.user(branch="SBY"))
    at(app, "2026-11-20T23:59:59+07:00")
    assert app.post("/api/attendance/check-in").json["attendance"]["work_date"] == "2026-11-20"
    # One second later it is a new day in Surabaya: a new attendance, not a conflict
    at(app, "2026-11-21T00:00:00+07:00")
    second = app.post("/api/attendance/check-in", status=201).json["attendance"]
    assert second["work_date"] == "2026-11-21"
    # And checking out now closes today's (new) attendance
    assert app.post("/api/attendance/check-out").json["attendance"]["id"] == second["id"]


def test_same_instant_is_a_different_day_in_bali_and_jakarta(make_app, factory):
    jakarta, bali = make_app(), make_app()
    login(jakarta, factory.user(branch="JKT"))
    login(bali, factory.user(branch="DPS"))
    for a in (jakarta, bali):
        at(a, "2026-11-20T16:30:00+00:00")  # 23:30 WIB, 00:30 WITA
    assert jakarta.post("/api/attendance/check-in").json["attendance"]["work_date"] == "2026-11-20"
    assert bali.post("/api/attendance/check-in").json["attendance"]["work_date"] == "2026-11-21"


def test_idempotent_replay_returns_the_first_response(employee_app):
    headers = {"Idempotency-Key": "abc-123"}
    first = employee_app.post("/api/attendance/check-in", headers=headers, status=201)
    again = employee_app.post("/api/attendance/check-in", headers=headers, status=201)
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert employee_app.get("/api/me/attendances").json["total"] == 1
    assert len(outbox(employee_app)) == 1
    # A conflict is a response too: replaying its key gives the same 409
    conflict = employee_app.post("/api/attendance/check-in", headers={"Idempotency-Key": "k2"},
                                 status=409)
    assert employee_app.post("/api/attendance/check-in", headers={"Idempotency-Key": "k2"},
                             status=409).json == conflict.json


def test_idempotency_key_is_per_user_and_per_endpoint(make_app, factory):
    one, two = make_app(), make_app()
    login(one, factory.user())
    login(two, factory.user())
    key = {"Idempotency-Key": "same-key"}
    a = one.post("/api/attendance/check-in", headers=key, status=201).json["attendance"]
    b = two.post("/api/attendance/check-in", headers=key, status=201).json["attendance"]
    assert a["id"] != b["id"]
    reused = one.post("/api/attendance/check-out", headers=key, status=422).json
    assert reused["error"] == "idempotency_key_reused"
    # Nothing half-written: still open
    assert one.get("/api/me/attendances").json["data"][0]["check_out_at"] is None


def test_bad_bodies_write_nothing(employee_app):
    app = employee_app
    assert app.post_json("/api/attendance/check-in", {"note": "x" * 501},
                         status=422).json["fields"] == {"note": "Paling banyak 500 karakter."}
    assert app.post_json("/api/attendance/check-in", {"note": 5}, status=422).json["fields"]
    assert app.post_json("/api/attendance/check-in", {"mood": "ok"}, status=422).json["fields"]
    assert app.post("/api/attendance/check-in", "[", content_type="application/json",
                    status=400).json["error"] == "invalid_json"
    app.post("/api/attendance/check-in", headers={"Idempotency-Key": "x" * 129}, status=422)
    assert app.get("/api/me/attendances").json["total"] == 0
    assert outbox(app) == []


def test_anonymous_cannot_check_in(app):
    assert app.post("/api/attendance/check-in", status=401).json["error"] == "unauthenticated"


def test_own_history_is_paginated_newest_first(employee_app):
    app = employee_app
    for day in range(1, 6):
        at(app, f"2026-11-0{day}T08:00:00+07:00")
        app.post("/api/attendance/check-in", status=201)
    page = app.get("/api/me/attendances?per_page=2&page=2").json
    assert (page["page"], page["per_page"], page["total"]) == (2, 2, 5)
    assert [a["work_date"] for a in page["data"]] == ["2026-11-03", "2026-11-02"]
    assert app.get("/api/me/attendances?per_page=101", status=422).json["fields"]["per_page"]
    assert app.get("/api/me/attendances?page=0", status=422).json["error"] == "invalid"


def test_admin_may_check_in_too(app, factory):
    login(app, factory.admin())
    app.post("/api/attendance/check-in", status=201)


def test_count_of_rows_is_one_per_user_and_day(employee_app):
    for _ in range(3):
        employee_app.post("/api/attendance/check-in", status="*")
    from webapp.attendance.models import Attendance

    with employee_app.app.registry["dbsession_factory"]() as dbsession:
        assert dbsession.scalar(select(func.count(Attendance.id))) == 1

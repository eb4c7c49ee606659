"""Attendance requests (contract §3.1): filed by an employee with a reason, decided by an
admin; approval creates or corrects the attendance as an admin correction does."""
import pytest

from tests.functional.shift_helpers import at, check_in, events, person

NOW = "2026-11-24T09:00:00+07:00"  # Tuesday morning in Jakarta


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now=NOW, name="Admin HR")


@pytest.fixture()
def employee(make_app, factory):
    return person(make_app, factory, now=NOW, name="Budi")


def _file(app, status=201, **body):
    return app.post_json("/api/attendance-requests", {"reason": "Lupa absen pulang", **body},
                         status=status).json


def test_a_forgotten_check_out_is_requested_and_approved_as_a_correction(admin, employee):
    # Given Budi checked in on Monday and forgot to check out
    opened = check_in(employee, "2026-11-23T07:58:00+07:00")["attendance"]
    at(employee, NOW)
    # When he files a request for his check-out at 17:05
    filed = _file(employee, kind="check_out", work_date="2026-11-23",
                  check_out_at="2026-11-23T17:05:00+07:00")
    # Then it is pending, his, and announced on `requests` and his own channel
    assert {k: filed[k] for k in ("kind", "work_date", "check_in_at", "check_out_at", "status",
                                  "decided_by", "attendance_id", "reason")} == {
        "kind": "check_out", "work_date": "2026-11-23", "check_in_at": None,
        "check_out_at": "2026-11-23T17:05:00+07:00", "status": "pending", "decided_by": None,
        "attendance_id": None, "reason": "Lupa absen pulang"}
    assert filed["user"] == {"id": employee.user["id"], "name": "Budi"}
    created = events(employee, "request.")
    assert [(t, c) for t, c, _ in created] == [
        ("request.created", ["requests", f"user.{employee.user['id']}"])]

    # When an admin approves it
    approved = admin.post_json(f"/api/attendance-requests/{filed['id']}/approve",
                               {"note": "ok"}).json
    # Then the request says who and which attendance, and the attendance is closed
    assert (approved["status"], approved["decided_by"]["id"], approved["note"],
            approved["attendance_id"]) == ("approved", admin.user["id"], "ok", opened["id"])
    attendance = admin.get("/api/attendances", params={"user_id": employee.user["id"]}
                           ).json["data"][0]
    assert (attendance["check_out_at"], attendance["corrected"]) == \
        ("2026-11-23T17:05:00+07:00", True)
    # through the correction's path: audited with the approver and the request's reason
    entry = admin.get(f"/api/attendances/{opened['id']}/audit").json["data"][-1]
    assert (entry["action"], entry["actor"]["id"], entry["reason"]) == \
        ("correct", admin.user["id"], "Lupa absen pulang")
    assert [t for t, _, _ in events(admin)][-2:] == ["attendance.updated", "request.updated"]

    # And approving it again is 409 not_pending
    again = admin.post(f"/api/attendance-requests/{filed['id']}/approve", status=409).json
    assert again["error"] == "not_pending"
    admin.post(f"/api/attendance-requests/{filed['id']}/reject", status=409)


def test_a_missing_day_is_created_on_approval(admin, employee):
    filed = _file(employee, kind="both", work_date="2026-11-23", reason="Dinas luar",
                  check_in_at="2026-11-23T08:20:00+07:00",
                  check_out_at="2026-11-23T17:00:00+07:00")
    approved = admin.post(f"/api/attendance-requests/{filed['id']}/approve").json
    attendance = admin.get("/api/attendances", params={"user_id": employee.user["id"]}
                           ).json["data"][0]
    assert approved["attendance_id"] == attendance["id"]
    assert (attendance["work_date"], attendance["status"], attendance["shift"]["code"],
            attendance["corrected"]) == ("2026-11-23", "late", "JKT-REG", True)
    entry = admin.get(f"/api/attendances/{attendance['id']}/audit").json["data"][0]
    assert (entry["action"], entry["reason"]) == ("create", "Dinas luar")


def test_a_rejected_request_changes_no_attendance(admin, employee):
    filed = _file(employee, kind="check_in", work_date="2026-11-23",
                  check_in_at="2026-11-23T08:00:00+07:00")
    rejected = admin.post_json(f"/api/attendance-requests/{filed['id']}/reject",
                               {"note": "Tidak ada bukti"}).json
    assert (rejected["status"], rejected["attendance_id"]) == ("rejected", None)
    assert admin.get("/api/attendances", params={"user_id": employee.user["id"]}
                     ).json["total"] == 0


def test_one_pending_request_per_work_date(employee):
    body = {"kind": "check_in", "work_date": "2026-11-23",
            "check_in_at": "2026-11-23T08:00:00+07:00"}
    _file(employee, **body)
    assert _file(employee, status=409, **body)["error"] == "request_exists"


@pytest.mark.parametrize("body, fields", [
    ({"kind": "late", "work_date": "2026-11-23"}, {"kind"}),
    ({"kind": "check_in", "work_date": "2026-11-25",
      "check_in_at": "2026-11-25T08:00:00+07:00"}, {"work_date"}),  # the future
    ({"kind": "check_in", "work_date": "2026-11-23"}, {"check_in_at"}),
    ({"kind": "check_in", "work_date": "2026-11-23",
      "check_in_at": "2026-11-22T08:00:00+07:00"}, {"check_in_at"}),  # another day
    ({"kind": "check_out", "work_date": "2026-11-23",
      "check_out_at": "2026-11-23T17:00:00+07:00"}, {"kind"}),  # nothing to close
    ({"kind": "both", "work_date": "2026-11-23", "check_in_at": "2026-11-23T08:00:00+07:00",
      "check_out_at": "2026-11-23T07:00:00+07:00"}, {"check_out_at"}),
    ({"kind": "check_in", "work_date": "2026-11-23", "reason": " ",
      "check_in_at": "2026-11-23T08:00:00+07:00"}, {"reason"}),
])
def test_invalid_requests_name_every_bad_field(employee, body, fields):
    error = _file(employee, status=422, **body)
    assert error["error"] == "invalid" and set(error["fields"]) == fields


def test_employees_see_their_own_and_admins_every_request(admin, employee, make_app, factory):
    other = person(make_app, factory, now=NOW)
    for app in (employee, other):
        _file(app, kind="check_in", work_date="2026-11-23",
              check_in_at="2026-11-23T08:00:00+07:00")
    mine = employee.get("/api/attendance-requests").json
    assert mine["total"] == 1 and mine["data"][0]["user"]["id"] == employee.user["id"]
    everyone = admin.get("/api/attendance-requests", params={"status": "pending"}).json
    assert everyone["total"] == 2
    assert admin.get("/api/attendance-requests", params={"status": "x"}, status=422)
    employee.post("/api/attendance-requests/1/approve", status=403)
    admin.post("/api/attendance-requests/999999/approve", status=404)

"""Admin corrections (POST/PATCH /api/attendances) and the audit trail (GET .../audit)."""
import pytest

from tests.factories import at, login, outbox

NOW = "2026-11-20T18:00:00+07:00"  # Friday evening in Jakarta


@pytest.fixture()
def admin_app(logged_in):
    return logged_in("admin", now=NOW, name="Admin HR")


@pytest.fixture()
def employee(factory):
    return factory.user(name="Siti", branch="JKT")


def create(app, user, check_in, check_out=None, reason="Lupa absen", status=201):
    body = {"user_id": user["id"], "check_in_at": check_in, "reason": reason}
    if check_out is not None:
        body["check_out_at"] = check_out
    return app.post_json("/api/attendances", body, status=status).json


def test_admin_creates_a_missing_attendance_with_the_rules_recomputed(admin_app, employee):
    # When the admin records a forgotten day: in 08:20 (after the grace), out 16:30 (early)
    body = create(admin_app, employee, "2026-11-19T08:20:00+07:00", "2026-11-19T16:30:00+07:00")

    # Then status, duration and early leave follow the branch's rules, marked corrected
    attendance = body["attendance"]
    assert attendance["work_date"] == "2026-11-19"
    assert attendance["status"] == "late"
    assert attendance["duration_minutes"] == 490
    assert attendance["early_leave"] is True
    assert attendance["corrected"] is True
    assert attendance["check_in_node"] == "app-node-1"
    # ...one audit entry says who, why and what
    [entry] = admin_app.get(f"/api/attendances/{attendance['id']}/audit").json["data"]
    assert entry["action"] == "create"
    assert entry["actor"] == {"id": admin_app.admin["id"], "name": "Admin HR"}
    assert entry["reason"] == "Lupa absen"
    assert entry["node_id"] == "app-node-1"
    assert entry["changes"]["check_in_at"] == [None, "2026-11-19T08:20:00+07:00"]
    assert entry["changes"]["status"] == [None, "late"]
    # ...and it goes out through the outbox like a check-in
    [event] = outbox(admin_app)
    assert event.event_type == "attendance.created"
    assert event.channels == ["attendances", f"user.{employee['id']}"]
    assert event.payload == attendance


@pytest.mark.parametrize("check_in, check_out, field", [
    ("2026-11-19T17:00:00+07:00", "2026-11-19T08:00:00+07:00", "check_out_at"),  # out < in
    ("2026-11-19T08:00:00+07:00", "2026-11-20T01:00:00+07:00", "check_out_at"),  # next day
    ("2026-11-21T08:00:00+07:00", None, "check_in_at"),  # the future
    ("2026-11-19T08:00:00", None, "check_in_at"),  # no offset
    ("2026-11-19", None, "check_in_at"),
    (5, None, "check_in_at"),
])
def test_create_refuses_impossible_instants(admin_app, employee, check_in, check_out, field):
    body = create(admin_app, employee, check_in, check_out, status=422)
    assert body["error"] == "invalid"
    assert field in body["fields"]
    assert outbox(admin_app) == []


def test_create_needs_a_reason_and_a_known_user(admin_app, employee):
    assert "reason" in create(admin_app, employee, "2026-11-19T08:00:00+07:00", reason=" ",
                              status=422)["fields"]
    body = admin_app.post_json("/api/attendances", {
        "user_id": 999999, "check_in_at": "2026-11-19T08:00:00+07:00", "reason": "x"},
        status=422).json
    assert body["fields"] == {"user_id": "Karyawan tidak ditemukan."}
    for bad in ("1", True, None, -3):
        admin_app.post_json("/api/attendances", {
            "user_id": bad, "check_in_at": "2026-11-19T08:00:00+07:00", "reason": "x"},
            status=422)


def test_create_on_a_day_that_already_has_one_is_409(admin_app, employee):
    first = create(admin_app, employee, "2026-11-19T08:00:00+07:00")["attendance"]
    body = create(admin_app, employee, "2026-11-19T09:00:00+07:00", status=409)
    assert body["error"] == "already_checked_in"
    assert body["attendance"]["id"] == first["id"]


def test_bali_instants_belong_to_the_bali_work_date(admin_app, factory):
    # 23:30 WIB on the 18th is 00:30 WITA on the 19th: a Bali employee's 19th
    bali = factory.user(branch="DPS")
    attendance = create(admin_app, bali, "2026-11-18T23:30:00+07:00")["attendance"]
    assert attendance["work_date"] == "2026-11-19"
    assert attendance["check_in_at"] == "2026-11-19T00:30:00+08:00"


def test_employees_cannot_correct(app, factory, employee):
    login(app, employee)
    app.post_json("/api/attendances", {}, status=403)
    app.patch_json("/api/attendances/1", {"reason": "x"}, status=403)
    app.get("/api/attendances/1/audit", status=403)


def checked_in(make_app, employee, iso="2026-11-20T07:55:00+07:00"):
    app = make_app()
    login(app, employee)
    at(app, iso)
    return app, app.post("/api/attendance/check-in", status=201).json["attendance"]


def test_correction_recomputes_audits_and_publishes(make_app, admin_app, employee):
    # Given an on-time check-in of today, still open
    employee_app, attendance = checked_in(make_app, employee)
    path = f"/api/attendances/{attendance['id']}"

    # When the admin moves the check-in to 08:40 and adds the check-out at 17:05
    body = admin_app.patch_json(path, {
        "check_in_at": "2026-11-20T08:40:00+07:00", "check_out_at": "2026-11-20T17:05:00+07:00",
        "reason": "Salah tekan", "note": "dikoreksi HR"}).json["attendance"]

    # Then the status follows the new time, the row is closed and marked corrected
    assert (body["status"], body["early_leave"], body["corrected"]) == ("late", False, True)
    assert body["duration_minutes"] == 505
    assert body["check_out_node"] == "app-node-1"
    assert body["note"] == "dikoreksi HR"
    # ...the audit trail lists check-in then correction, oldest first, old -> new
    entries = admin_app.get(path + "/audit").json["data"]
    assert [e["action"] for e in entries] == ["check_in", "correct"]
    assert entries[0]["actor"]["id"] == employee["id"]
    assert entries[1]["changes"] == {
        "check_in_at": ["2026-11-20T07:55:00+07:00", "2026-11-20T08:40:00+07:00"],
        "check_out_at": [None, "2026-11-20T17:05:00+07:00"],
        "status": ["present", "late"],
        "note": [None, "dikoreksi HR"],
    }
    assert entries[1]["reason"] == "Salah tekan"
    # ...and an attendance.updated event carries the corrected row
    assert [e.event_type for e in outbox(admin_app)] == ["attendance.created",
                                                         "attendance.updated"]
    assert outbox(admin_app)[-1].payload == body
    # ...which the employee sees too
    assert employee_app.get("/api/me/attendances").json["data"][0]["corrected"] is True


def test_correction_can_reopen_and_an_unchanged_value_changes_nothing(
        make_app, admin_app, employee):
    employee_app, attendance = checked_in(make_app, employee)
    at(employee_app, "2026-11-20T16:00:00+07:00")
    closed = employee_app.post("/api/attendance/check-out").json["attendance"]
    assert closed["early_leave"] is True
    path = f"/api/attendances/{attendance['id']}"
    # Setting the same check-in again: 200, no audit entry, no event
    same = admin_app.patch_json(path, {"check_in_at": closed["check_in_at"], "reason": "cek"})
    assert same.json["attendance"]["corrected"] is False
    assert len(outbox(admin_app)) == 2
    # Clearing the check-out reopens it
    reopened = admin_app.patch_json(path, {"check_out_at": None, "reason": "Belum pulang"}).json
    assert reopened["attendance"]["check_out_at"] is None
    assert reopened["attendance"]["check_out_node"] is None
    assert reopened["attendance"]["early_leave"] is False
    assert [e["action"] for e in admin_app.get(path + "/audit").json["data"]] == [
        "check_in", "check_out", "correct"]


@pytest.mark.parametrize("body, field", [
    ({"check_in_at": "2026-11-20T09:00:00+07:00"}, "reason"),
    ({"reason": "x"}, "_body"),
    ({"check_in_at": "2026-11-19T09:00:00+07:00", "reason": "x"}, "check_in_at"),
    ({"check_out_at": "2026-11-20T07:00:00+07:00", "reason": "x"}, "check_out_at"),
    ({"check_out_at": "2026-11-20T19:00:00+07:00", "reason": "x"}, "check_out_at"),  # future
    ({"check_in_at": None, "reason": "x"}, "check_in_at"),
    ({"status": "present", "reason": "x"}, "status"),
    ({"note": 5, "reason": "x"}, "note"),
])
def test_bad_corrections_are_422_and_change_nothing(make_app, admin_app, employee, body, field):
    _, attendance = checked_in(make_app, employee)
    response = admin_app.patch_json(f"/api/attendances/{attendance['id']}", body, status=422)
    assert field in response.json["fields"]
    assert len(outbox(admin_app)) == 1
    assert len(admin_app.get(f"/api/attendances/{attendance['id']}/audit").json["data"]) == 1


@pytest.mark.parametrize("path", ["/api/attendances/999999",
                                  "/api/attendances/99999999999999999999"])
def test_unknown_attendance_is_404(admin_app, path):
    admin_app.patch_json(path, {"reason": "x", "note": "y"}, status=404)
    admin_app.get(path + "/audit", status=404)


def test_end_of_day_flag_is_audited_without_an_actor(make_app, admin_app, employee):
    from webapp.attendance.services import flag_open_attendances
    import datetime as dt

    _, attendance = checked_in(make_app, employee)
    factory = admin_app.app.registry["dbsession_factory"]
    with factory.begin() as dbsession:
        flag_open_attendances(dbsession, node_id="scheduler-1",
                              now=dt.datetime(2026, 11, 21, 1, tzinfo=dt.timezone.utc))
    entries = admin_app.get(f"/api/attendances/{attendance['id']}/audit").json["data"]
    assert entries[-1]["action"] == "auto_close"
    assert entries[-1]["actor"] is None
    assert entries[-1]["node_id"] == "scheduler-1"
    # (closed at the shift's end, contract §3.1)
    assert entries[-1]["changes"]["auto_closed"] == [False, True]
    assert entries[-1]["changes"]["check_out_at"][0] is None

"""Leave through the API: request, overlap, approve/reject/cancel, cuti balance, events,
and today's ``on_leave`` / ``absent_users``."""
import pytest

from tests.factories import at, login, outbox

NOW = "2026-11-10T09:00:00+07:00"  # a Tuesday


@pytest.fixture()
def admin_app(logged_in):
    return logged_in("admin", now=NOW, name="Admin HR")


@pytest.fixture()
def employee_app(logged_in):
    return logged_in("employee", now=NOW, name="Budi", branch="JKT")


def ask(app, date_from, date_to, kind="cuti", reason="Acara keluarga", status=201):
    return app.post_json("/api/leave", {"kind": kind, "date_from": date_from,
                                        "date_to": date_to, "reason": reason},
                         status=status).json


def test_request_counts_work_days_and_publishes_on_leave_and_the_owner(employee_app):
    # When Budi asks for Friday 13 to Tuesday 17 November (a weekend inside)
    leave = ask(employee_app, "2026-11-13", "2026-11-17")

    # Then it is pending and counts three work days
    assert leave == {
        "id": leave["id"], "user": {"id": employee_app.user["id"], "name": "Budi"},
        "branch": "JKT", "kind": "cuti", "date_from": "2026-11-13", "date_to": "2026-11-17",
        "days": 3, "reason": "Acara keluarga", "status": "pending", "decided_by": None,
        "decided_at": None, "note": None, "created_at": "2026-11-10T09:00:00+07:00",
    }
    [event] = outbox(employee_app)
    assert event.event_type == "leave.created"
    assert event.channels == ["leave", f"user.{employee_app.user['id']}"]
    assert event.payload == leave


def test_national_holidays_are_not_counted(employee_app):
    # 24–28 Dec 2026: Christmas (Fri 25th) is a national holiday
    assert ask(employee_app, "2026-12-21", "2026-12-25")["days"] == 4


def test_overlapping_requests_are_refused_until_cancelled(employee_app):
    first = ask(employee_app, "2026-11-16", "2026-11-18", kind="izin")
    body = ask(employee_app, "2026-11-18", "2026-11-20", kind="sakit", status=409)
    assert body["error"] == "leave_overlaps"
    cancelled = employee_app.post(f"/api/leave/{first['id']}/cancel").json
    assert cancelled["status"] == "cancelled"
    ask(employee_app, "2026-11-18", "2026-11-20", kind="sakit")
    assert employee_app.post(f"/api/leave/{first['id']}/cancel", status=409).json["error"] \
        == "not_pending"


@pytest.mark.parametrize("body, field", [
    ({"kind": "libur", "date_from": "2026-11-16", "date_to": "2026-11-16", "reason": "x"},
     "kind"),
    ({"kind": "izin", "date_from": "2026-11-17", "date_to": "2026-11-16", "reason": "x"},
     "date_to"),
    ({"kind": "izin", "date_from": "2026-12-31", "date_to": "2027-01-04", "reason": "x"},
     "date_to"),
    ({"kind": "izin", "date_from": "2026-11-14", "date_to": "2026-11-15", "reason": "x"},
     "date_to"),  # a weekend: no work day
    ({"kind": "izin", "date_from": "16-11-2026", "date_to": "2026-11-16", "reason": "x"},
     "date_from"),
    ({"kind": "izin", "date_from": "2026-11-16", "reason": "x"}, "date_to"),
    ({"kind": "izin", "date_from": "2026-11-16", "date_to": "2026-11-16", "reason": ""},
     "reason"),
    ({"kind": "izin", "date_from": "2029-11-16", "date_to": "2029-11-16", "reason": "x"},
     "date_from"),
    ({"kind": "cuti", "date_from": "2026-11-02", "date_to": "2026-11-30", "reason": "x"},
     "date_to"),  # 21 work days > 12
    ({"kind": "izin", "date_from": "2026-11-16", "date_to": "2026-11-16", "reason": "x",
      "days": 1}, "days"),
])
def test_bad_requests_are_422(employee_app, body, field):
    response = employee_app.post_json("/api/leave", body, status=422).json
    assert field in response["fields"]
    assert outbox(employee_app) == []


def test_approve_updates_the_balance_and_tells_the_owner(admin_app, employee_app):
    leave = ask(employee_app, "2026-11-16", "2026-11-20")
    assert employee_app.get("/api/me/leave-balance?year=2026").json == {
        "year": 2026, "cuti_allowance": 12, "cuti_taken": 0, "cuti_pending": 5,
        "cuti_remaining": 12}

    approved = admin_app.post_json(f"/api/leave/{leave['id']}/approve", {"note": "Selamat"}).json

    assert approved["status"] == "approved"
    assert approved["decided_by"] == {"id": admin_app.admin["id"], "name": "Admin HR"}
    assert approved["decided_at"] == "2026-11-10T09:00:00+07:00"
    assert approved["note"] == "Selamat"
    assert employee_app.get("/api/me/leave-balance").json == {
        "year": 2026, "cuti_allowance": 12, "cuti_taken": 5, "cuti_pending": 0,
        "cuti_remaining": 7}
    assert employee_app.get("/api/me/leave-balance?year=2027").json["cuti_remaining"] == 12
    event = outbox(admin_app)[-1]
    assert event.event_type == "leave.updated"
    assert event.channels == ["leave", f"user.{employee_app.user['id']}"]
    assert event.payload == approved
    # A decided request cannot be decided again, nor cancelled
    for action in ("approve", "reject"):
        assert admin_app.post(f"/api/leave/{leave['id']}/{action}", status=409).json[
            "error"] == "not_pending"
    employee_app.post(f"/api/leave/{leave['id']}/cancel", status=409)


def test_approval_beyond_the_remaining_cuti_is_409(admin_app, employee_app):
    # Given 10 days of cuti approved and two pending requests of 2 and 3 days
    taken = ask(employee_app, "2026-11-02", "2026-11-13")
    admin_app.post(f"/api/leave/{taken['id']}/approve")
    two = ask(employee_app, "2026-11-16", "2026-11-17")
    three = ask(employee_app, "2026-11-18", "2026-11-20", status=422)  # 3 > 2 remaining
    assert "date_to" in three["fields"]
    # When the two-day one is approved, nothing remains; another 1-day approval fails
    admin_app.post(f"/api/leave/{two['id']}/approve")
    body = ask(employee_app, "2026-11-23", "2026-11-23", status=422)
    assert "date_to" in body["fields"]
    # izin and sakit never use the allowance
    izin = ask(employee_app, "2026-11-23", "2026-11-23", kind="izin")
    assert admin_app.post(f"/api/leave/{izin['id']}/approve").json["status"] == "approved"


def test_insufficient_balance_when_pending_requests_together_exceed_it(
        admin_app, employee_app):
    first = ask(employee_app, "2026-11-02", "2026-11-11")  # 8 days
    second = ask(employee_app, "2026-11-16", "2026-11-23")  # 6 days
    admin_app.post(f"/api/leave/{first['id']}/approve")
    body = admin_app.post(f"/api/leave/{second['id']}/approve", status=409).json
    assert body["error"] == "insufficient_balance"
    assert body["cuti_remaining"] == 4
    assert admin_app.post(f"/api/leave/{second['id']}/reject").json["status"] == "rejected"


def test_only_admins_decide_and_never_their_own(admin_app, employee_app):
    leave = ask(employee_app, "2026-11-16", "2026-11-16", kind="sakit")
    employee_app.post(f"/api/leave/{leave['id']}/approve", status=403)
    own = ask(admin_app, "2026-11-16", "2026-11-16", kind="izin")
    assert admin_app.post(f"/api/leave/{own['id']}/approve", status=403).json["error"] \
        == "forbidden"
    for path in ("/api/leave/999999/approve", "/api/leave/999999/reject",
                 "/api/leave/999999/cancel", "/api/leave/abc/approve"):
        admin_app.post(path, status=404)


def test_cancel_is_for_the_owner_only(make_app, factory, admin_app, employee_app):
    leave = ask(employee_app, "2026-11-16", "2026-11-16", kind="izin")
    other = make_app()
    login(other, factory.user())
    other.post(f"/api/leave/{leave['id']}/cancel", status=404)
    admin_app.post(f"/api/leave/{leave['id']}/cancel", status=404)
    assert employee_app.post(f"/api/leave/{leave['id']}/cancel").json["status"] == "cancelled"


def test_listing_admins_filter_employees_see_their_own(make_app, factory, admin_app,
                                                       employee_app):
    mine = ask(employee_app, "2026-11-16", "2026-11-16", kind="izin")
    other = make_app()
    other_user = factory.user(branch="DPS")
    login(other, other_user)
    at(other, NOW)
    theirs = ask(other, "2026-11-17", "2026-11-17", kind="sakit")
    admin_app.post(f"/api/leave/{theirs['id']}/approve")

    everything = admin_app.get("/api/leave").json
    assert [r["id"] for r in everything["data"]] == [theirs["id"], mine["id"]]
    assert everything["total"] == 2
    assert [r["id"] for r in admin_app.get("/api/leave?status=pending").json["data"]] == [
        mine["id"]]
    assert [r["id"] for r in admin_app.get("/api/leave?branch=DPS").json["data"]] == [
        theirs["id"]]
    assert [r["id"] for r in admin_app.get(
        f"/api/leave?user_id={other_user['id']}").json["data"]] == [theirs["id"]]
    # An employee only ever gets their own, whatever they ask for
    assert [r["id"] for r in employee_app.get(
        f"/api/leave?user_id={other_user['id']}").json["data"]] == [mine["id"]]
    for bad in ("status=done", "branch=XYZ", "user_id=x", "per_page=500"):
        assert admin_app.get(f"/api/leave?{bad}", status=422).json["error"] == "invalid"
    employee_app.get("/api/me/leave-balance?year=abc", status=422)


def test_today_lists_who_is_absent_and_who_is_on_leave(make_app, factory, admin_app,
                                                       employee_app):
    # Given Budi on approved sakit today, Ani absent, Dewi checked in (all Jakarta)
    sick = ask(employee_app, "2026-11-10", "2026-11-11", kind="sakit")
    admin_app.post(f"/api/leave/{sick['id']}/approve")
    factory.user(name="Ani", branch="JKT")
    dewi = make_app()
    login(dewi, factory.user(name="Dewi", branch="JKT"))
    at(dewi, NOW)
    dewi.post("/api/attendance/check-in", status=201)

    body = admin_app.get("/api/attendances/today?branch=JKT").json

    assert body["summary"]["on_leave"] == 1
    assert body["summary"]["not_checked_in"] == 3  # the admin, Ani and Budi
    assert [(u["name"], u["leave"]) for u in body["absent_users"]] == [
        ("Admin HR", None), ("Ani", None), ("Budi", "sakit")]
    assert set(body["absent_users"][0]) == {"id", "name", "branch", "leave"}

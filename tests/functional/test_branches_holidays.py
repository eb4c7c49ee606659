"""Branch settings (PATCH /api/branches/{code}), the geofence on check-in/out, and holidays."""
import pytest

from tests.factories import at, login, outbox

MONAS = {"lat": -6.175392, "lon": 106.827153}


@pytest.fixture()
def admin_app(logged_in):
    return logged_in("admin", now="2026-11-20T07:00:00+07:00", name="Admin HR")


def test_admin_changes_a_branchs_rules(admin_app, employee_app):
    body = admin_app.patch_json("/api/branches/jkt", {
        "shift_start": "09:00", "shift_end": "18:00", "grace_minutes": 0,
        "work_days": [6, 1, 2, 3, 4, 5], "geofence": {**MONAS, "radius_m": 150},
    }).json
    assert body == {"code": "JKT", "name": "Jakarta", "timezone": "Asia/Jakarta",
                    "shift_start": "09:00", "shift_end": "18:00", "grace_minutes": 0,
                    "work_days": [1, 2, 3, 4, 5, 6], "geofence": {**MONAS, "radius_m": 150},
                    "sites": [{"name": "Jakarta", **MONAS, "radius_m": 150}]}
    assert employee_app.get("/api/branches").json["data"][0] == body
    # The new rules apply at once: 09:00:01 is late, leaving at 17:59 is early
    at(employee_app, "2026-11-21T09:00:01+07:00")  # a Saturday, now a work day
    location = {"location": {**MONAS, "accuracy_m": 20}}
    attendance = employee_app.post_json("/api/attendance/check-in", location).json["attendance"]
    assert attendance["status"] == "late"
    at(employee_app, "2026-11-21T17:59:00+07:00")
    closed = employee_app.post_json("/api/attendance/check-out", location).json["attendance"]
    assert closed["early_leave"] is True
    # The fence can be removed again
    assert admin_app.patch_json("/api/branches/JKT", {"geofence": None}).json["geofence"] is None


@pytest.mark.parametrize("body, field", [
    ({"shift_start": "8:00"}, "shift_start"), ({"shift_end": "24:00"}, "shift_end"),
    ({"shift_start": "18:00"}, "shift_end"),  # after the 17:00 end
    ({"grace_minutes": -1}, "grace_minutes"), ({"grace_minutes": "15"}, "grace_minutes"),
    ({"work_days": []}, "work_days"), ({"work_days": [0, 1]}, "work_days"),
    ({"work_days": [1, 1]}, "work_days"), ({"work_days": [8]}, "work_days"),
    ({"work_days": "1-5"}, "work_days"), ({"work_days": [True]}, "work_days"),
    ({"geofence": {**MONAS, "radius_m": 9}}, "geofence.radius_m"),
    ({"geofence": {**MONAS, "radius_m": 5001}}, "geofence.radius_m"),
    ({"geofence": {"lat": 91, "lon": 0, "radius_m": 100}}, "geofence.lat"),
    ({"geofence": {"lat": 0, "lon": -181, "radius_m": 100}}, "geofence.lon"),
    ({"geofence": {"lat": 0, "radius_m": 100}}, "geofence"),
    ({"geofence": [1, 2]}, "geofence"),
    ({"name": "Jakarta Pusat"}, "name"), ({}, "_body"),
])
def test_bad_branch_settings_are_422_and_change_nothing(admin_app, body, field):
    response = admin_app.patch_json("/api/branches/JKT", body, status=422).json
    assert field in response["fields"]
    jakarta = admin_app.get("/api/branches").json["data"][0]
    assert (jakarta["shift_start"], jakarta["shift_end"], jakarta["work_days"],
            jakarta["geofence"]) == ("08:00", "17:00", [1, 2, 3, 4, 5], None)


def test_branch_settings_are_for_admins_and_known_branches(admin_app, employee_app):
    admin_app.patch_json("/api/branches/XYZ", {"grace_minutes": 5}, status=404)
    employee_app.patch_json("/api/branches/JKT", {"grace_minutes": 5}, status=403)


@pytest.fixture()
def fenced(admin_app):
    admin_app.patch_json("/api/branches/JKT", {"geofence": {**MONAS, "radius_m": 100}})


@pytest.mark.parametrize("location, code", [
    (None, "location_required"),
    ({**MONAS, "accuracy_m": 150}, "location_inaccurate"),
    ({"lat": -6.1800, "lon": 106.8272, "accuracy_m": 10}, "outside_geofence"),  # ~513 m
])
def test_geofence_refusals_write_nothing(fenced, employee_app, location, code):
    body = {"location": location} if location else {}
    response = employee_app.post_json("/api/attendance/check-in", body, status=422).json
    assert response["error"] == code
    if code == "outside_geofence":
        assert 500 <= response["distance_m"] <= 530
    assert employee_app.get("/api/me/attendances").json["total"] == 0
    assert outbox(employee_app) == []


def test_inside_the_fence_the_distance_is_stored(fenced, employee_app, admin_app):
    at(employee_app, "2026-11-20T08:00:00+07:00")
    near = {"lat": -6.1757, "lon": 106.8272, "accuracy_m": 12.5}  # ~35 m
    attendance = employee_app.post_json("/api/attendance/check-in",
                                        {"location": near}).json["attendance"]
    assert 30 <= attendance["check_in_distance_m"] <= 40
    # Check-out is fenced too
    at(employee_app, "2026-11-20T17:30:00+07:00")
    assert employee_app.post("/api/attendance/check-out", status=422).json["error"] == \
        "location_required"
    closed = employee_app.post_json("/api/attendance/check-out",
                                    {"location": {**MONAS, "accuracy_m": 5}}).json
    assert closed["attendance"]["check_out_distance_m"] == 0
    rows = admin_app.get("/api/attendances").json["data"]
    assert rows[0]["check_in_distance_m"] == attendance["check_in_distance_m"]


@pytest.mark.parametrize("location", [
    {"lat": "x", "lon": 1, "accuracy_m": 1}, {"lat": 1, "lon": 1}, [1, 2],
    {"lat": 1, "lon": 1, "accuracy_m": -1}, {"lat": 1, "lon": 1, "accuracy_m": 1, "alt": 3},
    {"lat": True, "lon": 1, "accuracy_m": 1},
])
def test_malformed_locations_are_422_with_or_without_a_fence(employee_app, location):
    response = employee_app.post_json("/api/attendance/check-in", {"location": location},
                                      status=422).json
    assert response["error"] == "invalid"


def test_without_a_fence_a_location_is_accepted_and_ignored(employee_app):
    attendance = employee_app.post_json("/api/attendance/check-in", {
        "location": {**MONAS, "accuracy_m": 3000}}).json["attendance"]
    assert attendance["check_in_distance_m"] is None


# -- holidays ----------------------------------------------------------------------------

def test_the_national_holidays_are_seeded(employee_app):
    data = employee_app.get("/api/holidays?year=2026").json["data"]
    assert len(data) == 17  # SKB 3 Menteri 2026: 17 libur nasional (cuti bersama not seeded)
    assert data[0] == {"id": data[0]["id"], "date": "2026-01-01",
                       "name": "Tahun Baru 2026 Masehi", "branch": None}
    assert "2026-08-17" in {h["date"] for h in data}
    assert employee_app.get("/api/holidays?year=2027").json["data"]
    assert employee_app.get("/api/holidays?year=2031").json["data"] == []
    for bad in ("abc", "0", "99999"):
        employee_app.get(f"/api/holidays?year={bad}", status=422)


def test_admin_adds_and_deletes_holidays(admin_app, employee_app):
    nyepi_bali = admin_app.post_json("/api/holidays", {
        "date": "2026-11-23", "name": "Hari Raya Galungan", "branch": "dps"}, status=201).json
    assert nyepi_bali == {"id": nyepi_bali["id"], "date": "2026-11-23",
                          "name": "Hari Raya Galungan", "branch": "DPS"}
    national = admin_app.post_json("/api/holidays", {
        "date": "2026-11-24", "name": "Libur khusus", "branch": None}, status=201).json
    assert national["branch"] is None
    # The same day again, or a branch day on a national one: 409
    for body in ({"date": "2026-11-23", "name": "Lagi", "branch": "DPS"},
                 {"date": "2026-11-24", "name": "Lagi", "branch": "JKT"},
                 {"date": "2026-08-17", "name": "Lagi", "branch": None}):
        assert admin_app.post_json("/api/holidays", body, status=409).json["error"] == \
            "holiday_exists"
    # Another branch on the Bali day is fine
    admin_app.post_json("/api/holidays", {"date": "2026-11-23", "name": "Galungan",
                                          "branch": "SBY"}, status=201)
    admin_app.delete(f"/api/holidays/{nyepi_bali['id']}", status=204)
    admin_app.delete(f"/api/holidays/{nyepi_bali['id']}", status=404)
    admin_app.delete("/api/holidays/abc", status=404)
    employee_app.post_json("/api/holidays", {"date": "2026-11-25", "name": "x"}, status=403)
    employee_app.delete(f"/api/holidays/{national['id']}", status=403)


@pytest.mark.parametrize("body, field", [
    ({"date": "2026-13-01", "name": "x"}, "date"), ({"name": "x"}, "date"),
    ({"date": "2026-11-25"}, "name"), ({"date": "2026-11-25", "name": "x", "branch": "XYZ"},
                                       "branch"),
    ({"date": "2026-11-25", "name": "x", "kind": "y"}, "kind"),
])
def test_bad_holidays_are_422(admin_app, body, field):
    assert field in admin_app.post_json("/api/holidays", body, status=422).json["fields"]


def test_a_branch_holiday_only_changes_that_branchs_leave_days(admin_app, make_app, factory):
    admin_app.post_json("/api/holidays", {"date": "2026-11-18", "name": "Galungan",
                                          "branch": "DPS"}, status=201)
    counts = {}
    for code in ("DPS", "JKT"):
        app = make_app()
        login(app, factory.user(branch=code))
        at(app, "2026-11-10T09:00:00+07:00")
        counts[code] = app.post_json("/api/leave", {
            "kind": "izin", "date_from": "2026-11-16", "date_to": "2026-11-20",
            "reason": "x"}, status=201).json["days"]
    assert counts == {"DPS": 4, "JKT": 5}

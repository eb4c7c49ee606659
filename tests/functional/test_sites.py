"""A branch's sites (contract §3.1): up to 20 places to check in, the attendance says which,
and the single geofence is the same as one site."""
import pytest

from tests.functional.shift_helpers import check_in, check_out, person

NOW = "2026-11-23T07:00:00+07:00"
MONAS = {"lat": -6.175392, "lon": 106.827153}
GUDANG = {"lat": -6.1214, "lon": 106.7741}  # ~8 km away, at the port
SITES = [{"name": "Kantor Monas", **MONAS, "radius_m": 100},
         {"name": "Gudang Priok", **GUDANG, "radius_m": 300}]


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now=NOW)


@pytest.fixture()
def employee(make_app, factory):
    return person(make_app, factory, now=NOW)


def test_check_in_inside_any_site_records_which(admin, employee):
    # Given Jakarta with an office and a warehouse
    branch = admin.put_json("/api/branches/JKT/sites", {"sites": SITES}).json
    assert branch["sites"] == SITES
    # the first site is also the branch's geofence (for clients that know only that)
    assert branch["geofence"] == {**MONAS, "radius_m": 100}
    assert next(b for b in employee.get("/api/branches").json["data"]
                if b["code"] == "JKT")["sites"] == SITES
    # When the employee checks in at the warehouse and out at the office
    opened = check_in(employee, "2026-11-23T07:55:00+07:00",
                      location={**GUDANG, "accuracy_m": 20})["attendance"]
    closed = check_out(employee, "2026-11-23T17:00:00+07:00",
                       location={"lat": -6.1757, "lon": 106.8272, "accuracy_m": 15}
                       )["attendance"]
    # Then the attendance says where
    assert (opened["check_in_site"], opened["check_in_distance_m"]) == ("Gudang Priok", 0)
    assert (closed["check_in_site"], closed["check_out_site"]) == \
        ("Gudang Priok", "Kantor Monas")


@pytest.mark.parametrize("location, code", [
    (None, "location_required"),
    ({**GUDANG, "accuracy_m": 301}, "location_inaccurate"),
    ({"lat": -6.2000, "lon": 106.8166, "accuracy_m": 10}, "outside_geofence"),
])
def test_outside_every_site_nothing_is_written(admin, employee, location, code):
    admin.put_json("/api/branches/JKT/sites", {"sites": SITES})
    body = {"location": location} if location else {}
    error = check_in(employee, "2026-11-23T07:55:00+07:00", status=422, **body)
    assert error["error"] == code
    if code == "outside_geofence":
        assert error["distance_m"] > 100
    assert employee.get("/api/me/attendances").json["total"] == 0


def test_the_geofence_is_one_site_and_no_sites_is_anywhere(admin, employee):
    # When an admin sets the single geofence (as before)
    branch = admin.patch_json("/api/branches/JKT",
                              {"geofence": {**MONAS, "radius_m": 150}}).json
    # Then it is one site named after the branch
    assert branch["sites"] == [{"name": "Jakarta", **MONAS, "radius_m": 150}]
    opened = check_in(employee, "2026-11-23T07:55:00+07:00",
                      location={**MONAS, "accuracy_m": 10})["attendance"]
    assert opened["check_in_site"] == "Jakarta"
    # When every site is removed / Then there is no fence any more
    branch = admin.put_json("/api/branches/JKT/sites", {"sites": []}).json
    assert (branch["sites"], branch["geofence"]) == ([], None)
    assert check_out(employee, "2026-11-23T17:00:00+07:00")["attendance"]["check_out_site"] \
        is None


@pytest.mark.parametrize("body, fields", [
    ({"sites": [SITES[0]] * 21}, {"sites"}),
    ({"sites": [SITES[0], SITES[0]]}, {"sites.1.name"}),
    ({"sites": [{**SITES[0], "radius_m": 5}, {**SITES[1], "lat": 91}]},
     {"sites.0.radius_m", "sites.1.lat"}),
    ({"sites": [{"name": "x"}]}, {"sites.0"}),
    ({}, {"sites"}),
])
def test_invalid_sites_name_every_bad_field(admin, body, fields):
    error = admin.put_json("/api/branches/JKT/sites", body, status=422).json
    assert error["error"] == "invalid" and set(error["fields"]) == fields


def test_twenty_sites_are_allowed_only_for_admins_of_known_branches(admin, employee):
    twenty = [{**SITES[0], "name": f"Lokasi {i}"} for i in range(20)]
    assert len(admin.put_json("/api/branches/DPS/sites", {"sites": twenty}).json["sites"]) == 20
    admin.put_json("/api/branches/XXX/sites", {"sites": []}, status=404)
    employee.put_json("/api/branches/JKT/sites", {"sites": []}, status=403)

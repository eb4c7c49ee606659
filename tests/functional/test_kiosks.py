"""Kiosks (contract §3.2): admins create, list and revoke them; a device enrolls once with
a one-time code (15 minutes, single use, throttled) and fetches its rotating code."""
import pytest

from tests.functional.kiosk_helpers import NOW, create_kiosk, enrolled_kiosk
from tests.functional.shift_helpers import at, person
from webapp.kiosks import throttle


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now=NOW)


def test_admin_creates_lists_and_revokes_a_kiosk(admin, make_app):
    # When an admin creates a kiosk for Jakarta
    created = create_kiosk(admin, "JKT", "Kios Lobi")
    # Then it has a one-time code and no device yet
    assert created["kiosk"] == {"id": created["kiosk"]["id"], "name": "Kios Lobi",
                                "branch": "JKT", "created_at": "2026-11-23T07:55:00+07:00",
                                "last_seen": None, "revoked": False}
    assert len(created["enrollment_code"].replace("-", "")) == 10
    # And once a device enrolled and asked for a code, the list shows when it was seen
    device = make_app()
    at(device, "2026-11-23T08:00:00+07:00")
    enrolled = device.post_json("/api/kiosk/enroll",
                                {"enrollment_code": created["enrollment_code"]}).json
    assert set(enrolled) == {"kiosk", "device_token", "device_secret"}
    at(device, "2026-11-23T08:00:07+07:00")
    device.get("/api/kiosk/qr", headers={"Authorization": f"Bearer {enrolled['device_token']}"})
    [listed] = admin.get("/api/kiosks").json["data"]
    assert listed["last_seen"] == "2026-11-23T08:00:07+07:00"
    # When the admin revokes it, it is revoked (twice is fine; an unknown id is 404)
    admin.delete(f"/api/kiosks/{listed['id']}", status=204)
    admin.delete(f"/api/kiosks/{listed['id']}", status=204)
    admin.delete("/api/kiosks/999999", status=404)
    admin.delete("/api/kiosks/abc", status=404)
    assert admin.get("/api/kiosks").json["data"][0]["revoked"] is True


@pytest.mark.parametrize("body, fields", [
    ({"branch": "XXX", "name": "Kios"}, {"branch"}),
    ({"branch": "JKT", "name": ""}, {"name"}),
    ({"branch": "JKT"}, {"name"}),
    ({"branch": "JKT", "name": "Kios", "extra": 1}, {"extra"}),
])
def test_bad_kiosks_are_422(admin, body, fields):
    error = admin.post_json("/api/kiosks", body, status=422).json
    assert error["error"] == "invalid" and set(error["fields"]) == fields
    assert admin.get("/api/kiosks").json["data"] == []


def test_only_admins_manage_kiosks(make_app, factory, app):
    employee = person(make_app, factory, now=NOW)
    employee.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios"}, status=403)
    employee.get("/api/kiosks", status=403)
    app.get("/api/kiosks", status=401)


def test_an_enrollment_code_is_single_use(admin, make_app):
    created = create_kiosk(admin)
    first, second = make_app(), make_app()
    at(first, NOW)
    at(second, NOW)
    first.post_json("/api/kiosk/enroll", {"enrollment_code": created["enrollment_code"]})
    error = second.post_json("/api/kiosk/enroll",
                             {"enrollment_code": created["enrollment_code"]}, status=401).json
    assert error["error"] == "invalid_code"


def test_an_enrollment_code_expires_after_15_minutes(admin, make_app):
    created = create_kiosk(admin)
    device = make_app()
    at(device, "2026-11-23T08:10:00+07:00")  # 15 minutes after NOW
    device.post_json("/api/kiosk/enroll", {"enrollment_code": created["enrollment_code"]},
                     status=401)
    at(device, "2026-11-23T08:09:59+07:00")
    device.post_json("/api/kiosk/enroll", {"enrollment_code": created["enrollment_code"]})


def test_a_revoked_kiosks_code_cannot_enroll(admin, make_app):
    created = create_kiosk(admin)
    admin.delete(f"/api/kiosks/{created['kiosk']['id']}", status=204)
    device = make_app()
    at(device, NOW)
    device.post_json("/api/kiosk/enroll", {"enrollment_code": created["enrollment_code"]},
                     status=401)


def test_enrollment_guessing_is_throttled_per_address(admin, make_app, monkeypatch):
    # Given a limit of 3 attempts per address
    monkeypatch.setattr(throttle, "ENROLL_PER_ADDRESS", (3, 900))
    created = create_kiosk(admin)
    guesser = make_app()
    at(guesser, NOW)
    for guess in ("AAAAA-AAAAA", "BBBBB-BBBBB", "CCCCC-CCCCC"):
        guesser.post_json("/api/kiosk/enroll", {"enrollment_code": guess}, status=401)
    # Then even the right code is refused from that address for a while, with the one
    # failure the contract lists for enrollment, saying when to try again
    error = guesser.post_json("/api/kiosk/enroll",
                              {"enrollment_code": created["enrollment_code"]}, status=401)
    assert error.json["error"] == "invalid_code" and int(error.headers["Retry-After"]) > 0
    # but not from another one
    other = make_app()
    other.extra_environ["REMOTE_ADDR"] = "198.51.100.9"
    at(other, NOW)
    other.post_json("/api/kiosk/enroll", {"enrollment_code": created["enrollment_code"]})


def test_qr_answers_the_current_code_and_its_url(admin, make_app):
    kiosk = enrolled_kiosk(make_app, admin)
    answer = kiosk.qr("2026-11-23T08:00:05+07:00")
    assert answer["code"] == kiosk.code("2026-11-23T08:00:05+07:00")
    assert answer["url"] == f"http://localhost/absen?kiosk={answer['code']}"
    # valid through the next 15-second slot: 08:00:00 + 30 s
    assert answer["expires_at"] == "2026-11-23T08:00:30+07:00"


def test_a_revoked_kiosk_is_refused_at_once(admin, make_app):
    kiosk = enrolled_kiosk(make_app, admin)
    kiosk.qr("2026-11-23T08:00:00+07:00")
    admin.delete(f"/api/kiosks/{kiosk.id}", status=204)
    assert kiosk.qr("2026-11-23T08:00:01+07:00", status=401)["error"] == "revoked"
    error = kiosk.punch("2026-11-23T08:00:02+07:00",
                        {"employee_number": "1", "pin": "111111", "action": "check_in"}, 401)
    assert error["error"] == "revoked"


def test_qr_without_a_known_token_is_401(app):
    app.get("/api/kiosk/qr", status=401)
    app.get("/api/kiosk/qr", headers={"Authorization": "Bearer nope"}, status=401)


def test_enrollment_keeps_only_hashes(admin, make_app):
    from sqlalchemy import text

    kiosk = enrolled_kiosk(make_app, admin)
    with admin.app.registry["db_engine"].connect() as connection:
        row = connection.execute(text("SELECT * FROM kiosks")).mappings().one()
    assert kiosk.token not in row.values() and kiosk.secret not in row.values()
    assert row["enrollment_code_hash"] is None  # used up

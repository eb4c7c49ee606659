"""Offline check-ins (contract §3.2): an action made without a network arrives later with
``offline_at`` and a kiosk code of that time; accepted only ≤ 12 hours old, with the code's
slot within 2 minutes of it, at a time the kiosk was out of contact."""
import pytest

from tests.functional.kiosk_helpers import code_check_in, employee, enrolled_kiosk
from tests.functional.shift_helpers import person

ARRIVAL = "2026-11-23T09:00:00+07:00"
MADE = "2026-11-23T07:50:00+07:00"


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now="2026-11-23T06:00:00+07:00")


@pytest.fixture()
def kiosk(make_app, admin):
    # enrolled at 06:00 and last heard from at 07:40 (then the branch's network went down)
    kiosk = enrolled_kiosk(make_app, admin, now="2026-11-23T06:00:00+07:00")
    kiosk.qr("2026-11-23T07:40:00+07:00")
    return kiosk


@pytest.fixture()
def budi(make_app, factory):
    return employee(make_app, factory, name="Budi")


def offline(app, kiosk_code, offline_at, status=201, path="check-in", key=None):
    return code_check_in(app, ARRIVAL, kiosk_code, status=status, path=path,
                         offline_at=offline_at,
                         headers={"Idempotency-Key": key} if key else None)


def test_an_offline_check_in_keeps_the_devices_time(admin, kiosk, budi):
    answer = offline(budi, kiosk.code(MADE), MADE, key="q-1")["attendance"]
    assert (answer["check_in_at"], answer["offline"]) == ("2026-11-23T07:50:00+07:00", True)
    assert answer["status"] == "present"  # on time at 07:50, though it arrived at 09:00
    [entry] = admin.get(f"/api/attendances/{answer['id']}/audit").json["data"]
    # the audit says it was made offline, and its own time is the arrival's
    assert "offline" in entry["reason"] and entry["at"] != answer["check_in_at"]


def test_a_replayed_offline_check_in_gets_the_same_answer(kiosk, budi):
    first = offline(budi, kiosk.code(MADE), MADE, key="q-1")
    assert offline(budi, kiosk.code(MADE), MADE, key="q-1") == first
    assert budi.get("/api/me/attendances").json["total"] == 1


def test_a_proof_3_minutes_off_is_refused(kiosk, budi):
    code = kiosk.code("2026-11-23T07:47:00+07:00")
    error = offline(budi, code, MADE, status=422)
    assert error["error"] == "offline_proof_invalid"
    assert budi.get("/api/me/attendances").json["total"] == 0
    # within 2 minutes is fine
    offline(budi, kiosk.code("2026-11-23T07:48:05+07:00"), MADE)


def test_a_13_hour_old_action_is_refused(make_app, admin, budi):
    kiosk = enrolled_kiosk(make_app, admin, now="2026-11-22T18:00:00+07:00")
    made = "2026-11-22T19:59:59+07:00"  # 13 h 0 min 1 s before ARRIVAL
    error = offline(budi, kiosk.code(made), made, status=422)
    assert error["error"] == "offline_proof_invalid"


def test_an_online_kiosks_code_is_not_an_offline_proof(kiosk, budi):
    # Given the kiosk was online at 07:49:45 (it fetched its code)
    kiosk.qr("2026-11-23T07:49:45+07:00")
    # Then a photo of its code cannot become an "offline" check-in at 07:50
    error = offline(budi, kiosk.code(MADE), MADE, status=422)
    assert error["error"] == "offline_proof_invalid"
    # 31 seconds after its last contact it counts as out of contact
    later = "2026-11-23T07:50:16+07:00"
    offline(budi, kiosk.code(later), later)


def test_offline_at_needs_a_kiosk_code(budi):
    error = budi.post_json("/api/attendance/check-in", {"offline_at": MADE}, status=422).json
    assert error["error"] == "offline_proof_invalid"


def test_offline_at_must_be_an_instant(kiosk, budi):
    error = offline(budi, kiosk.code(MADE), "yesterday", status=422)
    assert error["error"] == "invalid" and "offline_at" in error["fields"]


def test_an_offline_check_out_before_the_check_in_is_refused(kiosk, budi):
    offline(budi, kiosk.code(MADE), MADE)
    early = "2026-11-23T07:45:00+07:00"
    error = offline(budi, kiosk.code(early), early, path="check-out", status=422)
    assert error["error"] == "offline_proof_invalid"


def test_offline_pin_punches_are_signed_with_the_device_secret(make_app, factory, admin,
                                                               kiosk):
    budi = employee(make_app, factory, name="Budi")
    admin.patch_json(f"/api/users/{budi.user['id']}", {"employee_number": "E-7"})
    budi.put_json("/api/me/pin", {"pin": "482915"}, status=204)
    body = kiosk.signed(employee_number="E-7", action="check_in", offline_at=MADE,
                        pin="482915")
    forged = {**body, "signature": "0" * 64}
    assert kiosk.punch(ARRIVAL, forged, 422)["error"] == "offline_proof_invalid"
    answer = kiosk.punch(ARRIVAL, body, 201, headers={"Idempotency-Key": "o-1"})
    assert answer["attendance"]["check_in_at"] == "2026-11-23T07:50:00+07:00"
    assert answer["attendance"]["offline"] is True
    # the kiosk's queue sends it again after a lost answer: the same answer
    assert kiosk.punch(ARRIVAL, body, 201, headers={"Idempotency-Key": "o-1"}) == answer
    # an offline punch at a time the kiosk was online is refused
    online = "2026-11-23T07:40:10+07:00"
    body = kiosk.signed(employee_number="E-7", action="check_out", offline_at=online,
                        pin="482915")
    assert kiosk.punch(ARRIVAL, body, 422)["error"] == "offline_proof_invalid"

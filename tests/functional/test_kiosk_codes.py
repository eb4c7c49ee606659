"""Checking in with a kiosk code (contract §3.2): valid ≤ 30 s, once per employee, bound
to the kiosk's branch, signed; every refusal is 422 ``kiosk_code_invalid`` and writes
nothing."""
import pytest

from tests.functional.kiosk_helpers import (NOW, code_check_in, employee, enrolled_kiosk)
from tests.functional.shift_helpers import person
from webapp.kiosks import codes

SITES = [{"name": "Kantor Monas", "lat": -6.175392, "lon": 106.827153, "radius_m": 100}]


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now=NOW)


@pytest.fixture()
def kiosk(make_app, admin):
    return enrolled_kiosk(make_app, admin)


@pytest.fixture()
def budi(make_app, factory):
    return employee(make_app, factory, name="Budi")


def attendances(app):
    return app.get("/api/me/attendances").json["total"]


def test_a_code_checks_in_and_satisfies_the_sites(admin, kiosk, budi):
    # Given Jakarta requires a location inside its office
    admin.put_json("/api/branches/JKT/sites", {"sites": SITES})
    # When Budi sends the kiosk's current code without any location
    shown = kiosk.qr("2026-11-23T07:55:00+07:00")["code"]
    answer = code_check_in(budi, "2026-11-23T07:55:20+07:00", shown)["attendance"]
    # Then he is checked in, online
    assert (answer["check_in_at"], answer["offline"]) == ("2026-11-23T07:55:20+07:00", False)
    # And checks out later with a later code (lowercase and blanks are fine)
    later = kiosk.code("2026-11-23T17:00:00+07:00").lower()
    closed = code_check_in(budi, "2026-11-23T17:00:10+07:00", f" {later} ",
                           path="check-out", status=200)["attendance"]
    assert closed["check_out_at"] == "2026-11-23T17:00:10+07:00"


def test_a_code_is_valid_for_its_slot_and_the_next_only(kiosk, budi):
    code = kiosk.code("2026-11-23T07:55:00+07:00")  # slot 07:55:00–07:55:15
    error = code_check_in(budi, "2026-11-23T07:55:30+07:00", code, status=422)
    assert error["error"] == "kiosk_code_invalid"
    assert attendances(budi) == 0
    code_check_in(budi, "2026-11-23T07:55:29+07:00", code)


def test_a_code_from_the_future_is_refused(kiosk, budi):
    code = kiosk.code("2026-11-23T07:55:15+07:00")
    code_check_in(budi, "2026-11-23T07:55:14+07:00", code, status=422)


def test_a_code_is_used_once_per_employee_but_by_each_employee(make_app, factory, kiosk,
                                                               budi):
    code = kiosk.code(NOW)
    code_check_in(budi, NOW, code)
    # a second use by Budi (a check-out with the same code) is refused and writes nothing
    error = code_check_in(budi, "2026-11-23T07:55:05+07:00", code, path="check-out",
                          status=422)
    assert error["error"] == "kiosk_code_invalid"
    assert budi.get("/api/me/attendances").json["data"][0]["check_out_at"] is None
    # while a colleague standing beside him uses the same code
    siti = employee(make_app, factory, name="Siti")
    code_check_in(siti, "2026-11-23T07:55:06+07:00", code)


def test_a_retry_with_the_same_idempotency_key_gets_the_same_answer(kiosk, budi):
    code = kiosk.code(NOW)
    first = code_check_in(budi, NOW, code, headers={"Idempotency-Key": "k-1"})
    # long after the code expired, the retry is answered from the first response
    again = code_check_in(budi, "2026-11-23T07:59:00+07:00", code,
                          headers={"Idempotency-Key": "k-1"})
    assert again == first and attendances(budi) == 1


@pytest.mark.parametrize("forge", [
    lambda kiosk, code: code[:-1] + ("A" if code[-1] != "A" else "B"),  # a wrong mac
    lambda kiosk, code: codes.make_code("not-the-secret", kiosk.id, int(code.split("-")[1])),
    lambda kiosk, code: f"{kiosk.id + 1}-{code.split('-', 1)[1]}",  # another kiosk's id
    lambda kiosk, code: "garbage",
    lambda kiosk, code: 12345,
])
def test_forged_codes_are_refused(kiosk, budi, forge):
    error = code_check_in(budi, NOW, forge(kiosk, kiosk.code(NOW)), status=422)
    assert error["error"] in ("kiosk_code_invalid", "invalid")
    assert attendances(budi) == 0


def test_a_code_of_another_branchs_kiosk_is_refused(make_app, admin, budi):
    bali = enrolled_kiosk(make_app, admin, branch="DPS")
    error = code_check_in(budi, NOW, bali.code(NOW), status=422)
    assert error["error"] == "kiosk_code_invalid" and attendances(budi) == 0


def test_a_revoked_kiosks_codes_are_refused_at_once(admin, kiosk, budi):
    code = kiosk.code(NOW)
    admin.delete(f"/api/kiosks/{kiosk.id}", status=204)
    error = code_check_in(budi, NOW, code, status=422)
    assert error["error"] == "kiosk_code_invalid" and attendances(budi) == 0


def test_a_conflict_spends_nothing(kiosk, budi):
    # Given Budi already checked in
    code_check_in(budi, NOW, kiosk.code(NOW))
    # When he checks in again with the next code: 409, the code stays unspent
    later = "2026-11-23T07:55:20+07:00"
    code = kiosk.code(later)
    assert code_check_in(budi, later, code, status=409)["error"] == "already_checked_in"
    code_check_in(budi, "2026-11-23T07:55:25+07:00", code, path="check-out", status=200)

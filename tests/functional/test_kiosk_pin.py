"""Employee numbers and kiosk PINs (contract §3.2): admins set the number, employees their
PIN (6 digits, never trivial, argon2), and a kiosk's PIN pad checks in and out; a wrong
PIN and an unknown number look alike, and guessing is throttled per kiosk and account."""
import pytest

from tests.functional.kiosk_helpers import NOW, employee, enrolled_kiosk
from tests.functional.shift_helpers import person
from webapp.kiosks import throttle


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now=NOW)


@pytest.fixture()
def kiosk(make_app, admin):
    return enrolled_kiosk(make_app, admin)


def numbered(make_app, factory, admin, number, pin="482915", branch="JKT", name="Budi"):
    app = employee(make_app, factory, name=name, branch=branch)
    user = admin.patch_json(f"/api/users/{app.user['id']}", {"employee_number": number}).json
    assert user["employee_number"] == number
    app.put_json("/api/me/pin", {"pin": pin}, status=204)
    return app


def punch_body(number="E-1001", pin="482915", action="check_in"):
    return {"employee_number": number, "pin": pin, "action": action}


def test_admins_set_unique_employee_numbers(make_app, factory, admin):
    budi = employee(make_app, factory)
    siti = employee(make_app, factory)
    assert budi.get("/api/me").json["employee_number"] is None
    admin.patch_json(f"/api/users/{budi.user['id']}", {"employee_number": "E-1001"})
    error = admin.patch_json(f"/api/users/{siti.user['id']}", {"employee_number": "E-1001"},
                             status=409).json
    assert error["error"] == "employee_number_taken"
    admin.patch_json(f"/api/users/{siti.user['id']}", {"employee_number": "no spaces"},
                     status=422)
    # a number can be taken away again
    admin.patch_json(f"/api/users/{budi.user['id']}", {"employee_number": None})
    admin.patch_json(f"/api/users/{siti.user['id']}", {"employee_number": "E-1001"})
    assert siti.get("/api/me").json["employee_number"] == "E-1001"


@pytest.mark.parametrize("pin", ["000000", "999999", "123456", "654321", "890123", "121212",
                                 "123123", "100200", "12345", "1234567", "12345a", 123456,
                                 "١٢٣٤٥٦"])
def test_trivial_or_malformed_pins_are_refused(make_app, factory, admin, pin):
    budi = employee(make_app, factory)
    admin.patch_json(f"/api/users/{budi.user['id']}", {"employee_number": "100200"})
    error = budi.put_json("/api/me/pin", {"pin": pin}, status=422).json
    assert error["error"] == "invalid" and "pin" in error["fields"]


def test_the_pin_is_stored_as_an_argon2_hash(make_app, factory, admin):
    from sqlalchemy import text

    budi = numbered(make_app, factory, admin, "E-1001")
    with admin.app.registry["db_engine"].connect() as connection:
        stored = connection.execute(text("SELECT pin_hash FROM users WHERE id = :id"),
                                    {"id": budi.user["id"]}).scalar()
    assert stored.startswith("$argon2") and "482915" not in stored


def test_a_pin_punch_checks_in_and_out_showing_only_a_name_and_times(make_app, factory,
                                                                     admin, kiosk):
    budi = numbered(make_app, factory, admin, "E-1001")
    opened = kiosk.punch("2026-11-23T07:56:00+07:00", punch_body(), 201)
    assert opened == {"attendance": {
        "id": opened["attendance"]["id"], "user": {"name": "Budi"},
        "work_date": "2026-11-23", "check_in_at": "2026-11-23T07:56:00+07:00",
        "check_out_at": None, "offline": False}}
    again = kiosk.punch("2026-11-23T07:57:00+07:00", punch_body(), 409)
    assert again["error"] == "already_checked_in" and "email" not in str(again)
    closed = kiosk.punch("2026-11-23T17:01:00+07:00", punch_body(action="check_out"), 200)
    assert closed["attendance"]["check_out_at"] == "2026-11-23T17:01:00+07:00"
    assert budi.get("/api/me/attendances").json["total"] == 1


def test_a_wrong_pin_and_an_unknown_number_look_alike(make_app, factory, admin, kiosk):
    numbered(make_app, factory, admin, "E-1001")
    wrong = kiosk.punch(NOW, punch_body(pin="482916"), 401)
    unknown = kiosk.punch(NOW, punch_body(number="E-9999"), 401)
    assert wrong == unknown == {"error": "invalid_pin",
                                "message": "Nomor karyawan atau PIN salah."}


def test_another_branchs_employee_cannot_punch_here(make_app, factory, admin, kiosk):
    numbered(make_app, factory, admin, "D-1", branch="DPS")
    error = kiosk.punch(NOW, punch_body(number="D-1"), 422)
    assert error["error"] == "kiosk_code_invalid"


def test_pin_guessing_is_throttled_per_account(make_app, factory, admin, kiosk):
    numbered(make_app, factory, admin, "E-1001")
    for guess in range(throttle.PIN_PER_PAIR[0]):
        kiosk.punch(NOW, punch_body(pin=f"9{guess}8271"), 401)
    error = kiosk.punch(NOW, punch_body(), 429)
    assert error["error"] == "too_many_attempts"
    # the same account from another kiosk, once the account's own limit is reached
    other = enrolled_kiosk(make_app, admin)
    for guess in range(throttle.PIN_PER_ACCOUNT[0] - throttle.PIN_PER_PAIR[0]):
        other.punch(NOW, punch_body(pin=f"8{guess}8271"), 401)
    assert other.punch(NOW, punch_body(), 429)["error"] == "too_many_attempts"


def test_pin_guessing_is_throttled_per_kiosk(make_app, factory, admin, kiosk, monkeypatch):
    monkeypatch.setattr(throttle, "PIN_PER_KIOSK", (4, 900))
    numbered(make_app, factory, admin, "E-1001")
    for number in range(4):  # four different numbers, one guess each
        kiosk.punch(NOW, punch_body(number=f"X-{number}"), 401)
    assert kiosk.punch(NOW, punch_body(), 429)["error"] == "too_many_attempts"
    # another kiosk is not locked
    other = enrolled_kiosk(make_app, admin)
    other.punch(NOW, punch_body(), 201)


def test_a_replayed_punch_gets_the_same_answer(make_app, factory, admin, kiosk):
    numbered(make_app, factory, admin, "E-1001")
    first = kiosk.punch(NOW, punch_body(), 201, headers={"Idempotency-Key": "p-1"})
    again = kiosk.punch("2026-11-23T07:58:00+07:00", punch_body(), 201,
                        headers={"Idempotency-Key": "p-1"})
    assert again == first

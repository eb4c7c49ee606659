"""Helpers of the kiosk tests: a kiosk enrolled through the API, its codes made as the
kiosk makes them (webapp.kiosks.codes), and apps pinned to a moment."""
import datetime as dt

from tests.functional.shift_helpers import at, person
from webapp.kiosks import codes

NOW = "2026-11-23T07:55:00+07:00"


def instant(iso):
    return dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)


class EnrolledKiosk:
    """A kiosk as its device holds it: id, branch, bearer token and device secret, on an
    app of its own (no session)."""

    def __init__(self, app, answer):
        self.app = app
        self.id = answer["kiosk"]["id"]
        self.branch = answer["kiosk"]["branch"]
        self.token = answer["device_token"]
        self.secret = answer["device_secret"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def code(self, iso):
        """The code the kiosk shows at *iso* (made offline, as its page does)."""
        return codes.make_code(self.secret, self.id, codes.slot_of(instant(iso)))

    def qr(self, iso, status=200):
        at(self.app, iso)
        return self.app.get("/api/kiosk/qr", headers=self.headers, status=status).json

    def punch(self, iso, body, status, headers=None):
        at(self.app, iso)
        return self.app.post_json("/api/kiosk/punch", body, status=status,
                                  headers={**self.headers, **(headers or {})}).json

    def signed(self, *, employee_number, action, offline_at, pin):
        signature = codes.punch_signature(self.secret, kiosk_id=self.id,
                                          employee_number=employee_number, action=action,
                                          offline_at=offline_at)
        return {"employee_number": employee_number, "pin": pin, "action": action,
                "offline_at": offline_at, "signature": signature}


def create_kiosk(admin, branch="JKT", name="Kios Lobi"):
    return admin.post_json("/api/kiosks", {"branch": branch, "name": name}, status=201).json


def enrolled_kiosk(make_app, admin, branch="JKT", now=NOW):
    created = create_kiosk(admin, branch)
    device = make_app()
    at(device, now)
    answer = device.post_json("/api/kiosk/enroll",
                              {"enrollment_code": created["enrollment_code"]}).json
    return EnrolledKiosk(device, answer)


def employee(make_app, factory, *, branch="JKT", now=NOW, **fields):
    return person(make_app, factory, now=now, branch=branch, **fields)


def code_check_in(app, iso, code, status=201, path="check-in", headers=None, **body):
    """Check in (or ``path="check-out"``) at *iso* with a kiosk code; the JSON answer."""
    at(app, iso)
    return app.post_json(f"/api/attendance/{path}", {"kiosk_code": code, **body},
                         status=status, headers=headers or {}).json

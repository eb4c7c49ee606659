"""Attendance through a kiosk (contract §3.2): an employee's check-in/out with a kiosk
code (and offline proofs), and the kiosk's PIN punch.

The rules of codes and kiosks live in webapp.kiosks; the check-in and check-out are the
ones of webapp.attendance.services (a code satisfies the branch's sites).
"""
import functools
import hashlib
import hmac

from pyramid.view import view_config

from webapp import validation as v
from webapp.accounts.passwords import verify_password
from webapp.accounts.principal import Principal
from webapp.accounts.services import user_by_employee_number
from webapp.attendance import services
from webapp.attendance.serializers import attendance_json
from webapp.errors import ApiError, invalid, json_response
from webapp.holidays.cache import node_holidays
from webapp.idempotency.services import run_once
from webapp.kiosks import codes, throttle
from webapp.kiosks import services as kiosks
from webapp.kiosks.models import Kiosk

ACTIONS = {"check_in": (services.check_in, 201), "check_out": (services.check_out, 200)}
MAX_EMPLOYEE_NUMBER_LENGTH = 32


def check_in_with_node_holidays(request):
    """:func:`services.check_in` with the holidays from the node's cache: a SELECT fewer
    per check-in, whether by the employee's phone or a kiosk (webapp.holidays.cache)."""
    return functools.partial(services.check_in, holidays=node_holidays(request))


def offline_instant(body, errors):
    """The body's ``offline_at`` (aware), or None when absent."""
    if body.get("offline_at") is None:
        return None
    return v.iso_instant(body.get("offline_at"), "offline_at", errors)


def kiosk_change(request, change, *, user, now, note, kiosk_code, offline_at):
    """Run *change* (check_in/check_out) for the logged-in employee with a kiosk code:
    checked first, spent in the same transaction after the change succeeded (so a
    refused or conflicting change spends nothing)."""
    kiosk, slot = kiosks.verify_code(
        request.dbsession, request.redis, kiosk_code, branch_id=user.branch_id,
        now=request.now, server_secret=request.registry.settings["app.secret_key"],
        offline_at=offline_at)
    attendance = change(request.dbsession, user=user, node_id=request.node_id, note=note,
                        now=now, at_kiosk=True, offline=offline_at is not None)
    kiosks.use_code(request.dbsession, kiosk_id=kiosk.id, slot=slot, user_id=user.id,
                    now=request.now)
    return attendance


# -- the kiosk's PIN pad -----------------------------------------------------------------

def kiosk_attendance_json(attendance_body):
    """What a kiosk may show of an attendance: a name and times (contract §3.2)."""
    return {"id": attendance_body["id"], "user": {"name": attendance_body["user"]["name"]},
            "work_date": attendance_body["work_date"],
            "check_in_at": attendance_body["check_in_at"],
            "check_out_at": attendance_body["check_out_at"],
            "offline": attendance_body.get("offline", False)}


def _punch_input(body):
    errors = {}
    v.reject_unknown(body, ("employee_number", "pin", "action", "offline_at", "signature"))
    number = body.get("employee_number")
    if not isinstance(number, str) or not 0 < len(number.strip()) <= MAX_EMPLOYEE_NUMBER_LENGTH:
        errors["employee_number"] = "Wajib diisi (paling banyak 32 karakter)."
    if not isinstance(body.get("pin"), str) or len(body["pin"]) > 64:
        errors["pin"] = "Wajib diisi."
    if body.get("action") not in ACTIONS:
        errors["action"] = "Harus 'check_in' atau 'check_out'."
    offline_at = offline_instant(body, errors)
    v.raise_if(errors)
    return number.strip(), body["pin"], body["action"], offline_at


def _kiosk_of(request):
    """The kiosk of the bearer token, read in a short transaction of its own."""
    factory = request.registry["dbsession_factory"]
    with factory(bind=request.registry["db_read_engine"]) as dbsession:
        return kiosks.kiosk_for_token(dbsession, kiosks.bearer_token(request))


def _check_offline_punch(request, kiosk, body, *, number, action, offline_at):
    secret = kiosks.secret_of(kiosk, request.registry.settings["app.secret_key"])
    expected = codes.punch_signature(secret, kiosk_id=kiosk.id, employee_number=number,
                                     action=action, offline_at=body["offline_at"])
    given = body.get("signature")
    if not isinstance(given, str) or not hmac.compare_digest(expected, given.lower()):
        raise kiosks.offline_invalid("Tanda tangan kios tidak cocok.")
    kiosks.check_offline(request.redis, kiosk.id, slot=codes.slot_of(offline_at),
                         offline_at=offline_at, now=request.now)


def _checked_employee(request, kiosk, number, pin):
    """The employee whose number and PIN these are (argon2 outside any transaction), or
    401 ``invalid_pin`` for a wrong PIN and an unknown number alike; 429 when throttled."""
    account = hashlib.sha256(number.encode()).hexdigest()[:32]
    limits = throttle.pin_limits(kiosk.id, account)
    wait = throttle.reserve(request.redis, limits)
    if wait:
        raise ApiError(429, "too_many_attempts",
                       f"Terlalu banyak percobaan PIN. Coba lagi dalam {wait} detik.",
                       headers={"Retry-After": wait})
    user = user_by_employee_number(request.registry["dbsession_factory"],
                                   request.registry["db_read_engine"], number)
    usable = user is not None and user.active and user.pin_hash
    if not verify_password(user.pin_hash if usable else None, pin) or not usable:
        raise ApiError(401, "invalid_pin", "Nomor karyawan atau PIN salah.")
    throttle.refund(request.redis, [key for key, _, _ in limits])
    if user.branch_id != kiosk.branch_id:
        raise kiosks.code_invalid("Kios ini bukan di cabang Anda.")
    return user


@view_config(route_name="api.kiosk_punch", request_method="POST")
def punch(request):
    body = v.json_object(request)
    kiosk = _kiosk_of(request)
    number, pin, action, offline_at = _punch_input(body)
    kiosks.note_contact(request.redis, request.registry["dbsession_factory"], kiosk,
                        request.now)
    if offline_at is not None:
        _check_offline_punch(request, kiosk, body, number=number, action=action,
                             offline_at=offline_at)
    user = _checked_employee(request, kiosk, number, pin)
    change, success_status = ACTIONS[action]
    if change is services.check_in:
        change = check_in_with_node_holidays(request)
    principal = Principal.of(user)

    def run():
        # the request's transaction begins here, after the PIN was hashed
        if request.dbsession.get(Kiosk, kiosk.id).revoked:  # revoked meanwhile
            raise ApiError(401, "revoked", "Perangkat ini sudah dicabut.")
        try:
            attendance = change(request.dbsession, user=principal, node_id=request.node_id,
                                now=offline_at or request.now, at_kiosk=True,
                                offline=offline_at is not None)
        except ApiError as error:
            if "attendance" in error.extra:  # a 409 names the attendance: trim it too
                error.extra = {"attendance": kiosk_attendance_json(error.extra["attendance"])}
            raise
        return success_status, {"attendance": kiosk_attendance_json(attendance_json(attendance))}

    status, answer, replayed = run_once(
        request.dbsession, user_id=user.id, key=request.headers.get("Idempotency-Key"),
        fingerprint=f"{request.method} {request.path}", action=run)
    return json_response(status, answer, {"Idempotent-Replayed": "true"} if replayed else None)


def require_offline_code(kiosk_code, offline_at):
    if offline_at is not None and not kiosk_code:
        raise ApiError(422, "offline_proof_invalid",
                       "Absensi offline memerlukan kode kios dari waktu itu.")
    if kiosk_code is not None and not isinstance(kiosk_code, str):
        raise invalid({"kiosk_code": "Harus teks."})

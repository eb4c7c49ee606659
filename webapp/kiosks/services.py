"""Kiosks: create, list, revoke, enroll, authenticate a device, and check a kiosk code.

Race-free across nodes through the database: enrollment is one guarded UPDATE (the code's
hash, unexpired, not revoked), so two devices racing with one code cannot both win, and a
code's single use per employee is a unique row (:class:`KioskCodeUse`) written in the
check-in's own transaction.
"""
import datetime as dt
import logging
import secrets

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from redis.exceptions import RedisError

from webapp import validation as v
from webapp.branches.services import branch_by_code
from webapp.clock import as_utc, local_iso
from webapp.db import execute_write
from webapp.errors import ApiError
from webapp.kiosks import codes, contact
from webapp.kiosks.models import Kiosk, KioskCodeUse

log = logging.getLogger(__name__)

ENROLLMENT_VALID = dt.timedelta(minutes=15)
#: the offline rules of contract §3.2
OFFLINE_MAX_AGE = dt.timedelta(hours=12)
OFFLINE_PROOF_TOLERANCE = dt.timedelta(minutes=2)
OFFLINE_QUIET_BEFORE = dt.timedelta(seconds=30)
#: a device clock a little ahead of the server's is not a lie
OFFLINE_FUTURE_SKEW = dt.timedelta(minutes=2)


def _naive(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def kiosk_json(kiosk, seen=None):
    zone = kiosk.branch.zone
    last_seen = seen if seen is not None else as_utc(kiosk.last_seen)
    return {
        "id": kiosk.id,
        "name": kiosk.name,
        "branch": kiosk.branch.code,
        "created_at": local_iso(kiosk.created_at, zone),
        "last_seen": (last_seen.astimezone(zone).isoformat(timespec="seconds")
                      if last_seen else None),
        "revoked": kiosk.revoked,
    }


def create_kiosk(dbsession, body, *, now):
    """A new kiosk and its one-time enrollment code (shown once, stored hashed)."""
    errors = {}
    v.reject_unknown(body, ("branch", "name"))
    name = v.check_name(body.get("name"), errors)
    branch = branch_by_code(dbsession, body.get("branch"))
    if branch is None:
        errors["branch"] = "Kode cabang tidak dikenal."
    v.raise_if(errors)
    code = codes.new_enrollment_code()
    kiosk = Kiosk(branch=branch, name=name, created_at=_naive(now),
                  enrollment_code_hash=codes.digest(codes.normalise_enrollment_code(code)),
                  enrollment_expires_at=_naive(now + ENROLLMENT_VALID))
    dbsession.add(kiosk)
    dbsession.flush()
    return kiosk, code


def list_kiosks(dbsession):
    return list(dbsession.scalars(select(Kiosk).order_by(Kiosk.branch_id, Kiosk.name,
                                                         Kiosk.id)))


def revoke_kiosk(dbsession, kiosk_id, *, now):
    """Revoke at once: its token is refused from the next request on (no cache)."""
    kiosk = dbsession.get(Kiosk, kiosk_id) if kiosk_id else None
    if kiosk is None:
        raise ApiError(404, "not_found", "Kios tidak ditemukan.")
    if kiosk.revoked_at is None:
        kiosk.revoked_at = _naive(now)
    kiosk.enrollment_code_hash = None
    dbsession.flush()


def enroll(dbsession, raw_code, *, now, server_secret):
    """``(kiosk, device_token, device_secret)`` for a valid enrollment code, used up by
    this call; 401 ``invalid_code`` for a used, expired or unknown one."""
    letters = codes.normalise_enrollment_code(raw_code)
    refused = ApiError(401, "invalid_code", "Kode pendaftaran salah, kedaluwarsa, atau "
                                            "sudah dipakai.")
    if letters is None:
        raise refused
    code_hash = codes.digest(letters)
    token, nonce = codes.new_token(), secrets.token_hex(16)
    table = Kiosk.__table__
    # the one statement that decides: whichever node runs it first takes the code
    taken = execute_write(dbsession, update(table).where(
        table.c.enrollment_code_hash == code_hash,
        table.c.enrollment_expires_at > _naive(now),
        table.c.revoked_at.is_(None),
    ).values(enrollment_code_hash=None, device_token_hash=codes.digest(token),
             secret_nonce=nonce, enrolled_at=_naive(now))).rowcount
    if taken != 1:
        raise refused
    kiosk = dbsession.scalar(select(Kiosk).where(Kiosk.device_token_hash == codes.digest(token)))
    return kiosk, token, codes.device_secret(server_secret, kiosk.id, nonce)


def bearer_token(request):
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def kiosk_for_token(dbsession, token):
    """The enrolled kiosk holding *token*; 401 ``revoked`` once revoked, 401
    ``unauthenticated`` without a known token."""
    kiosk = None
    if token and len(token) <= 128:
        kiosk = dbsession.scalar(select(Kiosk).where(
            Kiosk.device_token_hash == codes.digest(token)))
    if kiosk is None:
        raise ApiError(401, "unauthenticated", "Perangkat kios belum terdaftar.")
    if kiosk.revoked:
        raise ApiError(401, "revoked", "Perangkat ini sudah dicabut.")
    return kiosk


def secret_of(kiosk, server_secret):
    return codes.device_secret(server_secret, kiosk.id, kiosk.secret_nonce)


def note_contact(redis, session_factory, kiosk, now):
    """Record a request of *kiosk* (Redis), and write ``last_seen`` to the database at most
    once a minute, in a short transaction of its own (a GET's session is read-only)."""
    try:
        due = contact.record(redis, kiosk.id, now)
    except RedisError:
        log.warning("kiosk %s: contact not recorded (Redis)", kiosk.id, exc_info=True)
        due = True
    if not due:
        return
    try:
        with session_factory.begin() as dbsession:
            dbsession.execute(update(Kiosk.__table__).where(Kiosk.__table__.c.id == kiosk.id)
                              .values(last_seen=_naive(now)))
    except SQLAlchemyError:
        log.warning("kiosk %s: last_seen not written", kiosk.id, exc_info=True)


def current_code(kiosk, *, now, server_secret):
    """``(code, expires_at)`` of the slot *now* is in (valid through the next slot)."""
    slot = codes.slot_of(now)
    expires = dt.datetime.fromtimestamp(codes.slot_start(slot + codes.VALID_SLOTS),
                                        dt.timezone.utc)
    return codes.make_code(secret_of(kiosk, server_secret), kiosk.id, slot), expires


def code_invalid(message="Kode kios tidak berlaku. Pindai kode yang sedang tampil."):
    return ApiError(422, "kiosk_code_invalid", message)


def offline_invalid(message):
    return ApiError(422, "offline_proof_invalid", message)


def verify_code(dbsession, redis, raw_code, *, branch_id, now, server_secret,
                offline_at=None):
    """The ``(kiosk, slot)`` a code proves for an employee of *branch_id*; 422
    ``kiosk_code_invalid`` for a forged, expired, other branch's or revoked kiosk's code,
    422 ``offline_proof_invalid`` when *offline_at* breaks the offline rules."""
    parsed = codes.parse_code(raw_code)
    if parsed is None:
        raise code_invalid()
    kiosk_id, slot, given = parsed
    kiosk = dbsession.get(Kiosk, kiosk_id)
    if kiosk is None or kiosk.secret_nonce is None or kiosk.revoked:
        raise code_invalid()
    if not codes.mac_matches(secret_of(kiosk, server_secret), kiosk_id, slot, given):
        raise code_invalid()
    if kiosk.branch_id != branch_id:
        raise code_invalid("Kode ini milik kios cabang lain.")
    if offline_at is None:
        current = codes.slot_of(now)
        if not current - codes.VALID_SLOTS < slot <= current:
            raise code_invalid("Kode kios sudah kedaluwarsa. Pindai kode yang sedang tampil.")
    else:
        check_offline(redis, kiosk.id, slot=slot, offline_at=offline_at, now=now)
    return kiosk, slot


def check_offline(redis, kiosk_id, *, slot, offline_at, now):
    """Contract §3.2: at most 12 hours old, the code's slot within 2 minutes of it, and
    the kiosk out of contact in the 30 seconds before it."""
    if offline_at > now + OFFLINE_FUTURE_SKEW or now - offline_at > OFFLINE_MAX_AGE:
        raise offline_invalid("Waktu offline di luar 12 jam terakhir.")
    slot_at = dt.datetime.fromtimestamp(codes.slot_start(slot), dt.timezone.utc)
    if abs(slot_at - offline_at) > OFFLINE_PROOF_TOLERANCE:
        raise offline_invalid("Kode kios tidak cocok dengan waktu offline.")
    if contact.was_in_contact(redis, kiosk_id, offline_at - OFFLINE_QUIET_BEFORE, offline_at):
        raise offline_invalid("Kios sedang terhubung pada waktu itu: bukan absensi offline.")


def use_code(dbsession, *, kiosk_id, slot, user_id, now):
    """Spend the code for this employee (in the check-in's transaction); a second use is
    422 ``kiosk_code_invalid``."""
    try:
        execute_write(dbsession, insert(KioskCodeUse.__table__), {
            "kiosk_id": kiosk_id, "slot": slot, "user_id": user_id, "used_at": _naive(now)})
    except IntegrityError:
        raise code_invalid("Kode kios ini sudah Anda pakai. Pindai kode berikutnya.") from None


def purge_code_uses(dbsession, cutoff):
    """Forget code uses older than *cutoff* (naive UTC): a code is accepted at most 12 hours
    and 2 minutes after its slot (an offline action), so an older row guards nothing. Run
    hourly by the scheduler."""
    return dbsession.execute(
        delete(KioskCodeUse).where(KioskCodeUse.used_at < cutoff)).rowcount

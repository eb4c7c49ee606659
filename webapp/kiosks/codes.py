"""Kiosk codes: what a kiosk shows and an employee sends to prove presence (docs/kiosk.md).

A code is ``<kiosk id>-<slot>-<mac>``: the slot is the 15-second period since the Unix
epoch (``floor(unix seconds / 15)``) and the mac the first 40 bits of
HMAC-SHA256(device secret, ``"<kiosk id>|<slot>"``) in RFC 4648 base32 (8 letters, no
padding). The kiosk's page makes the same code with WebCrypto without a network, as TOTP
does (tests/functional/test_kiosk_browser.py checks JS and Python agree).

The device secret is *derived*, not stored: HMAC-SHA256(app secret key,
``"absensi-kiosk|<kiosk id>|<nonce>"``) in base64url, the nonce drawn at enrollment. The
database then holds nothing that can make codes, and no key to encrypt and rotate beside
the app's secret (rotating that secret re-enrolls every kiosk).
"""
import base64
import hashlib
import hmac
import re
import secrets

SLOT_SECONDS = 15
#: a code is valid in its own slot and the next one (≤ 30 s)
VALID_SLOTS = 2
MAC_BYTES = 5
CODE_RE = re.compile(r"^([0-9]{1,9})-([0-9]{1,12})-([A-Z2-7]{8})$")
#: enrollment codes: 10 letters of an alphabet without look-alikes (~50 bits), shown
#: as XXXXX-XXXXX
ENROLLMENT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ENROLLMENT_LENGTH = 10


def slot_of(instant):
    return int(instant.timestamp()) // SLOT_SECONDS


def slot_start(slot):
    return slot * SLOT_SECONDS


def device_secret(server_secret, kiosk_id, nonce):
    digest = hmac.new(server_secret.encode(), f"absensi-kiosk|{kiosk_id}|{nonce}".encode(),
                      hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def mac(secret, message):
    """The first 40 bits of HMAC-SHA256(secret, message), base32 (8 letters)."""
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:MAC_BYTES]).decode()


def make_code(secret, kiosk_id, slot):
    return f"{kiosk_id}-{slot}-{mac(secret, f'{kiosk_id}|{slot}')}"


def parse_code(raw):
    """``(kiosk_id, slot, mac)`` of a well-formed code (any case, blanks ignored), or None."""
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    match = CODE_RE.match("".join(raw.split()).upper())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)), match.group(3)


def mac_matches(secret, kiosk_id, slot, given):
    return hmac.compare_digest(mac(secret, f"{kiosk_id}|{slot}"), given)


def punch_signature(secret, *, kiosk_id, employee_number, action, offline_at):
    """What an offline PIN punch carries: HMAC-SHA256(device secret,
    ``"punch|<kiosk id>|<employee number>|<action>|<offline_at>"``), hex."""
    message = f"punch|{kiosk_id}|{employee_number}|{action}|{offline_at}"
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def new_token():
    return secrets.token_urlsafe(32)


def new_enrollment_code():
    letters = "".join(secrets.choice(ENROLLMENT_ALPHABET) for _ in range(ENROLLMENT_LENGTH))
    return f"{letters[:5]}-{letters[5:]}"


def normalise_enrollment_code(raw):
    if not isinstance(raw, str) or len(raw) > 64:
        return None
    letters = "".join(c for c in raw.upper() if c.isalnum())
    return letters if len(letters) == ENROLLMENT_LENGTH else None


def digest(value):
    """SHA-256 hex: what the database keeps of tokens and enrollment codes."""
    return hashlib.sha256(value.encode()).hexdigest()

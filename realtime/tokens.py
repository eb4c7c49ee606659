"""Short-lived, HMAC-signed realtime tokens, issued by a web node, checked by a gateway.

Format: ``base64url(json claims) "." base64url(HMAC-SHA256(secret, first part))``.
Claims: ``uid`` (user id), ``role``, ``av`` (the user's auth_version), ``sid`` (a reference
to the session it was issued to, see :mod:`realtime.revocation`), ``exp`` (unix
seconds), ``ver`` (format version).
"""
import base64
import hashlib
import hmac
import json
import time

TOKEN_VERSION = 2
_PURPOSE = b"absensi-realtime-token"


class InvalidToken(Exception):
    pass


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret, body):
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()


def issue(secret, *, user_id, role, ttl_seconds, auth_version=1, session="", now=None):
    """Return ``(token, expires_at_unix)``."""
    expires = int((now or time.time()) + ttl_seconds)
    claims = {"uid": user_id, "role": role, "av": auth_version, "sid": session,
              "exp": expires, "ver": TOKEN_VERSION}
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_b64(_signature(secret, body))}", expires


def verify(secret, token, now=None):
    """Return the claims of a valid, unexpired token, else raise :class:`InvalidToken`."""
    if not isinstance(token, str) or token.count(".") != 1 or len(token) > 2048:
        raise InvalidToken("malformed token")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
        claims = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(given, _signature(secret, body)):
        raise InvalidToken("bad signature")
    if not isinstance(claims, dict) or claims.get("ver") != TOKEN_VERSION:
        raise InvalidToken("unknown token version")
    if claims.get("exp", 0) < (now or time.time()):
        raise InvalidToken("token expired")
    return claims

"""Who may still hold a realtime socket (contract §4: revoked within 5 seconds).

A realtime token is signed and short-lived, but a socket outlives it. So every token
carries the user's ``auth_version`` (``av``) and a reference to the session it came from
(``sid``, a hash: the session id itself never leaves the cookie). Web nodes keep in Redis:

- ``absensi:auth-state:<user id>`` = ``"<auth_version>:<role>:<active 0|1>"``, written on
  every token issued and whenever an admin changes the user (after the commit);
- ``absensi:ended-session:<sid>``, set at logout for as long as a session can live;

and announce each change on the pub/sub channel :data:`CHANNEL`. Gateways check a token
against both at ``auth``, close (4003 ``revoked``) every socket a change invalidates as
soon as it is announced, and re-check all their sockets periodically and after every
Redis reconnect, in case an announcement was missed. With no state in Redis (it lost its
data) nothing is known against a token, and it stays valid until it expires.
"""
import hashlib
import json

AUTH_STATE_PREFIX = "absensi:auth-state:"
ENDED_SESSION_PREFIX = "absensi:ended-session:"
CHANNEL = "absensi:revocations"
#: close code of a socket whose user lost the right to it (contract §4)
REVOKED = 4003


def session_ref(session_id):
    return hashlib.sha256(session_id.encode()).hexdigest()[:32] if session_id else ""


def state_of(user):
    return f"{user.auth_version}:{user.role}:{1 if user.active else 0}"


def remember_user(redis, user):
    """Keep *user*'s current state where gateways look (when a token is issued)."""
    redis.set(AUTH_STATE_PREFIX + str(user.id), state_of(user))


def announce_user(redis, *, user_id, state):
    """*user_id* changed (role, password, deactivation): gateways re-check their sockets."""
    pipe = redis.pipeline(transaction=False)
    pipe.set(AUTH_STATE_PREFIX + str(user_id), state)
    pipe.publish(CHANNEL, json.dumps({"user_id": user_id}))
    pipe.execute()


def end_session(redis, ref, ttl_seconds):
    """The session *ref* logged out: its tokens and sockets are void from now on."""
    if not ref:
        return
    pipe = redis.pipeline(transaction=False)
    pipe.set(ENDED_SESSION_PREFIX + ref, "1", ex=max(1, int(ttl_seconds)))
    pipe.publish(CHANNEL, json.dumps({"session": ref}))
    pipe.execute()


def still_valid(claims, state, session_ended):
    """Whether a token's *claims* still hold, given what Redis says about its user."""
    if session_ended:
        return False
    if state is None:
        return True
    version, role, active = (state.split(":") + ["", "", ""])[:3]
    return active == "1" and role == claims.get("role") and version == str(claims.get("av"))


async def avalid(redis, claims_list):
    """``[still_valid(...)]`` for many tokens' claims, in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for claims in claims_list:
        pipe.get(AUTH_STATE_PREFIX + str(claims.get("uid")))
        pipe.exists(ENDED_SESSION_PREFIX + str(claims.get("sid") or "-"))
    answers = await pipe.execute()
    return [still_valid(claims, state, bool(ended))
            for claims, state, ended in zip(claims_list, answers[::2], answers[1::2])]

"""When each kiosk was last heard from, in Redis (cheap: no database write per request).

Every request of a kiosk that reaches a node (``GET /api/kiosk/qr`` every 15 s, PIN
punches) adds its instant to a sorted set per kiosk, trimmed to the last 13 hours: the
offline rule (a code used "offline" must fall in a time the kiosk was out of contact) reads
it, and the newest entry is the kiosk's live ``last_seen``. The database's ``last_seen``
is written at most once a minute per kiosk (a gate key), for when Redis has lost the set.
"""
import datetime as dt

PREFIX = "absensi:kiosk:contact:"
GATE_PREFIX = "absensi:kiosk:seen-gate:"
#: the offline window is 12 hours; keep a little more
KEEP_SECONDS = 13 * 3600
DB_WRITE_EVERY_SECONDS = 60


def _key(kiosk_id):
    return f"{PREFIX}{kiosk_id}"


def record(redis, kiosk_id, now):
    """Note a request of the kiosk at *now*; True when the database's ``last_seen`` is due
    (at most once a minute per kiosk, whichever node)."""
    stamp = now.timestamp()
    key = _key(kiosk_id)
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(key, {repr(stamp): stamp})
    pipe.zremrangebyscore(key, "-inf", stamp - KEEP_SECONDS)
    pipe.expire(key, KEEP_SECONDS)
    pipe.set(f"{GATE_PREFIX}{kiosk_id}", "1", nx=True, ex=DB_WRITE_EVERY_SECONDS)
    return bool(pipe.execute()[-1])


def was_in_contact(redis, kiosk_id, start, end):
    """Did any request of the kiosk reach a node in [start, end]?"""
    return redis.zcount(_key(kiosk_id), start.timestamp(), end.timestamp()) > 0


def last_seen(redis, kiosk_ids):
    """``{kiosk_id: aware UTC instant}`` of the kiosks Redis has heard from."""
    pipe = redis.pipeline(transaction=False)
    for kiosk_id in kiosk_ids:
        pipe.zrange(_key(kiosk_id), -1, -1, withscores=True)
    seen = {}
    for kiosk_id, newest in zip(kiosk_ids, pipe.execute()):
        if newest:
            seen[kiosk_id] = dt.datetime.fromtimestamp(newest[0][1], dt.timezone.utc)
    return seen

"""The relay sweep: outbox rows still unpublished a while after they were written get a
message of their own again (a hand-off lost with Redis down, a killed drainer)."""
import datetime as dt

from sqlalchemy import select

from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent

#: after the sweep re-enqueues an event it leaves it alone this long, doubling each time
#: up to the maximum (see redis_claim)
REQUEUE_LEASE_SECONDS = 10
REQUEUE_LEASE_MAX_SECONDS = 300
REQUEUE_LEASE_PREFIX = "absensi:outbox:requeued:"
REQUEUE_COUNT_PREFIX = "absensi:outbox:requeues:"
REQUEUE_COUNT_TTL_SECONDS = 24 * 3600

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local lease = math.min(tonumber(ARGV[1]) * 2 ^ (n - 1), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], n, 'EX', math.floor(lease))
return n
"""


def sweep_unpublished(session_factory, enqueue, *, min_age_seconds, limit=500, claim=None,
                      now=None):
    """Re-enqueue outbox rows still unpublished *min_age_seconds* after they were written.

    Oldest first, at most *limit*. ``claim(event_id) -> bool`` (see :func:`redis_claim`)
    skips events re-enqueued a moment ago, so that while every worker is down the queue
    does not fill with one message per event per sweep. Returns the ids enqueued; an
    enqueue failure (Redis down) propagates, and the next sweep tries again.
    """
    cutoff = (now or utcnow_naive()) - dt.timedelta(seconds=float(min_age_seconds))
    with session_factory() as session:
        event_ids = session.scalars(
            select(OutboxEvent.id)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.created_at <= cutoff)
            .order_by(OutboxEvent.id)
            .limit(limit)
        ).all()
    enqueued = []
    for event_id in event_ids:
        if claim is not None and not claim(event_id):
            continue
        enqueue(event_id)
        enqueued.append(event_id)
    return enqueued


def redis_claim(redis, lease_seconds=REQUEUE_LEASE_SECONDS,
                max_lease_seconds=REQUEUE_LEASE_MAX_SECONDS):
    """A ``claim`` for :func:`sweep_unpublished`: true at most once per event per lease.

    The lease doubles with each re-enqueue of the same event (10 s, 20 s, ... 5 min): an
    event whose messages wait for a worker that is down gets a handful of messages per
    hour, not one per sweep; a lost message is still replaced within seconds.
    """
    script = redis.register_script(_CLAIM)

    def claim(event_id):
        keys = [f"{REQUEUE_LEASE_PREFIX}{event_id}", f"{REQUEUE_COUNT_PREFIX}{event_id}"]
        return bool(script(keys=keys, args=[lease_seconds, max_lease_seconds,
                                            REQUEUE_COUNT_TTL_SECONDS]))

    return claim

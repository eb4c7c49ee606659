"""Publishing outbox events to Redis: the actor's, the relay sweep's and the CLI's code.

An event is published to each of its channels with :func:`webapp.realtime.streams.publish`,
which is idempotent per ``(channel, event_id)``; then its row gets ``published_at`` through
a guarded UPDATE. Publishing the same event twice therefore changes nothing, and a crash
between the two steps only means it is published again (same offsets) later.
"""
import datetime as dt
import logging
from typing import NamedTuple

from dramatiq import Message
from sqlalchemy import delete, func, select, update

from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent
from webapp.realtime import channels, streams

log = logging.getLogger(__name__)

QUEUE = "outbox"
PUBLISH_ACTOR = "publish_outbox_event"
#: how many older unpublished events of the same user go out first (see publish_outbox_event)
PREDECESSOR_LIMIT = 50
#: after the sweep re-enqueues an event it leaves it alone this long, doubling each time
#: up to the maximum (see redis_claim)
REQUEUE_LEASE_SECONDS = 10
REQUEUE_LEASE_MAX_SECONDS = 300
REQUEUE_LEASE_PREFIX = "absensi:outbox:requeued:"
REQUEUE_COUNT_PREFIX = "absensi:outbox:requeues:"
REQUEUE_COUNT_TTL_SECONDS = 24 * 3600
#: published rows deleted per transaction, and batches per purge run
PURGE_BATCH_SIZE = 1000
PURGE_MAX_BATCHES = 100

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local lease = math.min(tonumber(ARGV[1]) * 2 ^ (n - 1), tonumber(ARGV[2]))
redis.call('SET', KEYS[1], n, 'EX', math.floor(lease))
return n
"""


def enqueuer(broker):
    """``enqueue(event_id)``: send the publisher actor's message on *broker*.

    Built from the actor's name rather than the actor object, so that the web node can
    enqueue without importing (and declaring) the worker's actors.
    """
    def enqueue(event_id):
        return broker.enqueue(Message(
            queue_name=QUEUE, actor_name=PUBLISH_ACTOR, args=(int(event_id),), kwargs={},
            options={},
        ))

    return enqueue


def channels_for(event):
    """The channels the emitting domain wrote on the row. Rows from before migration 0002
    have none; every event then was an attendance event (``attendance.*``)."""
    if event.channels:
        return list(event.channels)
    return channels.channels_for_attendance_event(event.user_id)


class _Pending(NamedTuple):
    id: int
    event_type: str
    user_id: int
    node_id: str
    payload: dict
    created_at: dt.datetime
    channels: list | None


def publish_outbox_event(session_factory, redis, event_id, retention_seconds):
    """Publish outbox event *event_id* unless it already was; return the ids published.

    Older unpublished events of the same user go out first, so that a user's events (and
    their order within ``attendances``) follow ``event_id`` even when a retry or the sweep
    brings them late. A failure on the event itself raises (the actor is retried); one on
    an older event is only logged, so a stuck predecessor cannot hold back the rest.
    No database transaction stays open while Redis is called (on SQLite every
    transaction holds the write lock).
    """
    with session_factory() as session:
        event = session.get(OutboxEvent, event_id)
        if event is None:
            log.warning("outbox event %s does not exist; nothing to publish", event_id)
            return []
        if event.published_at is not None:
            return []
        older = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.user_id == event.user_id, OutboxEvent.published_at.is_(None),
                   OutboxEvent.id < event.id)
            .order_by(OutboxEvent.id)
            .limit(PREDECESSOR_LIMIT)
        ).all()
        pending = [_pending(row) for row in [*older, event]]
    published = []
    for row in pending:
        try:
            if _publish_row(session_factory, redis, row, retention_seconds):
                published.append(row.id)
        except Exception:
            if row.id == event_id:
                raise
            # its own message or the sweep retries it
            log.warning("could not publish older outbox event %s", row.id, exc_info=True)
    return published


def _pending(row):
    return _Pending(row.id, row.event_type, row.user_id, row.node_id, row.payload,
                    row.created_at, row.channels)


def _publish_row(session_factory, redis, event, retention_seconds):
    """Publish one event and mark its row published; True if this call marked it."""
    ts = event.created_at.replace(tzinfo=dt.timezone.utc).isoformat()
    try:
        for channel in channels_for(event):
            streams.publish(
                redis, channel, event_id=event.id, event=event.event_type,
                node_id=event.node_id, ts=ts, data=event.payload,
                retention_seconds=retention_seconds,
            )
    except Exception:
        _count_failed_attempt(session_factory, event.id)
        raise
    with session_factory.begin() as session:
        return bool(session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event.id, OutboxEvent.published_at.is_(None))
            .values(published_at=utcnow_naive(), attempts=OutboxEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        ).rowcount)


def _count_failed_attempt(session_factory, event_id):
    try:
        with session_factory.begin() as session:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id == event_id)
                .values(attempts=OutboxEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # noqa: BLE001 - only a counter; the publish error is what matters
        log.warning("could not count a failed attempt of outbox event %s", event_id,
                    exc_info=True)


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


def outbox_status(session_factory, now=None):
    """The unpublished backlog: keys ``unpublished`` (count), ``oldest_unpublished_id``,
    ``oldest_unpublished_age_seconds`` and ``newest_event_id``.

    Cheap at any table size, so that metrics scrapes may call it: the unpublished rows
    come from the ``(published_at, id)`` index, the newest id from the primary key; the
    published rows (most of the table) are never counted.
    """
    now = now or utcnow_naive()
    with session_factory() as session:
        unpublished = session.scalar(
            select(func.count(OutboxEvent.id)).where(OutboxEvent.published_at.is_(None)))
        oldest = session.execute(
            select(OutboxEvent.id, OutboxEvent.created_at)
            .where(OutboxEvent.published_at.is_(None))
            .order_by(OutboxEvent.id).limit(1)
        ).first()
        newest = session.scalar(select(func.max(OutboxEvent.id)))
    return {
        "unpublished": unpublished,
        "oldest_unpublished_id": oldest.id if oldest else None,
        "oldest_unpublished_age_seconds":
            round((now - oldest.created_at).total_seconds(), 1) if oldest else None,
        "newest_event_id": newest,
    }


def purge_published(session_factory, *, older_than_seconds, now=None,
                    batch_size=PURGE_BATCH_SIZE, max_batches=PURGE_MAX_BATCHES):
    """Delete rows published more than *older_than_seconds* ago; return how many.

    Their events are in Redis's history (kept for ``realtime.history_retention_seconds``)
    until then; afterwards nothing reads them. Each batch is its own short transaction, so
    web nodes writing new events wait at most one batch; at most *max_batches* per call
    (the next run takes the rest). The newest row always stays: SQLite (and MariaDB before
    10.2.4 after a restart) would otherwise hand out its id again, and a reused event id
    would be swallowed as a duplicate by the publish step (streams.publish).
    """
    cutoff = (now or utcnow_naive()) - dt.timedelta(seconds=float(older_than_seconds))
    purged = 0
    for _ in range(max_batches):
        with session_factory.begin() as session:
            newest = session.scalar(select(func.max(OutboxEvent.id)))
            ids = session.scalars(
                select(OutboxEvent.id)
                .where(OutboxEvent.published_at < cutoff, OutboxEvent.id != newest)
                .order_by(OutboxEvent.published_at, OutboxEvent.id)
                .limit(batch_size)
            ).all()
            if ids:
                session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids))
                                .execution_options(synchronize_session=False))
        purged += len(ids)
        if len(ids) < batch_size:
            break
    if purged:
        log.info("purged %d published outbox event(s) older than %s", purged,
                 cutoff.isoformat(timespec="seconds"))
    return purged

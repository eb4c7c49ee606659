"""Publishing outbox events to Redis: the actor's, the relay sweep's and the CLI's code.

One actor run drains the outbox (:func:`drain`): it reads up to :data:`BATCH_SIZE` pending
rows in ``id`` order (one SELECT of plain columns), publishes all their (event, channel)
entries with one :func:`webapp.realtime.streams.publish_many` script call, marks them with
one guarded UPDATE, and goes on while batches come back full. Publishing is idempotent per
``(channel, event_id)``, so publishing an event twice changes nothing, and a crash between
the script and the UPDATE only means it is published again (same offsets) later. A batch
in id order is also what keeps a user's events in order.

Only one drainer runs at a time (a Redis lock, :func:`drain`); a run that finds the lock
taken leaves its event id in a "wanted" set and returns at once, and the holder looks at
that set before letting go, so an event committed while it drains is never left behind.
Correctness never depends on the lock (two drainers only duplicate Redis work), and the
relay sweep still re-enqueues whatever stays unpublished, e.g. after a holder was killed.
"""
import datetime as dt
import logging
import uuid
from typing import NamedTuple

from dramatiq import Message
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import delete, func, or_, select, update

from tasks import summary_refresh
from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent
from webapp.realtime import channels, streams

log = logging.getLogger(__name__)

QUEUE = "outbox"
#: the actor's name since the first release: messages queued by any version still run
PUBLISH_ACTOR = "publish_outbox_event"
#: pending rows per SELECT / script call / UPDATE (~1,000 stream entries, a few ms of Redis)
BATCH_SIZE = 500
#: a row that failed this many times is published on its own, outside the batches (a
#: poison row must not fail its whole batch on every run)
SUSPECT_ATTEMPTS = 3
DRAIN_LOCK_KEY = "absensi:outbox:drain:lock"
#: event ids whose runs found the lock taken; the holder includes them before letting go
DRAIN_WANTED_KEY = "absensi:outbox:drain:wanted"
#: renewed before every batch, so a killed holder blocks others for at most this long
DRAIN_LOCK_MS = 5_000
DRAIN_WANTED_POP = 1000
#: set by the web nodes' hand-off while the message it sent waits to start (see enqueuer)
DRAIN_QUEUED_KEY = "absensi:outbox:drain:queued"
DRAIN_QUEUED_MS = 3_000
#: left by every drain run: web nodes coalesce only while workers that drain are about
#: (during a deploy, workers of the one-event-per-message kind publish only the event
#: their message names, so every commit must still send its own)
DRAIN_CAPABLE_KEY = "absensi:outbox:drain:capable"
DRAIN_CAPABLE_SECONDS = 3600
#: batches (reads) per run, well within the actor's 30 s time limit even on a loaded
#: machine (10,000 events at ~1,200/s: 8 s); the rest continues in a fresh message, also
#: when commits keep asking for one more pass (see DrainResult.more)
MAX_BATCHES_PER_RUN = 20
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

# KEYS: lock, wanted set, queued flag, capability. ARGV: token, lock ms, event id (or
# ''), how many to pop, capability TTL. Taken: {1, wanted ids}. Held by another run:
# the id joins the wanted set, {0}.
# Either way this run has started: the next commit must send a message again.
_DRAIN_ENTER = """
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], '1', 'EX', ARGV[5])
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('SPOP', KEYS[2], ARGV[4])}
end
-- '0' (no event id: e.g. a requeued old message) still asks for one more pass
redis.call('SADD', KEYS[2], ARGV[3] ~= '' and ARGV[3] or '0')
redis.call('PEXPIRE', KEYS[2], 2 * tonumber(ARGV[2]))
return {0, {}}
"""

# KEYS: lock, wanted set. ARGV: token, lock ms, how many to pop.
# Someone asked meanwhile: keep the lock for another pass, {1, wanted ids}. Else the
# lock is released, {0}; {-1} if it was no longer ours (expired, another run took it).
# With 0 to pop (the run is at its bound) the lock goes either way: {2} if someone asked.
_DRAIN_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, {}} end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
  return {redis.call('EXISTS', KEYS[2]) == 1 and 2 or 0, {}}
end
local wanted = redis.call('SPOP', KEYS[2], ARGV[3])
if #wanted > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, wanted}
end
redis.call('DEL', KEYS[1])
return {0, {}}
"""

# KEYS: lock. ARGV: token, lock ms, mode ('renew' or 'drop').
_DRAIN_KEEP = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] == 'drop' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""


# KEYS: queued flag, capability. ARGV: event id, flag ms. 1: send the message, 0: a queued
# one will do.
_HAND_OFF = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 1 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0
"""


class PublishFailed(RuntimeError):
    """The message's own event could not be published (the actor is retried)."""


class DrainResult(NamedTuple):
    #: ids this run published, in order
    published: list
    #: id -> the exception, for rows that failed (counted and logged)
    failed: dict
    #: stopped at MAX_BATCHES_PER_RUN with more pending: send another message
    more: bool = False


def enqueuer(broker, *, coalesce=False):
    """``enqueue(event_id)``: send the publisher actor's message on *broker*.

    Built from the actor's name rather than the actor object, so that the web node can
    enqueue without importing (and declaring) the worker's actors.

    With *coalesce* (the web nodes' after-commit hand-off) a commit sends nothing while a
    message sent before has not started yet (one small script, the only round trip): that
    run reads every event committed before it starts, so in a rush one message serves
    the commits of the moment instead of one message (and one empty run) each. The flag
    expires after DRAIN_QUEUED_MS, so a message lost meanwhile delays later commits by
    that much at most (and the relay sweep covers whatever stays unpublished). Until a
    drain has run (workers of an older release), every commit sends its message.
    """
    def send(event_id):
        return broker.enqueue(Message(
            queue_name=QUEUE, actor_name=PUBLISH_ACTOR, args=(int(event_id),), kwargs={},
            options={},
        ))

    if not coalesce:
        return send

    hand_off = broker.client.register_script(_HAND_OFF)

    def enqueue(event_id):
        if not int(hand_off(keys=[DRAIN_QUEUED_KEY, DRAIN_CAPABLE_KEY],
                            args=[int(event_id), DRAIN_QUEUED_MS])):
            return None  # a queued run will read this commit's events
        try:
            return send(event_id)
        except Exception:
            try:
                broker.client.delete(DRAIN_QUEUED_KEY)
            except Exception:  # noqa: BLE001 - it expires on its own
                pass
            raise

    return enqueue


def channels_for(event):
    """The channels the emitting domain wrote on the row. Rows from before migration 0002
    have none; every event then was an attendance event (``attendance.*``)."""
    if event.channels:
        return list(event.channels)
    return channels.channels_for_attendance_event(event.user_id)


_COLUMNS = [OutboxEvent.__table__.c[name] for name in (
    "id", "event_type", "user_id", "node_id", "payload", "created_at", "channels", "attempts")]


def publish_outbox_event(session_factory, redis, event_id, retention_seconds, *,
                         batch_size=BATCH_SIZE, continue_later=None, after_batch=None):
    """What one actor message does: drain the outbox, making sure of *event_id*; return
    the ids this run published (``[]`` when another run was draining: it covers them).
    ``continue_later()`` is called when the run stopped with more pending (it sends the
    next message); without it the rest waits for the next message or the sweep.
    ``after_batch(rows)`` gets each batch once marked published (default: the dashboards'
    summaries are refreshed in this thread, see :mod:`tasks.summary_refresh`).

    Raises :class:`PublishFailed` (so the message is retried, then dead-lettered) only
    when *event_id* itself failed; other rows' failures are counted and logged, and their
    own messages or the relay sweep try them again.
    """
    result = drain(session_factory, redis, retention_seconds=retention_seconds,
                   event_id=event_id, batch_size=batch_size, after_batch=after_batch)
    if result is None:
        return []
    if result.more and continue_later is not None:
        continue_later()
    if event_id in result.failed:
        error = result.failed[event_id]
        raise PublishFailed(f"outbox event {event_id} could not be published: "
                            f"{type(error).__name__}: {error}") from error
    return result.published


def drain(session_factory, redis, *, retention_seconds, event_id=None,
          batch_size=BATCH_SIZE, after_batch=None):
    """Publish every pending event, batch by batch, while holding the drain lock.

    Returns a :class:`DrainResult`, or None if another run holds the lock (*event_id*,
    committed before this call, then joins the wanted set the holder takes before it lets
    go). A Redis connection failure counts an attempt for the rows it hit and raises.
    """
    token = uuid.uuid4().hex
    if after_batch is None:
        def after_batch(rows):
            summary_refresh.refresh_now(session_factory, redis, rows,
                                        retention_seconds=retention_seconds)
    try:
        taken, wanted = redis.register_script(_DRAIN_ENTER)(
            keys=[DRAIN_LOCK_KEY, DRAIN_WANTED_KEY, DRAIN_QUEUED_KEY, DRAIN_CAPABLE_KEY],
            args=[token, DRAIN_LOCK_MS, "" if event_id is None else int(event_id),
                  DRAIN_WANTED_POP, DRAIN_CAPABLE_SECONDS])
    except Exception:
        if event_id is not None:  # the message's attempt failed before reading anything
            _count_failed_attempts(session_factory, [event_id])
        raise
    if not int(taken):
        return None
    published, failed, batches = [], {}, 0
    include = _ids(wanted) | ({int(event_id)} if event_id is not None else set())
    try:
        while True:
            while True:
                batches += 1
                rows = _read_pending(session_factory, batch_size, include=include,
                                     skip=failed.keys())
                done, errors = _publish_rows(session_factory, redis, rows, retention_seconds,
                                             after_batch)
                published += done
                failed.update(errors)
                if len(rows) < batch_size or (errors and not done):
                    break  # caught up, or nothing goes through: stop until the next run
                if batches >= MAX_BATCHES_PER_RUN:  # a backlog: a fresh message goes on
                    _keep(redis, token, "drop")
                    return DrainResult(published, failed, more=True)
                if not _keep(redis, token, "renew"):
                    return DrainResult(published, failed)  # another run holds it now
            # at the bound, the wanted set stays for the next run, which this one asks for
            at_bound = batches >= MAX_BATCHES_PER_RUN
            state, wanted = redis.register_script(_DRAIN_RELEASE)(
                keys=[DRAIN_LOCK_KEY, DRAIN_WANTED_KEY],
                args=[token, DRAIN_LOCK_MS, 0 if at_bound else DRAIN_WANTED_POP])
            if int(state) != 1:
                return DrainResult(published, failed, more=int(state) == 2)
            include = _ids(wanted)
    except BaseException:
        try:
            _keep(redis, token, "drop")  # let the next run start at once
        except Exception:  # noqa: BLE001 - it expires on its own
            pass
        raise


def _keep(redis, token, mode):
    return bool(redis.register_script(_DRAIN_KEEP)(
        keys=[DRAIN_LOCK_KEY], args=[token, DRAIN_LOCK_MS, mode]))


def _ids(values):
    ids = {int(v) for v in values or ()}
    ids.discard(0)  # the marker a run without an event id leaves
    return ids


def _read_pending(session_factory, limit, *, include=(), skip=()):
    """Up to *limit* unpublished rows in id order, as plain rows (no ORM objects): those
    not yet suspect, plus the *include* ids even if they are; never the *skip* ids."""
    t = OutboxEvent.__table__
    wanted = t.c.attempts < SUSPECT_ATTEMPTS
    if include:
        wanted = or_(wanted, t.c.id.in_(sorted(include)))
    query = select(*_COLUMNS).where(t.c.published_at.is_(None), wanted)
    if skip:
        query = query.where(t.c.id.not_in(sorted(skip)))
    with session_factory() as session:
        return session.execute(query.order_by(t.c.id).limit(limit)).all()


def _publications(row):
    """The row's entries; ValueError (before Redis is called) for an unknown channel."""
    unknown = [c for c in channels_for(row) if not channels.is_valid(c)]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown!r}")
    ts = row.created_at.replace(tzinfo=dt.timezone.utc).isoformat()
    return [streams.Publication(channel, row.id, row.event_type, row.node_id, ts, row.payload)
            for channel in channels_for(row)]


_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)


def _publish_rows(session_factory, redis, rows, retention_seconds, after_batch):
    """Publish *rows* (in id order), mark those published, count those failed.

    Consecutive rows go out in one script call; a suspect row (failed before) goes alone,
    and if a batch call fails for a reason other than the connection, its rows are retried
    one by one, so that one poison row fails alone. A connection failure fails every row
    not yet published and raises. Returns ``(published ids, {id: error})``.
    """
    done, failed = [], {}
    segments = _segments(rows, failed)
    try:
        for segment in segments:
            try:
                streams.publish_many(redis, [p for _, ps in segment for p in ps],
                                     retention_seconds=retention_seconds)
                done += [row for row, _ in segment]
                continue
            except _CONNECTION_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - find the row that causes it
                if len(segment) == 1:
                    failed[segment[0][0].id] = error
                    continue
                log.warning("publishing a batch of %d outbox events failed (%s: %s); "
                            "publishing them one by one", len(segment),
                            type(error).__name__, error)
            for row, publications in segment:
                try:
                    streams.publish_many(redis, publications,
                                         retention_seconds=retention_seconds)
                    done.append(row)
                except _CONNECTION_ERRORS:
                    raise
                except Exception as error:  # noqa: BLE001
                    failed[row.id] = error
    except Exception as error:
        published = {row.id for row in done}
        failed.update({row.id: error for segment in segments for row, _ in segment
                       if row.id not in published and row.id not in failed})
        raise
    finally:
        _mark_published(session_factory, done, after_batch)
        _count_failed_attempts(session_factory, sorted(failed))
        _log_failures(failed)
    return [row.id for row in done], failed


def _segments(rows, failed):
    """*rows* as runs of ``(row, publications)`` sharing one script call: a suspect row
    is a run of its own; a row whose entries cannot even be built goes into *failed*."""
    segments, alone = [], True
    for row in rows:
        try:
            publications = _publications(row)
        except Exception as error:  # noqa: BLE001 - a malformed row fails alone
            failed[row.id] = error
            continue
        suspect = row.attempts >= SUSPECT_ATTEMPTS
        if suspect or alone:
            segments.append([])
        segments[-1].append((row, publications))
        alone = suspect
    return segments


def _log_failures(failed):
    by_error = {}
    for event_id in sorted(failed):
        error = failed[event_id]
        by_error.setdefault(f"{type(error).__name__}: {error}", []).append(event_id)
    for error, ids in by_error.items():
        more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
        shown = ", ".join(map(str, ids[:20])) + more
        log.warning("could not publish outbox event(s) %s: %s", shown, error)


def _mark_published(session_factory, rows, after_batch):
    if not rows:
        return
    with session_factory.begin() as session:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([row.id for row in rows]),
                   OutboxEvent.published_at.is_(None))
            .values(published_at=utcnow_naive(), attempts=OutboxEvent.attempts + 1)
            .execution_options(synchronize_session=False))
    try:
        after_batch(rows)  # the dashboards' per-branch summaries follow each batch
    except Exception:  # noqa: BLE001 - the events are out; the summaries catch up later
        log.exception("the after-batch hook failed")


def _count_failed_attempts(session_factory, event_ids):
    if not event_ids:
        return
    try:
        with session_factory.begin() as session:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id.in_(list(event_ids)),
                                          OutboxEvent.published_at.is_(None))
                .values(attempts=OutboxEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # noqa: BLE001 - only a counter; the publish error is what matters
        log.warning("could not count a failed attempt of outbox events %s", list(event_ids),
                    exc_info=True)


_STRANDED = """
local stranded = redis.call('EXISTS', KEYS[1]) == 1 and redis.call('EXISTS', KEYS[2]) == 0
return {stranded and 1 or 0, redis.call('ZCARD', KEYS[3])}
"""


def stranded_drain(redis, *, dead_letter_queue, namespace="dramatiq"):
    """``(stranded, dead letters)``: whether runs asked for a drain that no lock holder
    will do (the holder was killed; its lock expired), and how many messages the
    publisher's dead-letter queue holds. One script call, for the scheduler."""
    stranded, dead = redis.register_script(_STRANDED)(
        keys=[DRAIN_WANTED_KEY, DRAIN_LOCK_KEY, f"{namespace}:{dead_letter_queue}"])
    return bool(int(stranded)), int(dead)


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

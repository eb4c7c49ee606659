"""Draining the outbox: one run at a time, batch after batch, until it is caught up.

Only one drainer runs at a time (a Redis lock, :func:`drain`); a run that finds the lock
taken leaves its event id in a "wanted" set and returns at once, and the holder looks at
that set before letting go, so an event committed while it drains is never left behind.
Correctness never depends on the lock (two drainers only duplicate Redis work), and the
relay sweep (:mod:`tasks.outbox.sweep`) still re-enqueues whatever stays unpublished,
e.g. after a holder was killed.
"""
import uuid
from typing import NamedTuple

from tasks.outbox import batches
from webapp.events import subscribers
from webapp.events.handoff import DRAIN_CAPABLE_KEY, DRAIN_QUEUED_KEY

DRAIN_LOCK_KEY = "absensi:outbox:drain:lock"
#: event ids whose runs found the lock taken; the holder includes them before letting go
DRAIN_WANTED_KEY = "absensi:outbox:drain:wanted"
#: renewed before every batch, so a killed holder blocks others for at most this long
DRAIN_LOCK_MS = 5_000
DRAIN_WANTED_POP = 1000
#: how long a drain run's mark lets web nodes coalesce their hand-offs
#: (:mod:`webapp.events.handoff`)
DRAIN_CAPABLE_SECONDS = 3600
#: batches (reads) per run, well within the actor's 30 s time limit even on a loaded
#: machine (10,000 events at ~1,200/s: 8 s); the rest continues in a fresh message, also
#: when commits keep asking for one more pass (see DrainResult.more)
MAX_BATCHES_PER_RUN = 20

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


class PublishFailed(RuntimeError):
    """The message's own event could not be published (the actor is retried)."""


class DrainResult(NamedTuple):
    #: ids this run published, in order
    published: list
    #: id -> the exception, for rows that failed (counted and logged)
    failed: dict
    #: stopped at MAX_BATCHES_PER_RUN with more pending: send another message
    more: bool = False


def publish_outbox_event(session_factory, redis, event_id, retention_seconds, *,
                         batch_size=batches.BATCH_SIZE, continue_later=None, after_batch=None,
                         replicas=0):
    """What one actor message does: drain the outbox, making sure of *event_id*; return
    the ids this run published (``[]`` when another run was draining: it covers them).
    With *replicas*, a batch counts as published only once that many Redis replicas
    confirmed it (``WAIT``), so a failover never loses an event marked published.
    ``continue_later()`` is called when the run stopped with more pending (it sends the
    next message); without it the rest waits for the next message or the sweep.
    ``after_batch(rows)`` gets each batch once marked published (default: the
    after-publish subscribers run in this thread, :mod:`webapp.events.subscribers`; the
    actor hands them to a background thread instead, :mod:`tasks.outbox.after_publish`).

    Raises :class:`PublishFailed` (so the message is retried, then dead-lettered) only
    when *event_id* itself failed; other rows' failures are counted and logged, and their
    own messages or the relay sweep try them again.
    """
    result = drain(session_factory, redis, retention_seconds=retention_seconds,
                   event_id=event_id, batch_size=batch_size, after_batch=after_batch,
                   replicas=replicas)
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
          batch_size=batches.BATCH_SIZE, after_batch=None, replicas=0):
    """Publish every pending event, batch by batch, while holding the drain lock.

    Returns a :class:`DrainResult`, or None if another run holds the lock (*event_id*,
    committed before this call, then joins the wanted set the holder takes before it lets
    go). A Redis connection failure counts an attempt for the rows it hit and raises.
    """
    token = uuid.uuid4().hex
    if after_batch is None:
        def after_batch(rows):
            subscribers.notify(session_factory, redis, rows,
                               retention_seconds=retention_seconds)
    try:
        taken, wanted = redis.register_script(_DRAIN_ENTER)(
            keys=[DRAIN_LOCK_KEY, DRAIN_WANTED_KEY, DRAIN_QUEUED_KEY, DRAIN_CAPABLE_KEY],
            args=[token, DRAIN_LOCK_MS, "" if event_id is None else int(event_id),
                  DRAIN_WANTED_POP, DRAIN_CAPABLE_SECONDS])
    except Exception:
        if event_id is not None:  # the message's attempt failed before reading anything
            batches.count_failed_attempts(session_factory, [event_id])
        raise
    if not int(taken):
        return None
    published, failed, reads = [], {}, 0
    include = _ids(wanted) | ({int(event_id)} if event_id is not None else set())
    try:
        while True:
            while True:
                reads += 1
                rows = batches.read_pending(session_factory, batch_size, include=include,
                                            skip=failed.keys())
                done, errors = batches.publish_rows(session_factory, redis, rows,
                                                    retention_seconds, after_batch,
                                                    replicas=replicas)
                published += done
                failed.update(errors)
                if len(rows) < batch_size or (errors and not done):
                    break  # caught up, or nothing goes through: stop until the next run
                if reads >= MAX_BATCHES_PER_RUN:  # a backlog: a fresh message goes on
                    _keep(redis, token, "drop")
                    return DrainResult(published, failed, more=True)
                if not _keep(redis, token, "renew"):
                    return DrainResult(published, failed)  # another run holds it now
            # at the bound, the wanted set stays for the next run, which this one asks for
            at_bound = reads >= MAX_BATCHES_PER_RUN
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

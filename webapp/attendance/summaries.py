"""Live per-branch summaries of today, pushed on the admin-only ``summaries`` channel.

A dashboard counts nothing itself and refetches nothing per event: after each published
batch of domain events the publisher calls :func:`refresh_after_events` (an after-publish
subscriber of the attendance and leave event types, :mod:`webapp.events.subscribers`;
the worker runs it off the publisher's thread), which recomputes
the ``Summary`` of every touched (branch, branch-local today) from the database with the
same function as ``GET /api/attendances/today`` (:func:`webapp.attendance.today.summary`)
and publishes it as a ``summary.updated`` event frame (history and ``since`` recovery as on
every channel).

Exactness with many publishers at once is a per-(branch, day) single flight in Redis:

- every caller INCRs the day's *dirty counter*, then tries to take the day's lock
  (``SET NX PX``); a caller that does not get it simply leaves: the holder will see its
  increment;
- the holder reads the counter ``v`` *before* its query and publishes with
  ``version = v``; after releasing the lock it reads the counter again and, if it moved
  (a caller came while it held the lock), goes round again (bounded).

So the computation that starts after the last commit's increment always happens, and it
carries the highest version. Pages keep the version they hold (the HTTP answer carries
the counters, read before its own query: :func:`versions`) and apply a pushed summary only
when its version is at least that. :func:`refresh_stale` (scheduler, every ~30 s) covers
what writes no event (a user created or deactivated) and a holder that died.
"""
import json
import logging
import uuid

from sqlalchemy import select

from realtime import channels, streams
from webapp.attendance import today
from webapp.attendance.events import ATTENDANCE_CREATED, ATTENDANCE_UPDATED
from webapp.branches.models import Branch
from webapp.clock import utcnow
from webapp.events.handoff import COMMITTED_KEY
from webapp.events.subscribers import subscribe
from webapp.leave.events import LEAVE_CREATED, LEAVE_UPDATED

log = logging.getLogger(__name__)

EVENT = "summary.updated"
KEY_PREFIX = "absensi:summary:"
#: one global sequence gives every summary frame a unique integer event_id
EVENT_ID_KEY = KEY_PREFIX + "event_id"
#: counters and the last published summary outlive their day by this much
KEY_TTL_SECONDS = 3 * 24 * 3600
#: longer than any computation; only a crashed holder leaves it to expire
LOCK_MS = 15_000
#: computations one caller does at most before leaving the rest to the next caller or to
#: the periodic refresh (a rush never pins a publisher here)
MAX_ROUNDS = 20

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _key(code, day, part):
    return f"{KEY_PREFIX}{code}:{day.isoformat()}:{part}"


def _int(value):
    return int(value) if value is not None else 0


def versions(redis, branches, now=None):
    """``{code: version}`` of each branch's local today (0 before any refresh).

    Read before the caller's own summary query, so the summary it answers is at least as
    new as the version it names."""
    return stamp(redis, branches, now)[0]


def stamp(redis, branches, now=None):
    """``(versions, generation)``: :func:`versions` and the commit generation
    (:data:`webapp.events.handoff.COMMITTED_KEY`) in one round trip."""
    now = now or utcnow()
    values = redis.mget([COMMITTED_KEY] + [_key(b.code, b.local_date(now), "dirty")
                                           for b in branches])
    return {b.code: _int(v) for b, v in zip(branches, values[1:])}, _int(values[0])


def _attendance_on(payload, day):
    return payload.get("work_date") == day


def _leave_covers(payload, day):
    return str(payload.get("date_from")) <= day <= str(payload.get("date_to"))


#: the event types that can change a branch's today, and whether a payload touches *day*
TOUCHES_DAY = {
    ATTENDANCE_CREATED: _attendance_on, ATTENDANCE_UPDATED: _attendance_on,
    LEAVE_CREATED: _leave_covers, LEAVE_UPDATED: _leave_covers,
}


def _affected(events, branches_by_code, now):
    """The branch codes whose local today one of *events* may have changed."""
    touched = set()
    for event in events:
        payload = getattr(event, "payload", None) or {}
        branch = branches_by_code.get(payload.get("branch"))
        touches = TOUCHES_DAY.get(str(getattr(event, "event_type", "")))
        if branch is not None and touches is not None and \
                touches(payload, branch.local_date(now).isoformat()):
            touched.add(branch.code)
    return touched


def _branches(session_factory):
    with session_factory() as session:
        branches = list(session.scalars(select(Branch).order_by(Branch.id)))
        session.expunge_all()
    return branches


def _compute(session_factory, branch, now):
    # a fresh session (and transaction) per round: it must see the commits since the last
    with session_factory() as session:
        return today.summary(session, [branch], now)


def _publish(redis, branch, day, summary, version, *, node_id, retention_seconds):
    event_id = redis.incr(EVENT_ID_KEY)
    data = {"branch": branch.code, "work_date": day.isoformat(), "summary": summary,
            "version": version}
    streams.publish(redis, channels.SUMMARIES, event_id=event_id, event=EVENT, node_id=node_id,
                    ts=utcnow(), data=data, retention_seconds=retention_seconds)
    redis.set(_key(branch.code, day, "last"), json.dumps({"summary": summary,
                                                         "version": version}),
              ex=KEY_TTL_SECONDS)


def refresh_branch(session_factory, redis, branch, *, retention_seconds, node_id, now=None):
    """Mark *branch*'s today dirty and, if no one else is computing it, compute and publish
    until the counter stands still. Returns the number of summaries this call published."""
    now = now or utcnow()
    day = branch.local_date(now)
    dirty, lock = _key(branch.code, day, "dirty"), _key(branch.code, day, "lock")
    pipe = redis.pipeline()
    pipe.incr(dirty)
    pipe.expire(dirty, KEY_TTL_SECONDS)
    pipe.execute()
    release = redis.register_script(_RELEASE)
    token = uuid.uuid4().hex
    published = 0
    while published < MAX_ROUNDS:
        if not redis.set(lock, token, nx=True, px=LOCK_MS):
            return published  # the holder re-reads the counter after releasing
        try:
            while published < MAX_ROUNDS:
                version = _int(redis.get(dirty))
                summary = _compute(session_factory, branch, now)
                _publish(redis, branch, day, summary, version, node_id=node_id,
                         retention_seconds=retention_seconds)
                published += 1
                if _int(redis.get(dirty)) == version:
                    break
        finally:
            release(keys=[lock], args=[token])
        # An increment between our last read and the release found the lock taken and left
        # it to us: look once more, now that anyone may take the lock.
        if _int(redis.get(dirty)) == version:
            return published
    log.warning("summary of %s %s still moving after %d rounds; the next event or the "
                "periodic refresh publishes the rest", branch.code, day, published)
    return published


def refresh_after_events(session_factory, redis, events, *, retention_seconds,
                         node_id="publisher", now=None):
    """Recompute and publish the summary of every (branch, local today) *events* touched.

    *events*: objects with ``.event_type`` and ``.payload`` (an Attendance or a Leave as
    published). Never raises: a failure is logged and the periodic refresh catches up.
    """
    try:
        events = list(events)
        if not events:
            return
        now = now or utcnow()
        branches = _branches(session_factory)
        by_code = {b.code: b for b in branches}
        for code in sorted(_affected(events, by_code, now)):
            refresh_branch(session_factory, redis, by_code[code],
                           retention_seconds=retention_seconds, node_id=node_id, now=now)
    except Exception:  # noqa: BLE001 - the events are published; only the counts wait
        log.exception("refreshing the live summaries failed")


def refresh_stale(session_factory, redis, *, retention_seconds, node_id="scheduler",
                  now=None):
    """Publish each branch's today summary where it differs from the last one published
    (users created or deactivated write no event; a holder may have died). Returns the
    branch codes refreshed."""
    now = now or utcnow()
    refreshed = []
    for branch in _branches(session_factory):
        day = branch.local_date(now)
        stored = redis.get(_key(branch.code, day, "last"))
        current = _compute(session_factory, branch, now)
        if stored is not None and json.loads(stored).get("summary") == current:
            continue
        refresh_branch(session_factory, redis, branch, retention_seconds=retention_seconds,
                       node_id=node_id, now=now)
        refreshed.append(branch.code)
    return refreshed


def _after_publish(session_factory, redis, events, *, retention_seconds):
    # looked up at call time, so that a test may replace refresh_after_events
    refresh_after_events(session_factory, redis, events, retention_seconds=retention_seconds)


subscribe(_after_publish, *TOUCHES_DAY)

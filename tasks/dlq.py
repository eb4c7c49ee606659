"""Dramatiq's dead-letter queues on Redis (``<namespace>:<queue>.XQ``): list and requeue.

Dead letters are informational: the relay sweep republishes every outbox event whose
row is still unpublished whatever happened to its message. Requeueing sends a fresh copy
(retry count and age reset, so the age limit does not reject it at once). A publisher
message whose event went out later (the sweep, or a later batch) is not a loss: the
sweep job and ``absensi dlq list`` remove it (:func:`discard_published`).
"""
import datetime as dt
import json
import time
from typing import NamedTuple

from dramatiq import Message
from sqlalchemy import select

from tasks import outbox
from tasks.middleware.dead_letters import error_key
from webapp.events.models import OutboxEvent

_RESET_OPTIONS = ("redis_message_id", "retries", "traceback", "requeue_timestamp", "eta",
                  "absensi_error")


class DeadLetter(NamedTuple):
    message_id: str
    redis_message_id: str
    queue: str
    actor: str
    args: tuple
    kwargs: dict
    failed_at: dt.datetime
    error: str
    message: Message


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _dead_letter_queues(broker):
    pattern = f"{broker.namespace}:*.XQ"
    return sorted(_text(key) for key in broker.client.scan_iter(match=pattern, count=500))


def dead_letters(broker, queues=None):
    """Every dead-lettered message of *broker* (a RedisBroker), oldest failure first;
    only those of *queues* if given (without looking for the others: no SCAN)."""
    client, found = broker.client, []
    xqs = (_dead_letter_queues(broker) if queues is None
           else [f"{broker.namespace}:{queue}.XQ" for queue in queues])
    for xq in xqs:
        queue = xq[len(broker.namespace) + 1:-len(".XQ")]
        entries = client.zrange(xq, 0, -1, withscores=True)
        if not entries:
            continue
        ids = [_text(member) for member, _ in entries]
        bodies = client.hmget(f"{xq}.msgs", ids)
        errors = client.mget([error_key(i) for i in ids])
        for (redis_message_id, score), body, error in zip(
                zip(ids, (s for _, s in entries)), bodies, errors):
            if body is None:
                continue
            message = Message.decode(body)
            found.append(DeadLetter(
                message_id=message.message_id,
                redis_message_id=redis_message_id,
                queue=queue,
                actor=message.actor_name,
                args=message.args,
                kwargs=message.kwargs,
                failed_at=dt.datetime.fromtimestamp(score / 1000, dt.timezone.utc),
                error=_error(error, message),
                message=message,
            ))
    return sorted(found, key=lambda d: d.failed_at)


def _error(recorded, message):
    if recorded:
        return json.loads(recorded)["error"]
    traceback = message.options.get("traceback") or ""
    lines = [line for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "unknown"


def requeue(broker, ids=None):
    """Send dead letters back to their queues: those whose message id (or Redis message id)
    is in *ids*, or all of them when *ids* is None. Returns the message ids requeued."""
    wanted = None if ids is None else set(ids)
    client, requeued = broker.client, []
    for dead in dead_letters(broker):
        if wanted is not None and not wanted & {dead.message_id, dead.redis_message_id}:
            continue
        xq = f"{broker.namespace}:{dead.queue}.XQ"
        # ZREM is the claim: of two concurrent requeues, only one sends the message.
        if not client.zrem(xq, dead.redis_message_id):
            continue
        options = {k: v for k, v in dead.message.options.items() if k not in _RESET_OPTIONS}
        fresh = Message(
            queue_name=dead.queue, actor_name=dead.actor, args=dead.args, kwargs=dead.kwargs,
            options=options, message_id=dead.message_id,
            message_timestamp=int(time.time() * 1000),
        )
        try:
            broker.enqueue(fresh)
        except Exception:
            client.zadd(xq, {dead.redis_message_id: dead.failed_at.timestamp() * 1000})
            raise
        client.hdel(f"{xq}.msgs", dead.redis_message_id)
        client.delete(error_key(dead.redis_message_id))
        requeued.append(dead.message_id)
    return requeued


def discard_published(broker, session_factory, queues=(outbox.QUEUE,)):
    """Remove the publisher's dead letters whose event is published by now (or gone:
    only published rows are ever purged); return the :class:`DeadLetter` objects removed.

    A publisher message names one event, but its run drains every pending one, so the
    message failing says nothing once its event has ``published_at``.
    """
    letters = [d for d in dead_letters(broker, queues) if d.actor == outbox.PUBLISH_ACTOR]
    if not letters:
        return []
    wanted = {_event_id(d) for d in letters} - {None}
    with session_factory() as session:
        pending = set(session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.id.in_(sorted(wanted)),
                                         OutboxEvent.published_at.is_(None))))
    client, removed = broker.client, []
    for dead in letters:
        if _event_id(dead) in pending:
            continue
        xq = f"{broker.namespace}:{dead.queue}.XQ"
        if client.zrem(xq, dead.redis_message_id):  # of two concurrent removals, one counts
            client.hdel(f"{xq}.msgs", dead.redis_message_id)
            client.delete(error_key(dead.redis_message_id))
            removed.append(dead)
    return removed


def _event_id(dead):
    try:
        return int(dead.args[0])
    except (IndexError, TypeError, ValueError):
        return None

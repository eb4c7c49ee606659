"""The transactional outbox: domain events written with the change, enqueued after commit.

:func:`record_event` adds the row in the caller's transaction. :func:`install` hooks the
session factory so that, once (and only once) the transaction really commits, the
publisher queue gets one message (naming the newest event id; a run publishes every
pending event). If that hand-off fails (Redis or the broker
down) nothing is lost: the relay sweep republishes every row whose ``published_at`` is NULL.
"""
import functools
import logging

from sqlalchemy import event as sa_event
from sqlalchemy import insert

from webapp.clock import utcnow_naive
from webapp.db import after_commit, execute_write
from webapp.events.models import OutboxEvent
from realtime import channels as channel_names

log = logging.getLogger(__name__)
PENDING = "outbox_pending_event_ids"
ENQUEUE = "outbox_enqueue"


def record_event(dbsession, *, event_type, aggregate_id, user_id, channels, payload, node_id):
    """Add one domain event to the caller's transaction and return its outbox row.

    The emitting domain decides everything about it: ``event_type`` (e.g.
    ``leave.updated``), the ``channels`` it is published to, its ``payload`` (the frame's
    ``data``) and ``user_id`` (whose events keep their order, see tasks.outbox).
    """
    unknown = [c for c in channels if not channel_names.is_valid(c)]
    if not channels or unknown:
        raise ValueError(f"an outbox event needs known channels, got {channels!r}")
    values = {
        "event_type": event_type, "aggregate_id": aggregate_id, "user_id": user_id,
        "node_id": node_id, "payload": payload, "channels": list(channels),
        "created_at": utcnow_naive(), "published_at": None, "attempts": 0,
    }
    # One INSERT statement instead of the unit of work: every change writes an event, and
    # a flush costs more than the row. The OutboxEvent returned is not in the session.
    event_id = execute_write(dbsession, insert(OutboxEvent.__table__), values) \
        .inserted_primary_key[0]
    _hold_until_commit(dbsession, event_id)
    return OutboxEvent(id=event_id, **values)


def _hold_until_commit(dbsession, event_id):
    """Remember *event_id* for the hand-off once the outermost transaction has committed."""
    pending = dbsession.info.setdefault(PENDING, [])
    if not pending:
        after_commit(dbsession, functools.partial(_hand_over, dbsession.info))
    pending.append(event_id)


def _hand_over(info):
    enqueue, event_ids = info.get(ENQUEUE), info.pop(PENDING, [])
    if enqueue is None or not event_ids:
        return  # no publisher queue here: the relay sweep publishes them
    # One message per commit: the publisher drains every pending event in id order
    # (tasks.outbox), so naming the newest is enough.
    newest = max(event_ids)
    try:
        enqueue(newest)
    except Exception:  # noqa: BLE001 - the relay sweep will publish them
        log.warning("could not enqueue outbox event(s) up to %s; the sweep will", newest,
                    exc_info=True)


def install(session_factory, enqueue):
    """Enqueue each committed event with ``enqueue(event_id)``; forget those rolled back."""
    info = dict(session_factory.kw.get("info") or {}, **{ENQUEUE: enqueue})
    session_factory.configure(info=info)

    @sa_event.listens_for(session_factory, "after_rollback")
    def _forget_rolled_back(session):
        session.info.pop(PENDING, None)


def includeme(config):
    enqueue = config.registry.get("enqueue_outbox_event")
    if enqueue is None:
        log.warning("no publisher queue configured: events wait for the relay sweep")
        return
    install(config.registry["dbsession_factory"], enqueue)

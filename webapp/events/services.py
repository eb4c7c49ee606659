"""The transactional outbox: domain events written with the change, enqueued after commit.

:func:`record_event` adds the row in the caller's transaction. :func:`install` hooks the
session factory so that, once (and only once) the transaction really commits, each new
event id is handed to the publisher queue. If that hand-off fails (Redis or the broker
down) nothing is lost: the relay sweep republishes every row whose ``published_at`` is NULL.
"""
import logging

from sqlalchemy import event as sa_event

from webapp.attendance.serializers import attendance_json
from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent

log = logging.getLogger(__name__)
PENDING = "outbox_pending_event_ids"

ATTENDANCE_CREATED = "attendance.created"
ATTENDANCE_UPDATED = "attendance.updated"


def record_event(dbsession, *, event_type, attendance, node_id):
    dbsession.flush()  # the attendance needs its id in the payload
    outbox_event = OutboxEvent(
        event_type=event_type,
        aggregate_id=attendance.id,
        user_id=attendance.user_id,
        node_id=node_id,
        payload=attendance_json(attendance),
        created_at=utcnow_naive(),
        attempts=0,
    )
    dbsession.add(outbox_event)
    dbsession.flush()
    dbsession.info.setdefault(PENDING, []).append(outbox_event.id)
    return outbox_event


def install(session_factory, enqueue):
    """Enqueue each committed event with ``enqueue(event_id)``; forget those rolled back."""

    @sa_event.listens_for(session_factory, "after_commit")
    def _enqueue_committed(session):
        for event_id in session.info.pop(PENDING, []):
            try:
                enqueue(event_id)
            except Exception:  # noqa: BLE001 - the relay sweep will publish it
                log.warning("could not enqueue outbox event %s; the sweep will", event_id,
                            exc_info=True)

    @sa_event.listens_for(session_factory, "after_rollback")
    def _forget_rolled_back(session):
        session.info.pop(PENDING, None)


def includeme(config):
    enqueue = config.registry.get("enqueue_outbox_event")
    if enqueue is None:
        log.warning("no publisher queue configured: events wait for the relay sweep")
        return
    install(config.registry["dbsession_factory"], enqueue)

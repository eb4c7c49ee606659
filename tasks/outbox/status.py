"""The unpublished backlog, for ``absensi outbox status`` and the metrics."""
from sqlalchemy import func, select

from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent


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

"""Deleting published outbox rows once Redis's history has them long enough."""
import datetime as dt
import logging

from sqlalchemy import delete, func, select

from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent

log = logging.getLogger(__name__)

#: published rows deleted per transaction, and batches per purge run
PURGE_BATCH_SIZE = 1000
PURGE_MAX_BATCHES = 100


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

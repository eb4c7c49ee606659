"""Every actor. Import after the broker is set up (``dramatiq tasks.broker:setup tasks.actors``)."""
import threading

import dramatiq

from tasks import broker as limits
from tasks import outbox
from tasks.middleware.resources import resources
from tasks.outbox.after_publish import BackgroundRefresher
# the domains' after-publish subscribers register when their modules are imported
from webapp.attendance import summaries  # noqa: F401

#: one per worker process (its thread starts with the first batch), see after_publish
_refresher = None
_refresher_lock = threading.Lock()


@dramatiq.actor(
    actor_name=outbox.PUBLISH_ACTOR,
    queue_name=outbox.QUEUE,
    max_retries=limits.MAX_RETRIES,
    min_backoff=limits.MIN_BACKOFF_MS,
    max_backoff=limits.MAX_BACKOFF_MS,
    time_limit=30_000,
    max_age=limits.MAX_AGE_MS,
)
def publish_outbox_event(event_id):
    """Drain the outbox to Redis, *event_id* (committed before it was sent) included.

    Its name and argument are those of the one-event-per-message actor it replaced, so
    messages queued before a deploy still run (each becomes a drain).
    """
    global _refresher
    app = resources(publish_outbox_event.broker)
    retention = int(app.settings["realtime.history_retention_seconds"])
    with _refresher_lock:
        if _refresher is None:
            _refresher = BackgroundRefresher(app.session_factory, app.redis,
                                             retention_seconds=retention)
    outbox.publish_outbox_event(
        app.session_factory, app.redis, event_id, retention,
        replicas=int(app.settings["outbox.publish_replicas"]),
        continue_later=lambda: publish_outbox_event.send(0),
        after_batch=_refresher.submit,
    )

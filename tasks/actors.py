"""Every actor. Import after the broker is set up (``dramatiq tasks.broker:setup tasks.actors``)."""
import dramatiq

from tasks import broker as limits
from tasks import outbox
from tasks.middleware.resources import resources


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
    """Publish outbox event *event_id* to Redis and mark it published (idempotent)."""
    app = resources(publish_outbox_event.broker)
    outbox.publish_outbox_event(
        app.session_factory, app.redis, event_id,
        int(app.settings["realtime.history_retention_seconds"]),
    )

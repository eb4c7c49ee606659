"""Publishing outbox events to Redis, split by job; the actor, the scheduler and the CLI
use what this package exports.

- :mod:`~tasks.outbox.enqueue`: the publisher's message (the web nodes' hand-off is
  :mod:`webapp.events.handoff`; this is the same message for the worker side);
- :mod:`~tasks.outbox.draining`: one drain run at a time (a Redis lock), batch after batch;
- :mod:`~tasks.outbox.batches`: read, publish and mark one batch of rows;
- :mod:`~tasks.outbox.after_publish`: the after-publish subscribers off the publisher's
  thread (:mod:`webapp.events.subscribers`);
- :mod:`~tasks.outbox.sweep`: the relay sweep re-enqueues rows left unpublished;
- :mod:`~tasks.outbox.status` and :mod:`~tasks.outbox.purge`: the backlog, and deleting
  rows Redis's history holds long enough.

Every domain event, whatever its channel, takes this one path (outbox row in the
change's transaction, drained in id order, published idempotently per channel and event
id). The ``summaries`` and ``servers`` channels are not domain events: they carry
versioned snapshots (a summary) and heartbeat changes that are recomputed rather than
committed, so their producers publish them straight through :mod:`realtime.streams` (the
same publish script, with history and ``since`` recovery as on every channel).
"""
from tasks.outbox.batches import BATCH_SIZE, SUSPECT_ATTEMPTS, channels_for
from tasks.outbox.draining import (
    DRAIN_LOCK_KEY, DRAIN_WANTED_KEY, MAX_BATCHES_PER_RUN, DrainResult, PublishFailed, drain,
    publish_outbox_event, stranded_drain,
)
from tasks.outbox.enqueue import enqueuer
from tasks.outbox.purge import purge_published
from tasks.outbox.status import outbox_status
from tasks.outbox.sweep import REQUEUE_LEASE_PREFIX, redis_claim, sweep_unpublished
from webapp.events.handoff import DRAIN_QUEUED_KEY, PUBLISH_ACTOR, QUEUE

__all__ = [
    "BATCH_SIZE", "DRAIN_LOCK_KEY", "DRAIN_QUEUED_KEY", "DRAIN_WANTED_KEY",
    "MAX_BATCHES_PER_RUN", "PUBLISH_ACTOR", "QUEUE", "REQUEUE_LEASE_PREFIX",
    "SUSPECT_ATTEMPTS", "DrainResult", "PublishFailed", "channels_for", "drain", "enqueuer",
    "outbox_status", "publish_outbox_event", "purge_published", "redis_claim",
    "stranded_drain", "sweep_unpublished",
]

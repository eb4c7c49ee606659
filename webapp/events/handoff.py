"""The enqueue side of the publisher queue: what a web node needs to wake the publisher.

A committed outbox event must reach the Dramatiq worker's ``outbox`` queue. The web node
never builds the worker's broker (its middleware, consumers, doorbell waits): it writes
the publisher actor's message in Dramatiq's own message format and Redis layout, the
way Dramatiq's Redis broker enqueues, and rings the queue's doorbell that idle consumers
block on (:mod:`tasks.doorbell`), all in one script call, one round trip.

Coalescing (the web nodes' after-commit hand-off): a commit sends nothing while a message
sent before has not started yet. That run reads every event committed before it starts,
so in a rush one message serves the commits of the moment instead of one message (and
one empty run) each. The flag expires after :data:`DRAIN_QUEUED_MS`, so a message lost
meanwhile delays later commits by that much at most (the relay sweep covers whatever
stays unpublished). Until a drain has run (workers of an older release, which publish
only the event their message names), every commit sends its message.

A Redis that is down fails the call within about two seconds (short timeouts, no
retries): the caller logs it and the relay sweep publishes the event later.
"""
import json
import time
import uuid

from webapp.redis import make_redis_client

#: Dramatiq's key namespace and the publisher's queue and actor (its name since the
#: first release: messages queued by any version still run)
NAMESPACE = "dramatiq"
QUEUE = "outbox"
PUBLISH_ACTOR = "publish_outbox_event"
#: set by a coalescing hand-off while the message it sent waits to start; a drain run
#: deletes it as it starts
DRAIN_QUEUED_KEY = "absensi:outbox:drain:queued"
DRAIN_QUEUED_MS = 3_000
#: left by every drain run: web nodes coalesce only while workers that drain are about
DRAIN_CAPABLE_KEY = "absensi:outbox:drain:capable"
#: counts commits that wrote outbox events (each hand-off bumps it): caches of committed
#: data (webapp.attendance.today_cache) compare it
COMMITTED_KEY = "absensi:outbox:committed"
#: rings kept while no consumer waits: enough to wake every consumer of a small cluster
MAX_RINGS = 16

# KEYS: queued flag, capability, queue list, messages hash, doorbell, commit generation.
# ARGV: event id, flag ms, coalesce (1/0), Redis message id, message, rings kept.
# 1: the message is queued; 0: a queued one will read this commit's events.
_ENQUEUE = """
redis.call('INCR', KEYS[6])
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[2]) == 1 then
  if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('RPUSH', KEYS[5], 1)
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[6]), -1)
return 1
"""


def queue_key(queue_name=QUEUE, namespace=NAMESPACE):
    return f"{namespace}:{queue_name}"


def bell_key(queue_name=QUEUE, namespace=NAMESPACE):
    """The list idle consumers of *queue_name* block on."""
    return f"{namespace}:{queue_name}.bell"


def publish_message(event_id):
    """The publisher actor's message for *event_id*, as Dramatiq's ``Message`` fields."""
    return {"queue_name": QUEUE, "actor_name": PUBLISH_ACTOR, "args": [int(event_id)],
            "kwargs": {}, "options": {}, "message_id": str(uuid.uuid4()),
            "message_timestamp": int(time.time() * 1000)}


class Handoff:
    """``handoff(event_id)``: queue the publisher's message (see the module docstring).

    Returns True when a message was queued, False when a queued one covers the event.
    """

    def __init__(self, redis_client, *, coalesce=False, namespace=NAMESPACE):
        self.script = redis_client.register_script(_ENQUEUE)
        self.coalesce = coalesce
        self.keys = [DRAIN_QUEUED_KEY, DRAIN_CAPABLE_KEY, queue_key(namespace=namespace),
                     queue_key(namespace=namespace) + ".msgs", bell_key(namespace=namespace),
                     COMMITTED_KEY]

    def __call__(self, event_id):
        # Dramatiq's Redis broker gives every enqueued copy its own id in options
        redis_message_id = str(uuid.uuid4())
        message = dict(publish_message(event_id), options={"redis_message_id": redis_message_id})
        data = json.dumps(message, separators=(",", ":"))
        return bool(int(self.script(keys=self.keys, args=[
            int(event_id), DRAIN_QUEUED_MS, int(self.coalesce), redis_message_id, data,
            MAX_RINGS])))


def includeme(config):
    # bytes, short timeouts, no client-side retries: the after-commit hook must not hang
    config.registry["enqueue_outbox_event"] = Handoff(
        make_redis_client(config.get_settings()), coalesce=True)

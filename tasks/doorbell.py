"""A Redis broker whose idle consumers wait on a doorbell instead of polling.

Dramatiq's Redis consumer polls its queue when it has nothing to do, sleeping at most
``worker_timeout`` in between; we run it at 50 ms for latency (a lone check-in's event
must reach the sockets in tens of ms), so each idle worker process made ~50 fetches per
second per queue (measured: ~105 script calls/s, 316 Redis commands/s for an idle
2-process worker). Here an idle consumer instead blocks in ``BLPOP`` on its queue's
doorbell list, which every enqueue pushes in the same round trip as the message itself:
the consumer wakes at once when a message arrives and otherwise costs one ``BLPOP`` and
one fetch per :data:`IDLE_WAIT_SECONDS` (measured: ~2 commands/s for the same worker).

While a consumer holds messages (being processed, or delayed until their eta) it polls
as Dramatiq does, so a freed prefetch slot is refilled and etas are honoured on time.
A lost ring (a consumer busy when it was pushed) costs nothing: rings are only hints,
capped at :data:`MAX_RINGS`, and the fetch after each wait looks at the queue itself.
The wait also wakes on a private key per consumer, pushed at worker shutdown
(:class:`tasks.middleware.doorbell.WakeConsumersAtShutdown`), so stopping stays prompt.
"""
import threading
import time
import uuid

import redis
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.common import compute_backoff, current_millis
from dramatiq.errors import ConnectionClosed
from dramatiq.message import Message
from redis.exceptions import NoScriptError

from webapp.events.handoff import MAX_RINGS, bell_key

#: how long an idle consumer blocks before it looks at the queue anyway (also refreshes
#: Dramatiq's worker heartbeat, which other workers would declare dead after 60 s)
IDLE_WAIT_SECONDS = 5
#: Dramatiq's queue maintenance (requeueing a dead worker's unacknowledged messages,
#: dropping expired dead letters) runs on a random share of broker commands, 1/1000 by
#: default; with ~50× fewer commands when idle, 1/50 keeps it about as frequent in time.
MAINTENANCE_CHANCE = 20_000


class DoorbellRedisBroker(RedisBroker):
    """:class:`RedisBroker` plus the doorbell; *bell_client* serves only the blocking
    waits (its socket timeout must exceed :data:`IDLE_WAIT_SECONDS`)."""

    def __init__(self, *, bell_client, idle_wait_seconds=IDLE_WAIT_SECONDS, **kwargs):
        kwargs.setdefault("maintenance_chance", MAINTENANCE_CHANCE)
        super().__init__(**kwargs)
        self.bell_client = bell_client
        self.idle_wait_seconds = idle_wait_seconds
        self.closing = False
        self._wake_keys = set()
        self._wake_lock = threading.Lock()

    @property
    def consumer_class(self):
        return DoorbellConsumer

    def bell_key(self, queue_name):
        return bell_key(queue_name, self.namespace)

    def do_enqueue(self, queue_name, redis_message_id, data):
        """Dramatiq's enqueue script and the ring, pipelined: one round trip."""
        script = self.scripts["dispatch"]
        args = ["enqueue", current_millis(), queue_name, self.broker_id,
                self.heartbeat_timeout, self.dead_message_ttl,
                self._should_do_maintenance("enqueue"), self._max_unpack_size(),
                redis_message_id, data]
        bell = self.bell_key(queue_name)
        pipe = self.client.pipeline(transaction=False)
        pipe.evalsha(script.sha, 1, self.namespace, *args)
        pipe.rpush(bell, 1)
        pipe.ltrim(bell, -MAX_RINGS, -1)
        try:
            return pipe.execute()[0]
        except NoScriptError:  # a Redis that restarted: load the script, once
            return script(keys=[self.namespace], args=args)

    def wait_for_bell(self, queue_name, wake_key):
        """Block until *queue_name* rings, *wake_key* is pushed, or the idle wait ends."""
        with self._wake_lock:
            if self.closing:
                return
            self._wake_keys.add(wake_key)
        try:
            self.bell_client.blpop([self.bell_key(queue_name), wake_key],
                                   timeout=self.idle_wait_seconds)
        finally:
            with self._wake_lock:
                self._wake_keys.discard(wake_key)

    def wake_consumers(self):
        """Stop blocking: wake this process's waiting consumers now and from now on."""
        with self._wake_lock:
            self.closing = True
            keys = list(self._wake_keys)
        if keys:
            with self.client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.rpush(key, 1)
                    pipe.expire(key, 60)
                pipe.execute()


class DoorbellConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, except that it waits on the doorbell when idle."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.wake_key = f"{self.broker.namespace}:wake.{uuid.uuid4().hex}"

    def __next__(self):
        try:
            while True:
                if self.message_cache:
                    data = self.message_cache.pop(0)
                    if data is None:
                        continue
                    self.misses = 0
                    message = Message.decode(data)
                    self.queued_message_ids.add(message.message_id)
                    return MessageProxy(message)
                messages = []
                if self.outstanding_message_count < self.prefetch:
                    self.message_cache = messages = self.broker.do_fetch(
                        self.queue_name, self.prefetch - self.outstanding_message_count)
                if messages:
                    continue
                if self.outstanding_message_count or self.broker.closing:
                    # busy (or stopping): Dramatiq's own backoff, up to worker_timeout
                    self.misses, backoff_ms = compute_backoff(self.misses,
                                                              max_backoff=self.timeout)
                    time.sleep(backoff_ms / 1000)
                    return None
                self.misses = 0
                self.broker.wait_for_bell(self.queue_name, self.wake_key)
                return None
        except redis.ConnectionError as error:
            raise ConnectionClosed(error) from None

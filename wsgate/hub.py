"""One Redis pub/sub subscription per gateway process, fanned out in memory.

Every frame published on :data:`~realtime.streams.LIVE_PUBSUB_CHANNEL` is parsed
once, made into websocket bytes once (:class:`~realtime.frames.Frame`), and the same bytes
are written to every client subscribed to its channel.

Pub/sub is fire-and-forget: whatever is published while the subscription is down never
arrives. So each time the subscription is (re)confirmed -- by our own reconnect loop or
by redis-py's silent reconnect-and-resubscribe -- the hub reads every channel that has
subscribers from the stream after the last offset it delivered there (or after the
start of the previous subscription, for channels that were quiet), and delivers those
entries first. Clients drop what they already have, so this adds no duplicates.

A Redis restart *with* its data (AOF, RDB) loses nothing: the gateway fills the gap and
clients keep their sockets. Only when Redis came back without its data (its epoch token,
:func:`~realtime.streams.aepoch`, changed) or trimmed events the clients never got
are they asked to resubscribe (close 1012), so they learn ``recovered: false`` and reload.

The subscription is watched, not trusted: the hub pings Redis over it every
:data:`PING_INTERVAL` seconds and reconnects when nothing (not even the pong) arrived for
:data:`STALE_AFTER` seconds -- a frozen Redis or a half-open connection is noticed within
seconds, and reported by :meth:`Hub.healthy` (the gateway's ``/healthz`` and heartbeat).
Any unexpected error in the loop is logged and the loop starts over (supervised), gap
filling as after any reconnect. The same connection carries the revocation announcements
of :mod:`realtime.revocation`, handed to ``on_control``.
"""
import asyncio
import json
import logging
import secrets
import time

from redis.exceptions import RedisError

from realtime import revocation, streams
from wsgate import metrics
from realtime.frames import Frame

log = logging.getLogger(__name__)

_LAST_SEQ = 2**64 - 1
#: close code asking a client to reconnect and resubscribe (it then learns recovered:false)
RESYNC = 1012
#: seconds between pings over the subscription, and of silence after which it is dead
PING_INTERVAL = 2.0
STALE_AFTER = 6.0


def _just_before(ms):
    """The offset right before millisecond *ms*: reading after it returns all of *ms*."""
    return (ms - 1, _LAST_SEQ)


class Hub:
    """Fan-out of live frames to subscribed clients, with gap filling on reconnect."""

    def __init__(self, redis, *, history_limit=streams.DEFAULT_READ_LIMIT, max_backoff=5.0,
                 on_control=None, on_resubscribed=None):
        self.redis = redis
        self.history_limit = history_limit
        self.max_backoff = max_backoff
        #: ``on_control(payload)`` for each revocation announcement
        self.on_control = on_control
        #: ``on_resubscribed()`` after every (re)subscription: announcements may be missed
        self.on_resubscribed = on_resubscribed
        #: event-loop time of the last thing Redis said over the subscription
        self.last_heard = None
        self.clients = set()
        #: sockets closed since the start (the garbage collector's policy reads it)
        self.detached = 0
        self._channels = {}
        self._delivered = {}
        # Start of the current (or last) pub/sub subscription, in Redis time. Before the
        # first one, the gateway's own start time stands in (same clock on one host).
        self._subscribed_since = _just_before(int(time.time() * 1000))
        # Redis data epoch seen at the last subscription (None before the first one)
        self._epoch = None
        #: the pub/sub subscription is confirmed and its gap filled (for /metrics)
        self.subscribed = False

    # -- clients ---------------------------------------------------------------------
    def attach(self, client):
        self.clients.add(client)
        metrics.CONNECTIONS_OPENED.inc()

    def detach(self, client):
        if client in self.clients:
            self.clients.discard(client)
            self.detached += 1
        for channel in client.subscriptions:
            self.remove(channel, client)

    def add(self, channel, client):
        self._channels.setdefault(channel, set()).add(client)

    def remove(self, channel, client):
        subscribers = self._channels.get(channel)
        if subscribers is not None:
            subscribers.discard(client)
            if not subscribers:
                del self._channels[channel]

    def close_all(self, code, reason):
        for client in list(self.clients):
            client.drop(code, reason)

    async def read_since(self, channel, since):
        """``(recovered, entries)`` of *channel* after *since* (see :mod:`streams`)."""
        return await streams.aread_since(self.redis, channel, since, self.history_limit)

    # -- fan-out ---------------------------------------------------------------------
    def dispatch(self, channel, offset, text):
        """Hand one event frame to *channel*'s subscribers, unless already delivered.

        The frame's bytes are built once for all of them (:class:`Frame`), and each
        delivery is a plain write (see :mod:`wsgate.client`): no task, future or copy
        per socket."""
        last = self._delivered.get(channel)
        if last is not None and offset <= last:
            return
        self._delivered[channel] = offset
        subscribers = self._channels.get(channel)
        if not subscribers:
            return
        frame = Frame(text)
        sent = 0
        # a copy: a delivery may close a socket, and closing one leaves the set
        for client in tuple(subscribers):
            if client.deliver(channel, offset, frame):
                sent += 1
        metrics.FRAMES_SENT.inc(sent)

    def _on_message(self, text):
        try:
            frame = json.loads(text)
            channel, offset = frame["channel"], streams.parse_offset(frame["offset"])
        except (ValueError, TypeError, KeyError):
            log.warning("ignoring a malformed live frame: %.200r", text)
            return
        metrics.LIVE_FRAMES.inc()
        self.dispatch(channel, offset, text)

    def healthy(self):
        """Subscribed, and Redis answered over the subscription within STALE_AFTER."""
        loop = asyncio.get_running_loop()
        return (self.subscribed and self.last_heard is not None
                and loop.time() - self.last_heard < STALE_AFTER)

    async def run(self):
        """Keep the pub/sub subscription up for ever, reconnecting with backoff."""
        delay = 0.1
        while True:
            pubsub = self.redis.pubsub()
            try:
                await self._listen(pubsub)
            except (RedisError, OSError, asyncio.TimeoutError) as exc:
                log.warning("Redis pub/sub unavailable (%s); retrying in %.1f s", exc, delay)
            except Exception:  # noqa: BLE001 - supervised: a bug must not leave it deaf
                log.exception("the hub failed; restarting it in %.1f s", delay)
            finally:
                was_subscribed, self.subscribed = self.subscribed, False
                await self._close_quietly(pubsub)
            if was_subscribed:
                delay = 0.1  # it worked until now: come back quickly
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_backoff)

    async def _listen(self, pubsub):
        loop = asyncio.get_running_loop()
        await pubsub.subscribe(streams.LIVE_PUBSUB_CHANNEL, revocation.CHANNEL)
        self.last_heard = next_ping = loop.time()
        while True:
            message = await pubsub.get_message(timeout=min(1.0, PING_INTERVAL))
            now = loop.time()
            if message is not None:
                self.last_heard = now
                self._handle(message)
                if message["type"] == "subscribe" and message["channel"] == revocation.CHANNEL:
                    await self._on_subscribed()
            elif now - self.last_heard > STALE_AFTER:
                raise ConnectionError(f"no answer from Redis for {STALE_AFTER:.0f} s")
            if now >= next_ping:
                await pubsub.ping()
                next_ping = now + PING_INTERVAL

    def _handle(self, message):
        if message["type"] != "message":
            return
        if message["channel"] == revocation.CHANNEL:
            if self.on_control is not None:
                self.on_control(message["data"])
            return
        self._on_message(message["data"])

    @staticmethod
    async def _close_quietly(pubsub):
        try:
            await pubsub.aclose()
        except (RedisError, OSError):
            pass

    async def _on_subscribed(self):
        seconds, micros = await self.redis.time()
        started = _just_before(seconds * 1000 + micros // 1000)
        epoch = await streams.aepoch(self.redis, secrets.token_hex(16))
        data_kept = self._epoch in (None, epoch)
        for channel in list(self._channels):
            cursor = max(self._delivered.get(channel, self._subscribed_since),
                         self._subscribed_since)
            await self._fill_gap(channel, cursor, data_kept)
        # only now: if filling failed, the next attempt starts from the old cursor again
        self._subscribed_since = started
        self._epoch = epoch
        self.subscribed = True
        metrics.SUBSCRIPTIONS.inc()
        log.info("subscribed to %s", streams.LIVE_PUBSUB_CHANNEL)
        if self.on_resubscribed is not None:
            self.on_resubscribed()

    async def _fill_gap(self, channel, cursor, data_kept):
        history = await streams.aread_history(
            self.redis, channel, streams.format_offset(cursor), self.history_limit
        )
        for entry in history.entries:
            self.dispatch(channel, streams.parse_offset(entry.offset), entry.frame)
        lost_stream = not history.exists and channel in self._delivered
        if lost_stream:
            # a new history starts from scratch; its offsets owe nothing to the old ones
            del self._delivered[channel]
        # With Redis's data kept, a stream's marker that was never moved by a trim only
        # says where a stream created meanwhile began: nothing before it ever existed.
        trimmed_away = history.gap_lost and (history.trimmed or not data_kept)
        if history.truncated or trimmed_away or lost_stream:
            # events these clients never got are gone from Redis: make them reconnect,
            # resubscribe with their offset, get recovered:false and reload over HTTP
            log.warning("history of %s lost during a Redis outage; resyncing", channel)
            for client in list(self._channels.get(channel, ())):
                client.drop(RESYNC, "history lost, resubscribe")

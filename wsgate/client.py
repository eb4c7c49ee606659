"""The outgoing side of one websocket connection.

Frames for a client go through its own queue, drained by its own writer task that awaits
``write_message`` (Tornado's flow control). The queue is bounded in bytes
(``gateway.client_buffer_bytes``), whatever the frames' sizes: the hub only ever does a
non-blocking put, so a slow or dead client fills its own budget and is dropped (4008),
and never delays the others. A history replay (up to 10,000 events) is fed in with
:meth:`Client.replay`, which waits while half the budget is queued: it never holds more
than the budget either, and a client that reads keeps up instead of being dropped.
"""
import asyncio
import logging

from tornado.websocket import WebSocketClosedError

from wsgate import metrics

log = logging.getLogger(__name__)

#: close code for a client that does not read its frames fast enough
TOO_SLOW = 4008


class _Close:
    """Queue item: close the socket once everything queued before it is written."""

    def __init__(self, code, reason):
        self.code, self.reason = code, reason


class Subscription:
    """A client's state on one channel.

    While its history is being read, live frames wait in ``pending``; afterwards
    ``last`` is the newest offset sent, so a frame seen twice (history then live, or a
    gap fill after a Redis reconnect) reaches the client once.
    """

    __slots__ = ("last", "pending", "pending_bytes")

    def __init__(self, *, pending):
        self.last = None
        self.pending = [] if pending else None
        self.pending_bytes = 0


class Client:
    """Queue, writer task and subscriptions of one websocket (*socket* is its handler)."""

    def __init__(self, socket, *, buffer_bytes):
        self.socket = socket
        self.buffer_bytes = buffer_bytes
        self.subscriptions = {}
        self.closed = False
        #: the verified token's claims once the client authenticated (None before)
        self.claims = None
        self.queued_bytes = 0
        self._queue = asyncio.Queue()  # bounded by queued_bytes, not by items
        self._written = asyncio.Event()
        self._writer = asyncio.get_running_loop().create_task(self._drain())

    # -- outgoing frames -------------------------------------------------------------
    def send(self, text):
        self._put(text)

    async def replay(self, texts):
        """Queue history frames with flow control: wait while half the budget is queued."""
        for text in texts:
            while self.queued_bytes > self.buffer_bytes // 2 and not self.closed:
                self._written.clear()
                await self._written.wait()
            if self.closed:
                return
            self._put(text)

    def close_after(self, code, reason):
        """Close once the frames queued so far (e.g. an error frame) are written."""
        self._put(_Close(code, reason))

    def drop(self, code, reason):
        """Close now, dropping whatever is still queued."""
        if not self.closed:
            self.closed = True
            self.socket.close(code, reason)

    def _put(self, item):
        if self.closed:
            return
        size = len(item) if isinstance(item, str) else 0
        if self.queued_bytes + size > self.buffer_bytes:
            log.info("dropping a client that is %d bytes behind", self.queued_bytes)
            metrics.FRAMES_DROPPED.labels("client_too_slow").inc()
            self._drop_slow()
            return
        self.queued_bytes += size
        self._queue.put_nowait(item)

    def _drop_slow(self):
        if not self.closed:
            metrics.SLOW_CLIENTS.inc()
        self.drop(TOO_SLOW, "client too slow")

    async def _drain(self):
        try:
            while True:
                item = await self._queue.get()
                if isinstance(item, _Close):
                    self.drop(item.code, item.reason)
                    return
                await self.socket.write_message(item)
                self.queued_bytes -= len(item)
                self._written.set()
                metrics.FRAMES_SENT.inc()
        except WebSocketClosedError:
            self.closed = True
        finally:
            self._written.set()  # a replay waiting for room must not wait for ever

    def stop(self):
        """The socket is gone: forget queued frames and end the writer task."""
        self.closed = True
        self._writer.cancel()

    # -- subscriptions ---------------------------------------------------------------
    def subscribe(self, channel, *, pending):
        subscription = Subscription(pending=pending)
        self.subscriptions[channel] = subscription
        return subscription

    def unsubscribe(self, channel):
        return self.subscriptions.pop(channel, None) is not None

    def deliver(self, channel, offset, text):
        """A live frame from the hub (*offset* as a comparable ``(ms, seq)`` tuple)."""
        subscription = self.subscriptions.get(channel)
        if subscription is None or self.closed:
            return
        if subscription.pending is not None:
            # live frames waiting for a replay to finish count against the same budget
            if self.queued_bytes + subscription.pending_bytes + len(text) > self.buffer_bytes:
                metrics.FRAMES_DROPPED.labels("client_too_slow").inc()
                self._drop_slow()
            else:
                subscription.pending.append((offset, text))
                subscription.pending_bytes += len(text)
            return
        if subscription.last is None or offset > subscription.last:
            subscription.last = offset
            self._put(text)

    def go_live(self, channel, subscription, *, after):
        """End the history replay of *subscription*: send the live frames that waited
        meanwhile and are newer than *after* (None: all of them), then pass frames on."""
        if self.subscriptions.get(channel) is not subscription or subscription.pending is None:
            return
        waiting, subscription.pending = subscription.pending, None
        subscription.last = after
        for offset, text in waiting:
            self.deliver(channel, offset, text)

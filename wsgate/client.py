"""The outgoing side of one websocket connection.

Frames go straight to the socket (:meth:`~wsgate.handlers.RealtimeSocket.write_frame`):
most writes are taken by the kernel at once and cost no allocation at all, which is what
lets one event reach 10,000 sockets quickly. What the kernel did not take waits in the
connection's own write buffer, in order, and counts against the client's budget in bytes
(``gateway.client_buffer_bytes``) until it is flushed, whatever the frames' sizes: the hub
never waits, so a slow or dead client fills its own budget and is dropped (4008), and
never delays the others. A history replay (up to 10,000 events) is fed in with
:meth:`Client.replay`, which waits while half the budget is unflushed: it never holds more
than the budget either, and a client that reads keeps up instead of being dropped.

A client is a few slots and a dict (no queue, task or event of its own: with 10,000
sockets those were ~4 KiB each); an :class:`asyncio.Event` exists only while a replay waits.
"""
import asyncio
import functools
import logging

from tornado.websocket import WebSocketClosedError

from wsgate import metrics
from realtime.frames import Frame

log = logging.getLogger(__name__)

#: close code for a client that does not read its frames fast enough
TOO_SLOW = 4008


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
    """Byte budget and subscriptions of one websocket (*socket* is its handler, which
    has ``write_frame(bytes)`` and ``close(code, reason)``)."""

    __slots__ = ("socket", "buffer_bytes", "subscriptions", "closed", "claims",
                 "queued_bytes", "_room")

    def __init__(self, socket, *, buffer_bytes):
        self.socket = socket
        self.buffer_bytes = buffer_bytes
        self.subscriptions = {}
        self.closed = False
        #: the verified token's claims once the client authenticated (None before)
        self.claims = None
        #: bytes handed to the socket and not flushed to the kernel yet
        self.queued_bytes = 0
        self._room = None  # set when flushes make room, while a replay waits for it

    # -- outgoing frames -------------------------------------------------------------
    def send(self, text):
        if self._write(Frame(text)):
            metrics.FRAMES_SENT.inc()

    async def replay(self, texts):
        """Send history frames with flow control: wait while half the budget is unflushed."""
        for text in texts:
            while self.queued_bytes > self.buffer_bytes // 2 and not self.closed:
                self._room = asyncio.Event()
                await self._room.wait()
            if self.closed:
                break
            self.send(text)
        self._room = None

    def close_after(self, code, reason):
        """Close once the frames sent so far (e.g. an error frame) are written: they are
        ahead of the close frame in the connection's buffer."""
        self.drop(code, reason)

    def drop(self, code, reason):
        """Close now: nothing more is sent (the close frame follows what is unflushed,
        and Tornado aborts the connection if the client never answers it)."""
        if not self.closed:
            self.closed = True
            self.socket.close(code, reason)

    def _write(self, frame):
        """Hand *frame* to the socket unless that overdraws the budget (then drop);
        True when it was handed over."""
        if self.closed:
            return False
        size = len(frame)
        if self.queued_bytes + size > self.buffer_bytes:
            log.info("dropping a client that is %d bytes behind", self.queued_bytes)
            metrics.FRAMES_DROPPED.labels("client_too_slow").inc()
            self._drop_slow()
            return False
        try:
            unflushed = self.socket.write_frame(frame.wire)
        except WebSocketClosedError:
            self.closed = True
            return False
        if unflushed is not None:
            self.queued_bytes += size
            unflushed.add_done_callback(functools.partial(self._flushed, size))
        return True

    def _flushed(self, size, future):
        self.queued_bytes -= size
        if not future.cancelled():
            future.exception()  # a closed stream: on_close follows, nothing to report
        if self._room is not None:
            self._room.set()

    def _drop_slow(self):
        if not self.closed:
            metrics.SLOW_CLIENTS.inc()
        self.drop(TOO_SLOW, "client too slow")

    def stop(self):
        """The socket is gone: send nothing more, and wake a replay waiting for room."""
        self.closed = True
        if self._room is not None:
            self._room.set()

    # -- subscriptions ---------------------------------------------------------------
    def subscribe(self, channel, *, pending):
        subscription = Subscription(pending=pending)
        self.subscriptions[channel] = subscription
        return subscription

    def unsubscribe(self, channel):
        return self.subscriptions.pop(channel, None) is not None

    def deliver(self, channel, offset, frame):
        """A live :class:`~realtime.frames.Frame` from the hub (*offset* as a comparable
        ``(ms, seq)`` tuple); True when it was written (the hub counts them)."""
        subscription = self.subscriptions.get(channel)
        if subscription is None or self.closed:
            return False
        if subscription.pending is not None:
            # live frames waiting for a replay to finish count against the same budget
            if self.queued_bytes + subscription.pending_bytes + len(frame) > self.buffer_bytes:
                metrics.FRAMES_DROPPED.labels("client_too_slow").inc()
                self._drop_slow()
            else:
                subscription.pending.append((offset, frame))
                subscription.pending_bytes += len(frame)
            return False
        if subscription.last is None or offset > subscription.last:
            subscription.last = offset
            return self._write(frame)
        return False

    def go_live(self, channel, subscription, *, after):
        """End the history replay of *subscription*: send the live frames that waited
        meanwhile and are newer than *after* (None: all of them), then pass frames on."""
        if self.subscriptions.get(channel) is not subscription or subscription.pending is None:
            return
        waiting, subscription.pending = subscription.pending, None
        subscription.last = after
        sent = sum(1 for offset, frame in waiting if self.deliver(channel, offset, frame))
        if sent:
            metrics.FRAMES_SENT.inc(sent)

"""The ``/ws`` protocol (contract §4) and ``/healthz``.

A connection must authenticate with its first frame, within
``gateway.auth_timeout_seconds``; any failure before that is ``unauthenticated`` and
closes the socket (code 4001). After it, ``bad_request`` and ``forbidden`` errors leave
the socket open.
"""
import json
import logging
from urllib.parse import urlsplit

from redis.exceptions import RedisError
import tornado.iostream
import tornado.web
import tornado.websocket
from tornado.ioloop import IOLoop

from realtime import channels, revocation, streams, tokens
from wsgate.client import Client

log = logging.getLogger(__name__)

UNAUTHENTICATED_CLOSE = 4001
MAX_SUBSCRIPTIONS = 100


def _frame(**fields):
    return json.dumps(fields, separators=(",", ":"))


def _error(code, message):
    return _frame(op="error", code=code, message=message)


def _origin(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ProtocolError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


class RealtimeSocket(tornado.websocket.WebSocketHandler):
    """One client: authenticate, then subscribe / unsubscribe to channels."""

    def initialize(self, *, hub, settings):
        self.hub = hub
        self.redis = hub.redis
        self.secret = settings["app.secret_key"]
        self.site_origin = _origin(settings["app.site_url"])
        self.auth_timeout = float(settings["gateway.auth_timeout_seconds"])
        self.buffer_bytes = int(settings["gateway.client_buffer_bytes"])
        self.max_connections = int(settings["gateway.max_connections"])
        self.client = None
        self.claims = None
        self._auth_timer = None

    def prepare(self):
        # Browsers on the configured site only: the whole origin (scheme, host, port).
        # Tornado's own check would also accept an Origin that merely matches the request's
        # Host header (any scheme), or trust Sec-Fetch-Site. No Origin: not a browser.
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.check_origin(origin):
            raise tornado.web.HTTPError(403, "origin %r not allowed", origin)
        # Full: a clear 503 (clients retry, nginx may pick another gateway) rather than
        # running out of file descriptors, which also starves the Redis connections.
        if len(self.hub.clients) >= self.max_connections:
            raise tornado.web.HTTPError(503, "gateway full (%d sockets)", self.max_connections)

    def check_origin(self, origin):
        return _origin(origin) == self.site_origin

    def get_compression_options(self):
        # Off, and it must stay off: every socket is sent the same prebuilt bytes.
        return None

    def write_frame(self, wire):
        """Write one complete frame (:func:`realtime.frames.encode`); None when the kernel
        took all of it at once, else a future done once it is flushed (or the stream closed).

        Straight to the socket while nothing waits in the connection's write buffer (the
        usual case: no future, no callback, no copy); behind what waits otherwise, through
        the stream, so frames and Tornado's own pings and close frame keep their order.
        Raises WebSocketClosedError once the connection is closing.
        """
        connection = self.ws_connection
        if connection is None or connection.is_closing():
            raise tornado.websocket.WebSocketClosedError()
        stream = connection.stream
        if type(stream) is tornado.iostream.IOStream and not stream.writing():
            try:
                sent = stream.socket.send(wire)
            except OSError:  # full (EAGAIN) or broken: the stream's own write sorts it out
                sent = 0
            if sent == len(wire):
                return None
            wire = memoryview(wire)[sent:]
        try:
            future = stream.write(wire)
        except tornado.iostream.StreamClosedError:
            raise tornado.websocket.WebSocketClosedError() from None
        return None if future.done() else future

    def open(self):
        self.client = Client(self, buffer_bytes=self.buffer_bytes)
        self.hub.attach(self.client)
        self._auth_timer = IOLoop.current().call_later(self.auth_timeout, self._auth_expired)

    def on_close(self):
        if self._auth_timer is not None:
            IOLoop.current().remove_timeout(self._auth_timer)
        if self.client is not None:
            self.hub.detach(self.client)
            self.client.stop()

    async def on_message(self, message):
        # Tornado awaits this before reading the next frame: requests of one client
        # are handled one at a time, in order.
        if self.client.closed:
            return
        try:
            request = self._parse(message)
            if self.claims is None:
                await self._authenticate(request)
            elif request["op"] == "subscribe":
                await self._subscribe(request)
            elif request["op"] == "unsubscribe":
                self._unsubscribe(request)
            else:
                raise ProtocolError("bad_request", f"unknown op {request['op']!r}")
        except ProtocolError as exc:
            self.client.send(_error(exc.code, exc.message))
            if exc.code == "unauthenticated":
                self.client.close_after(UNAUTHENTICATED_CLOSE, "unauthenticated")

    def _parse(self, message):
        try:
            request = json.loads(message)
        except (ValueError, TypeError):
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise self._refusal("a frame must be a JSON object with an \"op\"")
        return request

    def _refusal(self, message):
        """Before authentication every mistake is ``unauthenticated`` (and closes)."""
        return ProtocolError("unauthenticated" if self.claims is None else "bad_request", message)

    def _auth_expired(self):
        self._auth_timer = None
        if self.claims is None and not self.client.closed:
            self.client.send(_error("unauthenticated", "no auth frame in time"))
            self.client.close_after(UNAUTHENTICATED_CLOSE, "unauthenticated")

    async def _authenticate(self, request):
        if request["op"] != "auth":
            raise ProtocolError("unauthenticated", "the first frame must be {\"op\":\"auth\"}")
        try:
            claims = tokens.verify(self.secret, request.get("token"))
        except tokens.InvalidToken as exc:
            raise ProtocolError("unauthenticated", f"invalid token: {exc}") from None
        if not await self._still_valid(claims):
            self.client.send(_error("unauthenticated", "token revoked"))
            self.client.close_after(revocation.REVOKED, "revoked")
            return
        IOLoop.current().remove_timeout(self._auth_timer)
        self._auth_timer = None
        self.claims = self.client.claims = claims
        ready = channels.default_channels(user_id=claims["uid"], role=claims["role"])
        self.client.send(_frame(op="ready", channels=ready))

    async def _still_valid(self, claims):
        try:
            [valid] = await revocation.avalid(self.redis, [claims])
        except (RedisError, OSError) as exc:
            # nothing can be delivered without Redis anyway; the periodic check follows up
            log.warning("could not check a token against revocations: %s", exc)
            return True
        return valid

    def _channel(self, request):
        channel = request.get("channel")
        if not isinstance(channel, str) or not channels.is_valid(channel):
            raise ProtocolError("bad_request", f"unknown channel {channel!r}")
        return channel

    async def _subscribe(self, request):
        channel, since = self._channel(request), request.get("since")
        if not channels.may_subscribe(
            user_id=self.claims["uid"], role=self.claims["role"], channel=channel
        ):
            raise ProtocolError("forbidden", f"not allowed to subscribe to {channel}")
        if since is not None:
            try:
                streams.parse_offset(since)
            except ValueError:
                raise ProtocolError("bad_request", f"bad since {since!r}") from None
        if channel not in self.client.subscriptions and (
            len(self.client.subscriptions) >= MAX_SUBSCRIPTIONS
        ):
            raise ProtocolError("bad_request", "too many subscriptions")
        if since is None:
            # nothing to recover: "recovered": false says "load the state over HTTP"
            self.client.send(_frame(op="subscribed", channel=channel, recovered=False))
            self.client.subscribe(channel, pending=False)
            self.hub.add(channel, self.client)
            return
        # Listen first, then read the history: an event published in between is either
        # in the history or held back as pending, so nothing falls in a gap.
        subscription = self.client.subscribe(channel, pending=True)
        self.hub.add(channel, self.client)
        try:
            recovered, entries = await self.hub.read_since(channel, since)
        except (RedisError, OSError) as exc:
            log.warning("history of %s unavailable: %s", channel, exc)
            recovered, entries = False, []
        self.client.send(_frame(op="subscribed", channel=channel, recovered=recovered))
        await self.client.replay(entry.frame for entry in entries)
        last = entries[-1].offset if entries else (since if recovered else None)
        self.client.go_live(
            channel, subscription, after=None if last is None else streams.parse_offset(last)
        )

    def _unsubscribe(self, request):
        channel = self._channel(request)
        if self.client.unsubscribe(channel):
            self.hub.remove(channel, self.client)


class HealthHandler(tornado.web.RequestHandler):
    """``GET /healthz``: the process is alive; how many sockets it holds."""

    def initialize(self, *, hub, node_id):
        self.hub = hub
        self.node_id = node_id

    def get(self):
        # a gateway whose Redis subscription is down or silent delivers nothing: say so
        healthy = self.hub.healthy()
        self.set_header("Cache-Control", "no-store")
        self.set_status(200 if healthy else 503)
        self.write({"status": "ok" if healthy else "unavailable", "node_id": self.node_id,
                    "connections": len(self.hub.clients),
                    "subscription": "ok" if healthy else "down"})

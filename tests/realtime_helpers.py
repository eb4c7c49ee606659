"""Real processes and websocket clients for the end-to-end realtime tests.

- :func:`write_config`: a temp ini (``use = egg:absensi``) with shortened intervals, handed
  to every child process as ``ABSENSI_CONFIG``.
- :class:`Gateway`: ``python -m wsgate`` on a free loopback port.
- :class:`Socket`: a websocket-client connection speaking contract §4, with bounded reads.
- :class:`Stack`: every process and socket a test starts, stopped together at teardown.
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import redis
import websocket

from cluster.ports import free_port, wait_until
from tests.tasks_helpers import scheduler_process, worker_process
from webapp.servers import heartbeats
from webapp.settings import REPO_ROOT

#: a read that gets nothing for this long fails the test instead of hanging it
RECV_TIMEOUT = 10
#: longest single socket read inside :meth:`Socket.recv`
READ_SLICE = 0.5
#: how long processes get for a clean SIGTERM stop before SIGKILL
STOP_TIMEOUT = 20


def write_config(path, **settings):
    """An ini for the child processes; keys use ``__`` for dots (``outbox__sweep...``)."""
    lines = ["[app:main]", "use = egg:absensi"]
    lines += [f"{key.replace('__', '.')} = {value}" for key, value in settings.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


class Gateway:
    """One ``python -m wsgate`` child process; :meth:`start` waits for its Redis subscription."""

    def __init__(self, *, redis_url, secret, config, workdir, node_id="gateway-e2e"):
        self.redis_url, self.secret, self.config, self.node_id = redis_url, secret, config, node_id
        self.port = free_port()
        self.log_path = Path(workdir) / f"{node_id}-{self.port}.log"
        self.process = None

    @property
    def url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self):
        env = dict(os.environ, REDIS_URL=self.redis_url, SECRET_KEY=self.secret,
                   GATEWAY_PORT=str(self.port), GATEWAY_ID=self.node_id,
                   ABSENSI_CONFIG=str(self.config), PYTHONUNBUFFERED="1")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "wsgate"], cwd=REPO_ROOT, env=env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        try:
            wait_until(lambda: self.subscribed_count() >= 1 or not self.alive(), timeout=20,
                       what="gateway subscription")
        except Exception:
            raise AssertionError(self.output()) from None
        assert self.alive(), self.output()
        return self

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def subscribed_count(self):
        """How many times the hub (re)subscribed to Redis pub/sub, from its log."""
        return self.output().count("subscribed to absensi:live")

    def output(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def terminate(self):
        if self.alive():
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        _wait_or_kill(self.process, timeout, lambda: self.process.kill())

    def stop(self, timeout=10):
        self.terminate()
        self.wait(timeout)

    def health(self):
        """``(status, body)`` of the gateway's own ``/healthz``."""
        url = f"http://127.0.0.1:{self.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:  # 503: not subscribed to Redis
            return error.code, json.loads(error.read())


def _wait_or_kill(process, timeout, kill):
    if process is None or process.poll() is not None:
        return
    try:
        process.wait(timeout=max(timeout, 0.1))
    except subprocess.TimeoutExpired:
        kill()
        process.wait(timeout=10)


class Closed(AssertionError):
    """The server closed the socket where a frame was expected (code and reason kept)."""

    def __init__(self, code, reason):
        super().__init__(f"socket closed by the server: {code} {reason!r}")
        self.code, self.reason = code, reason


def close_of(frame_data):
    """``(code, reason)`` of a close frame's payload (1005: no code given)."""
    if len(frame_data) < 2:
        return 1005, ""
    return struct.unpack("!H", frame_data[:2])[0], frame_data[2:].decode("utf-8", "replace")


def parse_frame(opcode, data):
    """A received text frame as a dict; a close frame raises :class:`Closed`."""
    if opcode == websocket.ABNF.OPCODE_CLOSE:
        raise Closed(*close_of(data))
    return json.loads(data)


class Socket:
    """A websocket client of contract §4. Every event frame it reads is kept in ``events``."""

    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=RECV_TIMEOUT, suppress_origin=True)
        self.events = []

    def send(self, **frame):
        self.ws.send(json.dumps(frame))

    def recv(self, timeout=RECV_TIMEOUT):
        """The next frame, as a dict; raises ``WebSocketTimeoutException`` after *timeout*
        and :class:`Closed` when the server closes the socket instead."""
        deadline = time.monotonic() + timeout
        while True:
            # Short reads: websocket-client answers a server ping inside recv() and then
            # waits afresh, so one long socket timeout would never expire on a pinged socket.
            self.ws.settimeout(min(max(deadline - time.monotonic(), 0.01), READ_SLICE))
            try:
                opcode, data = self.ws.recv_data()
                break
            except websocket.WebSocketTimeoutException:
                if time.monotonic() >= deadline:
                    raise
        frame = parse_frame(opcode, data)
        if frame.get("op") == "event":
            self.events.append(frame)
        return frame

    def auth(self, token):
        self.send(op="auth", token=token)
        ready = self.recv()
        assert ready["op"] == "ready", ready
        return ready

    def subscribe(self, channel, since=None):
        self.send(op="subscribe", channel=channel, **({"since": since} if since else {}))
        reply = self.recv()
        assert reply["op"] == "subscribed" and reply["channel"] == channel, reply
        return reply

    def next_event(self, timeout=RECV_TIMEOUT):
        frame = self.recv(timeout)
        assert frame["op"] == "event", frame
        return frame

    def wait_for(self, event_id, timeout=RECV_TIMEOUT):
        """Read until the frame of *event_id* arrives; return it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"event {event_id} not received in {timeout} s; "
                                     f"got {[f['event_id'] for f in self.events]}")
            try:
                frame = self.recv(remaining)
            except websocket.WebSocketTimeoutException:
                continue
            if frame.get("event_id") == event_id:
                return frame

    def drain(self, seconds):
        """Read whatever arrives within *seconds*; return those frames."""
        frames, deadline = [], time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                frames.append(self.recv(remaining))
            except websocket.WebSocketTimeoutException:
                break
        return frames

    def close(self):
        try:
            self.ws.close(timeout=1)
        except (websocket.WebSocketException, OSError):
            pass


class Stack:
    """The processes and sockets of one test, on one database and one Redis by default.

    :meth:`close` stops them all at once (SIGTERM to every process first, then the waits),
    so a test's teardown costs one shutdown, not one per process.
    """

    def __init__(self, *, database_url, redis_url, secret, workdir):
        self.database_url, self.redis_url, self.secret = database_url, redis_url, secret
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = write_config(
            self.workdir / "e2e.ini",
            # quick relay sweeps and heartbeats keep the fault tests short
            outbox__sweep_interval_seconds="0.5", outbox__sweep_min_age_seconds="0.5",
            heartbeat__interval_seconds="1",
        )
        self.gateways, self.processes, self.sockets = [], [], []

    # -- processes -----------------------------------------------------------------
    def gateway(self, node_id="gateway-e2e", redis_url=None):
        gateway = Gateway(redis_url=redis_url or self.redis_url, secret=self.secret,
                          config=self.config, workdir=self.workdir, node_id=node_id)
        self.gateways.append(gateway)
        return gateway.start()

    def _start(self, make_process, node_id, redis_url):
        process = make_process(node_id=node_id, database_url=self.database_url,
                               redis_url=redis_url or self.redis_url,
                               env={"ABSENSI_CONFIG": str(self.config)})
        self.processes.append(process)
        return process.start()

    def worker(self, node_id="worker-e2e", redis_url=None, wait=True):
        """``absensi worker`` (one process, two threads); by default waits for its heartbeat."""
        worker = self._start(worker_process, node_id, redis_url)
        if wait:
            self.wait_alive(worker, node_id, redis_url)
        return worker

    def scheduler(self, node_id="scheduler-e2e", redis_url=None, wait=True):
        """``absensi scheduler`` (relay sweep every 0.5 s); by default waits for its heartbeat."""
        scheduler = self._start(scheduler_process, node_id, redis_url)
        if wait:
            self.wait_alive(scheduler, node_id, redis_url)
        return scheduler

    def wait_alive(self, process, node_id, redis_url=None, timeout=30):
        client = redis.Redis.from_url(redis_url or self.redis_url, decode_responses=True)
        try:
            wait_until(lambda: node_id in {n["node_id"] for n in heartbeats.live_nodes(client)}
                       or not process.alive(), timeout=timeout, what=f"{node_id} heartbeat")
            assert process.alive(), process.output()
        except Exception:
            raise AssertionError(process.output()) from None
        finally:
            client.close()

    # -- clients -------------------------------------------------------------------
    def connect(self, gateway, token, *channels, since=None):
        """A socket on *gateway*, authenticated with *token* and subscribed to *channels*."""
        sock = Socket(gateway.url)
        self.sockets.append(sock)
        sock.auth(token)
        for channel in channels:
            sock.subscribe(channel, since=since)
        return sock

    # -- teardown ------------------------------------------------------------------
    def close(self):
        for sock in self.sockets:
            sock.close()
        for process in self.processes:
            if process.alive():
                process.process.send_signal(signal.SIGTERM)
        for gateway in self.gateways:
            gateway.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in self.processes:
            _wait_or_kill(process.process, deadline - time.monotonic(), process.kill)
            process.log.unlink(missing_ok=True)
        for gateway in self.gateways:
            gateway.wait(deadline - time.monotonic())
        self.sockets, self.processes, self.gateways = [], [], []


def realtime_token(app):
    """A realtime token for the user logged in on WebTest *app* (``POST /api/realtime/token``)."""
    return app.post("/api/realtime/token", status=200).json["token"]

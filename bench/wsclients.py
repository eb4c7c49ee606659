"""Websocket clients, each run in its own process (``python -m bench.wsclients MODE``).

- ``listen``: one admin socket subscribed to ``attendances`` (through nginx, as the
  dashboard would be); records when each ``attendance.created`` event arrives until told
  to stop on stdin.
- ``fanout``: N sockets to one URL (a gateway, or nginx in front of it), each
  authenticated and subscribed to ``attendances``; then records when each one receives
  the event with a given ``event_id``. Several such processes share a large N.

The process reads its job (one JSON line) on stdin and answers with JSON lines on stdout:
``{"ready": ...}`` once connected, then the result. Timestamps are ``time.monotonic()``,
comparable with the other processes' on Linux. Every wait is bounded.

:class:`Listener` and :func:`fanout` are the parent's side.
"""
import asyncio
import base64
import collections
import json
import os
import resource
import struct
import subprocess
import sys
import threading
import time
import urllib.parse

from bench import REPO_ROOT

RECV_POLL_SECONDS = 0.2


def raise_fd_limit(wanted):
    """Raise this process's soft RLIMIT_NOFILE towards *wanted* (never above the hard
    limit); children started afterwards inherit it. Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# -- listen: the admin dashboard during the rush -------------------------------------

def _listen(job):
    import websocket

    ws = websocket.create_connection(job["url"], timeout=10, origin=job.get("origin"))
    ws.send(json.dumps({"op": "auth", "token": job["token"]}))
    ready = json.loads(ws.recv())
    if ready.get("op") != "ready":
        raise SystemExit(f"auth refused: {ready}")
    ws.send(json.dumps({"op": "subscribe", "channel": "attendances"}))
    subscribed = json.loads(ws.recv())
    if subscribed.get("op") != "subscribed":
        raise SystemExit(f"subscribe refused: {subscribed}")
    _emit({"ready": True})

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    deadline = time.monotonic() + float(job.get("max_seconds", 900))
    ws.settimeout(RECV_POLL_SECONDS)
    events, closed = [], None
    while not stop.is_set() and time.monotonic() < deadline:
        try:
            text = ws.recv()
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError) as error:
            closed = f"{type(error).__name__}: {error}"
            break
        received = time.monotonic()
        frame = json.loads(text)
        if frame.get("op") == "event":
            events.append([received, frame["event_id"], frame["event"],
                           (frame.get("data") or {}).get("id")])
    ws.close()
    _emit({"events": events, "closed": closed})


class Listener:
    """The parent's handle on a ``listen`` process: started, ready, then :meth:`stop`
    returns ``{"events": [[t, event_id, event, attendance_id], ...], "closed"}``."""

    def __init__(self, *, url, token, origin):
        self.job = {"url": url, "token": token, "origin": origin}
        self.process = None

    def start(self, timeout=30):
        # stdin stays open: "stop" is sent on it later
        self.process = _spawn("listen", self.job, close_stdin=False)
        try:
            line = _readline(self.process, timeout)
            if not json.loads(line).get("ready"):
                raise RuntimeError(f"listener not ready: {line}")
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout=30):
        try:
            out, err = self.process.communicate("stop\n", timeout=timeout)
        except BaseException:
            self.kill()
            raise
        if self.process.returncode != 0:
            raise RuntimeError(f"listener failed:\n{err[-3000:]}")
        return json.loads(out.strip().splitlines()[-1])

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def _spawn(mode, job, *, close_stdin):
    """``python -m bench.wsclients MODE`` in its own process, handed *job* on stdin."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.wsclients", mode], cwd=REPO_ROOT, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdin.write(json.dumps(job) + "\n")
    if close_stdin:
        process.stdin.close()
    else:
        process.stdin.flush()
    return process


def _readline(process, timeout):
    """One stdout line of *process*, or RuntimeError after *timeout* seconds."""
    box = []
    reader = threading.Thread(target=lambda: box.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        process.kill()
        _, err = process.communicate(timeout=10)
        raise RuntimeError(f"no answer from {process.args[-1]} within {timeout} s:\n"
                           f"{(err or '')[-3000:]}")
    return box[0]


# -- fanout: N subscribers on one gateway ---------------------------------------------
#
# A lean client on asyncio's Protocol (handshake and frames by hand, RFC 6455): with
# tornado's client each received frame cost ~200 µs of this process's CPU, on the same two
# cores as the gateway and nginx it measures; here it is a buffer append and a search.

def _client_frame(opcode, payload):
    """A masked client frame (RFC 6455 §5.3); *payload* is bytes."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big") if length else 0
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big") if length else b""
    return header + mask + masked


class _LeanSocket(asyncio.Protocol):
    """One websocket: handshake, then frames; ``next_text()`` until it is told the marker,
    then it only records when the marker arrives (answering pings meanwhile)."""

    def __init__(self, loop):
        self.loop = loop
        self.transport = None
        self.buffer = bytearray()
        self.handshaken = loop.create_future()
        self.texts = collections.deque()
        self.waiter = None
        self.marker = None
        self.received = loop.create_future()
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buffer += data
        if not self.handshaken.done():
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[:end]).split(b"\r\n", 1)[0]
            del self.buffer[:end + 4]
            if b" 101 " not in status + b" ":
                self.handshaken.set_exception(RuntimeError(status.decode(errors="replace")))
                return
            self.handshaken.set_result(None)
        self._frames()

    def _frames(self):
        buffer = self.buffer
        while len(buffer) >= 2:
            opcode, length, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            if opcode == 0x9:  # ping: pong with its payload, or the gateway closes us
                self.transport.write(_client_frame(0xA, payload))
            elif opcode == 0x8:
                self._lost(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            elif opcode == 0x1:
                self._text(payload)

    def _text(self, payload):
        if self.marker is not None:
            if self.marker in payload and not self.received.done():
                self.received.set_result(time.monotonic())
            return
        self.texts.append(payload)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next_text(self, timeout):
        while not self.texts:
            if self.closed:
                raise ConnectionError("socket closed")
            self.waiter = self.loop.create_future()
            await asyncio.wait_for(self.waiter, timeout)
        return json.loads(self.texts.popleft())

    def send_text(self, text):
        self.transport.write(_client_frame(0x1, text.encode()))

    def _lost(self, why):
        self.closed = True
        for future in (self.handshaken, self.waiter):
            if future is not None and not future.done():
                future.set_exception(ConnectionError(why))
        if not self.received.done():
            self.received.set_result(None)

    def connection_lost(self, exc):
        self._lost(f"connection lost: {exc}")

    def close(self):
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(_client_frame(0x8, struct.pack("!H", 1000)))
            self.transport.close()


async def _lean_connect(loop, url, timeout):
    parts = urllib.parse.urlsplit(url)
    protocol = _LeanSocket(loop)
    await asyncio.wait_for(
        loop.create_connection(lambda: protocol, parts.hostname, parts.port or 80), timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.transport.write(
        f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"\r\n".encode())
    try:
        await asyncio.wait_for(protocol.handshaken, timeout)
    except BaseException:
        protocol.close()
        raise
    return protocol


async def _fanout(job):
    loop = asyncio.get_running_loop()
    clients, marker = int(job["clients"]), int(job["event_id"])
    gate = asyncio.Semaphore(int(job.get("connect_concurrency", 100)))
    sockets, failures = [], []

    async def connect():
        async with gate:
            ws = None
            try:
                ws = await _lean_connect(loop, job["url"], 20)
                ws.send_text(json.dumps({"op": "auth", "token": job["token"]}))
                ready = await ws.next_text(20)
                ws.send_text(json.dumps({"op": "subscribe", "channel": "attendances"}))
                subscribed = await ws.next_text(20)
                if ready.get("op") != "ready" or subscribed.get("op") != "subscribed":
                    raise RuntimeError(f"refused: {ready} {subscribed}")
                sockets.append(ws)
            except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                failures.append(f"{type(error).__name__}: {error}")
                if ws is not None:
                    ws.close()

    began = time.monotonic()
    await asyncio.gather(*(connect() for _ in range(clients)))
    needle = f'"event_id":{marker},'.encode()
    for ws in sockets:
        # anything that arrived meanwhile is checked too, then frames as they come
        ws.marker = needle
        for payload in ws.texts:
            ws._text(payload)
        ws.texts.clear()
    _emit({"ready": len(sockets), "failed": len(failures), "errors": failures[:5],
           "connect_seconds": time.monotonic() - began})

    wait = float(job.get("timeout", 60))
    done, _ = await asyncio.wait([ws.received for ws in sockets], timeout=wait) \
        if sockets else (set(), set())
    received = [f.result() for f in done if f.result() is not None]
    _emit({"received": received, "missing": len(sockets) - len(received)})
    for ws in sockets:
        ws.close()
    await asyncio.sleep(0.5)


class Fanout:
    """The parent's handle on a ``fanout`` process: :meth:`connect` (returns the ready
    report), then :meth:`result` after the event was published."""

    def __init__(self, *, url, token, clients, event_id, timeout=60, connect_concurrency=100):
        self.job = {"url": url, "token": token, "clients": clients, "event_id": event_id,
                    "timeout": timeout, "connect_concurrency": connect_concurrency}
        self.process = None

    def connect(self, timeout=300):
        return self.start().ready(timeout)

    def start(self):
        """Start the process; it connects meanwhile (several can connect at once)."""
        self.process = _spawn("fanout", self.job, close_stdin=True)
        return self

    def ready(self, timeout=300):
        """The ready report (``ready``, ``failed``, ``errors``, ``connect_seconds``)."""
        try:
            return json.loads(_readline(self.process, timeout))
        except BaseException:
            self.close(timeout=0.1)
            raise

    def result(self, timeout=120):
        """The receive times (once every socket has the event, or the job's timeout)."""
        return json.loads(_readline(self.process, timeout))

    def close(self, timeout=30):
        """Let the process close its sockets and exit (killed if it takes too long)."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def main(argv=None):
    mode = (argv or sys.argv[1:] or [""])[0]
    job = json.loads(sys.stdin.readline())
    if mode == "listen":
        _listen(job)
    elif mode == "fanout":
        raise_fd_limit(int(job["clients"]) + 256)
        asyncio.run(_fanout(job))
    else:
        raise SystemExit("usage: python -m bench.wsclients listen|fanout < job.json")


if __name__ == "__main__":
    main()

"""Websocket clients, each run in its own process (``python -m bench.wsclients MODE``).

- ``listen``: one admin socket subscribed to ``attendances`` (through nginx, as the
  dashboard would be); records when each ``attendance.created`` event arrives until told
  to stop on stdin.
- ``fanout``: N sockets straight to one gateway, each authenticated and subscribed to
  ``attendances``; then records when each one receives the event with a given
  ``event_id``.

The process reads its job (one JSON line) on stdin and answers with JSON lines on stdout:
``{"ready": ...}`` once connected, then the result. Timestamps are ``time.monotonic()``,
comparable with the other processes' on Linux. Every wait is bounded.

:class:`Listener` and :func:`fanout` are the parent's side.
"""
import asyncio
import json
import resource
import subprocess
import sys
import threading
import time

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

async def _fanout(job):
    from tornado.websocket import websocket_connect

    clients, marker = int(job["clients"]), int(job["event_id"])
    gate = asyncio.Semaphore(int(job.get("connect_concurrency", 100)))
    sockets, failures = [], []

    async def connect():
        async with gate:
            try:
                ws = await websocket_connect(job["url"], connect_timeout=20, ping_interval=None)
                ws.write_message(json.dumps({"op": "auth", "token": job["token"]}))
                ready = json.loads(await asyncio.wait_for(ws.read_message(), 20))
                ws.write_message(json.dumps({"op": "subscribe", "channel": "attendances"}))
                subscribed = json.loads(await asyncio.wait_for(ws.read_message(), 20))
                if ready.get("op") != "ready" or subscribed.get("op") != "subscribed":
                    raise RuntimeError(f"refused: {ready} {subscribed}")
                sockets.append(ws)
            except Exception as error:  # noqa: BLE001 - counted and reported, never hidden
                failures.append(f"{type(error).__name__}: {error}")

    began = time.monotonic()
    await asyncio.gather(*(connect() for _ in range(clients)))
    _emit({"ready": len(sockets), "failed": len(failures), "errors": failures[:5],
           "connect_seconds": time.monotonic() - began})

    async def wait_for_marker(ws):
        while True:
            text = await ws.read_message()
            if text is None:
                return None
            if f'"event_id":{marker},' in text:
                return time.monotonic()

    wait = float(job.get("timeout", 60))
    try:
        times = await asyncio.wait_for(
            asyncio.gather(*(wait_for_marker(ws) for ws in sockets), return_exceptions=True),
            wait)
    except asyncio.TimeoutError:
        times = []
    received = [t for t in times if isinstance(t, float)]
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
        self.process = _spawn("fanout", self.job, close_stdin=True)
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

"""Admin dashboards open during the rush, each doing what ``dashboard.js`` does.

One process (``python -m bench.dashboards``) runs N dashboards on asyncio. Each one, like
the page: subscribes to ``attendances`` and ``summaries`` through nginx, loads
``GET /api/attendances/today?branch=CODE`` once per branch (counts and their
``summary_versions``), then only applies what arrives: attendance rows by id, and a
pushed summary when its version is at least the one held; it reloads over HTTP only on
``recovered: false``. On "stop" (stdin) it reports every dashboard's final counts and how
many HTTP requests it made, so the parent can compare them with the database.

:class:`Dashboards` is the parent's side; :func:`database_counts` the truth to compare with.
"""
import asyncio
import json
import subprocess
import sys
import threading
import time

from bench import REPO_ROOT

COUNT_KEYS = ("employees", "checked_in", "late", "checked_out", "not_checked_in", "on_leave")


class _Board:
    def __init__(self, job, http):
        self.job, self.http = job, http
        self.summaries, self.versions, self.rows = {}, {}, {}
        self.requests, self.events, self.closed = 0, 0, None

    async def load(self):
        from tornado.httpclient import HTTPRequest

        for code in self.job["branches"]:
            self.requests += 1
            response = await self.http.fetch(HTTPRequest(
                f"{self.job['http']}/api/attendances/today?branch={code}",
                headers=self.job["headers"], request_timeout=60))
            body = json.loads(response.body)
            self.summaries[code] = {k: body["summary"][k] for k in COUNT_KEYS}
            self.versions[code] = (body.get("summary_versions") or {}).get(code, 0)

    def apply(self, frame):
        if frame.get("op") == "subscribed" and frame.get("recovered") is False:
            return "reload"
        if frame.get("op") != "event":
            return None
        self.events += 1
        data = frame.get("data") or {}
        if frame["channel"] == "summaries":
            code = data["branch"]
            if data.get("version", 0) >= self.versions.get(code, 0):
                self.versions[code] = data.get("version", 0)
                self.summaries[code] = {k: data["summary"][k] for k in COUNT_KEYS}
        else:
            self.rows[data.get("id")] = data
        return None

    async def run(self, stop):
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        ws = await websocket_connect(HTTPRequest(self.job["ws"], headers={
            "Origin": self.job["origin"]}, connect_timeout=60, request_timeout=60))
        ws.write_message(json.dumps({"op": "auth", "token": self.job["token"]}))
        await ws.read_message()
        channels = {"attendances", "summaries"}
        for channel in channels:
            ws.write_message(json.dumps({"op": "subscribe", "channel": channel}))
        # load once both subscriptions are live: nothing can fall between the two
        while channels:
            frame = json.loads(await ws.read_message())
            if frame.get("op") == "subscribed":
                channels.discard(frame["channel"])
            else:
                self.apply(frame)
        await self.load()
        while not stop.is_set():
            text = await ws.read_message()
            if text is None:
                self.closed = f"closed {ws.close_code} {ws.close_reason}"
                return
            if self.apply(json.loads(text)) == "reload":
                await self.load()

    def report(self):
        return {"summaries": self.summaries, "requests": self.requests,
                "events": self.events, "closed": self.closed}


async def _main(job):
    from tornado.httpclient import AsyncHTTPClient

    AsyncHTTPClient.configure(None, max_clients=max(10, job["dashboards"] * 4))
    http = AsyncHTTPClient()
    stop = asyncio.Event()
    boards = [_Board(job, http) for _ in range(job["dashboards"])]
    tasks = [asyncio.ensure_future(board.run(stop)) for board in boards]
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(board.versions for board in boards):
        await asyncio.sleep(0.05)
    sys.stdout.write(json.dumps({"ready": all(board.versions for board in boards)}) + "\n")
    sys.stdout.flush()
    await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline),
                           timeout=job.get("max_seconds", 1200))
    await asyncio.sleep(job.get("settle_seconds", 2))  # the last frames' way here
    stop.set()
    for task in tasks:
        task.cancel()
    sys.stdout.write(json.dumps({"boards": [board.report() for board in boards]}) + "\n")
    sys.stdout.flush()


class Dashboards:
    """N dashboards in their own process: :meth:`start` (all loaded and subscribed), then
    :meth:`stop` returns ``[{"summaries", "requests", "events", "closed"}, ...]``."""

    def __init__(self, stack, count):
        headers = stack.admin_headers()
        self.job = {"dashboards": count, "ws": stack.cluster.ws_url,
                    "origin": stack.cluster.base_url, "http": stack.cluster.base_url,
                    "headers": headers, "token": stack.realtime_token(headers),
                    "branches": sorted(database_counts(stack))}
        self.process = None

    def start(self, timeout=150):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.dashboards"], cwd=REPO_ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.process.stdin.write(json.dumps(self.job) + "\n")
        self.process.stdin.flush()
        try:
            box = []
            reader = threading.Thread(target=lambda: box.append(self.process.stdout.readline()),
                                      daemon=True)
            reader.start()
            reader.join(timeout)
            line = box[0] if box else ""
            if not line or not json.loads(line).get("ready"):
                raise RuntimeError(f"dashboards not ready: {line}")
        except BaseException:
            self.kill()
            raise
        return self

    def stop(self, timeout=60):
        try:
            out, err = self.process.communicate("stop\n", timeout=timeout)
        except BaseException:
            self.kill()
            raise
        if self.process.returncode != 0:
            raise RuntimeError(f"dashboards failed:\n{err[-3000:]}")
        return json.loads(out.strip().splitlines()[-1])["boards"]

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def database_counts(stack):
    """Every branch's Summary of today straight from the database (the same function as
    the HTTP answer and the pushed summaries)."""
    from webapp.attendance.today import summary
    from webapp.branches.services import all_branches

    with stack.session_factory() as session:
        counts = {branch.code: summary(session, [branch]) for branch in all_branches(session)}
    return {code: {k: values[k] for k in COUNT_KEYS} for code, values in counts.items()}


def main():
    asyncio.run(_main(json.loads(sys.stdin.readline())))


if __name__ == "__main__":
    main()

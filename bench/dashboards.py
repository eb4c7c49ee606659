"""Admin dashboards open during the rush, each doing what ``dashboard.js`` does.

One process (``python -m bench.dashboards``) runs N dashboards on asyncio. Each one, like
the page: subscribes to ``attendances`` and ``summaries`` through nginx, loads
``GET /api/attendances/today?branch=CODE`` once per branch (counts and their
``summary_versions``), then only applies what arrives: attendance rows by id, and a
pushed summary when its version is at least the one held; it reloads over HTTP only on
``recovered: false``. On "stop" (stdin) it reports every dashboard's final counts and how
many HTTP requests it made (once every frame sent has arrived: each board reads until its
socket has been quiet for a moment), so the parent can compare them with the database.

:class:`Dashboards` is the parent's side; :func:`database_counts` the truth to compare with.
"""
import asyncio
import json
import subprocess
import sys
import threading
import time

from bench import REPO_ROOT
from bench.wsclients import _lean_connect

COUNT_KEYS = ("employees", "checked_in", "late", "checked_out", "not_checked_in", "on_leave")
#: after "stop", a board has seen everything once its socket was quiet this long
QUIET_SECONDS = 1.5
DRAIN_MAX_SECONDS = 120


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
        # the bench's lean client: tornado's costs ~200 us of CPU per frame, taken from
        # the servers on these same two cores (browsers run elsewhere)
        ws = await _lean_connect(asyncio.get_running_loop(), self.job["ws"], 60)
        try:
            ws.send_text(json.dumps({"op": "auth", "token": self.job["token"]}))
            await ws.next_text(60)
            channels = {"attendances", "summaries"}
            for channel in channels:
                ws.send_text(json.dumps({"op": "subscribe", "channel": channel}))
            # load once both subscriptions are live: nothing can fall between the two
            while channels:
                frame = await ws.next_text(60)
                if frame.get("op") == "subscribed":
                    channels.discard(frame["channel"])
                else:
                    self.apply(frame)
            await self.load()
            while True:
                try:
                    frame = await ws.next_text(QUIET_SECONDS if stop.is_set() else 5)
                except asyncio.TimeoutError:
                    if stop.is_set():
                        return  # quiet since the stop: every frame has arrived
                    continue
                if self.apply(frame) == "reload":
                    await self.load()
        except ConnectionError as error:
            self.closed = str(error)
        finally:
            ws.close()

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
    stop.set()  # each board reads on until its socket stays quiet
    await asyncio.wait(tasks, timeout=DRAIN_MAX_SECONDS)
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

    def stop(self, timeout=DRAIN_MAX_SECONDS + 60):
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

"""Issue 4's acceptance tests against the running cluster, all through nginx:

- a morning rush: many employees check in at once, the four city nodes serve it and an
  admin's websocket gets every ``attendance.created`` exactly once;
- a web node SIGKILLed in the middle of a stream of logins and check-ins: no client sees
  a failure (nginx retries on another node), nobody gets two attendances, and the node
  rejoins the rotation after its restart;
- the gateway restarted under a subscribed admin: the client reconnects and recovers, in
  order, the events made while the gateway was down.

The cluster is shared by the whole session, so every test makes its own employees (fresh
e-mails: no check-in of theirs exists yet today) and looks only at the events of its own
attendances; other events on the channel are allowed to interleave.
"""
import collections
import concurrent.futures
import json
import queue
import re
import threading
import time
import uuid

import pytest
import redis
import websocket

from cluster.topology import web_node_id
from tests.cluster.conftest import Client
from realtime import streams

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(240)]

BRANCHES = ("JKT", "BDG", "SBY", "DPS")
PASSWORD = "rahasia-pagi-123"
CHECK_IN = "/api/attendance/check-in"
#: bound on waiting for events at the admin's websocket (the relay sweep needs a few seconds)
EVENT_WAIT = 30
#: HTTP client timeout: as long as nginx waits for a node (proxy_read_timeout), so a slow
#: answer on a loaded machine is not mistaken for a failure
HTTP_TIMEOUT = 30


# -- employees over HTTP -----------------------------------------------------------------

Employee = collections.namedtuple("Employee", "id email branch")


def in_parallel(function, items, workers=8):
    """``[function(item) ...]`` on a thread pool, in the order of *items*."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))


def create_employees(admin, count, label):
    """*count* new employees, spread evenly over the four branches, created by *admin*."""
    tag = uuid.uuid4().hex[:8]

    def create(i):
        email = f"{label}-{tag}-{i}@example.com"
        status, _, body = admin.post("/api/users", {
            "name": f"{label.title()} {i}", "email": email, "password": PASSWORD,
            "role": "employee", "branch": BRANCHES[i % len(BRANCHES)],
        }, timeout=HTTP_TIMEOUT)
        assert status == 201, body
        return Employee(body["id"], email, body["branch"]["code"])

    return in_parallel(create, range(count), workers=4)


def log_in(base_url, employee):
    """A device of *employee*: its own cookie jar, logged in, with the CSRF header set."""
    session = Client(base_url)
    session.timeout = HTTP_TIMEOUT
    session.login(employee.email, PASSWORD)
    return session


def check_in(session):
    """``POST /api/attendance/check-in`` with a new ``Idempotency-Key``: (status, headers, body)."""
    return session.post(CHECK_IN, headers={"Idempotency-Key": str(uuid.uuid4())},
                        timeout=HTTP_TIMEOUT)


def checked_in(session):
    """Check in, insist on 201 and return the Attendance."""
    status, _, body = check_in(session)
    assert status == 201, body
    return body["attendance"]


# -- the admin's websocket ----------------------------------------------------------------

class AttendanceFeed:
    """An admin's websocket on ``attendances`` through nginx, read by a background thread.

    It behaves like the pages' realtime client: on a close or a drop it reconnects with
    exponential backoff, asks for a new token every time and resubscribes with the last
    offset it saw. Every frame is kept with the number of the connection that brought it.
    """

    BACKOFF_FIRST, BACKOFF_MAX = 0.2, 2.0

    def __init__(self, cluster):
        self.cluster = cluster
        self.admin = Client(cluster.base_url)  # its own session: it runs in its own thread
        self.admin.login()
        self.changed = threading.Condition()
        self.connection = 0       # how many times it got subscribed
        self.events = []          # (connection, event frame), in delivery order
        self.subscribed = []      # (connection, since asked, "subscribed" frame)
        self.closes = []          # (connection, close code, or None for a drop)
        self.tokens = []          # one per successful connection
        self.failed_connects = 0
        self.last_failure = None
        self.errors = []
        self.last_offset = None
        self._stop = threading.Event()
        self._thread = None

    # the test's side ------------------------------------------------------------------

    def start(self):
        """Connect and subscribe now (so the test acts only once subscribed), then read on."""
        ws = self._connect()
        assert ws is not None, f"no websocket: {self.errors}"
        self._thread = threading.Thread(target=self._run, args=(ws,), daemon=True,
                                        name="attendance-feed")
        self._thread.start()
        return self

    def close(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait(self, predicate, timeout, what):
        """Block until ``predicate()`` holds (checked under the lock), at most *timeout* s."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what}: not within {timeout} s (closes "
                                         f"{self.closes}, errors {self.errors}, last "
                                         f"failed connect {self.last_failure})")
                self.changed.wait(remaining)

    def wait_created(self, attendance_ids, timeout=EVENT_WAIT):
        """Wait for the ``attendance.created`` of every id, then a moment for duplicates."""
        wanted = set(attendance_ids)
        self.wait(lambda: wanted <= {f["data"]["id"] for _, f in self.events
                                     if f["event"] == "attendance.created"},
                  timeout, f"attendance.created of {len(wanted)} check-ins")
        time.sleep(0.5)  # a duplicate frame would arrive right behind the first

    def frames_for(self, attendance_ids, connection=None):
        """The event frames about *attendance_ids*, in delivery order."""
        with self.changed:
            return [frame for conn, frame in self.events
                    if frame["data"]["id"] in attendance_ids
                    and connection in (None, conn)]

    # the reader thread ----------------------------------------------------------------

    def _notify(self, change):
        with self.changed:
            change()
            self.changed.notify_all()

    def _connect(self):
        """One attempt: new token, connect, auth, subscribe since the last offset seen."""
        since = self.last_offset
        try:
            status, _, body = self.admin.post("/api/realtime/token")
            if status != 200:
                raise ConnectionError(f"token: {status} {body}")
            ws = websocket.create_connection(self.cluster.ws_url, timeout=10,
                                             origin=self.cluster.base_url)
        except (OSError, websocket.WebSocketException) as exc:
            self._notify(lambda: setattr(self, "failed_connects", self.failed_connects + 1))
            self.last_failure = repr(exc)
            return None
        try:
            ws.send(json.dumps({"op": "auth", "token": body["token"]}))
            ready = json.loads(ws.recv())
            subscribe = {"op": "subscribe", "channel": "attendances"}
            if since is not None:
                subscribe["since"] = since
            ws.send(json.dumps(subscribe))
            reply = json.loads(ws.recv())
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            ws.close()
            self._notify(lambda: setattr(self, "failed_connects", self.failed_connects + 1))
            self.last_failure = repr(exc)
            return None
        if ready.get("op") != "ready" or reply.get("op") != "subscribed":
            ws.close()
            self._notify(lambda: self.errors.append((ready, reply)))
            return None

        def connected():
            self.connection += 1
            self.tokens.append(body["token"])
            self.subscribed.append((self.connection, since, reply))
        self._notify(connected)
        return ws

    def _run(self, ws):
        delay = self.BACKOFF_FIRST
        while not self._stop.is_set():
            if ws is None:
                if self._stop.wait(delay):
                    break
                delay = min(2 * delay, self.BACKOFF_MAX)
                ws = self._connect()
                if ws is not None:
                    delay = self.BACKOFF_FIRST
                continue
            ws = self._read(ws)
        if ws is not None:
            ws.close(timeout=1)

    def _read(self, ws):
        """Read one frame (0.5 s at most, so a stop is noticed); the socket, None once gone."""
        try:
            ws.settimeout(0.5)
            opcode, frame = ws.recv_data_frame()
        except websocket.WebSocketTimeoutException:
            return ws
        except (OSError, websocket.WebSocketException):
            self._notify(lambda: self.closes.append((self.connection, None)))
            ws.close()
            return None
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(frame.data[:2], "big") if len(frame.data) >= 2 else None
            self._notify(lambda: self.closes.append((self.connection, code)))
            ws.close()
            return None
        message = json.loads(frame.data)
        if message.get("op") == "event":
            def add():
                self.events.append((self.connection, message))
                self.last_offset = message["offset"]
            self._notify(add)
        else:
            self._notify(lambda: self.errors.append(message))
        return ws


@pytest.fixture()
def feed(cluster):
    """An admin subscribed to ``attendances`` (live from now on), closed after the test."""
    attendance_feed = AttendanceFeed(cluster).start()
    yield attendance_feed
    attendance_feed.close()


def offset_order(frames):
    """Offsets are stream ids ("<ms>-<seq>", README): comparable as pairs of integers."""
    return [streams.parse_offset(frame["offset"]) for frame in frames]


# -- 1. the morning rush ------------------------------------------------------------------

RUSH_SIZE = 40


def test_a_morning_rush_is_served_by_all_four_nodes_and_broadcast_once(cluster, admin, feed):
    # Given RUSH_SIZE (40) new employees over the four branches, each logged in on their
    # own device
    employees = create_employees(admin, RUSH_SIZE, "rush")
    sessions = in_parallel(lambda employee: log_in(cluster.base_url, employee), employees)
    # And an admin subscribed to the attendances channel (the feed fixture)

    # When they all check in at the same moment
    start = threading.Barrier(len(sessions), timeout=30)

    def check_in_together(session):
        start.wait()
        return check_in(session)

    answers = in_parallel(check_in_together, sessions, workers=len(sessions))

    # Then every check-in succeeded, for the employee who made it
    assert [status for status, _, _ in answers] == [201] * RUSH_SIZE, \
        [body for status, _, body in answers if status != 201]
    attendances = [body["attendance"] for _, _, body in answers]
    assert [a["user"]["id"] for a in attendances] == [e.id for e in employees]
    assert [a["branch"] for a in attendances] == [e.branch for e in employees]
    # And each was recorded by the node that answered, and all four city nodes took part
    assert [a["check_in_node"] for a in attendances] == \
        [headers["X-Node-Id"] for _, headers, _ in answers]
    assert {a["check_in_node"] for a in attendances} == set(cluster.web_node_ids)

    # And the admin's websocket got each one's attendance.created exactly once
    by_id = {a["id"]: a for a in attendances}
    feed.wait_created(by_id)
    frames = feed.frames_for(by_id)
    assert collections.Counter(f["event_id"] for f in frames) == \
        {f["event_id"]: 1 for f in frames}, "an event_id came twice"
    assert sorted(f["data"]["id"] for f in frames) == sorted(by_id), \
        "one event per check-in, no other"
    assert {f["event"] for f in frames} == {"attendance.created"}
    # carrying the attendance as the API returned it, from the node that wrote it
    assert all(f["data"] == by_id[f["data"]["id"]] for f in frames)
    assert all(f["node_id"] == f["data"]["check_in_node"] for f in frames)
    assert offset_order(frames) == sorted(offset_order(frames))
    assert feed.closes == [] and feed.errors == []


# -- 2. a web node crashes while check-ins stream in --------------------------------------

STREAM_CLIENTS = 8
STREAM_POOL = 48
#: check-ins made before the crash, and the least the stream goes on after it
BEFORE_KILL, AFTER_KILL_SECONDS, AFTER_KILL_MIN = 8, 3.0, 8
VICTIM = 3
_ACCESS_LINE = re.compile(r"rid=(?P<rid>\S+) upstream=(?P<upstream>.*?) ustatus=(?P<ustatus>.*?)"
                          r" rt=")


def retried_past(access_log, request_ids, port):
    """Access-log lines of *request_ids* that nginx first sent to *port*, then elsewhere."""
    retried = []
    for line in access_log.read_text(errors="replace").splitlines():
        match = _ACCESS_LINE.search(line)
        if match and match["rid"] in request_ids:
            upstreams = [u.strip() for u in match["upstream"].split(",")]
            if len(upstreams) > 1 and f"127.0.0.1:{port}" in upstreams[:-1]:
                retried.append(line)
    return retried


class CheckInStream:
    """A few clients, each looping: a fresh employee logs in on a new device and checks in.

    Clients never retry: any answer but 200 (login) / 201 (check-in), or any transport
    error, is recorded in ``failures`` as a request a user would have seen fail.
    """

    def __init__(self, base_url, employees, clients):
        self.base_url = base_url
        self.todo = queue.Queue()
        for employee in employees:
            self.todo.put(employee)
        self.lock = threading.Lock()
        self.done = []       # (employee, key, monotonic time, headers, attendance)
        self.failures = []
        self.request_ids = set()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True)
                        for _ in range(clients)]

    def start(self):
        for thread in self.threads:
            thread.start()
        return self

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self.threads), "a stream client hung"

    def count(self, after=None):
        with self.lock:
            return sum(1 for _, _, at, _, _ in self.done if after is None or at > after)

    def _client(self):
        while not self.stop.is_set():
            try:
                employee = self.todo.get_nowait()
            except queue.Empty:
                return
            self._log_in_and_check_in(employee)

    def _request(self, what, session, path, body=None, headers=None, expected=200):
        try:
            status, answer_headers, answer = session.post(path, body, headers=headers,
                                                          timeout=HTTP_TIMEOUT)
        except OSError as exc:  # urllib's URLError, a reset, a timeout
            with self.lock:
                self.failures.append((what, repr(exc)))
            return None
        with self.lock:
            self.request_ids.add(answer_headers.get("X-Request-Id"))
            if status != expected:
                self.failures.append((what, status, answer))
                return None
        return answer_headers, answer

    def _log_in_and_check_in(self, employee):
        session = Client(self.base_url)
        answer = self._request(f"login {employee.email}", session, "/api/login",
                               {"email": employee.email, "password": PASSWORD})
        if answer is None:
            return
        session.headers["X-CSRF-Token"] = answer[1]["csrf_token"]
        key = str(uuid.uuid4())
        answer = self._request(f"check-in {employee.email}", session, CHECK_IN,
                               headers={"Idempotency-Key": key}, expected=201)
        if answer is not None:
            with self.lock:
                self.done.append((employee, key, time.monotonic(), answer[0],
                                  answer[1]["attendance"]))


def wait_for(condition, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def test_a_web_node_killed_during_a_stream_of_check_ins_costs_no_request_nor_duplicate(
        cluster, admin, feed):
    # Given employees who have not checked in yet, and an admin watching attendances
    employees = create_employees(admin, STREAM_POOL, "stream")
    victim = web_node_id(VICTIM)

    # And clients logging them in and checking them in, one after another
    stream = CheckInStream(cluster.base_url, employees, STREAM_CLIENTS).start()
    try:
        wait_for(lambda: stream.count() >= BEFORE_KILL or stream.failures, 30,
                 "check-ins before the crash")

        # When node 3 is SIGKILLed (arbiter and workers) in the middle of the stream
        cluster.kill_web_node(VICTIM)
        killed_at = time.monotonic()

        # and the stream goes on for a few seconds
        wait_for(lambda: (time.monotonic() - killed_at >= AFTER_KILL_SECONDS
                          and stream.count(after=killed_at) >= AFTER_KILL_MIN)
                 or stream.todo.empty(), 30, "check-ins after the crash")
    finally:
        stream.finish()

    # Then no client saw a failed request: none ever had to retry (no retry logic here at
    # all), nginx's proxy_next_upstream carried every request to a live node
    assert stream.failures == []
    assert stream.count(after=killed_at) >= AFTER_KILL_MIN, "the stream ended too early"
    # and that happened: requests of this stream that nginx tried on the dead node first
    # were answered by another one
    access_log = cluster.run_dir / "logs" / "access.log"
    retried = retried_past(access_log, stream.request_ids, cluster.web_ports[VICTIM - 1])
    assert retried, f"no request of the stream was retried past {victim}"
    # and the dead node served nothing after the crash (a replayed answer may name it in
    # check_in_node: the check-in it committed just before dying)
    assert victim not in {headers["X-Node-Id"] for _, _, at, headers, _ in stream.done
                          if at > killed_at + 0.5}

    # And every employee who checked in has exactly one attendance today, the one answered
    def attendances_today(done):
        employee, _, _, _, attendance = done
        day = attendance["work_date"]
        status, _, page = admin.get(f"/api/attendances?user_id={employee.id}"
                                    f"&from={day}&to={day}")
        assert status == 200, page
        return page

    pages = in_parallel(attendances_today, stream.done)
    assert [(page["total"], [a["id"] for a in page["data"]]) for page in pages] == \
        [(1, [attendance["id"]]) for _, _, _, _, attendance in stream.done]

    # And each of those check-ins reached the admin's websocket exactly once (even one
    # committed by the node just before it died: the relay sweep publishes it)
    ids = {attendance["id"] for *_, attendance in stream.done}
    feed.wait_created(ids)
    frames = feed.frames_for(ids)
    assert sorted(f["data"]["id"] for f in frames) == sorted(ids)

    # When node 3 is restarted
    cluster.restart_web_node(VICTIM)

    # Then within a bounded time nginx sends it requests again
    def served_by_victim():
        status, headers, _ = admin.get("/api/me")
        assert status == 200
        return headers["X-Node-Id"] == victim

    wait_for(served_by_victim, 30, f"{victim} back in the rotation", interval=0.2)


# -- 3. the gateway restarts under a subscribed admin -------------------------------------

MADE_WHILE_DOWN = 5


def wait_in_history(cluster, since, attendance_ids, timeout=EVENT_WAIT):
    """Wait until the worker has put the events of *attendance_ids* into the channel's
    history (Redis), so the reconnecting client can only get them by replay."""
    client = redis.Redis.from_url(cluster.redis_url, decode_responses=True)
    try:
        def published():
            _, entries = streams.read_since(client, "attendances", since)
            return set(attendance_ids) <= {json.loads(e.frame)["data"]["id"] for e in entries}
        wait_for(published, timeout, "events in the history", interval=0.2)
    finally:
        client.close()


def test_an_admin_recovers_the_events_made_while_the_gateway_restarted(cluster, admin, feed):
    # Given employees on their devices
    employees = create_employees(admin, MADE_WHILE_DOWN + 2, "gateway")
    sessions = in_parallel(lambda employee: log_in(cluster.base_url, employee), employees)
    # And an admin subscribed to attendances who has seen a check-in
    first = checked_in(sessions[0])
    feed.wait_created([first["id"]])
    seen = feed.last_offset

    # When the gateway shuts down
    cluster.stop_process("gateway-1")

    # Then the admin's socket is closed with 1001 (going away)
    feed.wait(lambda: feed.closes, 10, "the close")
    assert feed.closes == [(1, 1001)]
    # And its reconnection attempts fail while the gateway is down
    feed.wait(lambda: feed.failed_connects >= 1, 10, "a failed reconnection attempt")

    # When employees check in meanwhile, and their events are in the history
    made_while_down = [checked_in(session) for session in sessions[1:1 + MADE_WHILE_DOWN]]
    down_ids = {a["id"] for a in made_while_down}
    wait_in_history(cluster, seen, down_ids)
    assert feed.connection == 1, "reconnected while the gateway was down?"

    # And the gateway is started again
    cluster.start_process("gateway-1")

    # Then the client reconnects, with a new token, and resubscribes from its last offset
    feed.wait(lambda: feed.connection >= 2, 15, "the reconnection")
    connection, since, reply = feed.subscribed[-1]
    assert (connection, since) == (2, seen)
    assert reply == {"op": "subscribed", "channel": "attendances", "recovered": True}
    assert len(set(feed.tokens)) == 2

    # And it gets every event made while it was away, once each, in order, before live
    # ones (one more check-in now is live)
    live = checked_in(sessions[-1])
    feed.wait_created(down_ids | {live["id"]})
    frames = feed.frames_for(down_ids | {live["id"]}, connection=2)
    assert sorted(f["data"]["id"] for f in frames[:MADE_WHILE_DOWN]) == sorted(down_ids)
    assert [f["data"]["id"] for f in frames[MADE_WHILE_DOWN:]] == [live["id"]]
    assert {f["event"] for f in frames} == {"attendance.created"}
    assert all(f["data"] == a for a in made_while_down + [live]
               for f in frames if f["data"]["id"] == a["id"])
    # and across the close, offsets only went forward: no event twice, none out of order
    everything = [frame for _, frame in feed.events]
    assert offset_order(everything) == sorted(set(offset_order(everything)))
    assert feed.closes == [(1, 1001)] and feed.errors == []

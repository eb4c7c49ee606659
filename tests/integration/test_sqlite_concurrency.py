"""Four concurrent clients on four real gunicorn nodes sharing one SQLite file (the default
``make run`` database): every request answers quickly and none fails.

A probe of the cluster saw plain GETs (``/api/me/attendances``, ``/readyz``) answer 504 after
30 s with four clients: every transaction, reads included, began with ``BEGIN IMMEDIATE``,
so reads queued for SQLite's single write lock behind each other and behind the writers
(busy_timeout 30 s), and ``/readyz`` with a session even waited on the lock its own
request's user lookup held. Reads now begin without the write lock (webapp/db.py).
"""
import os
import shutil
import threading
import time
import uuid
from collections import Counter

import pytest
import requests

from cluster import topology
from cluster.local_cluster import PER_PROCESS_VARIABLES
from cluster.ports import free_port, wait_until
from cluster.supervisor import Supervisor
from tests.conftest import TEST_SECRET, _settings
from tests.factories import Factory

pytestmark = pytest.mark.integration

NODES = 4
CLIENTS = 4
LOAD_SECONDS = 8
#: the slowest answer we accept; before the fix GETs waited up to busy_timeout (30 s)
MAX_SECONDS = 5.0
#: a request that takes this long counts as failed (and the test never hangs)
CLIENT_TIMEOUT = 15


@pytest.fixture()
def sqlite_nodes(sqlite_template, redis_client, redis_server, tmp_path):
    """Four gunicorn web nodes (one worker, four threads each) on one SQLite file."""
    database = tmp_path / "absensi.sqlite"
    shutil.copy(sqlite_template, database)
    database_url = f"sqlite:///{database}"
    specs = []
    for n in range(1, NODES + 1):
        spec = topology.web_spec(n, port=free_port(), root=topology.REPO_ROOT,
                                 workers="1", threads="4")
        spec.env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics" / spec.name)
        specs.append(spec)
    env = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
    env.update({
        "ABSENSI_CONFIG": str(topology.REPO_ROOT / "development.ini"),
        "DATABASE_URL": database_url, "REDIS_URL": redis_server.url,
        "SECRET_KEY": TEST_SECRET, "SESSION_COOKIE_SECURE": "false",
        "ABSENSI_DEMO": "0", "PYTHONUNBUFFERED": "1",
        "PATH": f"{topology.BIN}:{env.get('PATH', '/usr/bin:/bin')}",
    })
    supervisor = Supervisor(specs, env=env, cwd=topology.REPO_ROOT, log_dir=tmp_path / "logs")
    try:
        supervisor.start_all()
        for spec in specs:
            wait_until(lambda spec=spec: _ready(spec.port), timeout=60, what=spec.name)
        yield database_url, [f"http://127.0.0.1:{spec.port}" for spec in specs], supervisor
    finally:
        supervisor.stop_all(timeout=20)


def _ready(port):
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _users(database_url):
    from webapp.db import make_engine, make_session_factory

    engine = make_engine(_settings(database_url, "redis://127.0.0.1:1/0"))
    try:
        factory = Factory(make_session_factory(engine))
        admin = factory.admin(branch="JKT")
        employees = [factory.user(branch=branch) for branch in ("JKT", "BDG", "SBY")]
        return [admin, *employees]
    finally:
        engine.dispose()


class Client(threading.Thread):
    """One person's browser: logs in, then mixes reads and writes across the nodes (as
    nginx would spread them) until the deadline; records every answer and its duration."""

    def __init__(self, user, bases, deadline):
        super().__init__(daemon=True)
        self.user, self.bases, self.deadline = user, bases, deadline
        self.http = requests.Session()
        self.results = []  # (method, path, status or exception name, seconds)
        self.turn = 0

    def call(self, method, path, **kwargs):
        base = self.bases[self.turn % len(self.bases)]
        self.turn += 1
        started = time.monotonic()
        try:
            response = self.http.request(method, base + path, timeout=CLIENT_TIMEOUT, **kwargs)
            outcome = response.status_code
        except requests.RequestException as error:
            response, outcome = None, type(error).__name__
        self.results.append((method, path, outcome, time.monotonic() - started))
        return response

    def run(self):
        login = self.call("POST", "/api/login", json={"email": self.user["email"],
                                                      "password": self.user["password"]})
        if login is None or login.status_code != 200:
            return
        unsafe = {"X-CSRF-Token": login.json()["csrf_token"]}
        admin = self.user["role"] == "admin"
        while time.monotonic() < self.deadline:
            self.call("GET", "/api/me")
            self.call("GET", "/api/me/attendances")
            self.call("GET", "/readyz")  # with a live session: froze the database before
            self.call("POST", "/api/attendance/check-in", json={},
                      headers={**unsafe, "Idempotency-Key": str(uuid.uuid4())})
            self.call("GET", "/api/branches")
            self.call("POST", "/api/realtime/token", headers=unsafe)
            if admin:
                self.call("GET", "/api/attendances/today")
                self.call("GET", "/api/attendances?per_page=50")
                self.call("POST", "/api/users", headers=unsafe, json={
                    "name": "Karyawan Baru", "email": f"{uuid.uuid4().hex}@example.com",
                    "password": "correct-horse-battery", "branch": "BDG"})
            else:
                self.call("POST", "/api/attendance/check-out", json={}, headers=unsafe)


def test_four_clients_on_one_sqlite_file_never_wait_on_the_write_lock(sqlite_nodes):
    # Given four web nodes on one SQLite file, an admin and three employees
    database_url, bases, supervisor = sqlite_nodes
    users = _users(database_url)

    # When all four use the API at once for a few seconds, reads and writes mixed
    deadline = time.monotonic() + LOAD_SECONDS
    clients = [Client(user, bases, deadline) for user in users]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=LOAD_SECONDS + 4 * CLIENT_TIMEOUT)
    assert not any(client.is_alive() for client in clients), "a client hung"

    # Then every request was answered, none with 5xx, none slowly, on every node
    results = [result for client in clients for result in client.results]
    failed = [r for r in results if not isinstance(r[2], int) or r[2] >= 500]
    slow = sorted((r for r in results if r[3] > MAX_SECONDS), key=lambda r: -r[3])
    summary = Counter((method, path.split("?")[0], outcome)
                      for method, path, outcome, _ in results)
    durations = sorted(r[3] for r in results)
    print(f"\n{len(results)} requests, median {durations[len(durations) // 2]:.3f} s, "
          f"slowest {durations[-1]:.3f} s")
    assert len(results) >= 100, summary
    assert not failed, f"failed: {failed[:10]}\n{summary}"
    assert not slow, f"slower than {MAX_SECONDS} s: {slow[:10]}"
    assert summary[("POST", "/api/attendance/check-in", 201)] == CLIENTS
    assert not supervisor.exited(), {name: supervisor.log_tail(name)
                                     for name in supervisor.exited()}

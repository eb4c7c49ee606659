"""The whole local cluster (``make run``'s topology) on MariaDB, once per test session.

Tests marked ``cluster`` get :func:`running_cluster`: nginx on a free port in front of
four gunicorn nodes, a Dramatiq worker, the gateway, the scheduler and a private Redis,
with the demo data seeded. Tests that take nodes down must bring them back (the fixture
checks that every node answers again before the next test).
"""
import http.cookiejar
import json
import urllib.error
import urllib.request

import pytest

from cluster.run import Cluster

ADMIN = {"email": "admin@example.com", "password": "password"}


@pytest.fixture(scope="session")
def running_cluster(mariadb_server, tmp_path_factory):
    """A started :class:`cluster.run.Cluster` (``.base_url``, ``.ws_url``, node control)."""
    database = "absensi_cluster"
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database};")
    cluster = Cluster(
        var_dir=tmp_path_factory.mktemp("cluster"),
        database_url=mariadb_server.url_for(database),
        demo=True,
        # two cores: one process per node keeps start-up and the suite quick
        gunicorn_workers=1, gunicorn_threads=8,
        redis_appendonly=False,
    )
    cluster.start(timeout=120)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def cluster(running_cluster):
    """The session's cluster, checked whole again after the test."""
    yield running_cluster
    supervisor = running_cluster.supervisor
    down = [spec.name for spec in running_cluster.specs if not supervisor.alive(spec.name)]
    for name in down:
        running_cluster.start_process(name)
    running_cluster.wait_ready(timeout=60)
    if down:
        running_cluster.wait_balanced(timeout=30)


class Client:
    """A browser-like HTTP client for the load balancer: cookies, JSON, CSRF header.

    Loopback only: proxies from the environment are ignored.
    """

    def __init__(self, base_url):
        self.base_url = base_url
        self.headers = {}
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}),
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
        )

    def request(self, method, path, json_body=None, headers=None, timeout=10):
        """Return ``(status, headers, body)``; body is parsed JSON when the answer is JSON."""
        data = None if json_body is None else json.dumps(json_body).encode()
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=all_headers)
        try:
            response = self.opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            raw = response.read()
            body = json.loads(raw) if "json" in (response.headers["Content-Type"] or "") \
                else raw
            return response.status, response.headers, body

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json_body=None, **kwargs):
        return self.request("POST", path, json_body=json_body, **kwargs)

    def login(self, email=ADMIN["email"], password=ADMIN["password"]):
        status, _, body = self.post("/api/login", {"email": email, "password": password})
        assert status == 200, body
        self.headers["X-CSRF-Token"] = body["csrf_token"]
        return body


@pytest.fixture()
def client(cluster):
    """A fresh :class:`Client` on the cluster's load balancer."""
    return Client(cluster.base_url)


@pytest.fixture()
def admin(cluster):
    """A :class:`Client` logged in as the demo admin."""
    client = Client(cluster.base_url)
    client.login()
    return client

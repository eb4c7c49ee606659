"""The whole local cluster (``make run``'s topology) on MariaDB, once per test session.

Tests marked ``cluster`` get :func:`running_cluster`: nginx on a free port in front of
four gunicorn nodes, a Dramatiq worker, the gateway, the scheduler and a private Redis,
with the demo data seeded. Tests that take nodes down must bring them back (the fixture
checks that every node answers again before the next test).
"""
import pytest

from cluster.run import Cluster
from tests.http_client import HttpClient

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


class Client(HttpClient):
    """:class:`tests.http_client.HttpClient` on the cluster's front; logs in as the admin
    unless told otherwise."""

    def __init__(self, base_url):
        super().__init__(base_url, timeout=10)

    def login(self, email=ADMIN["email"], password=ADMIN["password"]):
        return super().login(email, password)


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

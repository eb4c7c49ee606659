"""Shared fixtures: real Redis and MariaDB servers started by the test session.

- ``redis_server`` / ``mariadb_server``: one private server per session (loopback, temp dir).
- ``redis_client``: a flushed database on the real Redis, per test.
- ``db_url``: a fresh, migrated SQLite database per test (a copy of one migrated file).
- ``mysql_db_url``: the session's migrated MariaDB database, emptied before each test.
- ``make_app`` / ``app``: WebTest apps over the whole Pyramid stack.
"""
import shutil

import pytest
import webtest
from sqlalchemy import create_engine, text

from tests.servers import MariaDBServer, RedisServer
from tests.factories import Factory
from webapp.settings import apply_environment

TEST_SECRET = "test-secret-key-that-is-long-enough-for-production-checks"
DATA_TABLES = ["outbox_events", "idempotency_keys", "attendance_audit", "leave_requests",
               "shift_assignments", "attendance_requests", "kiosk_code_uses", "kiosks",
               "attendances", "users"]


def _settings(database_url, redis_url, **overrides):
    raw = {
        "database.url": database_url,
        "redis.url": redis_url,
        "app.secret_key": TEST_SECRET,
        "app.node_id": "app-node-1",
        "heartbeat.enabled": "false",
    }
    raw.update(overrides)
    return apply_environment(raw, environ={})


def migrate(database_url):
    from webapp.migrations import upgrade

    upgrade(_settings(database_url, "redis://127.0.0.1:1/0"))


@pytest.fixture(scope="session")
def redis_server():
    with RedisServer() as server:
        yield server


@pytest.fixture()
def redis_client(redis_server):
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    path = tmp_path_factory.mktemp("db") / "template.sqlite"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture()
def db_url(sqlite_template, tmp_path):
    path = tmp_path / "absensi.sqlite"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture()
def session_factory(db_url):
    """Sessions on the test's own database, for calling services, actors and jobs directly."""
    from webapp.db import make_engine, make_session_factory

    engine = make_engine(_settings(db_url, "redis://127.0.0.1:1/0"))
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def mariadb_server():
    with MariaDBServer() as server:
        yield server


@pytest.fixture(scope="session")
def _mysql_migrated(mariadb_server):
    migrate(mariadb_server.url)
    return mariadb_server.url


@pytest.fixture()
def mysql_db_url(_mysql_migrated):
    engine = create_engine(_mysql_migrated)
    with engine.begin() as connection:
        connection.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in DATA_TABLES:
            connection.execute(text(f"TRUNCATE TABLE {table}"))
        connection.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    engine.dispose()
    return _mysql_migrated


@pytest.fixture()
def make_app(db_url, redis_client, redis_server):
    """Build a TestApp; keyword overrides are settings (``database_url=`` swaps the DB)."""
    from webapp.config import make_wsgi_app

    apps = []

    def factory(database_url=None, **overrides):
        settings = _settings(database_url or db_url, redis_server.url,
                             **{k.replace("__", "."): v for k, v in overrides.items()})
        wsgi = make_wsgi_app(settings)
        app = webtest.TestApp(wsgi, extra_environ={"REMOTE_ADDR": "203.0.113.7"})
        apps.append(wsgi)
        return app

    yield factory
    for wsgi in apps:
        wsgi.registry["db_engine"].dispose()


@pytest.fixture()
def app(make_app):
    return make_app()


@pytest.fixture()
def factory(app):
    """Rows made through the same services the app uses (see tests/factories.py)."""
    return Factory(app.app.registry["dbsession_factory"])


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Argon2 at production cost makes every factory user ~50 ms; tests need only the logic."""
    from argon2 import PasswordHasher

    from webapp.accounts import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original

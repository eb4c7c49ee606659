"""The web app against a real MariaDB and Redis: migrations, races across nodes, sessions."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest
from sqlalchemy import create_engine, func, inspect, select, text

from tests.factories import Factory, login
from webapp.attendance.models import Attendance
from webapp.events.models import OutboxEvent

pytestmark = pytest.mark.integration
NODES = ["app-node-1", "app-node-2", "app-node-3", "app-node-4"]


@pytest.fixture()
def cluster_apps(make_app, mysql_db_url):
    """Four app instances, one per node id, sharing one MariaDB and one Redis."""
    return [make_app(database_url=mysql_db_url, app__node_id=node) for node in NODES]


@pytest.fixture()
def mysql_factory(cluster_apps):
    return Factory(cluster_apps[0].app.registry["dbsession_factory"])


def _count(app, model, *where):
    with app.app.registry["dbsession_factory"]() as dbsession:
        return dbsession.scalar(select(func.count(model.id)).where(*where))


def _clients(apps, cookie, token, n):
    """``n`` independent WebTest clients spread over the nodes, all in one session."""
    clients = []
    for i in range(n):
        client = webtest.TestApp(apps[i % len(apps)].app,
                                 extra_environ={"HTTP_X_CSRF_TOKEN": token})
        client.set_cookie("absensi_session", cookie)
        clients.append(client)
    return clients


def _all_at_once(clients, call):
    barrier = threading.Barrier(len(clients))

    def run(client):
        barrier.wait(timeout=30)
        return call(client)

    with ThreadPoolExecutor(len(clients)) as pool:
        return list(pool.map(run, clients, timeout=120))


def head_revision():
    from alembic.script import ScriptDirectory

    from webapp.migrations import alembic_config

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.mark.parametrize("how", ["fresh", "concurrently"])
def test_migrations_from_empty_on_mariadb(mariadb_server, how):
    from webapp.migrations import upgrade
    from tests.conftest import _settings

    name = f"absensi_migrations_{how}"
    mariadb_server.sql(f"DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name};")
    url = mariadb_server.url_for(name)
    settings = _settings(url, "redis://127.0.0.1:1/0")
    if how == "fresh":
        upgrade(settings)
        upgrade(settings)  # a second run is a no-op
    else:
        # Four nodes deploying at once take turns on the migration lock
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: upgrade(settings), range(4), timeout=120))
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"branches", "users", "attendances", "idempotency_keys", "outbox_events",
                "alembic_version"} <= tables
        with engine.connect() as connection:
            codes = connection.execute(text("SELECT code FROM branches ORDER BY id")).scalars()
            assert list(codes) == ["JKT", "BDG", "SBY", "DPS"]
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() \
                == head_revision()
        uniques = inspect(engine).get_unique_constraints("attendances")
        assert [u["column_names"] for u in uniques] == [["user_id", "work_date"]]
    finally:
        engine.dispose()


def test_migrations_from_empty_on_sqlite(tmp_path):
    from webapp.migrations import upgrade
    from tests.conftest import _settings

    url = f"sqlite:///{tmp_path}/fresh.sqlite"
    upgrade(_settings(url, "redis://127.0.0.1:1/0"))
    engine = create_engine(url)
    assert {"branches", "users", "attendances", "outbox_events"} <= \
        set(inspect(engine).get_table_names())
    engine.dispose()


def test_concurrent_check_ins_on_four_nodes_make_one_attendance(cluster_apps, mysql_factory):
    # Given one employee logged in (the session is valid on every node)
    first = cluster_apps[0]
    token = login(first, mysql_factory.user())
    clients = _clients(cluster_apps, first.cookies["absensi_session"], token, 16)
    # When 16 check-ins hit the four nodes at the same instant
    responses = _all_at_once(
        clients, lambda c: c.post("/api/attendance/check-in", status="*"))
    # Then exactly one wins, every other request is told so, and one row exists
    statuses = sorted(r.status_int for r in responses)
    assert statuses == [201] + [409] * 15, statuses
    winner = next(r for r in responses if r.status_int == 201).json["attendance"]
    assert all(r.json["attendance"]["id"] == winner["id"]
               for r in responses if r.status_int == 409)
    assert _count(first, Attendance) == 1
    assert _count(first, OutboxEvent) == 1
    assert winner["check_in_node"] in NODES


def test_concurrent_replays_of_one_key_act_once(cluster_apps, mysql_factory):
    first = cluster_apps[0]
    token = login(first, mysql_factory.user())
    clients = _clients(cluster_apps, first.cookies["absensi_session"], token, 8)
    responses = _all_at_once(clients, lambda c: c.post(
        "/api/attendance/check-in", headers={"Idempotency-Key": "tap-1"}, status="*"))
    assert {r.status_int for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert _count(first, Attendance) == 1 and _count(first, OutboxEvent) == 1


def test_concurrent_check_outs_close_once(cluster_apps, mysql_factory):
    first = cluster_apps[0]
    token = login(first, mysql_factory.user())
    first.post("/api/attendance/check-in", status=201)
    clients = _clients(cluster_apps, first.cookies["absensi_session"], token, 8)
    responses = _all_at_once(clients, lambda c: c.post("/api/attendance/check-out", status="*"))
    assert sorted(r.status_int for r in responses) == [200] + [409] * 7
    assert {r.json["error"] for r in responses if r.status_int == 409} == {"already_checked_out"}
    assert _count(first, OutboxEvent) == 2


def test_concurrent_user_creation_with_one_email(cluster_apps, mysql_factory):
    first = cluster_apps[0]
    token = login(first, mysql_factory.admin())
    clients = _clients(cluster_apps, first.cookies["absensi_session"], token, 6)
    body = {"name": "Kembar", "email": "kembar@example.com", "password": "password-123",
            "branch": "BDG", "role": "employee"}
    responses = _all_at_once(clients, lambda c: c.post_json("/api/users", body, status="*"))
    assert sorted(r.status_int for r in responses) == [201] + [409] * 5


def test_session_made_on_one_node_works_on_another(cluster_apps, mysql_factory):
    node1, node3 = cluster_apps[0], cluster_apps[2]
    user = mysql_factory.user(branch="SBY")
    token = login(node1, user)
    node3.set_cookie("absensi_session", node1.cookies["absensi_session"])
    me = node3.get("/api/me")
    assert me.json["id"] == user["id"] and me.headers["X-Node-Id"] == "app-node-3"
    attendance = node3.post("/api/attendance/check-in", headers={"X-CSRF-Token": token},
                            status=201).json["attendance"]
    assert attendance["check_in_node"] == "app-node-3"
    # Logging out on node 3 ends the session on node 1 too
    node3.post("/api/logout", headers={"X-CSRF-Token": token}, status=204)
    node1.get("/api/me", status=401)


def test_admin_views_on_mariadb(cluster_apps, mysql_factory):
    admin_app = cluster_apps[1]
    login(admin_app, mysql_factory.admin())
    employee_app = cluster_apps[2]
    login(employee_app, mysql_factory.user(branch="DPS"))
    employee_app.post("/api/attendance/check-in", status=201)
    today = admin_app.get("/api/attendances/today?branch=DPS").json
    assert today["summary"]["checked_in"] == 1
    assert admin_app.get("/api/attendances?branch=DPS").json["total"] == 1
    assert admin_app.get("/api/attendances/export.csv").text.count("\n") == 2
    admin_app.get("/readyz", status=200)


def test_throttling_is_shared_by_all_nodes(cluster_apps, mysql_factory):
    user = mysql_factory.user()
    for i in range(5):
        cluster_apps[i % 4].post_json("/api/login", {"email": user["email"], "password": "bad!"},
                                      status=401)
    cluster_apps[3].post_json("/api/login", {"email": user["email"], "password": user["password"]},
                              status=429)

"""A session proves its user through Redis's record of that user (no users query), and
every change to the user or their branch still takes effect at the next request."""
import datetime as dt

import pytest
from sqlalchemy import event

from tests.factories import login
from webapp.accounts import principal

UTC = dt.timezone.utc


def _at(app, iso):
    instant = dt.datetime.fromisoformat(iso).astimezone(UTC)
    app.app.registry["clock"] = lambda: instant


@pytest.fixture()
def users_queries(app):
    """How many statements read the users table, from now on."""
    seen = []
    event.listen(app.app.registry["db_engine"], "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: seen.append(statement))
    return lambda: sum(1 for s in seen if s.lstrip().startswith("SELECT")
                       and "FROM users" in s)


@pytest.fixture()
def employee(app, factory):
    user = factory.user(name="Budi", branch="JKT")
    login(app, user)
    return user


def test_a_check_in_after_login_reads_no_user_row(app, employee, users_queries):
    _at(app, "2026-11-20T07:58:00+07:00")
    app.post_json("/api/attendance/check-in", {}, status=201)
    assert users_queries() == 0


def test_without_the_record_the_database_decides_and_the_record_comes_back(
        app, employee, users_queries, redis_client):
    redis_client.delete(principal.RECORD_PREFIX + str(employee["id"]))
    app.get("/api/me/attendances", status=200)
    assert users_queries() == 1
    assert redis_client.ttl(principal.RECORD_PREFIX + str(employee["id"])) > 0
    app.get("/api/me/attendances", status=200)
    assert users_queries() == 1


def test_a_deactivated_user_is_refused_at_the_next_request(app, admin_app, employee):
    app.get("/api/me/attendances", status=200)
    admin_app.patch_json(f"/api/users/{employee['id']}", {"active": False}, status=200)
    app.get("/api/me/attendances", status=401)


def test_a_new_password_ends_the_session_at_the_next_request(app, admin_app, employee):
    admin_app.patch_json(f"/api/users/{employee['id']}",
                         {"password": "another-long-password"}, status=200)
    app.get("/api/me/attendances", status=401)


def test_a_demoted_admin_loses_admin_rights_at_the_next_request(make_app, factory, admin_app):
    other = make_app()
    second = factory.admin()
    login(other, second)
    other.get("/api/users", status=200)
    admin_app.patch_json(f"/api/users/{second['id']}", {"role": "employee"}, status=200)
    other.get("/api/users", status=403)


def test_a_user_moved_to_another_branch_checks_in_there(app, admin_app, employee):
    app.get("/api/me/attendances", status=200)
    admin_app.patch_json(f"/api/users/{employee['id']}", {"branch": "DPS"}, status=200)
    _at(app, "2026-11-20T08:05:00+08:00")
    assert app.post_json("/api/attendance/check-in", {}, status=201) \
        .json["attendance"]["branch"] == "DPS"


def test_a_branch_change_applies_to_the_next_check_in(app, admin_app, employee):
    app.get("/api/me/attendances", status=200)  # the node has cached the branches
    admin_app.patch_json("/api/branches/JKT", {"shift_start": "07:00", "grace_minutes": 0},
                         status=200)
    _at(app, "2026-11-20T07:30:00+07:00")
    assert app.post_json("/api/attendance/check-in", {}, status=201) \
        .json["attendance"]["status"] == "late"


def test_a_database_check_never_replaces_a_newer_record(redis_client):
    class User:
        id, name, role, active, branch_id = 7, "Budi", "employee", True, 1

    newer, older = User(), User()
    newer.auth_version, older.auth_version = 3, 2
    principal.remember(redis_client, newer)
    principal.remember_quietly(redis_client, older)
    assert '"auth_version":3' in redis_client.get(principal.RECORD_PREFIX + "7")


def test_a_record_proves_only_the_session_of_its_auth_version():
    record = '{"auth_version":2,"active":true,"role":"admin","name":"A","branch_id":1}'
    branch = object()
    prove = lambda av, raw=record: principal.from_record(  # noqa: E731
        raw, user_id="7", auth_version=av, branch_of={1: branch}.get)
    assert prove(2).role == "admin" and prove(2).branch is branch
    assert prove(1) is None
    assert prove(2, record.replace("true", "false")) is None
    assert prove(2, "not json") is None
    assert prove(2, None) is None


def test_a_lost_after_commit_write_still_leaves_the_database_to_decide(
        app, admin_app, employee, monkeypatch):
    app.get("/api/me/attendances", status=200)  # the record says: active

    def lost(*args, **kwargs):
        raise ConnectionError("Redis went away right after the commit")

    # the record was deleted before the commit, and the new one is never written
    monkeypatch.setattr("webapp.accounts.views.principals.remember", lost)
    admin_app.patch_json(f"/api/users/{employee['id']}", {"active": False}, status=200)
    app.get("/api/me/attendances", status=401)

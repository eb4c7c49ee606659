"""A request whose commit meets a transient MariaDB error runs again (webapp/retries.py):
what a Galera cluster does to a web node when a write fails certification or the write
node goes away, keeping one attendance, one audit entry and one outbox event."""
import uuid

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from tests.factories import Factory, login
from webapp.attendance.models import Attendance, AttendanceAudit
from webapp.events.models import OutboxEvent

pytestmark = pytest.mark.integration


@pytest.fixture()
def employee(mysql_driver, make_app, mysql_db_url):
    """A logged-in employee on MariaDB, through each driver (the errors are the driver's)."""
    app = make_app(database_url=mysql_db_url)
    app.user = Factory(app.app.registry["dbsession_factory"]).user(branch="JKT")
    login(app, app.user)
    return app


def failing_first_commit(engine, fail):
    """Call ``fail(connection)`` at the first COMMIT on *engine*; returns the commit count."""
    commits = []

    def on_commit(connection):
        commits.append(1)
        if len(commits) == 1:
            fail(connection)

    event.listen(engine, "commit", on_commit)
    return commits


def rows(app, model, user_id):
    with app.app.registry["dbsession_factory"]() as session:
        return session.scalar(select(func.count()).select_from(model)
                              .where(model.user_id == user_id))


def check_in_twice_with_one_key(app):
    key = str(uuid.uuid4())
    first = app.post_json("/api/attendance/check-in", {}, headers={"Idempotency-Key": key},
                          status=201)
    replay = app.post_json("/api/attendance/check-in", {}, headers={"Idempotency-Key": key},
                           status=201)
    return first.json["attendance"], replay.json["attendance"]


def _certification_failure(connection):
    # what Galera answers a commit that lost certification against another node's write,
    # as the driver in use (mysqlclient or PyMySQL) raises it
    driver_error = connection.dialect.loaded_dbapi.OperationalError
    raise OperationalError("COMMIT", None, driver_error(
        1213, "Deadlock found when trying to get lock; try restarting transaction"))


def test_a_commit_that_fails_certification_is_retried_and_writes_once(employee):
    # Given the first COMMIT of the next request fails as a Galera certification failure
    commits = failing_first_commit(employee.app.registry["db_engine"],
                                   _certification_failure)

    # When the employee checks in (and replays the same key)
    attendance, replay = check_in_twice_with_one_key(employee)

    # Then the request ran again and succeeded: one attendance, one audit entry, one event
    assert len(commits) >= 2
    assert replay["id"] == attendance["id"]
    user_id = employee.user["id"]
    assert rows(employee, Attendance, user_id) == 1
    assert rows(employee, OutboxEvent, user_id) == 1
    with employee.app.registry["dbsession_factory"]() as session:
        assert session.scalar(select(func.count()).select_from(AttendanceAudit).where(
            AttendanceAudit.attendance_id == attendance["id"])) == 1


def test_a_connection_lost_before_commit_is_retried_on_a_new_one(employee, mariadb_server):
    # Given the database connection of the next request's transaction is killed just before
    # its COMMIT (the write node lost: the proxy's connection to it is gone)
    def kill(connection):
        thread_id = connection.connection.dbapi_connection.thread_id()
        mariadb_server.sql(f"KILL {thread_id}")

    commits = failing_first_commit(employee.app.registry["db_engine"], kill)

    # When the employee checks in
    attendance, replay = check_in_twice_with_one_key(employee)

    # Then it succeeded on a new connection, once
    assert len(commits) >= 2
    assert replay["id"] == attendance["id"]
    assert rows(employee, Attendance, employee.user["id"]) == 1
    assert rows(employee, OutboxEvent, employee.user["id"]) == 1


def test_a_persistent_outage_is_still_a_503_after_the_last_attempt(employee):
    # Given every COMMIT fails certification
    engine = employee.app.registry["db_engine"]
    commits = []

    def always(connection):
        commits.append(1)
        _certification_failure(connection)

    event.listen(engine, "commit", always)

    # When the employee checks in, then after three attempts the answer is the outage's
    response = employee.post_json("/api/attendance/check-in", {}, status=503)
    assert response.json["error"] == "service_unavailable"
    assert response.headers["Retry-After"]
    assert len(commits) == 3
    event.remove(engine, "commit", always)
    assert rows(employee, Attendance, employee.user["id"]) == 0

"""What a check-in costs the database (issue 9): the statements a web node sends for one
check-in and one check-out on MariaDB, and the pool's cheaper liveness and reset rules
that replaced a ping and a ROLLBACK around every request."""
import datetime as dt

import pytest
from sqlalchemy import event, text

from tests.factories import Factory, login
from webapp import db
from webapp.holidays.cache import HOLIDAYS_VERSION_KEY


@pytest.fixture()
def mysql_app(mysql_driver, make_app, mysql_db_url):
    app = make_app(database_url=mysql_db_url)
    assert app.app.registry["db_engine"].dialect.driver == mysql_driver
    factory = Factory(app.app.registry["dbsession_factory"])
    login(app, factory.user())
    app.get("/api/me/attendances", status=200)  # the node has loaded its branch cache
    # ...and its holidays, as the node's first check-in does (webapp.holidays.cache)
    registry, today = app.app.registry, dt.date.today()
    registry["holiday_cache"].by_scope(today, today, registry["redis"].get(HOLIDAYS_VERSION_KEY))
    return app


def _record_round_trips(engine):
    """Every statement, commit, rollback and ping the engine's connections send."""
    sent = []
    event.listen(engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *rest: sent.append(statement.split()[0]))
    event.listen(engine, "commit", lambda conn: sent.append("COMMIT"))

    @event.listens_for(engine, "engine_connect")
    def _spy(connection):
        dbapi = connection.connection.dbapi_connection
        if not hasattr(dbapi, "_spied"):
            rollback, ping = dbapi.rollback, dbapi.ping
            dbapi.rollback = lambda: (sent.append("ROLLBACK"), rollback())[1]
            dbapi.ping = lambda *a: (sent.append("PING"), ping(*a))[1]
            dbapi._spied = True
    return sent


def test_a_check_in_is_six_statements_and_a_commit(mysql_app):
    engine = mysql_app.app.registry["db_engine"]
    sent = _record_round_trips(engine)
    mysql_app.post_json("/api/attendance/check-in", {}, headers={"Idempotency-Key": "in-1"},
                        status=201)
    # idempotency key, the user's shift assignments for the days around now (the check-in
    # belongs to the shift it falls in; the holidays of those days come from the node's
    # cache, the branch's default shift from the branch cache), attendance, audit, outbox,
    # the key's stored answer (the user is proven by the session's round trip to Redis:
    # webapp.accounts.principal)
    assert sent == ["INSERT", "SELECT", "INSERT", "INSERT", "INSERT", "UPDATE", "COMMIT"], sent

    sent.clear()
    mysql_app.post_json("/api/attendance/check-out", {}, headers={"Idempotency-Key": "out-1"},
                        status=200)
    assert sent == ["INSERT", "SELECT", "UPDATE", "INSERT", "INSERT", "UPDATE", "COMMIT"], sent


def test_a_repeated_check_in_still_answers_409_and_replays_its_key(mysql_app):
    first = mysql_app.post_json("/api/attendance/check-in", {},
                                headers={"Idempotency-Key": "a"}, status=201)
    again = mysql_app.post_json("/api/attendance/check-in", {},
                                headers={"Idempotency-Key": "b"}, status=409)
    assert again.json["error"] == "already_checked_in"
    assert again.json["attendance"]["id"] == first.json["attendance"]["id"]
    replay = mysql_app.post_json("/api/attendance/check-in", {},
                                 headers={"Idempotency-Key": "a"}, status=201)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json == first.json


def test_a_connection_returned_with_an_open_transaction_is_rolled_back(mysql_driver,
                                                                       mysql_db_url):
    engine = db.make_engine({"database.url": mysql_db_url})
    try:
        raw = engine.raw_connection()  # below SQLAlchemy: nothing ends this transaction
        cursor = raw.cursor()
        cursor.execute("INSERT INTO outbox_events (event_type, aggregate_id, user_id, node_id,"
                       " payload, created_at, attempts) VALUES ('t', 1, 1, 'n', '{}', NOW(), 0)")
        cursor.close()
        raw.close()  # back to the pool with the INSERT uncommitted
        with engine.connect() as connection:
            assert connection.execute(text("SELECT COUNT(*) FROM outbox_events")).scalar() == 0
    finally:
        engine.dispose()


def test_a_connection_idle_in_the_pool_is_pinged_and_replaced_if_dead(mysql_driver,
                                                                      mysql_db_url):
    engine = db.make_engine({"database.url": mysql_db_url})
    try:
        with engine.connect() as connection:
            victim = connection.execute(text("SELECT CONNECTION_ID()")).scalar()
        with engine.connect() as connection:  # in steady use: no ping, same connection
            assert connection.execute(text("SELECT CONNECTION_ID()")).scalar() == victim
        admin = db.make_engine({"database.url": mysql_db_url})
        with admin.connect() as connection:
            connection.execute(text(f"KILL CONNECTION {int(victim)}"))
        admin.dispose()
        # make the pooled connection look idle for longer than the ping threshold
        for record in list(engine.pool._pool.queue):
            record.info["returned_at"] -= db.PING_AFTER_IDLE_SECONDS + 1
        with engine.connect() as connection:
            assert connection.execute(text("SELECT CONNECTION_ID()")).scalar() != victim
    finally:
        engine.dispose()

"""Reads never take SQLite's write lock, so no request waits on a lock it (or a read) holds."""
import threading
import time

from sqlalchemy import text

from tests.factories import login
from webapp.db import read_only


def test_readyz_with_a_logged_in_session_answers_at_once(app, factory):
    # Given a logged-in employee (the request carries a live session)
    login(app, factory.user())

    # When their browser (or a cross-site link) asks for /readyz
    started = time.monotonic()
    response = app.get("/readyz")

    # Then it answers ready without waiting on a lock its own request holds
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}
    assert time.monotonic() - started < 5


def test_reads_proceed_while_a_writer_holds_the_lock(app, factory):
    # Given another process's transaction holding SQLite's write lock
    engine = app.app.registry["db_engine"]
    employee = factory.user()
    login(app, employee)
    writer = engine.connect()
    writer.execute(text("UPDATE users SET name = name WHERE id = -1"))  # BEGIN IMMEDIATE
    try:
        # When a page and the API are read meanwhile
        done = {}

        def read():
            done["me"] = app.get("/api/me").json["id"]
            done["history"] = app.get("/api/me/attendances").json["total"]

        thread = threading.Thread(target=read)
        thread.start()
        thread.join(timeout=5)

        # Then they answer at once, not after the writer
        assert not thread.is_alive(), "a read waited for the write lock"
        assert done == {"me": employee["id"], "history": 0}
    finally:
        writer.rollback()
        writer.close()


def test_the_read_only_engine_begins_without_the_write_lock(app):
    engine = app.app.registry["db_engine"]
    with engine.connect() as writer, read_only(engine).connect() as reader:
        writer.execute(text("UPDATE users SET name = name WHERE id = -1"))
        assert reader.execute(text("SELECT 1")).scalar() == 1
        writer.rollback()

"""GET /api/attendances/today from aggregates: same Summary as row by row, bounded pages."""
import datetime as dt
import functools

import pytest
from sqlalchemy import select

from tests.factories import Factory, at, check_in_as, login
from tests.functional.test_leave import ask
from webapp.accounts.models import User
from webapp.attendance import today
from webapp.attendance.models import Attendance
from webapp.branches.services import all_branches
from webapp.leave.services import approved_leave_on
from webapp.attendance import summaries

NOW = "2026-11-10T09:00:00+07:00"  # a Tuesday, 10:00 in Bali


@pytest.fixture()
def admin_app(logged_in):
    return logged_in("admin", now=NOW, name="Admin HR", branch="JKT")


def _row_by_row_summary(session, branches, now):
    """The Summary as the first version computed it: every row of the day loaded."""
    rows = session.scalars(select(Attendance).where(today.today_condition(branches, now))).all()
    active = session.scalars(select(User).where(
        User.active.is_(True), User.branch_id.in_([b.id for b in branches]))).all()
    present = {a.user_id for a in rows}
    on_leave = approved_leave_on(session, branches, now)
    return {
        "employees": len(active),
        "checked_in": len(rows),
        "late": sum(a.status == "late" for a in rows),
        "checked_out": sum(a.check_out_at is not None for a in rows),
        "not_checked_in": len(active) - sum(u.id in present for u in active),
        "on_leave": sum(u.id in on_leave for u in active),
    }


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.integration)])
def on_database(request, make_app):
    """``(make_app, factory, admin_app)`` on the test's SQLite file or on MariaDB (whose
    optimizer runs the IN subqueries its own way)."""
    url = request.getfixturevalue("mysql_db_url") if request.param == "mariadb" else None
    make = functools.partial(make_app, database_url=url)
    admin = make()
    factory = Factory(admin.app.registry["dbsession_factory"])
    admin.admin = factory.admin(name="Admin HR", branch="JKT")
    login(admin, admin.admin)
    at(admin, NOW)
    return make, factory, admin


def test_summary_matches_the_row_by_row_definition_in_every_corner(on_database):
    make_app, factory, admin_app = on_database
    # Given: late, on time, checked out, a deactivated user who checked in, a user who checked
    # in at Jakarta and then moved to Bandung, one on approved leave, one absent, and
    # yesterday's row in Bali
    check_in_as(make_app, factory, "2026-11-10T08:40:00+07:00", name="Late")
    check_in_as(make_app, factory, "2026-11-10T07:50:00+07:00", name="Out",
              check_out="2026-11-10T08:55:00+07:00")
    _, gone = check_in_as(make_app, factory, "2026-11-10T07:55:00+07:00", name="Gone")
    mover, _ = check_in_as(make_app, factory, "2026-11-10T07:58:00+07:00", name="Mover")
    check_in_as(make_app, factory, "2026-11-09T08:00:00+08:00", branch="DPS", name="Yesterday")
    sick = make_app()
    sick.user = factory.user(name="Sick", branch="JKT")
    login(sick, sick.user)
    at(sick, NOW)
    leave = ask(sick, "2026-11-10", "2026-11-11", kind="sakit")
    admin_app.post(f"/api/leave/{leave['id']}/approve")
    factory.user(name="Absent", branch="BDG")
    admin_app.patch_json(f"/api/users/{gone['user']['id']}", {"active": False})
    admin_app.patch_json(f"/api/users/{mover.user['id']}", {"branch": "BDG"})

    # Then every branch set gives the same counts as loading every row
    now = dt.datetime.fromisoformat(NOW).astimezone(dt.timezone.utc)
    factory_ = admin_app.app.registry["dbsession_factory"]
    with factory_() as session:
        branches = all_branches(session)
        by_code = {b.code: b for b in branches}
        for codes in (["JKT"], ["BDG"], ["DPS"], ["SBY"], ["JKT", "BDG"], list(by_code)):
            chosen = [by_code[c] for c in codes]
            assert today.summary(session, chosen, now) == _row_by_row_summary(
                session, chosen, now), codes
    body = admin_app.get("/api/attendances/today").json
    assert body["summary"] == {"employees": 7, "checked_in": 4, "late": 1, "checked_out": 1,
                               "not_checked_in": 4, "on_leave": 1}
    assert [(u["name"], u["leave"]) for u in body["absent_users"]] == [
        ("Admin HR", None), ("Sick", "sakit"), ("Absent", None), ("Yesterday", None)]
    # Bandung alone: the mover's attendance stays Jakarta's, so he is absent in Bandung
    bdg = admin_app.get("/api/attendances/today?branch=BDG").json
    assert [u["name"] for u in bdg["absent_users"]] == ["Absent", "Mover"]
    assert bdg["summary"]["not_checked_in"] == 2 and bdg["data"] == []


def test_data_is_a_page_newest_check_in_first(make_app, factory, admin_app):
    ids = [check_in_as(make_app, factory, f"2026-11-10T07:{m:02d}:00+07:00")[1]["id"]
           for m in (10, 30, 20, 40, 50)]
    newest_first = [ids[4], ids[3], ids[1], ids[2], ids[0]]

    body = admin_app.get("/api/attendances/today?branch=JKT").json
    assert (body["page"], body["per_page"], body["total"]) == (1, today.DEFAULT_PER_PAGE, 5)
    assert [a["id"] for a in body["data"]] == newest_first
    pages = [admin_app.get(f"/api/attendances/today?branch=JKT&per_page=2&page={p}").json
             for p in (1, 2, 3, 4)]
    assert [[a["id"] for a in p["data"]] for p in pages] == [
        newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert {p["total"] for p in pages} == {5}
    assert all(p["summary"]["checked_in"] == 5 for p in pages)


@pytest.mark.parametrize("query, field", [
    ("per_page=0", "per_page"), ("per_page=201", "per_page"), ("per_page=abc", "per_page"),
    ("page=0", "page"), ("page=-3", "page"), ("page=x&per_page=1000", "page"),
])
def test_bad_pagination_is_422(admin_app, query, field):
    body = admin_app.get(f"/api/attendances/today?{query}", status=422).json
    assert body["error"] == "invalid" and field in body["fields"]


def test_answer_carries_the_live_summary_versions(admin_app, redis_client):
    assert admin_app.get("/api/attendances/today?branch=JKT").json["summary_versions"] == {
        "JKT": 0}
    factory_ = admin_app.app.registry["dbsession_factory"]
    now = dt.datetime.fromisoformat(NOW).astimezone(dt.timezone.utc)
    with factory_() as session:
        jkt = [b for b in all_branches(session) if b.code == "JKT"][0]
        session.expunge_all()
    summaries.refresh_branch(factory_, redis_client, jkt, retention_seconds=3600,
                             node_id="test", now=now)
    body = admin_app.get("/api/attendances/today").json
    assert body["summary_versions"] == {"JKT": 1, "BDG": 0, "SBY": 0, "DPS": 0}


# -- one board per commit (webapp/attendance/today_cache.py) ------------------------------

def _board_statements(app):
    statements = []
    from sqlalchemy import event

    event.listen(app.app.registry["db_engine"], "before_cursor_execute",
                 lambda conn, cursor, sql, *args: statements.append(sql))
    return statements


def _is_board_query(sql):
    return "attendances" in sql and "users" in sql


def test_the_board_is_computed_once_until_the_next_commit(make_app, factory, admin_app):
    # Given one check-in today and the board loaded once
    check_in_as(make_app, factory, "2026-11-10T07:55:00+07:00", branch="JKT")
    first = admin_app.get("/api/attendances/today").json
    statements = _board_statements(admin_app)

    # When another admin (same process) loads it again: the same answer without a single
    # database statement (the branches come from the node's branch cache)
    assert admin_app.get("/api/attendances/today").json == first
    assert statements == []

    # When someone checks in (a commit with an outbox event bumps the generation)
    check_in_as(make_app, factory, "2026-11-10T08:05:00+07:00", branch="BDG")

    # Then the next load computes the board again and shows the new attendance
    body = admin_app.get("/api/attendances/today").json
    assert [s for s in statements if _is_board_query(s)]
    assert body["summary"]["checked_in"] == first["summary"]["checked_in"] + 1


def test_changes_without_an_event_reach_the_board_within_the_ttl(factory, admin_app):
    # Given a loaded board, and a cache whose clock the test moves
    from webapp.attendance.today_cache import TTL_SECONDS, TodayCache

    clock = [0.0]
    admin_app.app.registry["today_cache"] = TodayCache(clock=lambda: clock[0])
    before = admin_app.get("/api/attendances/today").json["summary"]["employees"]

    # When an employee is added straight in the database (no outbox event)
    factory.user(branch="SBY")

    # Then the board shows it once the cached answer is TTL_SECONDS old, not before
    assert admin_app.get("/api/attendances/today").json["summary"]["employees"] == before
    clock[0] = TTL_SECONDS
    assert admin_app.get("/api/attendances/today").json["summary"]["employees"] == before + 1


def test_without_the_stamp_every_load_computes_the_board(admin_app, monkeypatch):
    # Given Redis failing the stamp's read (the versions answer 0, nothing is cached)
    from redis.exceptions import ConnectionError as RedisConnectionError
    from webapp.attendance import views

    def unreachable(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(views.summaries, "stamp", unreachable)
    statements = _board_statements(admin_app)

    # When the board is loaded twice, each load queries the database
    for _ in range(2):
        statements.clear()
        body = admin_app.get("/api/attendances/today").json
        assert [s for s in statements if _is_board_query(s)]
    assert set(body["summary_versions"].values()) == {0}


def test_the_cache_keeps_the_newest_entries_and_checks_the_stamp():
    from webapp.attendance.today_cache import TodayCache

    clock = [0.0]
    cache = TodayCache(max_entries=2, ttl_seconds=5, clock=lambda: clock[0])
    cache.put("a", (1, ()), "A")
    cache.put("b", (1, ()), "B")
    assert cache.get("a", (1, ())) == "A"          # a is now the newest
    cache.put("c", (1, ()), "C")                   # b, the oldest, goes
    assert cache.get("b", (1, ())) is None
    assert cache.get("a", (2, ())) is None         # another generation: not served
    assert cache.get("c", (1, (("JKT", 1),))) is None  # another summary version
    cache.put("c", (1, ()), "C")
    clock[0] = 5
    assert cache.get("c", (1, ())) is None         # expired

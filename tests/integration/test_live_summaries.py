"""Live summaries (webapp.attendance.summaries) on a real Redis and the test's SQLite database:
the single flight per (branch, day), versions, and exact final counts under concurrency."""
import datetime as dt
import json
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from tests.factories import Factory
from webapp.attendance import today
from webapp.attendance.models import Attendance
from webapp.branches.models import Branch
from realtime import channels, streams
from webapp.attendance import summaries

NOW = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.timezone.utc)  # 09:00 in Jakarta
DAY = dt.date(2026, 11, 10)


def _event(branch="JKT", work_date=DAY, kind="attendance.created"):
    return SimpleNamespace(event_type=kind,
                           payload={"branch": branch, "work_date": work_date.isoformat()})


def _frames(redis, branch="JKT"):
    _, entries = streams.read_since(redis, channels.SUMMARIES, "0-0")
    frames = [json.loads(e.frame) for e in entries]
    return [f for f in frames if f["data"]["branch"] == branch]


def _check_in(session_factory, user_id, branch_id, status="present"):
    with session_factory.begin() as session:
        session.execute(insert(Attendance).values(
            user_id=user_id, branch_id=branch_id, work_date=DAY,
            check_in_at=dt.datetime(2026, 11, 10, 1, 0), status=status, check_in_node="test",
            auto_closed=False, early_leave=False, corrected=False))


def _db_summary(session_factory, code="JKT"):
    with session_factory() as session:
        branch = session.scalar(select(Branch).where(Branch.code == code))
        return today.summary(session, [branch], NOW)


@pytest.fixture()
def jkt(session_factory):
    with session_factory() as session:
        branch = session.scalar(select(Branch).where(Branch.code == "JKT"))
        session.expunge_all()
    return branch


def refresh(session_factory, redis, events):
    summaries.refresh_after_events(session_factory, redis, events, retention_seconds=3600,
                                   node_id="test", now=NOW)


def test_an_event_of_today_publishes_the_branch_summary_with_its_version(
        session_factory, redis_client, jkt):
    # Given
    user = Factory(session_factory).user(branch="JKT")
    _check_in(session_factory, user["id"], jkt.id, status="late")

    # When: one of today in Jakarta, one of yesterday, one of an unknown branch
    refresh(session_factory, redis_client, [_event(), _event(work_date=DAY - dt.timedelta(1)),
                                            _event(branch="XXX")])

    # Then
    [frame] = _frames(redis_client)
    assert frame["op"] == "event" and frame["channel"] == "summaries"
    assert frame["event"] == "summary.updated" and isinstance(frame["event_id"], int)
    assert frame["data"] == {"branch": "JKT", "work_date": "2026-11-10", "version": 1,
                             "summary": _db_summary(session_factory)}
    assert frame["data"]["summary"]["late"] == 1
    assert summaries.versions(redis_client, [jkt], NOW) == {"JKT": 1}
    assert _frames(redis_client, "BDG") == []


def test_leave_events_covering_today_refresh_their_branch(session_factory, redis_client):
    leave = SimpleNamespace(event_type="leave.updated",
                            payload={"branch": "BDG", "date_from": "2026-11-09",
                                     "date_to": "2026-11-10"})
    later = SimpleNamespace(event_type="leave.created",
                            payload={"branch": "SBY", "date_from": "2026-11-11",
                                     "date_to": "2026-11-12"})
    refresh(session_factory, redis_client, [leave, later])
    assert [f["data"]["version"] for f in _frames(redis_client, "BDG")] == [1]
    assert _frames(redis_client, "SBY") == []


def test_a_caller_that_finds_the_lock_taken_leaves_the_work_to_the_holder(
        session_factory, redis_client, jkt, monkeypatch):
    # Given a holder whose first computation is overtaken by another caller's increment
    compute = summaries._compute
    others = []

    def slow_compute(factory, branch, now):
        if not others:
            others.append(summaries.refresh_branch(factory, redis_client, branch,
                                                   retention_seconds=3600, node_id="other",
                                                   now=now))
        return compute(factory, branch, now)

    monkeypatch.setattr(summaries, "_compute", slow_compute)

    # When
    published = summaries.refresh_branch(session_factory, redis_client, jkt,
                                         retention_seconds=3600, node_id="test", now=NOW)

    # Then the other caller published nothing; the holder went round again with version 2
    assert others == [0] and published == 2
    assert [f["data"]["version"] for f in _frames(redis_client)] == [1, 2]
    assert all(f["node_id"] == "test" for f in _frames(redis_client))


def test_concurrent_publishers_end_on_the_database_counts_with_the_highest_version(
        session_factory, redis_client, jkt, monkeypatch):
    # Given 60 employees and a computation slow enough that callers overlap
    factory = Factory(session_factory)
    users = [factory.user(branch="JKT")["id"] for _ in range(60)]
    compute = summaries._compute

    def slow_compute(*args):
        result = compute(*args)
        threading.Event().wait(0.005)
        return result

    monkeypatch.setattr(summaries, "_compute", slow_compute)
    errors = []

    def publisher(chunk):
        try:
            for user_id in chunk:
                _check_in(session_factory, user_id, jkt.id,
                          status="late" if user_id % 3 == 0 else "present")
                refresh(session_factory, redis_client, [_event()])
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    # When four "worker processes" commit and publish at once
    threads = [threading.Thread(target=publisher, args=(users[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)

    # Then the frame with the highest version carries the database's counts, that version
    # is the counter's, one holder at a time published (versions never go back), and the
    # rush was coalesced
    frames = _frames(redis_client)
    versions = [f["data"]["version"] for f in frames]
    assert versions == sorted(versions)
    assert frames[-1]["data"]["summary"] == _db_summary(session_factory)
    assert frames[-1]["data"]["summary"]["checked_in"] == 60
    assert versions[-1] == summaries.versions(redis_client, [jkt], NOW)["JKT"] == 60
    assert len(frames) <= 60
    assert len({f["event_id"] for f in frames}) == len(frames)


def test_refresh_stale_publishes_only_what_changed(session_factory, redis_client):
    def stale():
        return summaries.refresh_stale(session_factory, redis_client, retention_seconds=3600,
                                       node_id="scheduler", now=NOW)

    assert stale() == ["JKT", "BDG", "SBY", "DPS"]  # nothing published today yet
    assert stale() == []
    Factory(session_factory).user(branch="SBY")  # writes no event
    assert stale() == ["SBY"]
    [first, second] = _frames(redis_client, "SBY")
    assert second["data"]["version"] > first["data"]["version"]
    assert second["data"]["summary"]["employees"] == first["data"]["summary"]["employees"] + 1


def test_refresh_never_raises(session_factory, caplog):
    import redis

    broken = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    refresh(session_factory, broken, [_event()])
    assert "refreshing the live summaries failed" in caplog.text


def test_only_admins_may_subscribe_to_summaries():
    assert channels.may_subscribe(user_id=1, role="admin", channel="summaries")
    assert not channels.may_subscribe(user_id=7, role="employee", channel="summaries")
    assert "summaries" not in channels.default_channels(user_id=1, role="admin")

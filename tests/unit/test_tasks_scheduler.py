"""Scheduler jobs (tasks/scheduler.py, servers.py, end_of_day.py, locks.py) on real Redis."""
import datetime as dt
import json
import threading
import time
from zoneinfo import ZoneInfo

import pytest

from tasks import locks
from tasks.scheduler import AUTO_CLOSE_SECONDS, SchedulerJobs, build_scheduler, run
from tasks.servers import announce_node_changes
from tests.tasks_helpers import add_outbox_event
from tests.factories import Factory
from webapp.accounts.models import User
from webapp.attendance.models import Attendance
from webapp.attendance.services import check_in
from realtime import streams
from webapp.servers import heartbeats
from webapp.settings import apply_environment

JAKARTA = ZoneInfo("Asia/Jakarta")
BALI = ZoneInfo("Asia/Makassar")


@pytest.fixture()
def settings(db_url, redis_server):
    return apply_environment({
        "database.url": db_url, "redis.url": redis_server.url,
        "scheduler.node_id": "scheduler-9", "outbox.sweep_interval_seconds": "0.3",
        "outbox.sweep_min_age_seconds": "0",
    }, environ={})


@pytest.fixture()
def enqueued():
    return []


@pytest.fixture()
def jobs(settings, session_factory, redis_client, enqueued):
    return SchedulerJobs(settings, session_factory=session_factory, redis=redis_client,
                         enqueue=enqueued.append)


def beat(redis, node_id, role="web", started_at="2026-11-20T00:00:00+00:00"):
    heartbeats.beat(redis, node_id=node_id, role=role, city="Bandung", started_at=started_at,
                    ttl_seconds=30)


def servers_events(redis):
    entries = streams.read_history(redis, "servers", "0-0").entries
    return [json.loads(entry.frame) for entry in entries]


# -- servers channel -----------------------------------------------------------------

def test_servers_monitor_announces_nodes_up_and_down_once(redis_client):
    # Given two live nodes
    beat(redis_client, "app-node-2")
    beat(redis_client, "worker-1", role="worker")

    # When the monitor runs twice, and a second monitor (a restarted scheduler) once more
    first = announce_node_changes(redis_client, node_id="scheduler-1", retention_seconds=3600)
    second = announce_node_changes(redis_client, node_id="scheduler-1", retention_seconds=3600)
    third = announce_node_changes(redis_client, node_id="scheduler-2", retention_seconds=3600)

    # Then each node was announced up exactly once
    assert sorted(first) == [("node.up", "app-node-2"), ("node.up", "worker-1")]
    assert second == third == []
    events = servers_events(redis_client)
    assert [e["event"] for e in events] == ["node.up", "node.up"]
    assert [e["event_id"] for e in events] == [1, 2]
    node = next(e["data"] for e in events if e["data"]["node_id"] == "app-node-2")
    assert {k: node[k] for k in ("node_id", "role", "city", "status")} == {
        "node_id": "app-node-2", "role": "web", "city": "Bandung", "status": "up"}
    assert events[0]["node_id"] == "scheduler-1"

    # When a heartbeat disappears (expired or removed at shutdown)
    heartbeats.stop(redis_client, "worker-1")
    changes = announce_node_changes(redis_client, node_id="scheduler-1", retention_seconds=3600)

    # Then it is announced down once, with its last known record
    assert changes == [("node.down", "worker-1")]
    down = servers_events(redis_client)[-1]
    assert (down["event"], down["event_id"]) == ("node.down", 3)
    assert (down["data"]["node_id"], down["data"]["status"]) == ("worker-1", "down")
    assert announce_node_changes(redis_client, node_id="scheduler-1",
                                 retention_seconds=3600) == []


def test_servers_monitor_announces_a_restarted_node(redis_client):
    # Given a node that was announced
    beat(redis_client, "gateway-1", role="gateway")
    announce_node_changes(redis_client, node_id="scheduler-1", retention_seconds=3600)

    # When it restarts within its heartbeat TTL (same id, new started_at)
    beat(redis_client, "gateway-1", role="gateway", started_at="2026-11-20T01:00:00+00:00")

    # Then it is announced up again
    assert announce_node_changes(redis_client, node_id="scheduler-1",
                                 retention_seconds=3600) == [("node.up", "gateway-1")]


# -- one scheduler at a time -----------------------------------------------------------

def test_two_schedulers_run_a_job_once_per_interval(settings, session_factory, redis_client):
    # Given two schedulers sharing Redis and a stale unpublished event
    add_outbox_event(session_factory, created_at=dt.datetime(2026, 1, 1))
    runs = []
    first, second = (
        SchedulerJobs(settings, session_factory=session_factory, redis=redis_client,
                      enqueue=lambda event_id, name=name: runs.append(name))
        for name in ("first", "second")
    )

    # When both run the relay sweep at the same moment
    first.relay_sweep()
    second.relay_sweep()

    # Then only the first did the work; after the lock expires the next run works again
    assert runs == ["first"]
    redis_client.delete("absensi:outbox:requeued:1")
    time.sleep(0.3)
    second.relay_sweep()
    assert runs == ["first", "second"]


def test_lock_is_exclusive_until_it_expires(redis_client):
    assert locks.acquire(redis_client, "job", 200)
    assert not locks.acquire(redis_client, "job", 200)
    time.sleep(0.25)
    assert locks.acquire(redis_client, "job", 200)


# -- end of day ------------------------------------------------------------------------

def test_end_of_day_flags_yesterdays_open_attendances_and_enqueues_events(
        jobs, session_factory, enqueued):
    # Given in Jakarta one attendance left open yesterday and one closed, and in Bali one
    # opened this (Bali-local) morning
    factory = Factory(session_factory)
    yesterday = dt.datetime(2026, 11, 19, 8, 0, tzinfo=JAKARTA)
    open_id = _check_in(session_factory, factory.user(branch="JKT")["id"], yesterday)
    closed_user = factory.user(branch="JKT")["id"]
    closed_id = _check_in(session_factory, closed_user, yesterday)
    with session_factory.begin() as session:
        session.get(Attendance, closed_id).check_out_at = dt.datetime(2026, 11, 19, 10)
    bali_id = _check_in(session_factory, factory.user(branch="DPS")["id"],
                        dt.datetime(2026, 11, 20, 7, 0, tzinfo=BALI))

    # When the end-of-day job runs just after Jakarta's midnight
    now = dt.datetime(2026, 11, 20, 0, 5, tzinfo=JAKARTA)
    event_ids = jobs.end_of_day(now=now)

    # Then only yesterday's open attendance is flagged, and its event is enqueued
    with session_factory() as session:
        flagged = {a.id for a in session.query(Attendance).filter_by(auto_closed=True)}
    assert flagged == {open_id}
    assert bali_id not in flagged and closed_id not in flagged
    assert len(event_ids) == 1 and enqueued == event_ids

    # When it runs again (a second scheduler, or a restart's catch-up), nothing changes
    assert jobs.redis.delete(locks.LOCK_PREFIX + "end_of_day:all") == 1  # the lock expired
    assert jobs.end_of_day(now=now) == []


def _check_in(session_factory, user_id, instant):
    with session_factory.begin() as session:
        user = session.get(User, user_id)
        return check_in(session, user=user, node_id="app-node-1", now=instant).id


def test_a_forgotten_check_out_is_closed_at_the_shift_end_four_hours_later(
        jobs, session_factory, enqueued):
    # Given a Jakarta employee who checked in at 08:00 for the default 08:00-17:00 shift and
    # never checked out
    factory = Factory(session_factory)
    user_id = factory.user(branch="JKT")["id"]
    open_id = _check_in(session_factory, user_id, dt.datetime(2026, 11, 19, 8, 0, tzinfo=JAKARTA))

    # When the job runs at 20:55 (3 h 55 after the shift's end), nothing is closed yet
    assert jobs.end_of_day(now=dt.datetime(2026, 11, 19, 20, 55, tzinfo=JAKARTA)) == []
    jobs.redis.delete(locks.LOCK_PREFIX + "end_of_day:all")

    # When it runs at 21:05 (the same evening, not at the next midnight)
    event_ids = jobs.end_of_day(now=dt.datetime(2026, 11, 19, 21, 5, tzinfo=JAKARTA))

    # Then the attendance is closed at the shift's end and its event enqueued
    with session_factory() as session:
        attendance = session.get(Attendance, open_id)
        assert attendance.auto_closed
        assert attendance.check_out_at == dt.datetime(2026, 11, 19, 10, 0)  # 17:00 WIB
    assert len(event_ids) == 1 and enqueued == event_ids


def test_the_auto_close_runs_every_fifteen_minutes_and_once_at_start(jobs):
    # Given a scheduler (not started)
    scheduler = build_scheduler(jobs)

    # Then the auto-close runs at start, then at an interval of 15 minutes: an attendance is
    # closed at most 15 minutes after its shift's end + 4 h, whenever the shift ends
    by_id = {job.id: job for job in scheduler.get_jobs()}
    assert "end_of_day:catch_up" in by_id
    assert by_id["end_of_day"].trigger.interval == dt.timedelta(seconds=AUTO_CLOSE_SECONDS)
    assert AUTO_CLOSE_SECONDS == 900


# -- the process -----------------------------------------------------------------------

def test_scheduler_runs_jobs_beats_and_stops_promptly(settings, jobs, session_factory,
                                                       redis_client, enqueued):
    # Given an unpublished outbox event and a live web node
    event_id = add_outbox_event(session_factory, created_at=dt.datetime(2026, 1, 1))
    beat(redis_client, "app-node-3")
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop, "jobs": jobs})

    # When the scheduler runs for a moment
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
                enqueued and len(servers_events(redis_client)) >= 2):
            time.sleep(0.05)
        nodes = {n["node_id"]: n["role"] for n in heartbeats.live_nodes(redis_client)}
    finally:
        stop.set()
        started = time.monotonic()
        thread.join(timeout=10)

    # Then it swept the outbox, announced the nodes, beat as a scheduler, and stopped fast
    assert not thread.is_alive() and time.monotonic() - started < 5
    assert enqueued[0] == event_id
    announced = {e["data"]["node_id"] for e in servers_events(redis_client)}
    assert {"app-node-3", "scheduler-9"} <= announced
    assert nodes["scheduler-9"] == "scheduler"
    assert "scheduler-9" not in {n["node_id"] for n in heartbeats.live_nodes(redis_client)}


def test_idempotency_keys_are_forgotten_after_a_week(jobs, session_factory):
    from sqlalchemy import select

    from webapp.idempotency.models import IdempotencyKey

    # Given one key stored 8 days ago and one stored an hour ago
    user = Factory(session_factory).user()
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
    with session_factory.begin() as session:
        for key, age in (("old", dt.timedelta(days=8)), ("new", dt.timedelta(hours=1))):
            session.add(IdempotencyKey(user_id=user["id"], key=key, fingerprint="POST /x",
                                       status_code=201, response_body={},
                                       created_at=(now - age).replace(tzinfo=None)))
    # When the purge job runs
    assert jobs.purge_idempotency_keys(now=now) == 1
    # Then only the recent key remains
    with session_factory() as session:
        assert list(session.scalars(select(IdempotencyKey.key))) == ["new"]


def test_kiosk_code_uses_are_forgotten_after_a_day(jobs, session_factory):
    from sqlalchemy import select

    from webapp.kiosks.models import Kiosk, KioskCodeUse

    # Given a kiosk code used 25 hours ago and one used 13 hours ago (an offline action's
    # code may still be replayed 12 hours after its slot)
    user = Factory(session_factory).user()
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.timezone.utc)
    naive = now.replace(tzinfo=None)
    with session_factory.begin() as session:
        kiosk = Kiosk(branch_id=1, name="Kios Lobi", created_at=naive)
        session.add(kiosk)
        session.flush()
        for slot, age in ((1, dt.timedelta(hours=25)), (2, dt.timedelta(hours=13))):
            session.add(KioskCodeUse(kiosk_id=kiosk.id, slot=slot, user_id=user["id"],
                                     used_at=naive - age))
    # When the purge job runs, then only the recent use remains
    assert jobs.purge_kiosk_code_uses(now=now) == 1
    with session_factory() as session:
        assert list(session.scalars(select(KioskCodeUse.slot))) == [2]


def test_the_kiosk_code_purge_runs_hourly(jobs):
    by_id = {job.id: job for job in build_scheduler(jobs).get_jobs()}
    assert by_id["purge_kiosk_code_uses"].trigger.interval == dt.timedelta(hours=1)

"""Web commit -> outbox -> Dramatiq -> Redis streams, with a real ``absensi worker`` process,
real Redis, and the faults the relay sweep exists for."""
import json
import sqlite3
import time

import pytest
import redis
from dramatiq import Message

from cluster.ports import wait_until
from tests.servers import RedisServer
from tasks import outbox
from tasks.broker import make_broker
from tasks.cli import cmd_dlq_list, cmd_dlq_requeue
from tasks.dlq import dead_letters
from tasks.scheduler import SchedulerJobs
from tests.tasks_helpers import add_outbox_event, scheduler_process, worker_process
from tests.factories import login
from tests.realtime_helpers import write_config
from webapp.events.models import OutboxEvent
from realtime import streams
from webapp.servers import heartbeats
from webapp.settings import apply_environment

pytestmark = pytest.mark.integration


def settings_for(db_url, redis_url):
    return apply_environment({"database.url": db_url, "redis.url": redis_url}, environ={})


@pytest.fixture()
def settings(db_url, redis_server):
    return settings_for(db_url, redis_server.url)


@pytest.fixture()
def processes():
    """Every ``absensi`` process a test starts, stopped at teardown whatever happened."""
    started = []
    yield started
    for process in reversed(started):
        process.close()


@pytest.fixture()
def start_worker(db_url, processes):
    def start(redis_url, node_id="worker-t"):
        """A running worker process, once its heartbeat shows it booted."""
        worker = worker_process(database_url=db_url, redis_url=redis_url, node_id=node_id)
        processes.append(worker.start())
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            wait_until(lambda: node_id in {n["node_id"] for n in heartbeats.live_nodes(client)},
                       timeout=30, what="worker heartbeat")
        except Exception:
            raise AssertionError(worker.output()) from None
        finally:
            client.close()
        return worker

    return start


@pytest.fixture()
def worker(start_worker, redis_server, redis_client):
    return start_worker(redis_server.url)


def frames(redis, channel):
    return [json.loads(e.frame) for e in streams.read_history(redis, channel, "0-0").entries]


def is_published(session_factory, event_id):
    with session_factory() as session:
        return session.get(OutboxEvent, event_id).published_at is not None


def wait_published(session_factory, event_id, process, timeout=30):
    try:
        wait_until(lambda: is_published(session_factory, event_id), timeout=timeout,
                   what=f"outbox event {event_id} published")
    except Exception:
        raise AssertionError(process.output()) from None


def test_a_check_in_reaches_both_channels_through_the_worker(make_app, factory, worker,
                                                               redis_client):
    # Given an employee logged in on a web node, and a worker running
    app = make_app()
    user = factory.user(name="Sari", branch="BDG")
    login(app, user)

    # When the employee checks in
    attendance = app.post_json("/api/attendance/check-in", {}, status=201).json["attendance"]

    # Then, shortly, the committed event is in the history of `attendances` and `user.{id}`
    channel = f"user.{user['id']}"
    wait_until(lambda: frames(redis_client, channel), timeout=20, what="event in stream")
    [event] = frames(redis_client, channel)
    assert event["event"] == "attendance.created" and event["node_id"] == "app-node-1"
    assert event["data"] == attendance
    [same] = frames(redis_client, "attendances")
    assert {**same, "channel": channel, "offset": event["offset"]} == event


def test_the_same_event_sent_twice_is_published_once(settings, session_factory, worker,
                                                     redis_client):
    # Given a committed outbox event
    event_id = add_outbox_event(session_factory, user_id=3)
    enqueue = outbox.enqueuer(make_broker(settings))

    # When its message is sent twice (an after-commit hook and a sweep)
    enqueue(event_id)
    enqueue(event_id)
    wait_published(session_factory, event_id, worker)
    broker = make_broker(settings)
    broker.join(outbox.QUEUE, timeout=20_000)

    # Then each channel has it once
    assert [f["event_id"] for f in frames(redis_client, "user.3")] == [event_id]
    assert [f["event_id"] for f in frames(redis_client, "attendances")] == [event_id]


def test_event_committed_while_redis_is_down_goes_out_when_it_is_back(
        db_url, session_factory, start_worker, processes, tmp_path):
    # Given a private Redis, a worker and a scheduler
    with RedisServer() as redis_server:
        settings = settings_for(db_url, redis_server.url)
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        worker = start_worker(redis_server.url)
        # a quick relay sweep (production waits longer before re-enqueueing)
        config = write_config(tmp_path / "sweep.ini", outbox__sweep_interval_seconds="0.5",
                              outbox__sweep_min_age_seconds="1")
        scheduler = scheduler_process(database_url=db_url, redis_url=redis_server.url,
                                      env={"ABSENSI_CONFIG": str(config)})
        processes.append(scheduler.start())
        try:
            # When Redis goes down and an event is committed: the enqueue fails fast
            redis_server.kill()
            event_id = add_outbox_event(session_factory, user_id=4)
            started = time.monotonic()
            with pytest.raises(Exception):
                outbox.enqueuer(make_broker(settings))(event_id)
            assert time.monotonic() - started < 2.5
            time.sleep(1)

            # When Redis comes back (empty: it had no persistence)
            redis_server.start()

            # Then the scheduler's relay sweep re-enqueues the event and the worker publishes it
            wait_published(session_factory, event_id, scheduler, timeout=40)
            assert [f["event_id"] for f in frames(client, "user.4")] == [event_id]
            assert scheduler.stop(timeout=15) == 0, scheduler.output()
            assert worker.stop() == 0, worker.output()
        finally:
            client.close()


def test_worker_killed_holding_the_message_then_restarted_still_publishes_once(
        db_url, settings, session_factory, start_worker, redis_server, redis_client):
    # Given a worker, and the database locked so that the actor waits for it
    worker = start_worker(redis_server.url)
    event_id = add_outbox_event(session_factory, user_id=6)
    locker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        # When the worker has taken the message off the queue, it is killed -9
        outbox.enqueuer(make_broker(settings))(event_id)
        wait_until(lambda: redis_client.llen(f"dramatiq:{outbox.QUEUE}") == 0
                   and redis_client.hlen(f"dramatiq:{outbox.QUEUE}.msgs") == 1,
                   timeout=20, what="message fetched by the worker")
        worker.kill()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert not is_published(session_factory, event_id)

    # When a worker is started again and the relay sweep runs (the message is stranded
    # among the dead worker's unacknowledged ones)
    worker = start_worker(redis_server.url, node_id="worker-t2")
    jobs = SchedulerJobs(dict(settings, **{"outbox.sweep_min_age_seconds": "0"}),
                         session_factory=session_factory)
    assert jobs.relay_sweep() == [event_id]

    # Then the event is published, exactly once. (The killed worker may have held the
    # drain lock: until it expires, runs only leave their event in the wanted set, and
    # the scheduler's next sweeps restart the stranded drain, as they run every 3 s.)
    def swept_and_published():
        jobs.relay_sweep()
        return is_published(session_factory, event_id)

    try:
        wait_until(swept_and_published, timeout=30, interval=0.5, what="event published")
    except Exception:
        raise AssertionError(worker.output()) from None
    assert [f["event_id"] for f in frames(redis_client, "user.6")] == [event_id]
    assert [f["event_id"] for f in frames(redis_client, "attendances")] == [event_id]


def test_dead_lettered_event_is_listed_and_requeued(db_url, settings, session_factory,
                                                    worker, redis_client, capsys):
    # Given the outbox table unreadable for the worker (a broken database)
    event_id = add_outbox_event(session_factory, user_id=9)
    database = sqlite3.connect(db_url.removeprefix("sqlite:///"))
    database.execute("ALTER TABLE outbox_events RENAME TO outbox_events_away")
    database.commit()
    broker = make_broker(settings)

    # When its message fails every try (backoff shortened for the test)
    message = broker.enqueue(Message(
        queue_name=outbox.QUEUE, actor_name=outbox.PUBLISH_ACTOR, args=(event_id,), kwargs={},
        options={"min_backoff": 50, "max_backoff": 100},
    ))
    wait_until(lambda: dead_letters(broker), timeout=30, what="dead letter")

    # Then `absensi dlq list` shows it with the database error
    assert cmd_dlq_list(_args(json=True), settings) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["message_id"] == message.message_id
    assert listed["actor"] == outbox.PUBLISH_ACTOR and listed["args"] == f"[{event_id}]"
    assert "OperationalError" in listed["error"] and "outbox_events" in listed["error"]

    # When the database is repaired and the message requeued
    database.execute("ALTER TABLE outbox_events_away RENAME TO outbox_events")
    database.commit()
    database.close()
    assert cmd_dlq_requeue(_args(all=True, message_ids=[]), settings) == 0

    # Then the event is published
    wait_published(session_factory, event_id, worker)
    assert [f["event_id"] for f in frames(redis_client, "user.9")] == [event_id]
    assert dead_letters(broker) == []


def _args(**kwargs):
    import argparse

    return argparse.Namespace(**kwargs)

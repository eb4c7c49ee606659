"""The doorbell broker (idle consumers block instead of polling), the sweep job's stranded
drain restart, and dead letters whose events were published since, on real Redis."""
import argparse
import json
import time

import dramatiq
import pytest
from dramatiq import Message, Worker
from sqlalchemy import update

from tasks import outbox
from tasks.broker import make_broker
from tasks.cli import cmd_dlq_list
from tasks.dlq import dead_letters, discard_published
from tasks.scheduler import SchedulerJobs
from tests.tasks_helpers import add_outbox_event
from webapp.events.handoff import COMMITTED_KEY
from webapp.events.models import OutboxEvent
from webapp.settings import apply_environment

QUEUE = "bell-test"


@pytest.fixture()
def settings(db_url, redis_server):
    return apply_environment({"database.url": db_url, "redis.url": redis_server.url,
                              "outbox.sweep_interval_seconds": "0.3"}, environ={})


@pytest.fixture()
def broker(settings, redis_client):
    broker = make_broker(settings)
    yield broker
    broker.client.close()
    broker.bell_client.close()


def calls(redis, command):
    return redis.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0)


def test_an_idle_worker_blocks_instead_of_polling_and_wakes_at_once(broker, redis_client):
    # Given a worker (Dramatiq's 50 ms worker timeout, as `absensi worker`) with nothing to do
    seen = []

    @dramatiq.actor(broker=broker, queue_name=QUEUE)
    def note(sent_at):
        seen.append(time.monotonic() - sent_at)

    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    try:
        time.sleep(0.5)

        # Then in 2 idle seconds its two consumers (queue and delay queue) fetch at most
        # once each per idle wait, instead of ~20 times a second each
        before = calls(redis_client, "evalsha")
        time.sleep(2)
        assert calls(redis_client, "evalsha") - before <= 4

        # When a message is sent, then the blocked consumer takes it at once
        for _ in range(3):
            note.send(time.monotonic())
            deadline = time.monotonic() + 5
            while len(seen) < _ + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(0.3)
        # (a wake-up, not the next poll: well under the 5 s idle wait on any machine)
        assert len(seen) == 3 and max(seen) < 2.5, seen
    finally:
        # and stopping does not wait out the idle wait (5 s)
        started = time.monotonic()
        worker.stop()
    assert time.monotonic() - started < 3


def test_an_enqueue_rings_in_the_same_round_trip(broker, redis_client):
    message = broker.enqueue(Message(queue_name=QUEUE, actor_name="x", args=(), kwargs={},
                                     options={}))
    assert redis_client.lrange(f"dramatiq:{QUEUE}.bell", 0, -1) == ["1"]
    assert redis_client.hexists(f"dramatiq:{QUEUE}.msgs", message.options["redis_message_id"])
    for _ in range(40):
        broker.enqueue(message.copy())
    assert redis_client.llen(f"dramatiq:{QUEUE}.bell") == 16  # rings are capped


def test_the_sweep_job_restarts_a_drain_a_killed_holder_left(settings, session_factory,
                                                             redis_client):
    enqueued = []
    jobs = SchedulerJobs(settings, session_factory=session_factory, redis=redis_client,
                         enqueue=enqueued.append)
    redis_client.sadd(outbox.DRAIN_WANTED_KEY, 41)  # its lock has expired
    jobs.relay_sweep()
    assert enqueued == [0]


def dead_letter(broker, event_id):
    """A publisher message for *event_id* in the dead-letter queue, as Dramatiq puts it."""
    broker.enqueue(Message(queue_name=outbox.QUEUE, actor_name=outbox.PUBLISH_ACTOR,
                           args=(event_id,), kwargs={}, options={}))
    consumer = broker.consume(outbox.QUEUE, prefetch=1, timeout=50)
    deadline = time.monotonic() + 10
    message = None
    while message is None and time.monotonic() < deadline:
        message = next(consumer)
    consumer.nack(message)


def mark_published(session_factory, event_id):
    with session_factory.begin() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id)
                        .values(published_at=OutboxEvent.created_at))


def test_dead_letters_whose_events_were_published_since_are_removed(
        settings, broker, session_factory, redis_client, capsys):
    # Given dead-lettered publisher messages for two events, one of which the relay sweep
    # (or a later batch) has published since, and one for a row purged long ago
    later = add_outbox_event(session_factory, user_id=3)
    lost = add_outbox_event(session_factory, user_id=4)
    for event_id in (later, lost, 999):
        dead_letter(broker, event_id)
    mark_published(session_factory, later)
    assert len(dead_letters(broker)) == 3

    # When the sweep's scheduler job runs
    jobs = SchedulerJobs(dict(settings, **{"outbox.sweep_min_age_seconds": "3600"}),
                         session_factory=session_factory, redis=redis_client, broker=broker)
    jobs.relay_sweep()

    # Then only the message whose event is still unpublished stays
    assert [d.args for d in dead_letters(broker)] == [(lost,)]

    # When that one goes out too, `absensi dlq list` drops it and says so
    mark_published(session_factory, lost)
    assert cmd_dlq_list(argparse.Namespace(json=True), settings) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == []
    assert "removed 1 dead-lettered publisher message" in err
    assert discard_published(broker, session_factory) == []


def test_the_web_hand_off_sends_one_message_while_one_waits_to_start(
        broker, session_factory, redis_client):
    # Given the web nodes' enqueue function, workers that drain (one ran already), and
    # three commits in a row
    enqueue = outbox.enqueuer(broker, coalesce=True)
    outbox.publish_outbox_event(session_factory, redis_client, 0, 48 * 3600)
    first, second, third = (add_outbox_event(session_factory, user_id=u) for u in (1, 2, 3))
    for event_id in (first, second, third):
        enqueue(event_id)

    # Then one message waits: the run it starts reads every event committed before
    [body] = redis_client.hvals(f"dramatiq:{outbox.QUEUE}.msgs")
    assert json.loads(body)["args"] == [first]
    # ...and every commit, coalesced or not, counts in the commit generation (the today
    # board's cache compares it)
    assert int(redis_client.get(COMMITTED_KEY)) == 3
    assert outbox.publish_outbox_event(session_factory, redis_client, first,
                                       48 * 3600) == [first, second, third]

    # When a commit comes after that run started, then it sends a message of its own
    fourth = add_outbox_event(session_factory, user_id=4)
    enqueue(fourth)
    assert sorted(json.loads(b)["args"] for b in redis_client.hvals(
        f"dramatiq:{outbox.QUEUE}.msgs")) == [[first], [fourth]]
    assert int(redis_client.get(COMMITTED_KEY)) == 4


def test_the_web_hand_off_does_not_coalesce_before_a_drain_ran(broker, session_factory,
                                                                redis_client):
    # Given workers of the release before (they publish only the event their message
    # names), e.g. web nodes deployed first: no drain has ever run
    enqueue = outbox.enqueuer(broker, coalesce=True)
    ids = [add_outbox_event(session_factory, user_id=u) for u in (1, 2)]

    # When two commits hand off, then each sent its own message
    for event_id in ids:
        enqueue(event_id)
    assert sorted(json.loads(b)["args"] for b in redis_client.hvals(
        f"dramatiq:{outbox.QUEUE}.msgs")) == [[i] for i in ids]

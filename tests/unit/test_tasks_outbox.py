"""The outbox publish service and the relay sweep (tasks/outbox.py), on real Redis + SQLite."""
import argparse
import datetime as dt
import json

import pytest

from cluster.ports import free_port
from tasks import outbox
from tasks.broker import make_redis_client
from tasks.cli import cmd_outbox_status, cmd_outbox_sweep
from tests.tasks_helpers import add_outbox_event
from webapp.events.models import OutboxEvent
from realtime import streams
from webapp.settings import apply_environment

RETENTION = 48 * 3600


def history(redis, channel):
    entries = streams.read_history(redis, channel, "0-0").entries
    return [json.loads(entry.frame) for entry in entries]


def row(session_factory, event_id):
    with session_factory() as session:
        return session.get(OutboxEvent, event_id)


def dead_redis():
    """A client for a port nobody listens on, failing at once."""
    return make_redis_client({"redis.url": f"redis://127.0.0.1:{free_port()}/0"},
                             decode_responses=True)


def test_publish_appends_to_both_channels_and_marks_the_row(session_factory, redis_client):
    # Given a committed outbox event of user 7
    created = dt.datetime(2026, 11, 20, 1, 2, 3)
    event_id = add_outbox_event(session_factory, user_id=7, created_at=created)

    # When it is published
    published = outbox.publish_outbox_event(session_factory, redis_client, event_id, RETENTION)

    # Then both of its channels carry the contract's event frame...
    assert published == [event_id]
    for channel in ("attendances", "user.7"):
        [frame] = history(redis_client, channel)
        assert frame["event_id"] == event_id
        assert frame["event"] == "attendance.created"
        assert frame["node_id"] == "app-node-2"
        assert frame["ts"] == "2026-11-20T01:02:03+00:00"
        assert frame["data"]["user"] == {"id": 7, "name": "Ani"}
    # ...and the row is marked published after one attempt
    stored = row(session_factory, event_id)
    assert stored.published_at is not None and stored.attempts == 1


def test_publishing_twice_leaves_one_entry_per_channel(session_factory, redis_client):
    # Given an event that was already published
    event_id = add_outbox_event(session_factory)
    outbox.publish_outbox_event(session_factory, redis_client, event_id, RETENTION)
    first = row(session_factory, event_id).published_at

    # When it is published again, and again with the row forced back to unpublished
    # (a worker that died between the Redis publish and the UPDATE)
    again = outbox.publish_outbox_event(session_factory, redis_client, event_id, RETENTION)
    with session_factory.begin() as session:
        session.get(OutboxEvent, event_id).published_at = None
    outbox.publish_outbox_event(session_factory, redis_client, event_id, RETENTION)

    # Then Redis still holds one entry per channel
    assert again == []
    assert first is not None
    assert len(history(redis_client, "attendances")) == 1
    assert len(history(redis_client, "user.7")) == 1


def test_unknown_event_is_skipped(session_factory, redis_client):
    assert outbox.publish_outbox_event(session_factory, redis_client, 999, RETENTION) == []
    assert history(redis_client, "attendances") == []


def test_older_unpublished_events_of_the_user_go_out_first(session_factory, redis_client):
    # Given three unpublished events: two of user 7, one of user 8
    older = add_outbox_event(session_factory, user_id=7, event_type="attendance.created")
    other = add_outbox_event(session_factory, user_id=8)
    newer = add_outbox_event(session_factory, user_id=7, event_type="attendance.updated")

    # When the newer event of user 7 is handled first (its message arrived first)
    published = outbox.publish_outbox_event(session_factory, redis_client, newer, RETENTION)

    # Then the run drained every pending event in event_id order: user 7's older event
    # went out before the newer one, on both of its channels
    assert published == [older, other, newer]
    assert [f["event_id"] for f in history(redis_client, "user.7")] == [older, newer]
    assert [f["event_id"] for f in history(redis_client, "attendances")] == [older, other, newer]
    assert row(session_factory, other).published_at is not None


def test_publish_failure_raises_counts_the_attempt_and_keeps_the_row(session_factory):
    # Given an event and Redis unreachable
    event_id = add_outbox_event(session_factory)

    # When publishing fails
    with pytest.raises(Exception):
        outbox.publish_outbox_event(session_factory, dead_redis(), event_id, RETENTION)

    # Then the row is still unpublished (the sweep will retry) and the attempt is counted
    stored = row(session_factory, event_id)
    assert stored.published_at is None and stored.attempts == 1


def test_sweep_enqueues_stale_unpublished_rows_oldest_first(session_factory, redis_client):
    # Given published, stale and fresh rows
    now = dt.datetime(2026, 11, 20, 12, 0, 0)
    # (published first: a run publishes every pending event)
    done = add_outbox_event(session_factory, user_id=8, created_at=now - dt.timedelta(seconds=90))
    outbox.publish_outbox_event(session_factory, redis_client, done, RETENTION)
    stale_b = add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=30))
    stale_a = add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=60))
    add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=1))  # fresh
    enqueued = []

    # When the sweep runs with a 2-second minimum age
    result = outbox.sweep_unpublished(session_factory, enqueued.append, min_age_seconds=2,
                                      now=now)

    # Then only the stale unpublished rows are enqueued, in event_id order
    assert result == enqueued == sorted([stale_a, stale_b])


def test_sweep_claim_enqueues_an_event_once_per_lease(session_factory, redis_client):
    # Given a stale unpublished event
    event_id = add_outbox_event(session_factory)
    later = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=10)
    enqueued = []
    claim = outbox.redis_claim(redis_client, lease_seconds=60)

    # When two sweeps run (no worker took the message in between)
    for _ in range(2):
        outbox.sweep_unpublished(session_factory, enqueued.append, min_age_seconds=2, now=later,
                                 claim=claim)

    # Then the queue got one message; after the lease the next sweep sends another, and
    # leaves the event alone twice as long
    assert enqueued == [event_id]
    lease_key = f"{outbox.REQUEUE_LEASE_PREFIX}{event_id}"
    assert 50 < redis_client.ttl(lease_key) <= 60
    redis_client.delete(lease_key)
    outbox.sweep_unpublished(session_factory, enqueued.append, min_age_seconds=2, now=later,
                             claim=claim)
    assert enqueued == [event_id, event_id]
    assert 110 < redis_client.ttl(lease_key) <= 120


def test_sweep_propagates_enqueue_failure(session_factory):
    add_outbox_event(session_factory, created_at=dt.datetime(2026, 1, 1))

    def broken(event_id):
        raise ConnectionError("redis down")

    with pytest.raises(ConnectionError):
        outbox.sweep_unpublished(session_factory, broken, min_age_seconds=2)


def test_status_counts_and_oldest_age(session_factory, redis_client):
    # Given one published and two unpublished events, the oldest 90 s old
    now = dt.datetime(2026, 11, 20, 12, 0, 0)
    done = add_outbox_event(session_factory, user_id=8, created_at=now - dt.timedelta(seconds=120))
    outbox.publish_outbox_event(session_factory, redis_client, done, RETENTION)
    oldest = add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=90))
    newest = add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=10))

    # Then
    assert outbox.outbox_status(session_factory, now=now) == {
        "unpublished": 2, "oldest_unpublished_id": oldest,
        "oldest_unpublished_age_seconds": 90.0, "newest_event_id": newest,
    }


def test_cli_outbox_status_and_sweep(db_url, redis_server, redis_client, session_factory,
                                     capsys):
    # Given one unpublished event
    settings = apply_environment({"database.url": db_url, "redis.url": redis_server.url},
                                 environ={})
    event_id = add_outbox_event(session_factory, created_at=dt.datetime(2026, 1, 1))

    # When `absensi outbox status` runs, then it reports the pending event
    assert cmd_outbox_status(argparse.Namespace(json=True), settings) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["unpublished"], status["oldest_unpublished_id"]) == (1, event_id)

    # When `absensi outbox sweep` runs, then the publisher's message is in the queue
    assert cmd_outbox_sweep(argparse.Namespace(min_age=0), settings) == 0
    assert capsys.readouterr().out.strip() == "1 unpublished event(s) enqueued"
    [body] = redis_client.hvals(f"dramatiq:{outbox.QUEUE}.msgs")
    assert json.loads(body)["args"] == [event_id]


def test_an_event_goes_to_the_channels_its_domain_wrote_on_the_row(session_factory,
                                                                   redis_client):
    # Given a leave event of user 7 (channels chosen by the leave domain) and an old row
    # written before rows carried channels
    leave = add_outbox_event(session_factory, event_type="leave.created",
                             channels=["leave", "user.7"], payload={"id": 3, "kind": "cuti"})
    legacy = add_outbox_event(session_factory, user_id=8)

    # When both are published
    outbox.publish_outbox_event(session_factory, redis_client, leave, RETENTION)
    outbox.publish_outbox_event(session_factory, redis_client, legacy, RETENTION)

    # Then the leave event is on `leave` and `user.7` only; the old row on the attendance ones
    assert [f["event"] for f in history(redis_client, "leave")] == ["leave.created"]
    assert [f["event_id"] for f in history(redis_client, "user.7")] == [leave]
    assert [f["event_id"] for f in history(redis_client, "attendances")] == [legacy]
    assert [f["event_id"] for f in history(redis_client, "user.8")] == [legacy]


def test_record_event_refuses_unknown_or_missing_channels(session_factory):
    from webapp.events.services import record_event

    with session_factory() as session:
        for channels in ([], ["everyone"], ["leave", "user.x"]):
            with pytest.raises(ValueError):
                record_event(session, event_type="leave.created", aggregate_id=1, user_id=7,
                             channels=channels, payload={}, node_id="app-node-1")

"""The batch publisher (tasks/outbox: draining, batches), its lock and wanted set, poison rows, and
the batch form of the publish script (streams.publish_many), on real Redis + SQLite."""
import json
import threading
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from sqlalchemy import event

from realtime import streams
from tasks import outbox
from tasks.outbox import batches, draining
from tests.tasks_helpers import add_outbox_event
from webapp.events.models import OutboxEvent

RETENTION = 48 * 3600


def history(redis, channel):
    return [json.loads(e.frame) for e in streams.read_history(redis, channel, "0-0").entries]


def rows(session_factory, *ids):
    with session_factory() as session:
        return {i: session.get(OutboxEvent, i) for i in ids}


@pytest.fixture()
def statements(session_factory):
    """The SQL statements the code under test sends, by verb."""
    seen = []
    engine = session_factory.kw["bind"]

    def record(conn, cursor, statement, *args):
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


@pytest.fixture()
def no_summaries(monkeypatch):
    """The summaries hook (its own queries) out of the way of statement counts."""
    from webapp.attendance import summaries

    monkeypatch.setattr(summaries, "refresh_after_events", lambda *args, **kwargs: None)


@pytest.fixture()
def script_calls(monkeypatch):
    """Every publish_many call: the event ids of its publications."""
    calls = []
    real = streams.publish_many

    def counting(redis, publications, **kwargs):
        publications = list(publications)
        calls.append([p.event_id for p in publications])
        return real(redis, publications, **kwargs)

    monkeypatch.setattr(streams, "publish_many", counting)
    return calls


# -- the batch form of the script -------------------------------------------------------

def test_a_batch_publishes_like_single_publishes_do(redis_client):
    # Given a live subscriber
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(streams.LIVE_PUBSUB_CHANNEL)
    time.sleep(0.05)
    publications = [streams.Publication(channel, n, "attendance.created", "app-node-1",
                                        "2026-01-05T08:01:00+07:00", {"id": n})
                    for n in (1, 2) for channel in ("attendances", f"user.{n}")]
    try:
        # When three entries go out in one call, then again (a retried batch), then one
        # of them through the single publish
        offsets = streams.publish_many(redis_client, publications, retention_seconds=RETENTION)
        again = streams.publish_many(redis_client, publications, retention_seconds=RETENTION)
        single = streams.publish(redis_client, "user.2", event_id=2, event="x", node_id="n",
                                 ts="t", data={}, retention_seconds=RETENTION)
        frames, deadline = [], time.monotonic() + 1
        while time.monotonic() < deadline and len(frames) < 5:
            message = pubsub.get_message(timeout=0.05)
            if message:
                frames.append(message["data"])
    finally:
        pubsub.close()

    # Then each entry got one offset, kept on replay, and one live frame, byte-identical
    # to its history entry; a fresh stream's marker sits just before its first entry
    assert again == offsets and single == offsets[3]
    assert len(frames) == 4
    entries = [e for channel in ("attendances", "user.1", "user.2")
               for e in streams.read_history(redis_client, channel, "0-0").entries]
    assert sorted(frames) == sorted(e.frame for e in entries)
    assert sorted(offsets) == sorted(e.offset for e in entries)
    assert streams.read_history(redis_client, "user.1", "0-0").max_deleted < \
        streams.parse_offset(offsets[1])


def test_a_batch_refuses_an_unknown_channel_before_calling_redis(redis_client):
    bad = streams.Publication("everyone", 1, "x", "n", "t", {})
    with pytest.raises(ValueError):
        streams.publish_many(redis_client, [bad], retention_seconds=RETENTION)
    assert redis_client.keys("absensi:*") == []


# -- one run, many events ---------------------------------------------------------------

def test_one_run_publishes_every_pending_event_with_one_read_one_script_one_update(
        session_factory, redis_client, statements, script_calls, no_summaries):
    # Given 20 unpublished events of 4 users
    ids = [add_outbox_event(session_factory, user_id=1 + n % 4) for n in range(20)]
    statements.clear()

    # When one message is handled
    published = outbox.publish_outbox_event(session_factory, redis_client, ids[-1], RETENTION)

    # Then all went out in id order: one SELECT, one script call, one UPDATE
    assert published == ids
    assert script_calls == [[i for i in ids for _ in range(2)]]
    assert statements.count("SELECT") == 1 and statements.count("UPDATE") == 1
    assert all(r.published_at is not None and r.attempts == 1
               for r in rows(session_factory, *ids).values())
    for user in range(1, 5):
        assert [f["event_id"] for f in history(redis_client, f"user.{user}")] == \
            [i for n, i in enumerate(ids) if 1 + n % 4 == user]
    assert [f["event_id"] for f in history(redis_client, "attendances")] == ids

    # When a message comes with nothing left to do, then it costs one SELECT and no script
    statements.clear()
    assert outbox.publish_outbox_event(session_factory, redis_client, ids[0], RETENTION) == []
    assert statements.count("SELECT") == 1 and "UPDATE" not in statements
    assert len(script_calls) == 1


def test_full_batches_continue_and_long_backlogs_continue_in_a_new_message(
        session_factory, redis_client, script_calls, monkeypatch):
    # Given 7 pending events, batches of 2 and at most 2 batches per run
    ids = [add_outbox_event(session_factory, user_id=3) for _ in range(7)]
    monkeypatch.setattr(draining, "MAX_BATCHES_PER_RUN", 2)
    continued = []

    # When one message is handled
    first = outbox.publish_outbox_event(session_factory, redis_client, ids[0], RETENTION,
                                        batch_size=2, continue_later=lambda: continued.append(1))

    # Then it published two full batches and asked for a continuation, which finishes
    assert first == ids[:4] and continued == [1]
    rest = outbox.publish_outbox_event(session_factory, redis_client, 0, RETENTION,
                                       batch_size=2, continue_later=lambda: continued.append(2))
    assert rest == ids[4:] and continued == [1]
    assert [f["event_id"] for f in history(redis_client, "user.3")] == ids
    assert redis_client.exists(outbox.DRAIN_LOCK_KEY) == 0


def test_each_published_batch_refreshes_the_summaries(session_factory, redis_client,
                                                      monkeypatch):
    from webapp.attendance import summaries

    calls = []
    monkeypatch.setattr(summaries, "refresh_after_events",
                        lambda sf, redis, events, *, retention_seconds: calls.append(
                            [(e.id, e.event_type, e.payload["user"]["id"]) for e in events]))
    ids = [add_outbox_event(session_factory, user_id=5) for _ in range(3)]

    outbox.publish_outbox_event(session_factory, redis_client, ids[-1], RETENTION, batch_size=2)

    assert calls == [[(ids[0], "attendance.created", 5), (ids[1], "attendance.created", 5)],
                     [(ids[2], "attendance.created", 5)]]


# -- poison rows --------------------------------------------------------------------------

def test_a_row_that_cannot_be_published_fails_alone(session_factory, redis_client,
                                                    script_calls, monkeypatch, caplog):
    # Given pending events, one of which Redis refuses (e.g. its stream key holds a string)
    ids = [add_outbox_event(session_factory, user_id=6) for _ in range(2)]
    poison = add_outbox_event(session_factory, user_id=9)
    ids += [add_outbox_event(session_factory, user_id=6) for _ in range(2)]
    redis_client.set(streams.stream_key("user.9"), "not a stream")

    # When a message for another event is handled
    published = outbox.publish_outbox_event(session_factory, redis_client, ids[-1], RETENTION)

    # Then every other event went out (the batch, then one by one), the poison one is
    # counted and logged, and the message itself succeeded
    assert published == ids
    stored = rows(session_factory, poison)[poison]
    assert stored.published_at is None and stored.attempts == 1
    assert f"could not publish outbox event(s) {poison}" in caplog.text
    assert len(script_calls) == 1 + len(ids) + 1

    # When it has failed SUSPECT_ATTEMPTS times, then later batches leave it out: it goes
    # alone, so that it cannot fail their script call
    for _ in range(outbox.SUSPECT_ATTEMPTS - 1):
        outbox.publish_outbox_event(session_factory, redis_client, 0, RETENTION)
    later = [add_outbox_event(session_factory, user_id=6) for _ in range(3)]
    script_calls.clear()
    assert outbox.publish_outbox_event(session_factory, redis_client, later[-1],
                                       RETENTION) == later
    assert script_calls == [[i for i in later for _ in range(2)]]

    # When its own message comes (the sweep re-enqueues it), it is tried alone and the
    # message fails (retries, then the dead-letter queue)
    with pytest.raises(outbox.PublishFailed):
        outbox.publish_outbox_event(session_factory, redis_client, poison, RETENTION)
    assert script_calls[-1] == [poison, poison]

    # When the cause is gone, then its next try publishes it
    redis_client.delete(streams.stream_key("user.9"))
    assert outbox.publish_outbox_event(session_factory, redis_client, poison,
                                       RETENTION) == [poison]


def test_a_row_with_an_unknown_channel_fails_without_calling_redis(session_factory,
                                                                   redis_client, script_calls):
    good = add_outbox_event(session_factory, user_id=4)
    bad = add_outbox_event(session_factory, user_id=4, channels=["everyone"])

    with pytest.raises(outbox.PublishFailed):
        outbox.publish_outbox_event(session_factory, redis_client, bad, RETENTION)

    assert script_calls == [[good, good]]
    stored = rows(session_factory, good, bad)
    assert stored[good].published_at is not None
    assert stored[bad].published_at is None and stored[bad].attempts == 1


def test_losing_redis_mid_run_keeps_what_went_out_and_counts_the_rest(
        session_factory, redis_client, monkeypatch):
    # Given 4 pending events, batches of 2, and Redis failing after the first batch
    ids = [add_outbox_event(session_factory, user_id=2) for _ in range(4)]
    real, calls = streams.publish_many, []

    def flaky(redis, publications, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise RedisConnectionError("Connection refused")
        return real(redis, publications, **kwargs)

    monkeypatch.setattr(streams, "publish_many", flaky)

    # When the message is handled, then it fails (to be retried)...
    with pytest.raises(RedisConnectionError):
        outbox.publish_outbox_event(session_factory, redis_client, ids[-1], RETENTION,
                                    batch_size=2)

    # ...with the first batch marked, the rest counted, not tried one by one, lock free
    stored = rows(session_factory, *ids)
    assert [stored[i].published_at is not None for i in ids] == [True, True, False, False]
    assert [stored[i].attempts for i in ids] == [1, 1, 1, 1]
    assert len(calls) == 2
    assert redis_client.exists(outbox.DRAIN_LOCK_KEY) == 0


def test_a_script_error_for_the_whole_batch_stops_the_run(session_factory, redis_client,
                                                          monkeypatch):
    ids = [add_outbox_event(session_factory, user_id=2) for _ in range(3)]

    def refusing(redis, publications, **kwargs):
        raise ResponseError("OOM command not allowed when used memory > 'maxmemory'")

    monkeypatch.setattr(streams, "publish_many", refusing)
    with pytest.raises(outbox.PublishFailed):
        outbox.publish_outbox_event(session_factory, redis_client, ids[0], RETENTION,
                                    batch_size=2)
    assert [r.attempts for r in rows(session_factory, *ids).values()] == [1, 1, 0]


# -- one drainer at a time ----------------------------------------------------------------

def _during_the_holders_reads(monkeypatch, session_factory, redis_client, *, on_read):
    """Run ``on_read(n)`` inside the holder's n-th read, after it fetched its rows."""
    real, reads = batches.read_pending, []

    def reading(*args, **kwargs):
        result = real(*args, **kwargs)
        reads.append(1)
        on_read(len(reads))
        return result

    monkeypatch.setattr(batches, "read_pending", reading)
    return reads


@pytest.mark.parametrize("when", ["during a full batch", "after the last read"])
def test_an_event_committed_while_another_run_drains_is_never_left_behind(
        session_factory, redis_client, monkeypatch, when):
    # Given a holder draining 4 events in batches of 2; while it works (inside its first
    # read, or after its last read and before it lets go), a web node commits an event
    # and its message runs on another worker thread
    ids = [add_outbox_event(session_factory, user_id=1) for _ in range(4)]
    late, others = [], []
    trigger = 1 if when == "during a full batch" else 3

    def commit_and_send(n):
        if n == trigger:
            late.append(add_outbox_event(session_factory, user_id=8))
            # the other run finds the lock taken: it leaves its id and returns at once
            others.append(outbox.publish_outbox_event(session_factory, redis_client,
                                                      late[0], RETENTION))

    _during_the_holders_reads(monkeypatch, session_factory, redis_client,
                              on_read=commit_and_send)

    # When the holder finishes
    published = outbox.publish_outbox_event(session_factory, redis_client, ids[0], RETENTION,
                                            batch_size=2)

    # Then the other run did no Redis work, and the holder published the late event too
    assert others == [[]]
    assert published == ids + late
    assert rows(session_factory, late[0])[late[0]].published_at is not None
    assert redis_client.exists(outbox.DRAIN_LOCK_KEY, outbox.DRAIN_WANTED_KEY) == 0


def test_a_suspect_event_left_in_the_wanted_set_is_included(session_factory, redis_client,
                                                             monkeypatch):
    # Given an event that failed often (left out of batches) and then became publishable
    suspect = add_outbox_event(session_factory, user_id=3)
    with session_factory.begin() as session:
        session.get(OutboxEvent, suspect).attempts = outbox.SUSPECT_ATTEMPTS
    other = add_outbox_event(session_factory, user_id=4)
    sent = []
    _during_the_holders_reads(
        monkeypatch, session_factory, redis_client,
        on_read=lambda n: n == 1 and sent.append(outbox.publish_outbox_event(
            session_factory, redis_client, suspect, RETENTION)))

    # When its message runs while another run holds the lock
    published = outbox.publish_outbox_event(session_factory, redis_client, other, RETENTION)

    # Then the holder published it in its next pass
    assert sent == [[]] and published == [other, suspect]


def test_concurrent_runs_publish_every_event_exactly_once(session_factory, redis_client):
    # Given 4 "web nodes" committing events and 4 worker threads handling their messages
    committed, errors = [], []
    lock = threading.Lock()

    def node(n):
        try:
            for k in range(15):
                event_id = add_outbox_event(session_factory, user_id=10 + n)
                with lock:
                    committed.append(event_id)
                outbox.publish_outbox_event(session_factory, redis_client, event_id, RETENTION)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=node, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every event is published, once per channel, each user's in id order
    assert not errors and not any(t.is_alive() for t in threads)
    assert all(r.published_at is not None for r in rows(session_factory, *committed).values())
    everything = [f["event_id"] for f in history(redis_client, "attendances")]
    assert sorted(everything) == sorted(committed)
    for n in range(4):
        mine = [f["event_id"] for f in history(redis_client, f"user.{10 + n}")]
        assert mine == sorted(mine) and len(mine) == 15
    assert redis_client.exists(outbox.DRAIN_LOCK_KEY) == 0


def test_a_drain_left_by_a_killed_holder_is_seen_as_stranded(redis_client):
    # Given runs that asked for a drain while a holder (since killed) had the lock
    redis_client.set(outbox.DRAIN_LOCK_KEY, "dead-holder", px=10_000)
    redis_client.sadd(outbox.DRAIN_WANTED_KEY, 41)
    assert outbox.stranded_drain(redis_client, dead_letter_queue="outbox.XQ") == (False, 0)

    # When its lock expires, then the scheduler sees the request nobody serves
    redis_client.delete(outbox.DRAIN_LOCK_KEY)
    assert outbox.stranded_drain(redis_client, dead_letter_queue="outbox.XQ") == (True, 0)


def test_the_background_refresher_merges_batches_handed_in_while_it_works():
    from tasks.outbox.after_publish import BackgroundRefresher

    calls, release = [], threading.Event()

    def slow_refresh(session_factory, redis, events, *, retention_seconds):
        calls.append(list(events))
        release.wait(5)

    refresher = BackgroundRefresher(None, None, retention_seconds=1, refresh=slow_refresh)
    refresher.submit([1])
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    refresher.submit([2])  # while the first refresh runs
    refresher.submit([3, 4])
    release.set()
    assert refresher.wait_idle(5)
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert calls == [[1], [2, 3, 4]]


def test_a_run_that_keeps_being_asked_for_more_passes_hands_over_at_its_bound(
        session_factory, redis_client, monkeypatch):
    # Given at most 3 reads per run, and a commit (whose run finds the lock taken) during
    # every pass of the holder, as in a sustained rush
    monkeypatch.setattr(draining, "MAX_BATCHES_PER_RUN", 3)
    first = add_outbox_event(session_factory, user_id=1)
    committed, continued = [first], []

    def commit_and_send(n):
        event_id = add_outbox_event(session_factory, user_id=2)
        committed.append(event_id)
        assert outbox.publish_outbox_event(session_factory, redis_client, event_id,
                                           RETENTION) == []

    _during_the_holders_reads(monkeypatch, session_factory, redis_client,
                              on_read=commit_and_send)

    # When the holder runs
    published = outbox.publish_outbox_event(session_factory, redis_client, first, RETENTION,
                                            continue_later=lambda: continued.append(1))

    # Then it stopped after 3 passes, let the lock go and asked for a continuation; the
    # last commit's id waits in the wanted set for it
    assert published == committed[:3] and continued == [1]
    assert redis_client.exists(outbox.DRAIN_LOCK_KEY) == 0
    assert redis_client.smembers(outbox.DRAIN_WANTED_KEY) == {str(committed[3])}

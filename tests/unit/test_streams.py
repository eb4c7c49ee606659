"""Channel history and live fan-out (realtime/streams.py) against a real Redis."""
import asyncio
import json
import time

import pytest
import redis.asyncio

from realtime import streams

RETENTION = 3600
ATTENDANCE = {"id": 5, "user": {"id": 7, "name": "Budi"}, "branch": "JKT",
              "work_date": "2026-01-05", "check_in_at": "2026-01-05T08:01:00+07:00",
              "check_out_at": None, "status": "present", "check_in_node": "app-node-2",
              "check_out_node": None, "duration_minutes": None, "note": None}


def publish(client, event_id, channel="attendances", retention=RETENTION):
    return streams.publish(
        client, channel, event_id=event_id, event="attendance.created", node_id="app-node-2",
        ts="2026-01-05T08:01:00+07:00", data=ATTENDANCE, retention_seconds=retention,
    )


@pytest.fixture()
def live(redis_client):
    """A pub/sub subscription to the live channel; ``live()`` returns the frames so far."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(streams.LIVE_PUBSUB_CHANNEL)

    def received(wait=0.3):
        frames, deadline = [], time.monotonic() + wait
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=0.05)
            if message:
                frames.append(message["data"])
        return frames

    yield received
    pubsub.close()


def test_publish_sends_the_contract_event_frame_live_and_keeps_it_in_history(
        redis_client, live):
    # When
    offset = publish(redis_client, 41)

    # Then the live frame is the contract's event frame carrying the new offset
    [frame] = live()
    assert json.loads(frame) == {
        "op": "event", "channel": "attendances", "offset": offset, "event_id": 41,
        "event": "attendance.created", "node_id": "app-node-2",
        "ts": "2026-01-05T08:01:00+07:00", "data": ATTENDANCE,
    }
    assert list(json.loads(frame)) == ["op", "channel", "offset", "event_id", "event",
                                       "node_id", "ts", "data"]
    # and the history holds the very same text
    history = streams.read_history(redis_client, "attendances", "0")
    assert history.entries == [streams.Entry(offset, frame)]


def test_publishing_the_same_event_again_changes_nothing(redis_client, live):
    # Given
    first = publish(redis_client, 41)

    # When a retried actor publishes event 41 again
    again = publish(redis_client, 41)

    # Then
    assert again == first
    assert len(live()) == 1
    assert redis_client.xlen(streams.stream_key("attendances")) == 1


def test_the_same_event_on_two_channels_is_published_on_each(redis_client):
    # When
    on_all = publish(redis_client, 41, channel="attendances")
    on_user = publish(redis_client, 41, channel="user.7")

    # Then
    assert streams.read_since(redis_client, "attendances", on_all) == (True, [])
    assert streams.read_since(redis_client, "user.7", on_user) == (True, [])
    assert len(streams.read_history(redis_client, "user.7", "0").entries) == 1


def test_read_since_returns_every_later_event_in_order(redis_client, live):
    # Given
    offsets = [publish(redis_client, event_id) for event_id in range(1, 7)]
    frames = live()

    # When
    recovered, entries = streams.read_since(redis_client, "attendances", offsets[1])

    # Then
    assert recovered is True
    assert [e.offset for e in entries] == offsets[2:]
    assert [json.loads(e.frame)["event_id"] for e in entries] == [3, 4, 5, 6]
    assert [e.frame for e in entries] == frames[2:]
    assert sorted(offsets, key=streams.parse_offset) == offsets


def test_read_since_the_newest_offset_is_recovered_and_empty(redis_client):
    # Given
    newest = [publish(redis_client, event_id) for event_id in (1, 2)][-1]

    # When / Then
    assert streams.read_since(redis_client, "attendances", newest) == (True, [])


def test_history_older_than_the_retention_is_trimmed_and_not_recovered(redis_client):
    # Given two events, then a third one after their retention ran out
    old, last_old = publish(redis_client, 1, retention=1), publish(redis_client, 2, retention=1)
    time.sleep(1.1)
    new = publish(redis_client, 3, retention=1)

    # When a client that saw only the first one comes back
    recovered, entries = streams.read_since(redis_client, "attendances", old)

    # Then the second one is gone: it must reload over HTTP
    assert recovered is False
    assert [e.offset for e in entries] == [new]
    assert redis_client.xlen(streams.stream_key("attendances")) == 1
    assert streams.read_history(redis_client, "attendances", old).trimmed is True
    # but a client that saw both misses nothing
    assert streams.read_since(redis_client, "attendances", last_old) == (True, entries)


def test_a_new_stream_says_where_it_began_but_that_it_never_trimmed(redis_client):
    # Given a channel's first event
    first = publish(redis_client, 1)

    # When its history is read from before it began
    history = streams.read_history(redis_client, "attendances", "1-0")

    # Then the stream admits nothing older (it cannot know), yet it never trimmed
    assert history.gap_lost is True and history.trimmed is False
    assert [e.offset for e in history.entries] == [first]


def test_the_epoch_stays_until_redis_loses_its_data(redis_server, redis_client):
    async def epoch(candidate):
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            return await streams.aepoch(client, candidate)
        finally:
            await client.aclose()

    # Given the first process to ask stored its token
    assert asyncio.run(epoch("first")) == "first"
    # Then later ones get the same, until Redis loses its data
    assert asyncio.run(epoch("second")) == "first"
    redis_client.flushall()
    assert asyncio.run(epoch("third")) == "third"


def test_a_lost_history_is_not_recovered(redis_client):
    # Given an event, then Redis loses its data (restart without persistence)
    seen = publish(redis_client, 1)
    redis_client.flushall()
    time.sleep(0.01)  # a real restart takes longer than the millisecond of an offset

    # When / Then: no stream at all
    assert streams.read_since(redis_client, "attendances", seen) == (False, [])

    # When the stream is recreated by the next event
    new = publish(redis_client, 2)

    # Then the old offset is still not recovered, though the new event is replayed
    recovered, entries = streams.read_since(redis_client, "attendances", seen)
    assert recovered is False
    assert [e.offset for e in entries] == [new]


def test_since_beyond_the_newest_offset_is_not_recovered(redis_client):
    # Given
    newest = publish(redis_client, 1)
    ms, seq = streams.parse_offset(newest)

    # When / Then
    assert streams.read_since(redis_client, "attendances", f"{ms + 60000}-0") == (False, [])
    assert streams.read_since(redis_client, "attendances", f"{ms}-{seq + 1}") == (False, [])


def test_more_events_than_the_limit_are_not_recovered(redis_client):
    # Given
    offsets = [publish(redis_client, event_id) for event_id in range(1, 6)]

    # When
    recovered, entries = streams.read_since(redis_client, "attendances", offsets[0], limit=3)

    # Then
    assert recovered is False
    assert [e.offset for e in entries] == offsets[1:4]
    assert streams.read_since(redis_client, "attendances", offsets[0], limit=4)[0] is True


@pytest.mark.parametrize("since", ["", "abc", "1-2-3", "-1", "1-", " 1-0", "1-0\n", "1.5", None,
                                   12,
                                   "18446744073709551616-0",
                                   "18446744073709551615-18446744073709551615"])
def test_a_malformed_since_is_refused(redis_client, since):
    with pytest.raises(ValueError):
        streams.read_since(redis_client, "attendances", since)


def test_a_bare_millisecond_since_means_the_start_of_that_millisecond(redis_client):
    # Given
    offset = publish(redis_client, 1)
    ms, _ = streams.parse_offset(offset)

    # When
    history = streams.read_history(redis_client, "attendances", str(ms - 1))

    # Then
    assert [e.offset for e in history.entries] == [offset]
    assert streams.parse_offset(str(ms)) == (ms, 0)


def test_publishing_to_an_unknown_channel_is_refused(redis_client):
    with pytest.raises(ValueError):
        publish(redis_client, 1, channel="everyone")


def test_the_asyncio_variants_see_the_same_history(redis_server, redis_client):
    # Given
    first = publish(redis_client, 1)

    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            second = await streams.apublish(
                client, "attendances", event_id=2, event="attendance.updated",
                node_id="app-node-1", ts="2026-01-05T17:00:00+07:00", data=ATTENDANCE,
                retention_seconds=RETENTION)
            return second, await streams.aread_since(client, "attendances", first)
        finally:
            await client.aclose()

    # When
    second, (recovered, entries) = asyncio.run(scenario())

    # Then
    assert recovered is True
    assert [e.offset for e in entries] == [second]
    assert (recovered, entries) == streams.read_since(redis_client, "attendances", first)

"""The gateway's hub is supervised: an unexpected error restarts it instead of leaving a
gateway that says ok and delivers nothing."""
import asyncio
import json

import redis

from realtime import streams
from wsgate.hub import Hub


class FlakyClient:
    """A subscriber whose first delivery hits a bug."""

    def __init__(self):
        self.subscriptions, self.closed, self.claims = {}, False, None
        self.received, self.failures_left = [], 1

    def deliver(self, channel, offset, frame):
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("a bug in a client")
        self.received.append(json.loads(frame.text)["event_id"])
        return True

    def drop(self, code, reason):
        self.closed = True


def publish(client, event_id):
    streams.publish(client, "attendances", event_id=event_id, event="attendance.created",
                    node_id="app-node-1", ts="2026-01-05T08:01:00+07:00", data={"id": event_id},
                    retention_seconds=3600)


def test_an_unexpected_error_restarts_the_hub_which_keeps_delivering(redis_server,
                                                                     redis_client, caplog):
    async def scenario():
        client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True,
                                              socket_timeout=5)
        hub = Hub(client, max_backoff=0.2)
        subscriber = FlakyClient()
        hub.attach(subscriber)
        hub.add("attendances", subscriber)
        task = asyncio.get_running_loop().create_task(hub.run())
        try:
            await until(lambda: hub.healthy())
            # When a delivery raises
            publish(redis_client, 1)
            await until(lambda: subscriber.failures_left == 0)
            # Then the hub restarts, resubscribes, and the next events arrive
            await until(lambda: hub.healthy())
            publish(redis_client, 2)
            await until(lambda: 2 in subscriber.received)
            return hub.healthy()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()

    async def until(predicate, timeout=10):
        for _ in range(int(timeout / 0.05)):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError("condition not met in time")

    assert asyncio.run(scenario()) is True
    assert "the hub failed; restarting it" in caplog.text

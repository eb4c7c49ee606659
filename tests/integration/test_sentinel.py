"""Redis under Sentinel (contract §7): every process's clients find the primary through the
Sentinels and follow a failover by themselves; the publisher counts a batch as published
only once a replica confirmed it. Real servers on loopback: a primary, two replicas, three
Sentinels (quorum 2, down after 1 s)."""
import asyncio
import signal
import socket
import threading
import time

import pytest
import redis

from cluster.ports import wait_until
from realtime import streams
from tasks import outbox
from tests.servers import RedisServer, SentinelServer
from tests.tasks_helpers import add_outbox_event
from webapp.events.models import OutboxEvent
from webapp.redis import connect_async, make_redis, make_redis_client
from webapp.settings import apply_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

PASSWORD = "sentinel-test-pw"
MASTER = "absensi"
#: a failover takes ~1 s to notice, a few more to elect and promote; bounded generously
FAILOVER_SECONDS = 45


class Tier:
    """The servers, and the settings every process would be given in production."""

    def __init__(self, tmp_path):
        self.primary = RedisServer(tmp_path / "r0", password=PASSWORD)
        self.primary.start()
        self.replicas = [RedisServer(tmp_path / f"r{n}", password=PASSWORD,
                                     replica_of=self.primary.port) for n in (1, 2)]
        self.sentinels = [SentinelServer(self.primary.port, master=MASTER, password=PASSWORD,
                                         data_dir=tmp_path / f"s{n}") for n in (1, 2, 3)]
        for server in self.replicas + self.sentinels:
            server.start()
        self.settings = apply_environment({}, environ={
            # the URL's host is not used: the Sentinels say where the primary is
            "REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_PASSWORD": PASSWORD,
            "REDIS_SENTINELS": ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels),
            "REDIS_SENTINEL_MASTER": MASTER,
        })
        wait_until(lambda: self.connected_replicas() == 2, timeout=30, what="two replicas")
        # and both acknowledge writes (their first sync done)
        primary = redis.Redis(port=self.primary.port, password=PASSWORD, socket_timeout=15)
        primary.set("tier", "up")
        assert primary.execute_command("WAIT", 2, 10_000) == 2
        wait_until(lambda: all(self.primary_port_seen_by(s) == self.primary.port
                               for s in self.sentinels), timeout=30, what="sentinels")

    def connected_replicas(self):
        client = redis.Redis(port=self.primary_port(), password=PASSWORD,
                             socket_timeout=2)
        return int(client.info("replication").get("connected_slaves", 0))

    @staticmethod
    def primary_port_seen_by(sentinel):
        try:
            answer = redis.Redis(port=sentinel.port, socket_timeout=2).execute_command(
                "SENTINEL", "get-master-addr-by-name", MASTER)
        except redis.RedisError:
            return None
        return int(answer[1]) if answer else None

    def primary_port(self):
        return self.primary_port_seen_by(self.sentinels[0]) or self.primary.port

    def stop(self):
        for server in self.sentinels + self.replicas + [self.primary]:
            server.stop()


@pytest.fixture()
def tier(tmp_path):
    tier = Tier(tmp_path)
    try:
        yield tier
    finally:
        tier.stop()


def eventually(call, *, timeout=FAILOVER_SECONDS):
    """``call()`` until it stops raising a Redis error (bounded); its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_every_client_finds_the_primary_and_follows_a_failover(tier):
    # Given the web's, the publisher queue's and the gateway's clients, built once
    web, queue = make_redis(tier.settings), make_redis_client(tier.settings)

    async def gateway_round_trip(key, value):
        client = connect_async(tier.settings, max_connections=4, pool_timeout=2,
                               decode_responses=True, socket_timeout=2)
        try:
            await client.set(key, value)
            return await client.get(key)
        finally:
            await client.aclose()

    # When they write, it lands on the primary the Sentinels name
    web.set("before", "web")
    queue.set("queue", "q")
    assert asyncio.run(gateway_round_trip("gateway", "g")) == "g"
    direct = redis.Redis(port=tier.primary.port, password=PASSWORD, decode_responses=True)
    assert direct.mget("before", "queue", "gateway") == ["web", "q", "g"]
    # (replication is asynchronous: what must survive a failover waits for the replicas)
    assert direct.execute_command("WAIT", 2, 5000) == 2

    # When the primary dies (a host losing power)
    tier.primary.kill()

    # Then the same client objects write again once a replica was promoted, without being
    # rebuilt or reconfigured, and what was replicated before is still there
    eventually(lambda: web.set("after", "web"))
    new_port = tier.primary_port()
    assert new_port in {replica.port for replica in tier.replicas}
    assert web.get("before") == "web"
    eventually(lambda: queue.set("queue-after", "q"))
    assert asyncio.run(gateway_round_trip("gateway-after", "g")) == "g"
    promoted = redis.Redis(port=new_port, password=PASSWORD, decode_responses=True)
    assert promoted.mget("after", "queue-after", "gateway-after") == ["web", "q", "g"]


def test_a_batch_counts_as_published_only_once_a_replica_has_it(tier):
    client = make_redis(tier.settings)
    publication = streams.Publication("attendances", 1, "attendance.created", "app-node-1",
                                      "2026-12-05T08:00:00+00:00", {"id": 1})

    # When a replica must confirm it: the offsets come back
    [offset] = streams.publish_many(client, [publication], retention_seconds=3600,
                                    replicas=1, replica_timeout_ms=5000)
    assert offset

    # When more replicas must confirm it than exist: it is not counted as published
    with pytest.raises(streams.NotReplicated):
        streams.publish_many(client, [publication._replace(event_id=2)],
                             retention_seconds=3600, replicas=3, replica_timeout_ms=200)


def test_the_publisher_leaves_an_unconfirmed_batch_unpublished(tier, session_factory):
    # Given a pending event and a publisher that wants more replicas than answer
    event_id = add_outbox_event(session_factory, user_id=4)
    client = make_redis(tier.settings)

    # When a run publishes it, then it fails as when Redis is unreachable (the message is
    # retried) and the row stays pending for a later run
    with pytest.raises(streams.NotReplicated):
        outbox.publish_outbox_event(session_factory, client, event_id, 3600, replicas=3,
                                    after_batch=lambda rows: None)
    with session_factory() as session:
        row = session.get(OutboxEvent, event_id)
        assert row.published_at is None and row.attempts == 1

    # And with a replica to confirm it, the next run marks it published
    assert outbox.publish_outbox_event(session_factory, client, event_id, 3600, replicas=1,
                                       after_batch=lambda rows: None) == [event_id]


class SilentSentinel:
    """A Sentinel on a host that lost power, seen from a pooled connection: it accepts the
    connection and never answers. Counts how often it was connected to."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self):
        self.listener.close()
        for connection in self.connections:
            connection.close()


def test_a_silent_sentinel_is_asked_once_then_the_next_one_answers(tier):
    # Given the Sentinel listed first is silent (its host lost power)
    silent = SilentSentinel()
    try:
        settings = dict(tier.settings, **{"redis.sentinels": ",".join(
            [f"127.0.0.1:{silent.port}"] + [f"127.0.0.1:{s.port}" for s in tier.sentinels])})

        async def gateway_round_trip():
            client = connect_async(settings, max_connections=2, pool_timeout=2,
                                   decode_responses=True, socket_timeout=2)
            try:
                return await client.set("gateway", "g")
            finally:
                await client.aclose()

        # When the web's, the publisher queue's and the gateway's clients find the primary
        assert make_redis(settings).set("web", "w")
        assert make_redis_client(settings).set("queue", "q")
        assert asyncio.run(gateway_round_trip())
        # Then each asked the silent one once and moved on to the next: no retries on it
        # (redis-py's default retries a Sentinel ten times, half a minute per request)
        assert len(silent.connections) == 3
    finally:
        silent.close()


def test_a_retried_command_asks_the_sentinels_where_the_primary_went(tier):
    # Given the web's client (one retry) with a pooled connection to the primary
    web = make_redis(tier.settings)
    assert web.set("before", "w")
    old_port = tier.primary.port
    # When the primary's host goes silent (stopped: its connections stay open and nothing
    # answers on them, as with a host that lost power) and a replica is promoted
    tier.primary.process.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: all(tier.primary_port_seen_by(s) not in (old_port, None)
                               for s in tier.sentinels), timeout=FAILOVER_SECONDS,
                   what="a failover")
        # Then the next command times out on the old connection once, and its retry asks
        # the Sentinels and reaches the new primary: redis-py by itself redials the silent
        # address (redis/redis-py#3874), and the request failed after 9 s
        assert web.set("after", "w")
        promoted = redis.Redis(port=tier.primary_port(), password=PASSWORD,
                               decode_responses=True)
        assert promoted.get("after") == "w"
    finally:
        tier.primary.process.send_signal(signal.SIGCONT)

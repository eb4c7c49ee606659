"""``absensi worker`` and ``absensi scheduler`` as the processes the cluster runs."""
import json
import time

import pytest

from cluster.ports import wait_until
from tests.tasks_helpers import scheduler_process, worker_process
from realtime import streams
from webapp.servers import heartbeats

pytestmark = pytest.mark.integration


def live(redis):
    return {n["node_id"]: n["role"] for n in heartbeats.live_nodes(redis)}


def servers_events(redis):
    return [json.loads(e.frame) for e in streams.read_history(redis, "servers", "0-0").entries]


def test_worker_processes_beat_under_their_own_ids_and_leave_on_sigterm(
        db_url, redis_server, redis_client):
    # Given `absensi worker --processes 2`
    with worker_process(database_url=db_url, redis_url=redis_server.url, node_id="worker-5",
                        processes=2) as worker:
        # When it has booted, then each process is a live worker node of its own
        try:
            wait_until(lambda: {"worker-5", "worker-5.p1"} <= set(live(redis_client)),
                       timeout=30, what="two worker heartbeats")
        except Exception:
            raise AssertionError(worker.output()) from None
        assert live(redis_client) == {"worker-5": "worker", "worker-5.p1": "worker"}

        # When it gets SIGTERM, then it exits cleanly and its heartbeats go at once
        started = time.monotonic()
        assert worker.stop(timeout=25) == 0, worker.output()
    assert time.monotonic() - started < 20
    assert live(redis_client) == {}


def test_scheduler_announces_nodes_and_stops_promptly_on_sigterm(db_url, redis_server,
                                                                 redis_client):
    # Given a live web node
    heartbeats.beat(redis_client, node_id="app-node-4", role="web", city="Bali",
                    started_at="2026-11-20T00:00:00+00:00", ttl_seconds=60)

    with scheduler_process(database_url=db_url, redis_url=redis_server.url,
                           node_id="scheduler-3") as scheduler:
        # When the scheduler runs, then it beats and announces itself and the web node
        try:
            wait_until(lambda: {"app-node-4", "scheduler-3"} <= {
                e["data"]["node_id"] for e in servers_events(redis_client)},
                timeout=30, what="node.up events")
        except Exception:
            raise AssertionError(scheduler.output()) from None
        assert live(redis_client)["scheduler-3"] == "scheduler"
        assert {e["event"] for e in servers_events(redis_client)} == {"node.up"}

        # When the web node's heartbeat goes, then it is announced down
        heartbeats.stop(redis_client, "app-node-4")
        wait_until(lambda: servers_events(redis_client)[-1]["event"] == "node.down",
                   timeout=10, what="node.down event")
        assert servers_events(redis_client)[-1]["data"]["node_id"] == "app-node-4"

        # When it gets SIGTERM, then it stops within a few seconds and leaves the live set
        started = time.monotonic()
        assert scheduler.stop(timeout=15) == 0, scheduler.output()
    assert time.monotonic() - started < 5
    assert "scheduler-3" not in live(redis_client)

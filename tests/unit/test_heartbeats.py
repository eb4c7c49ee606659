"""Heartbeats: one record per process, a node live while any of its processes beats,
expiry by Redis's clock, and no keyspace SCAN to list them."""
import time

from tasks.servers import announce_node_changes
from webapp.servers import heartbeats

STARTED = "2026-11-20T01:02:03+00:00"


def beat(redis, process, ttl=30, node_id="app-node-1"):
    heartbeats.beat(redis, node_id=node_id, role="web", city="Jakarta", started_at=STARTED,
                    ttl_seconds=ttl, process=process)


def test_recycling_one_gunicorn_worker_announces_nothing(redis_client):
    # Given both workers of app-node-1 beating, and the node announced up
    beat(redis_client, "pid100")
    beat(redis_client, "pid101")
    assert announce_node_changes(redis_client, node_id="scheduler-1",
                                 retention_seconds=3600) == [("node.up", "app-node-1")]

    # When one worker exits (max_requests) and its replacement starts beating
    heartbeats.stop(redis_client, "app-node-1", "pid100")
    assert [n["node_id"] for n in heartbeats.live_nodes(redis_client)] == ["app-node-1"]
    beat(redis_client, "pid102")

    # Then admins hear of no node.down / node.up
    assert announce_node_changes(redis_client, node_id="scheduler-1",
                                 retention_seconds=3600) == []


def test_the_node_goes_down_when_its_last_process_does(redis_client):
    beat(redis_client, "pid100")
    beat(redis_client, "pid101")
    announce_node_changes(redis_client, node_id="scheduler-1", retention_seconds=3600)
    heartbeats.stop(redis_client, "app-node-1", "pid100")
    heartbeats.stop(redis_client, "app-node-1", "pid101")
    assert announce_node_changes(redis_client, node_id="scheduler-1",
                                 retention_seconds=3600) == [("node.down", "app-node-1")]


def test_expired_records_disappear_and_are_cleaned_up(redis_client):
    beat(redis_client, "pid100", ttl=1)
    assert heartbeats.is_beating(redis_client, "app-node-1")
    time.sleep(2.1)
    assert heartbeats.live_nodes(redis_client) == []
    assert redis_client.hlen(heartbeats.RECORDS_KEY) == 0
    assert redis_client.zcard(heartbeats.EXPIRY_KEY) == 0


def test_listing_live_nodes_never_scans_the_keyspace(redis_client):
    # Given many unrelated keys (sessions, streams...)
    redis_client.mset({f"absensi:session:{n}": "x" for n in range(2000)})
    beat(redis_client, "pid1")
    redis_client.config_resetstat()

    # When the servers list is read
    heartbeats.live_nodes(redis_client)

    # Then Redis ran no SCAN or KEYS
    stats = redis_client.info("commandstats")
    assert "cmdstat_scan" not in stats and "cmdstat_keys" not in stats

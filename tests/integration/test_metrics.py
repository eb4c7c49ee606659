"""``GET /metrics`` of a real gateway process and a real ``absensi worker`` (Prometheus text)."""
import json
import time

import pytest
import websocket

from cluster.ports import free_port, wait_until
from tests.servers import RedisServer
from tests.tasks_helpers import add_outbox_event, worker_process
from tests.metrics_helpers import metric_value, scrape
from tests.realtime_helpers import Gateway, write_config
from realtime import streams, tokens

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SECRET = "metrics-test-secret-that-is-long-enough-0123456789"


def gateway_metrics(gateway):
    status, content_type, text = scrape(f"http://127.0.0.1:{gateway.port}/metrics")
    assert status == 200 and content_type.startswith("text/plain"), text
    return text


def start_gateway(redis_url, tmp_path):
    config = write_config(tmp_path / "gateway.ini")
    return Gateway(redis_url=redis_url, secret=SECRET, config=config, workdir=tmp_path,
                   node_id="gateway-metrics").start()


def connect_and_subscribe(gateway, user_id):
    ws = websocket.create_connection(gateway.url, timeout=5, suppress_origin=True)
    ws.send(json.dumps({"op": "auth", "token": tokens.issue(
        SECRET, user_id=user_id, role="admin", ttl_seconds=60)[0]}))
    assert json.loads(ws.recv())["op"] == "ready"
    ws.send(json.dumps({"op": "subscribe", "channel": "attendances"}))
    assert json.loads(ws.recv())["op"] == "subscribed"
    return ws


def test_gateway_metrics_count_sockets_and_frames(redis_server, redis_client, tmp_path):
    # Given a gateway subscribed to Redis
    gateway = start_gateway(redis_server.url, tmp_path)
    sockets = []
    try:
        text = gateway_metrics(gateway)
        assert metric_value(text, "absensi_gateway_connections") == 0
        assert metric_value(text, "absensi_gateway_redis_subscribed") == 1
        assert metric_value(text, "absensi_gateway_redis_subscriptions_total") == 1

        # When two admins are connected and one event is published
        sockets = [connect_and_subscribe(gateway, user_id) for user_id in (1, 2)]
        streams.publish(redis_client, "attendances", event_id=1, event="attendance.created",
                        node_id="app-node-1", ts="2026-11-20T01:00:00+00:00", data={},
                        retention_seconds=3600)
        for ws in sockets:
            assert json.loads(ws.recv())["event_id"] == 1

        # Then the gateway counts the sockets, the live frame and every frame written
        text = gateway_metrics(gateway)
        assert metric_value(text, "absensi_gateway_connections") == 2
        assert metric_value(text, "absensi_gateway_connections_opened_total") == 2
        assert metric_value(text, "absensi_gateway_live_frames_received_total") == 1
        # ready + subscribed + the event, for each of the two
        assert metric_value(text, "absensi_gateway_frames_sent_total") == 6
        assert metric_value(text, "absensi_gateway_frames_dropped_total",
                            reason="client_too_slow") in (None, 0)
        # and only at /metrics: the gateway has no other page
        assert scrape(f"http://127.0.0.1:{gateway.port}/metricsx")[0] == 404
    finally:
        for ws in sockets:
            ws.close(timeout=1)
        gateway.stop()


def test_gateway_reports_its_redis_subscription_going_and_coming_back(tmp_path):
    # Given a gateway on a Redis of its own
    with RedisServer(data_dir=tmp_path / "redis") as redis_server:
        gateway = start_gateway(redis_server.url, tmp_path)
        try:
            # When Redis stops, then the gateway says it is not subscribed
            redis_server.stop()
            wait_until(lambda: metric_value(gateway_metrics(gateway),
                                            "absensi_gateway_redis_subscribed") == 0,
                       timeout=30, what="redis_subscribed 0")

            # When Redis is back, then it is subscribed again (a second subscription)
            redis_server.start()
            wait_until(lambda: metric_value(gateway_metrics(gateway),
                                            "absensi_gateway_redis_subscribed") == 1,
                       timeout=30, what="redis_subscribed 1")
            text = gateway_metrics(gateway)
            assert metric_value(text, "absensi_gateway_redis_subscriptions_total") == 2
        finally:
            gateway.stop()


def test_worker_metrics_show_dramatiq_messages_and_the_backlog(db_url, redis_server,
                                                               redis_client, session_factory,
                                                               tmp_path):
    # Given a worker with its /metrics on a free loopback port, and one dead letter
    port = free_port()
    # (dead-lettered now: Dramatiq's random queue maintenance drops letters older than a week)
    redis_client.zadd("dramatiq:outbox.XQ", {"dead-1": int(time.time() * 1000)})
    env = {"WORKER_METRICS_PORT": str(port), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m"),
           "LOG_FORMAT": "json"}
    url = f"http://127.0.0.1:{port}/metrics"
    with worker_process(database_url=db_url, redis_url=redis_server.url, node_id="worker-m",
                        processes=2, env=env) as worker:
        try:
            wait_until(lambda: scrape(url)[0] == 200, timeout=40, what="worker /metrics")
        except Exception:
            raise AssertionError(worker.output()) from None

        # When an outbox event is enqueued and published by one of its processes
        event_id = add_outbox_event(session_factory)
        from tasks.broker import make_broker
        from tasks.outbox import enqueuer

        enqueuer(make_broker({"redis.url": redis_server.url, **_broker_settings()}))(event_id)

        def processed():
            value = metric_value(scrape(url)[2], "dramatiq_messages_total",
                                 actor_name="publish_outbox_event", queue_name="outbox")
            return value == 1

        try:
            wait_until(processed, timeout=30, what="dramatiq_messages_total 1")
        except Exception:
            raise AssertionError(scrape(url)[2] + worker.output()) from None

        # Then the scrape shows Dramatiq's message metrics and the drained backlog
        text = scrape(url)[2]
        assert metric_value(text, "absensi_outbox_unpublished_events") == 0
        assert metric_value(text, "absensi_queue_messages", queue="outbox") == 0
        assert metric_value(text, "absensi_queue_dead_letters", queue="outbox") == 1
        assert metric_value(text, "dramatiq_message_duration_milliseconds_count",
                            actor_name="publish_outbox_event", queue_name="outbox") == 1
        # and its log lines are JSON objects naming the node
        time.sleep(0.2)
        lines = [json.loads(line) for line in worker.output().splitlines()
                 if line.startswith("{")]
        assert lines and {line["node_id"] for line in lines} == {"worker-m"}


def _broker_settings():
    from webapp.settings import apply_environment

    return {k: v for k, v in apply_environment({}, environ={}).items() if k != "redis.url"}

"""The worker's backlog gauges (tasks/metrics.py): outbox, queue depth, dead letters,
heartbeats."""
import datetime as dt
import io
import wsgiref.util

from prometheus_client import generate_latest
from sqlalchemy import update

from cluster.ports import free_port
from tasks.broker import make_redis_client
from tasks.metrics import make_registry, metrics_app
from tests.tasks_helpers import add_outbox_event
from tests.metrics_helpers import metric_value
from webapp.db import make_engine, make_session_factory
from webapp.events.models import OutboxEvent
from webapp.multiproc import reset
from webapp.servers import heartbeats
from webapp.settings import apply_environment

SETTINGS = apply_environment({}, environ={})


def scrape(registry):
    return generate_latest(registry).decode()


def test_backlog_gauges_read_at_scrape_time(session_factory, redis_client):
    # Given two unpublished events (the oldest 90 s old) and a published one...
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=90))
    add_outbox_event(session_factory, created_at=now - dt.timedelta(seconds=5))
    done = add_outbox_event(session_factory)
    with session_factory.begin() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.id == done)
                        .values(published_at=now))
    # ...three messages waiting, one waiting for a retry and two dead letters
    redis_client.hset("dramatiq:outbox.msgs", mapping={"a": "1", "b": "2", "c": "3"})
    redis_client.hset("dramatiq:outbox.DQ.msgs", mapping={"d": "4"})
    redis_client.zadd("dramatiq:outbox.XQ", {"e": 1, "f": 2})
    registry = make_registry(SETTINGS, session_factory=session_factory, redis=redis_client)

    # When Prometheus scrapes, then the gauges say so
    text = scrape(registry)
    assert metric_value(text, "absensi_outbox_unpublished_events") == 2
    assert 89 <= metric_value(text, "absensi_outbox_oldest_unpublished_age_seconds") < 150
    assert metric_value(text, "absensi_queue_messages", queue="outbox") == 4
    assert metric_value(text, "absensi_queue_dead_letters", queue="outbox") == 2
    assert metric_value(text, "absensi_outbox_up") == 1
    assert metric_value(text, "absensi_queue_up") == 1

    # When the backlog drains, then the next scrape shows it (nothing is cached)
    with session_factory.begin() as session:
        session.execute(update(OutboxEvent).values(published_at=now))
    redis_client.delete("dramatiq:outbox.msgs", "dramatiq:outbox.DQ.msgs")
    text = scrape(registry)
    assert metric_value(text, "absensi_outbox_unpublished_events") == 0
    assert metric_value(text, "absensi_outbox_oldest_unpublished_age_seconds") == 0
    assert metric_value(text, "absensi_queue_messages", queue="outbox") == 0


def test_a_source_that_is_down_reports_up_0_and_the_scrape_still_answers(tmp_path,
                                                                         redis_client):
    # Given a database file that is no database, and a Redis nobody listens on
    broken = tmp_path / "broken.sqlite"
    broken.write_text("not a database")
    session_factory = make_session_factory(make_engine(
        dict(SETTINGS, **{"database.url": f"sqlite:///{broken}"})))
    dead_redis = make_redis_client({"redis.url": f"redis://127.0.0.1:{free_port()}/0"})

    # When scraped, then each says it is down
    text = scrape(make_registry(SETTINGS, session_factory=session_factory, redis=dead_redis))
    assert metric_value(text, "absensi_outbox_up") == 0
    assert metric_value(text, "absensi_queue_up") == 0
    assert metric_value(text, "absensi_heartbeats_up") == 0


def test_each_live_node_has_a_heartbeat_series_until_it_stops_beating(session_factory,
                                                                      redis_client):
    # Given a gateway and a web node beating
    for node_id, role in (("gateway-1", "gateway"), ("app-node-1", "web")):
        heartbeats.beat(redis_client, node_id=node_id, role=role, started_at="t",
                        ttl_seconds=30)
    registry = make_registry(SETTINGS, session_factory=session_factory, redis=redis_client)

    # When scraped, then each live node has its series
    text = scrape(registry)
    assert metric_value(text, "absensi_heartbeats_up") == 1
    assert metric_value(text, "absensi_node_heartbeat", node_id="gateway-1", role="gateway") == 1
    assert metric_value(text, "absensi_node_heartbeat", node_id="app-node-1", role="web") == 1

    # When the gateway stops beating, then its series is gone (HeartbeatMissing notices)
    heartbeats.stop(redis_client, "gateway-1")
    text = scrape(registry)
    assert metric_value(text, "absensi_node_heartbeat", node_id="gateway-1",
                        role="gateway") is None
    assert metric_value(text, "absensi_node_heartbeat", node_id="app-node-1", role="web") == 1


def call(app, path):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    wsgiref.util.setup_testing_defaults(environ)
    environ["PATH_INFO"] = path
    answer = {}

    def start_response(status, headers):
        answer["status"] = status

    body = b"".join(app(environ, start_response))
    return answer["status"], body


def test_the_worker_answers_metrics_only_at_slash_metrics(session_factory, redis_client):
    app = metrics_app(make_registry(SETTINGS, session_factory=session_factory,
                                    redis=redis_client))
    status, body = call(app, "/metrics")
    assert status.startswith("200") and b"absensi_queue_messages" in body
    assert call(app, "/")[0].startswith("404")


def test_reset_empties_only_metric_files(tmp_path):
    (tmp_path / "counter_123.db").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("keep me")
    reset(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert reset(tmp_path / "new" / "dir").is_dir()

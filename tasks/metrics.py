"""Prometheus metrics of a worker node: ``GET /metrics`` on
``worker.metrics_host:worker.metrics_port`` (``WORKER_METRICS_HOST``/``WORKER_METRICS_PORT``,
default 127.0.0.1:9191; port 0 turns it off).

Message metrics come from Dramatiq's own :class:`~dramatiq.middleware.prometheus.Prometheus`
middleware (``dramatiq_messages_total``, ``dramatiq_message_duration_milliseconds``, ...),
which its worker processes write to a multiprocess directory. Dramatiq's exposition server
cannot show anything else, so :class:`~tasks.middleware.metrics.WorkerMetrics` replaces it
with :func:`serve`, which adds :class:`BacklogCollector`: the outbox backlog, queue depth,
dead letters and the live nodes' heartbeats, read at scrape time with cheap queries (every
worker node reports the same cluster-wide values).
"""
import logging
import socketserver
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from tasks import outbox
from webapp.servers import heartbeats

log = logging.getLogger(__name__)

#: the Dramatiq queues this project uses
QUEUES = (outbox.QUEUE,)
NAMESPACE = "dramatiq"


class BacklogCollector:
    """Gauges computed at each scrape; a source that is down reports ``..._up 0``."""

    def __init__(self, session_factory, redis, *, queues=QUEUES, namespace=NAMESPACE):
        self.session_factory = session_factory
        self.redis = redis
        self.queues = queues
        self.namespace = namespace

    def collect(self):
        yield from self._outbox()
        yield from self._queues()
        yield from self._heartbeats()

    def _outbox(self):
        up = GaugeMetricFamily("absensi_outbox_up", "1 if the outbox table could be read")
        try:
            status = outbox.outbox_status(self.session_factory)
        except SQLAlchemyError as error:
            log.warning("metrics: outbox unreadable: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily(
            "absensi_outbox_unpublished_events", "Outbox events not yet published to Redis",
            value=status["unpublished"])
        yield GaugeMetricFamily(
            "absensi_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when none is pending)",
            value=status["oldest_unpublished_age_seconds"] or 0)

    def _queues(self):
        up = GaugeMetricFamily("absensi_queue_up", "1 if the broker's queues could be read")
        depth = GaugeMetricFamily(
            "absensi_queue_messages", "Messages enqueued and not yet acknowledged (waiting, "
            "in progress or waiting for a retry)", labels=["queue"])
        dead = GaugeMetricFamily(
            "absensi_queue_dead_letters", "Messages in the dead-letter queue", labels=["queue"])
        try:
            with self.redis.pipeline(transaction=False) as pipe:
                for queue in self.queues:
                    key = f"{self.namespace}:{queue}"
                    pipe.hlen(f"{key}.msgs")
                    pipe.hlen(f"{key}.DQ.msgs")
                    pipe.zcard(f"{key}.XQ")
                counts = pipe.execute()
        except (RedisError, OSError) as error:
            log.warning("metrics: queues unreadable: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for n, queue in enumerate(self.queues):
            ready, delayed, dead_letters = counts[3 * n:3 * n + 3]
            depth.add_metric([queue], ready + delayed)
            dead.add_metric([queue], dead_letters)
        yield from (up, depth, dead)

    def _heartbeats(self):
        """One series per live node: a node that stops beating disappears, which the
        HeartbeatMissing alert notices (it remembers the nodes seen in the last 30 min)."""
        up = GaugeMetricFamily("absensi_heartbeats_up", "1 if the heartbeats could be read")
        live = GaugeMetricFamily(
            "absensi_node_heartbeat", "1 for each node whose heartbeat is live (absensi "
            "servers); a node that stops beating has no series", labels=["node_id", "role"])
        try:
            records = heartbeats.live_nodes(self.redis)
        except (RedisError, OSError) as error:
            log.warning("metrics: heartbeats unreadable: %s", error)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        for record in records:
            live.add_metric([record["node_id"], record.get("role") or ""], 1)
        yield from (up, live)


def make_registry(settings, *, directory=None, session_factory=None, redis=None):
    """What a scrape of this worker node shows: its processes' Dramatiq metrics (when
    *directory* is given) and the backlog."""
    from webapp.redis import make_redis_client
    from webapp.db import make_engine, make_session_factory

    registry = CollectorRegistry()
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    registry.register(BacklogCollector(
        session_factory or make_session_factory(make_engine(settings)),
        redis if redis is not None else make_redis_client(settings)))
    return registry


def metrics_app(registry):
    """WSGI app answering ``/metrics`` only."""
    exposition = make_wsgi_app(registry)

    def app(environ, start_response):
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"not found: try /metrics\n"]
        return exposition(environ, start_response)

    return app


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass  # one line per scrape says nothing


def make_metrics_server(settings, registry):
    return make_server(settings["worker.metrics_host"], int(settings["worker.metrics_port"]),
                       metrics_app(registry), server_class=_ThreadingServer,
                       handler_class=_QuietHandler)


def serve():
    """Dramatiq fork process (see :class:`~tasks.middleware.metrics.WorkerMetrics`): serve
    /metrics until stopped."""
    from webapp.multiproc import node_dir
    from webapp.settings import load_settings

    settings = load_settings()
    directory = node_dir(settings["worker.node_id"])
    try:
        server = make_metrics_server(settings, make_registry(settings, directory=directory))
    except OSError as error:
        # Metrics are not worth stopping the worker for (Dramatiq ignores a fork's exit).
        log.error("worker metrics: cannot listen on %s:%s: %s", settings["worker.metrics_host"],
                  settings["worker.metrics_port"], error)
        return 1
    log.info("worker metrics on http://%s:%s/metrics", *server.server_address[:2])
    server.serve_forever()
    return 0

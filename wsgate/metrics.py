"""Prometheus metrics of a gateway, served at ``GET /metrics`` on its own port.

The counters are process-wide (one gateway per process) and live on this module's
:data:`REGISTRY`; the hub and the clients increment them where things happen. What can
be read off the hub (sockets, channels, subscription state) is read at scrape time by
:class:`HubCollector`. nginx only forwards ``/ws`` to gateways: ``/metrics`` is for
scrapers on the private network.
"""
import tornado.web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry()

FRAMES_SENT = Counter(
    "absensi_gateway_frames_sent_total", "Frames written to websocket clients",
    registry=REGISTRY)
FRAMES_DROPPED = Counter(
    "absensi_gateway_frames_dropped_total",
    "Frames never written: the client was too slow (its queue was full) and is dropped",
    ["reason"], registry=REGISTRY)
SLOW_CLIENTS = Counter(
    "absensi_gateway_slow_clients_dropped_total",
    "Clients closed with 4008 because they did not read their frames fast enough",
    registry=REGISTRY)
CONNECTIONS_OPENED = Counter(
    "absensi_gateway_connections_opened_total", "Websocket connections accepted",
    registry=REGISTRY)
LIVE_FRAMES = Counter(
    "absensi_gateway_live_frames_received_total", "Live frames received from Redis pub/sub",
    registry=REGISTRY)
SUBSCRIPTIONS = Counter(
    "absensi_gateway_redis_subscriptions_total",
    "Times the Redis pub/sub subscription was (re)established and its gap filled",
    registry=REGISTRY)


class HubCollector:
    """Gauges read off a :class:`~wsgate.hub.Hub` at scrape time."""

    def __init__(self, hub):
        self.hub = hub

    def collect(self):
        yield GaugeMetricFamily("absensi_gateway_connections", "Open websocket connections",
                                value=len(self.hub.clients))
        yield GaugeMetricFamily(
            "absensi_gateway_redis_subscribed",
            "1 while the Redis pub/sub subscription is up (live frames can arrive), else 0",
            value=1 if self.hub.subscribed else 0)


def exposition(hub):
    """The text of one scrape: the counters, then the hub's gauges."""
    gauges = CollectorRegistry()
    gauges.register(HubCollector(hub))
    return generate_latest(REGISTRY) + generate_latest(gauges)


class MetricsHandler(tornado.web.RequestHandler):
    """``GET /metrics`` in Prometheus's text format."""

    def initialize(self, *, hub):
        self.hub = hub

    def get(self):
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.set_header("Cache-Control", "no-store")
        self.write(exposition(self.hub))

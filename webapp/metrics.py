"""Prometheus metrics of a web node, served at ``GET /metrics`` on the node's own port.

nginx answers 404 for ``/metrics``: scrapers reach each node directly on the private
network. Gunicorn runs several worker processes per node, each with its own counters, so
with ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn_conf.py sets and empties one per node)
prometheus_client keeps them in files there and a scrape sums every process's values.
Without it (tests, a single process) the app's own registry answers.
"""
import os
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest,
)
from prometheus_client import multiprocess
from pyramid.response import Response
from pyramid.tweens import INGRESS
from pyramid.view import view_config

from webapp import multiproc

#: seconds; a check-in takes ~10-50 ms, a CSV export up to seconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: route label of requests no route matched (never the raw path: unbounded label values)
UNMATCHED = "unmatched"
#: routes whose outcome is counted on its own (route name -> metric attribute)
ATTENDANCE_ROUTES = {"api.check_in": "check_ins", "api.check_out": "check_outs"}


class WebMetrics:
    """The metrics of one app, registered on their own registry."""

    def __init__(self, registry=None):
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "absensi_http_requests_total", "HTTP requests answered, by route name and status",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "absensi_http_request_duration_seconds", "Time to answer, by route name and status",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.check_ins = Counter(
            "absensi_check_ins_total",
            "Check-in requests by outcome: recorded (201), replayed (same Idempotency-Key), "
            "refused (409 already checked in, 4xx) or failed (5xx)",
            ["outcome"], registry=self.registry)
        self.check_outs = Counter(
            "absensi_check_outs_total", "Check-out requests by outcome (as check-ins)",
            ["outcome"], registry=self.registry)

    def observe(self, route, method, status, seconds, response=None):
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method, str(status)).observe(seconds)
        counter = ATTENDANCE_ROUTES.get(route)
        if counter and method == "POST":
            getattr(self, counter).labels(_outcome(status, response)).inc()

    def exposition(self):
        """The text a scrape gets: every process of this node, or this app alone."""
        if os.environ.get(multiproc.VARIABLE):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def _outcome(status, response):
    if status >= 500:
        return "failed"
    if status >= 400:
        return "refused"
    if response is not None and response.headers.get("Idempotent-Replayed") == "true":
        return "replayed"
    return "recorded"


def metrics_tween_factory(handler, registry):
    metrics = registry["metrics"]

    def metrics_tween(request):
        started = time.perf_counter()
        response = None
        try:
            response = handler(request)
            return response
        finally:
            route = request.matched_route.name if request.matched_route else UNMATCHED
            status = response.status_code if response is not None else 500
            metrics.observe(route, request.method, status, time.perf_counter() - started,
                            response)

    return metrics_tween


@view_config(route_name="metrics", request_method="GET")
def metrics_view(request):
    response = Response(body=request.registry["metrics"].exposition())
    # prometheus_client's type carries the format version (text/plain; version=0.0.4)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    response.cache_control = "no-store"
    return response


def includeme(config):
    config.registry["metrics"] = WebMetrics()
    # Under the request-log tween, over pyramid_tm: the time and status the client sees,
    # including commits and the exception views.
    config.add_tween("webapp.metrics.metrics_tween_factory",
                     under=("webapp.logs.request_log_tween_factory", INGRESS))

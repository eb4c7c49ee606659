"""The web node's access log, request id and ``GET /metrics`` (webapp/logs.py, metrics.py)."""
import datetime as dt
import logging
import os
import subprocess
import sys
import uuid

from pyramid.interfaces import INewRequest

from tests.factories import login
from tests.log_helpers import captured_logs
from tests.metrics_helpers import metric_value
from webapp.settings import REPO_ROOT

NGINX_ID = "5a0f3e1c9b8d47e6a2c4f1e0d9b8a7c6"


def json_logs(app):
    """The app's settings, with JSON lines (what production.ini says)."""
    return dict(app.app.registry.settings, **{"log.format": "json"})


def access_lines(captured):
    return captured.by_logger("webapp.access")


def test_an_access_line_per_request_with_nginx_request_id_and_node(app):
    # Given JSON logs on this node, and a line the app logs while serving the request
    app.app.registry.registerHandler(
        lambda event: logging.getLogger("webapp.test").warning("serving"), (INewRequest,))
    with captured_logs(json_logs(app), "web") as captured:
        # When nginx forwards a request with its request id
        app.get("/healthz", headers={"X-Request-Id": NGINX_ID}, status=200)

    # Then the line logged during the request carries that id and the node id...
    [inside] = captured.by_logger("webapp.test")
    assert (inside["request_id"], inside["node_id"]) == (NGINX_ID, "app-node-1")
    # ...and the access line says what was asked, how it ended and how long it took
    [line] = access_lines(captured)
    assert line["method"] == "GET" and line["path"] == "/healthz" and line["status"] == 200
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["user_id"] is None
    assert line["request_id"] == NGINX_ID and line["node_id"] == "app-node-1"
    assert line["level"] == "INFO"


def test_a_request_without_a_usable_request_id_gets_its_own(app):
    with captured_logs(json_logs(app), "web") as captured:
        app.get("/healthz")
        app.get("/healthz", headers={"X-Request-Id": "x\ninjected line"})

    first, second = access_lines(captured)
    for line in (first, second):
        assert uuid.UUID(hex=line["request_id"])
    assert first["request_id"] != second["request_id"]


def test_the_user_id_is_logged_when_the_request_loaded_the_user_and_never_looked_up(
        app, factory):
    # Given a logged-in employee
    user = factory.user(name="Sari", branch="BDG")
    login(app, user)

    with captured_logs(json_logs(app), "web") as captured:
        # When she asks for her profile (which loads her), and the health check (which not)
        app.get("/api/me", status=200)
        app.get("/healthz", status=200)
        app.get("/api/nothing-here", status=404)

    me, health, missing = access_lines(captured)
    # Then the first names her; logging did not look her up for the others
    assert me["user_id"] == user["id"] and me["path"] == "/api/me"
    assert health["user_id"] is None
    assert missing["status"] == 404


def test_metrics_count_requests_by_route_and_status_with_latency(app):
    # Given some traffic on this node
    for _ in range(3):
        app.get("/healthz", status=200)
    app.get("/no/such/page", status=404)

    # When Prometheus scrapes the node
    response = app.get("/metrics", status=200)

    # Then the text format counts them by route name (never the raw path) and status
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    text = response.text
    assert metric_value(text, "absensi_http_requests_total",
                        route="healthz", method="GET", status="200") == 3
    assert metric_value(text, "absensi_http_requests_total",
                        route="unmatched", method="GET", status="404") == 1
    assert "/no/such/page" not in text
    assert metric_value(text, "absensi_http_request_duration_seconds_count",
                        route="healthz", method="GET", status="200") == 3
    assert metric_value(text, "absensi_http_request_duration_seconds_bucket",
                        route="healthz", method="GET", status="200", le="+Inf") == 3


def test_metrics_count_check_ins_recorded_replayed_and_refused(app, factory):
    # Given an employee checking in at 08:00 Jakarta time
    instant = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.timezone.utc)
    app.app.registry["clock"] = lambda: instant
    login(app, factory.user(name="Budi", branch="JKT"))
    key = {"Idempotency-Key": "check-in-1"}

    # When she checks in, her phone retries with the same key, then she taps again
    app.post_json("/api/attendance/check-in", {}, headers=key, status=201)
    app.post_json("/api/attendance/check-in", {}, headers=key, status=201)
    app.post_json("/api/attendance/check-in", {}, status=409)

    # Then the check-ins counter tells the three apart
    text = app.get("/metrics").text
    assert metric_value(text, "absensi_check_ins_total", outcome="recorded") == 1
    assert metric_value(text, "absensi_check_ins_total", outcome="replayed") == 1
    assert metric_value(text, "absensi_check_ins_total", outcome="refused") == 1
    assert metric_value(text, "absensi_http_requests_total", route="api.check_in",
                        method="POST", status="409") == 1


WRITE_ONE = """
from webapp.metrics import WebMetrics
WebMetrics().observe("healthz", "GET", 200, 0.01)
"""
SCRAPE = """
from webapp.metrics import WebMetrics
print(WebMetrics().exposition().decode())
"""


def test_with_a_multiprocess_dir_a_scrape_sums_every_worker_process(tmp_path):
    # Given two gunicorn worker processes of one node that each served a request
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path), PYTHONPATH=str(REPO_ROOT))
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WRITE_ONE], env=env, check=True, timeout=60)

    # When a third process (the one the scrape reached) answers /metrics
    scrape = subprocess.run([sys.executable, "-c", SCRAPE], env=env, check=True, timeout=60,
                            capture_output=True, text=True).stdout

    # Then it reports both requests
    assert metric_value(scrape, "absensi_http_requests_total",
                        route="healthz", method="GET", status="200") == 2

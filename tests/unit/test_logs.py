"""webapp/logs.py: one JSON line per event with node and request id, text for development,
APScheduler's per-run lines silenced, the scheduler's job errors with their traceback."""
import datetime as dt
import json
import logging
import secrets
import threading
import time
from pathlib import Path

import pytest

from tasks import scheduler as scheduler_module
from tasks.scheduler import _logged, build_scheduler
from tests.log_helpers import captured_logs
from webapp import process_logging as logs
from webapp.settings import REPO_ROOT, apply_environment, load_settings


def settings_for(log_format="json", **extra):
    return apply_environment({"log.format": log_format, "app.node_id": "app-node-3",
                              "worker.node_id": "worker-2", "gateway.node_id": "gateway-2",
                              "scheduler.node_id": "scheduler-2", **extra}, environ={})


@pytest.mark.parametrize("role, node_id", [
    ("web", "app-node-3"), ("worker", "worker-2"), ("gateway", "gateway-2"),
    ("scheduler", "scheduler-2"),
])
def test_a_json_line_has_time_level_logger_node_and_request_id(role, node_id):
    # Given JSON logging for this process
    with captured_logs(settings_for(), role) as captured:
        # When a line is logged outside any request, and one while a request is served
        logging.getLogger("tasks.outbox").warning("event %s late", 42, extra={"event_id": 42})
        token = logs.REQUEST_ID.set("4f1c2a9e0b7d4c3e8a6f5b2d1c0e9f8a")
        try:
            logging.getLogger("webapp.events").info("inside")
        finally:
            logs.REQUEST_ID.reset(token)

    # Then each is one JSON object with the fields ops filter on
    outside, inside = captured.records()
    assert outside["level"] == "WARNING"
    assert outside["logger"] == "tasks.outbox"
    assert outside["node_id"] == node_id
    assert outside["request_id"] is None
    assert outside["message"] == "event 42 late"
    assert outside["event_id"] == 42
    stamp = dt.datetime.fromisoformat(outside["time"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60
    assert inside["request_id"] == "4f1c2a9e0b7d4c3e8a6f5b2d1c0e9f8a"
    assert len(captured.text().splitlines()) == 2


def test_an_exception_is_one_line_with_its_traceback():
    with captured_logs(settings_for(), "worker") as captured:
        try:
            raise ValueError("kaputt")
        except ValueError:
            logging.getLogger("tasks.actors").exception("publish failed")

    [line] = captured.text().splitlines()
    [record] = captured.records()
    assert record["level"] == "ERROR"
    assert "Traceback" in record["exc_info"] and "ValueError: kaputt" in record["exc_info"]
    assert line.startswith("{") and line.endswith("}")


def test_text_format_is_for_humans_and_names_the_node():
    with captured_logs(settings_for("text"), "gateway") as captured:
        logging.getLogger("wsgate.app").info("gateway listening")

    [line] = captured.text().splitlines()
    assert not line.startswith("{")
    assert "INFO" in line and "[wsgate.app]" in line and "gateway-2" in line
    assert line.endswith("gateway listening")


def test_the_format_comes_from_the_ini_and_log_format_overrides_it():
    production = load_settings(REPO_ROOT / "production.ini",
                               environ={"SECRET_KEY": secrets.token_urlsafe(48)})
    development = load_settings(REPO_ROOT / "development.ini", environ={})
    assert (production["log.format"], development["log.format"]) == ("json", "text")
    assert apply_environment({}, environ={"LOG_FORMAT": "json"})["log.format"] == "json"
    with pytest.raises(ValueError):
        logs.make_handler(settings_for("xml"), "web")


def test_configure_twice_keeps_one_handler():
    with captured_logs(settings_for(), "web"):
        logs.configure(settings_for(), "web", stream=None)
        ours = [h for h in logging.getLogger().handlers if getattr(h, "absensi_handler", 0)]
        assert len(ours) == 1
        logging.getLogger().removeHandler(ours[0])


class QuickJobs:
    """Stand-in for SchedulerJobs: every job only counts its runs."""

    sweep_interval = 0.05

    def __init__(self):
        self.sweeps = 0

    def relay_sweep(self):
        self.sweeps += 1

    def servers_monitor(self):
        pass

    def purge_idempotency_keys(self):
        pass

    def purge_kiosk_code_uses(self):
        pass

    def purge_outbox(self):
        pass

    def refresh_summaries(self):
        pass

    def end_of_day(self, *args):
        pass

    def branches(self):
        return []


def test_apscheduler_runs_leave_no_info_lines_but_its_warnings_pass():
    # Given the scheduler's logging at INFO and a job that runs every 50 ms
    jobs = QuickJobs()
    with captured_logs(settings_for(**{"log.level": "INFO"}), "scheduler") as captured:
        scheduler = build_scheduler(jobs)
        scheduler.start()
        try:
            deadline = time.monotonic() + 10
            while jobs.sweeps < 5 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            scheduler.shutdown(wait=True)
        logging.getLogger("apscheduler.scheduler").warning("a missed run")

    # Then the job ran, APScheduler said nothing about each run, its warning got through
    assert jobs.sweeps >= 5
    apscheduler_lines = [r for r in captured.records() if r["logger"].startswith("apscheduler")]
    assert [r["message"] for r in apscheduler_lines] == ["a missed run"]


def test_a_failing_job_is_logged_with_its_traceback_and_repeats_briefly():
    # Given a scheduler job that fails, and a clock the test moves
    now = [1000.0]

    def sweep_the_outbox():
        raise ConnectionError("redis down")

    job = _logged("relay_sweep", sweep_the_outbox, clock=lambda: now[0])
    with captured_logs(settings_for(), "scheduler") as captured:
        # When it fails, fails again at once, and again after the quiet period
        job()
        now[0] += 3
        job()
        now[0] += scheduler_module.REPEATED_ERROR_QUIET_SECONDS
        job()

    # Then the first and the third failure carry the traceback, the second is one line
    first, second, third = captured.by_logger("tasks.scheduler")
    assert first["level"] == "ERROR"
    assert first["message"] == "relay_sweep failed: ConnectionError: redis down"
    assert "Traceback" in first["exc_info"] and "in sweep_the_outbox" in first["exc_info"]
    assert second["level"] == "WARNING" and "exc_info" not in second
    assert "failing again" in second["message"]
    assert "Traceback" in third["exc_info"]
    assert first["node_id"] == "scheduler-2"


def test_a_different_error_gets_its_traceback_at_once_and_recovery_is_logged():
    errors = [ValueError("a"), KeyError("b"), None]

    def job_body():
        error = errors.pop(0)
        if error:
            raise error
        return "done"

    job = _logged("end_of_day", job_body)
    with captured_logs(settings_for(), "scheduler") as captured:
        job(), job()
        assert job() == "done"

    records = captured.by_logger("tasks.scheduler")
    assert ["exc_info" in r for r in records] == [True, True, False]
    assert records[-1]["message"] == "end_of_day works again"


def test_every_process_entry_configures_logging_through_process_logging():
    # One place: the entries call logs.configure, none sets up logging on its own
    entries = {"webapp/wsgi.py": '"web"', "tasks/cli.py": '"worker"', "wsgate/app.py": '"gateway"'}
    for path, role in entries.items():
        source = (REPO_ROOT / path).read_text()
        assert "process_logging.configure(" in source and role in source, path
    assert 'process_logging.configure(settings, "scheduler")' in (REPO_ROOT / "tasks/cli.py").read_text()
    for path in Path(REPO_ROOT).glob("[wt]*/**/*.py"):
        if ".venv" not in path.parts and "tests" not in path.parts:
            assert "basicConfig(" not in path.read_text(), path


def test_threads_without_a_request_have_no_request_id():
    seen = []
    token = logs.REQUEST_ID.set("abc")
    try:
        thread = threading.Thread(target=lambda: seen.append(logs.REQUEST_ID.get()))
        thread.start()
        thread.join(5)
    finally:
        logs.REQUEST_ID.reset(token)
    assert seen == [None]


def test_gunicorns_own_lines_come_in_the_nodes_format(monkeypatch, capsys):
    # Given a web node configured for JSON lines
    from gunicorn.config import Config

    from webapp.logs import GunicornLogger

    monkeypatch.setenv("LOG_FORMAT", "json")
    monkeypatch.setenv("APP_NODE_ID", "app-node-4")
    monkeypatch.setenv("ABSENSI_CONFIG", str(REPO_ROOT / "development.ini"))
    # When gunicorn's master logs through its logger class
    logger = GunicornLogger(Config())
    try:
        logger.critical("WORKER TIMEOUT (pid:%s)", 1234)
    finally:
        for handler in list(logger.error_log.handlers):
            logger.error_log.removeHandler(handler)

    # Then the line is JSON naming the node
    [line] = [json.loads(text) for text in capsys.readouterr().err.splitlines() if text]
    assert line["message"] == "WORKER TIMEOUT (pid:1234)"
    assert (line["level"], line["logger"], line["node_id"]) == (
        "CRITICAL", "gunicorn.error", "app-node-4")

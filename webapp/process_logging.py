"""Logging of every process, configured here and nowhere else.

Each process entry calls :func:`configure` once: the WSGI entry (``webapp/wsgi.py``),
``absensi worker``, ``absensi scheduler`` and ``absensi gateway`` / ``python -m wsgate``.
``log.format`` (``LOG_FORMAT``) picks the line format: ``json`` (production: one JSON
object per line with ``time``, ``level``, ``logger``, ``node_id``, ``request_id``,
``message``, ``exc_info`` and any ``extra`` fields) or ``text`` (development).

This module imports no web framework and no WSGI server: the gateway and the worker use
it as it is; the web node's request id and access lines are :mod:`webapp.logs`.
"""
import contextvars
import datetime as dt
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

#: the request id of the request being served by this thread/task (None outside one)
REQUEST_ID = contextvars.ContextVar("absensi_request_id", default=None)

#: which setting names this process in its log lines
NODE_ID_SETTINGS = {
    "web": "app.node_id",
    "worker": "worker.node_id",
    "gateway": "gateway.node_id",
    "scheduler": "scheduler.node_id",
}

#: libraries whose INFO lines say nothing ops needs: APScheduler logs every job run (800 of
#: 900 lines of a `make run` session), Tornado every HTTP request (probes, scrapes)
QUIET_LOGGERS = {
    "apscheduler": logging.WARNING,
    "sqlalchemy.engine": logging.WARNING,
    "alembic": logging.WARNING,  # its migration-context lines at every web worker start
    "tornado.access": logging.WARNING,
}

TEXT_FORMAT = "%(asctime)s %(levelname)-5.5s [%(name)s] [%(node_id)s %(request_id)s] %(message)s"
JSON_FIELDS = ["levelname", "name", "node_id", "request_id", "message"]


class ContextFilter(logging.Filter):
    """Adds ``node_id`` and ``request_id`` to every record a handler writes."""

    def __init__(self, node_id):
        super().__init__()
        self.node_id = node_id

    def filter(self, record):
        record.node_id = self.node_id
        record.request_id = REQUEST_ID.get()
        return True


class JsonLineFormatter(JsonFormatter):
    """One JSON object per record; ``time`` first (UTC, milliseconds), then the fields."""

    def __init__(self):
        super().__init__(JSON_FIELDS, rename_fields={"levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)

    def add_fields(self, log_data, record, message_dict):
        created = dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
        log_data["time"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        super().add_fields(log_data, record, message_dict)


class TextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record):
        if getattr(record, "request_id", None) is None:
            record.request_id = "-"
        return super().format(record)


def make_formatter(settings):
    log_format = settings["log.format"].strip().lower()
    if log_format not in ("json", "text"):
        raise ValueError(f"log.format must be json or text, not {log_format!r}")
    return JsonLineFormatter() if log_format == "json" else TextFormatter()


def make_handler(settings, role, stream=None):
    """A stream handler writing *role*'s lines in the configured format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter(settings[NODE_ID_SETTINGS[role]]))
    handler.setFormatter(make_formatter(settings))
    handler.absensi_handler = True
    return handler


def configure(settings, role, *, stream=None):
    """Send this process's log records to stderr (or *stream*) in the configured format.

    Replaces the handler of an earlier call (not other handlers, e.g. pytest's); the root
    level is ``log.level``, the chatty libraries of :data:`QUIET_LOGGERS` say WARNING+.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "absensi_handler", False)]:
        root.removeHandler(handler)
    handler = make_handler(settings, role, stream)
    root.addHandler(handler)
    root.setLevel(settings["log.level"].strip().upper())
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    return handler

"""Logging of every process, configured here and nowhere else.

Each process entry calls :func:`configure` once: the WSGI entry (``webapp/wsgi.py``),
``absensi worker``, ``absensi scheduler`` and ``absensi gateway`` / ``python -m wsgate``.
``log.format`` (``LOG_FORMAT``) picks the line format: ``json`` (production: one JSON
object per line with ``time``, ``level``, ``logger``, ``node_id``, ``request_id``,
``message``, ``exc_info`` and any ``extra`` fields) or ``text`` (development).

On a web node, :func:`request_log_tween_factory` puts nginx's ``X-Request-Id`` into
:data:`REQUEST_ID` for the request's duration, so every line logged while serving it
carries it, and writes one access line per request (logger ``webapp.access``).
"""
import contextvars
import datetime as dt
import logging
import re
import sys
import time
import uuid

from gunicorn import glogging
from pyramid.tweens import INGRESS
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

# nginx's $request_id is 32 hex digits; anything else from a client is not trusted as is
# (a direct request to a node could otherwise write what it likes into the logs).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("webapp.access")


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


class GunicornLogger(glogging.Logger):
    """gunicorn's own lines (worker boots and exits, timeouts) in the node's format:
    ``logger_class`` in webapp/gunicorn_conf.py. Its handlers stay where gunicorn put them."""

    def setup(self, cfg):
        super().setup(cfg)
        from webapp.settings import load_settings

        settings = load_settings()
        for handler in self.error_log.handlers:
            handler.addFilter(ContextFilter(settings["app.node_id"]))
            handler.setFormatter(make_formatter(settings))


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


def request_id_of(request):
    """nginx's ``X-Request-Id`` if it looks like one, else a fresh id for this request."""
    given = request.headers.get("X-Request-Id", "")
    if _REQUEST_ID.fullmatch(given):
        return given
    return uuid.uuid4().hex


def loaded_user_id(request):
    """The user's id if the request already looked the user up, without a lookup of its own
    (``request.user`` is reified: once loaded, it sits in the request's ``__dict__``)."""
    user = request.__dict__.get("user")
    if user is None:
        return None
    try:
        from sqlalchemy import inspect

        # the identity key survives a rollback that expired the row: no refresh query
        return inspect(user).identity[0]
    except Exception:  # noqa: BLE001 - not a mapped object: take what it says
        return getattr(user, "id", None)


def request_log_tween_factory(handler, registry):
    """Outermost tween: the request id for every line of the request, then its access line."""

    def request_log_tween(request):
        token = REQUEST_ID.set(request_id_of(request))
        started = time.perf_counter()
        status = 500  # what the client gets when an exception escapes every view
        try:
            response = handler(request)
            status = response.status_code
            return response
        finally:
            try:
                _access_line(request, status, started)
            finally:
                REQUEST_ID.reset(token)  # whatever happened: the next request's lines are its own

    return request_log_tween


def _access_line(request, status, started):
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    user_id = loaded_user_id(request)
    # the raw path: a path that is not UTF-8 (a 400 for the client) is still logged
    path = request.environ.get("PATH_INFO", "").encode("latin-1", "replace").decode(
        "utf-8", "replace")
    access_log.info(
        "%s %s %s %.1f ms user=%s", request.method, path, status,
        duration_ms, user_id if user_id is not None else "-",
        extra={"method": request.method, "path": path, "status": status,
               "duration_ms": duration_ms, "user_id": user_id},
    )


def includeme(config):
    config.add_tween("webapp.logs.request_log_tween_factory", under=INGRESS)

"""The web node's side of logging (see :mod:`webapp.process_logging` for every process's).

:func:`request_log_tween_factory` puts nginx's ``X-Request-Id`` into :data:`REQUEST_ID`
for the request's duration, so every line logged while serving it carries it, and writes
one access line per request (logger ``webapp.access``); :class:`GunicornLogger` gives
gunicorn's own lines the node's format.
"""
import logging
import re
import time
import uuid

from gunicorn import glogging
from pyramid.tweens import INGRESS

from webapp.process_logging import REQUEST_ID, ContextFilter, make_formatter

# nginx's $request_id is 32 hex digits; anything else from a client is not trusted as is
# (a direct request to a node could otherwise write what it likes into the logs).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("webapp.access")


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

"""The outermost WSGI layer: whatever escapes Pyramid still answers in the API's shape.

Pyramid's exception views cover views and tweens, but not what runs after them (session
persistence in a response callback, a Redis outage there) nor a bug in a tween. Without this
the WSGI server would send its own HTML 500 without ``X-Node-Id``.
"""
import json
import logging

from http import HTTPStatus

from webapp.errors import OUTAGES, encoding_error, internal_error, outage_error

log = logging.getLogger(__name__)


class SafetyNet:
    def __init__(self, app, node_id):
        self.app = app
        self.node_id = node_id

    @property
    def registry(self):
        return self.app.registry

    def __call__(self, environ, start_response):
        try:
            return self.app(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            error = _error_for(exc)
            log.log(logging.ERROR if error.status == 500 else logging.WARNING,
                    "request failed outside the exception views: %s %r: %s",
                    environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), type(exc).__name__,
                    exc_info=error.status == 500)
            body = json.dumps(error.body(), ensure_ascii=False).encode()
            start_response(f"{error.status} {HTTPStatus(error.status).phrase}", [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))), ("X-Node-Id", self.node_id),
                ("Cache-Control", "no-store"),
                *((name, str(value)) for name, value in error.headers.items()),
            ])  # Pyramid calls start_response only once it has its answer: none sent yet
            return [body]


def _error_for(exc):
    """The same errors the exception views answer with (webapp.errors)."""
    if isinstance(exc, OUTAGES):
        return outage_error()
    if isinstance(exc, UnicodeDecodeError):  # a path or query WebOb cannot decode
        return encoding_error()
    return internal_error()

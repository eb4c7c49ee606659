"""The outermost WSGI layer: whatever escapes Pyramid still answers in the API's shape.

Pyramid's exception views cover views and tweens, but not what runs after them (session
persistence in a response callback, a Redis outage there) nor a bug in a tween. Without this
the WSGI server would send its own HTML 500 without ``X-Node-Id``.
"""
import json
import logging
import sys

from webapp.errors import OUTAGES, OUTAGE_RETRY_AFTER_SECONDS

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
            outage = isinstance(exc, OUTAGES)
            log.log(logging.WARNING if outage else logging.ERROR,
                    "request failed outside the exception views: %s %s",
                    environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), exc_info=not outage)
            status, code, message, headers = (
                ("503 Service Unavailable", "service_unavailable",
                 "Layanan sedang tidak tersedia sebentar. Coba lagi.",
                 [("Retry-After", str(OUTAGE_RETRY_AFTER_SECONDS))]) if outage else
                ("500 Internal Server Error", "internal_error",
                 "Terjadi kesalahan pada server.", []))
            body = json.dumps({"error": code, "message": message}).encode()
            start_response(status, [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))), ("X-Node-Id", self.node_id),
                ("Cache-Control", "no-store"), *headers,
            ], sys.exc_info())
            return [body]

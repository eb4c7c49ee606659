"""The outermost WSGI layer: whatever escapes Pyramid still answers in the API's shape.

Pyramid's exception views cover views and tweens, but not what runs after them (session
persistence in a response callback, a Redis outage there) nor a bug in a tween. Without this
the WSGI server would send its own HTML 500 without ``X-Node-Id``.
"""
import json
import logging

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
            status, code, message, headers = _answer_for(exc)
            log.log(logging.ERROR if status.startswith("500") else logging.WARNING,
                    "request failed outside the exception views: %s %r: %s",
                    environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"), type(exc).__name__,
                    exc_info=status.startswith("500"))
            body = json.dumps({"error": code, "message": message}).encode()
            start_response(status, [
                ("Content-Type", "application/json; charset=utf-8"),
                ("Content-Length", str(len(body))), ("X-Node-Id", self.node_id),
                ("Cache-Control", "no-store"), *headers,
            ])  # Pyramid calls start_response only once it has its answer: none sent yet
            return [body]


def _answer_for(exc):
    if isinstance(exc, OUTAGES):
        return ("503 Service Unavailable", "service_unavailable",
                "Layanan sedang tidak tersedia sebentar. Coba lagi.",
                [("Retry-After", str(OUTAGE_RETRY_AFTER_SECONDS))])
    if isinstance(exc, UnicodeDecodeError):  # a path or query WebOb cannot decode
        return ("400 Bad Request", "invalid_encoding",
                "Alamat atau parameter bukan UTF-8 yang valid.", [])
    return "500 Internal Server Error", "internal_error", "Terjadi kesalahan pada server.", []

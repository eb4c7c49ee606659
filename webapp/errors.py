"""JSON errors (contract §3): ``{"error": code, "message": text, "fields": {...}?}``.

Services raise :class:`ApiError`; the exception views turn it, and Pyramid's own 401/403/404/
405/CSRF failures, into that shape for ``/api/`` paths; browsers get the app's own pages in
Bahasa Indonesia. A database or Redis outage is ``503`` with ``Retry-After`` (clients retry
with the same ``Idempotency-Key``). Every response gets ``X-Node-Id``, and nothing the app
answers may be cached (``Cache-Control: no-store`` unless a view chose otherwise).
"""
import json
import logging

import redis.exceptions
import sqlalchemy.exc
from pyramid.events import NewRequest, NewResponse
from pyramid.exceptions import BadCSRFOrigin, BadCSRFToken, PredicateMismatch
from pyramid.httpexceptions import HTTPFound
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from webapp import retries

log = logging.getLogger(__name__)

#: what an outage of MariaDB/SQLite or Redis raises: the request may succeed in a moment
OUTAGES = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError, sqlalchemy.exc.DisconnectionError,
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
)
OUTAGE_RETRY_AFTER_SECONDS = 2
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class ApiError(Exception):
    """An expected failure with its HTTP status and stable error code."""

    def __init__(self, status, code, message, *, fields=None, extra=None, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self):
        body = {"error": self.code, "message": self.message}
        if self.fields:
            body["fields"] = self.fields
        body.update(self.extra)
        return body


def invalid(fields, message="Data tidak valid."):
    return ApiError(422, "invalid", message, fields=fields)


def json_response(status, body, headers=None):
    response = Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type="application/json",
        charset="utf-8",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response


def error_response(error):
    return json_response(error.status, error.body(), error.headers)


def _is_api(request):
    return request.path.startswith("/api/") or request.path in ("/healthz", "/readyz")


def outage_error():
    return ApiError(503, "service_unavailable",
                    "Layanan sedang tidak tersedia sebentar. Coba lagi.",
                    headers={"Retry-After": OUTAGE_RETRY_AFTER_SECONDS})


def error_page(request, status, title, message, *, with_user=True):
    """The app's own error page for browsers (JSON stays JSON for the API), drawn by the
    pages area, which registers ``registry["error_page"]`` (it knows users and layout;
    this module sits below every area)."""
    return request.registry["error_page"](request, status, title, message,
                                          with_user=with_user)


@exception_view_config(ApiError)
def api_error_view(exc, request):
    return error_response(exc)


@exception_view_config(UnicodeDecodeError)
def undecodable_input_view(exc, request):
    # a path or query string whose percent-encoding is not UTF-8 (``?page=%ff``)
    return error_response(encoding_error())


def encoding_error():
    return ApiError(400, "invalid_encoding", "Alamat atau parameter bukan UTF-8 yang valid.")


def internal_error():
    return ApiError(500, "internal_error", "Terjadi kesalahan pada server.")


def outage_view(exc, request):
    retries.mark_if_transient(exc)  # a retry is answered instead, unless this was the last
    log.warning("dependency unavailable on %s %s: %s", request.method, request.path,
                type(exc).__name__)
    if not _is_api(request):
        return error_page(request, 503, "Layanan sedang tidak tersedia",
                          "Coba muat ulang halaman ini sebentar lagi.", with_user=False)
    return error_response(outage_error())


@exception_view_config(BadCSRFToken)
def csrf_failed_view(exc, request):
    return error_response(ApiError(
        403, "csrf_failed",
        "Token CSRF tidak ada atau salah: kirim header X-CSRF-Token dari sesi Anda.",
    ))


@exception_view_config(BadCSRFOrigin)
def csrf_origin_failed_view(exc, request):
    # Over HTTPS Pyramid also checks that an unsafe request with a session comes from this
    # site (Origin, else Referer), as browsers send; its own answer is an HTML 400.
    return error_response(ApiError(
        403, "csrf_failed",
        "Asal permintaan tidak dikenal: kirim header Origin (atau Referer) situs ini, "
        "seperti peramban.",
    ))


@forbidden_view_config()
def forbidden_view(exc, request):
    if request.user is None:
        if not _is_api(request):
            return HTTPFound(request.route_url("login", _query={"next": request.path_qs}))
        return error_response(ApiError(401, "unauthenticated", "Silakan masuk terlebih dahulu."))
    if not _is_api(request):
        return error_page(request, 403, "Akses ditolak",
                          "Anda tidak berhak membuka halaman ini.")
    return error_response(ApiError(403, "forbidden", "Anda tidak berhak melakukan ini."))


@notfound_view_config()
def notfound_view(exc, request):
    if isinstance(exc, PredicateMismatch):
        allowed = allowed_methods(request)
        error = ApiError(405, "method_not_allowed", "Metode tidak didukung.",
                         headers={"Allow": ", ".join(allowed)} if allowed else None)
        return error_response(error)
    if not _is_api(request):
        return error_page(request, 404, "Halaman tidak ditemukan",
                          "Alamat yang Anda buka tidak ada atau sudah dipindahkan.")
    return error_response(ApiError(404, "not_found", "Tidak ditemukan."))


@exception_view_config(Exception)
def unexpected_error_view(exc, request):
    log.exception("unhandled error on %s %s", request.method, request.path)
    if not _is_api(request):
        return error_page(request, 500, "Terjadi kesalahan",
                          "Maaf, terjadi kesalahan pada server. Coba lagi.", with_user=False)
    return error_response(internal_error())


def allowed_methods(request):
    """The methods the matched route has views for (for the ``Allow`` header of a 405)."""
    route = request.matched_route.name if request.matched_route else None
    by_route = request.registry.get("allowed_methods_by_route")
    if by_route is None:
        by_route = {}
        for item in request.registry.introspector.get_category("views"):
            view = item["introspectable"]
            methods = view["request_methods"]
            if view["route_name"] and methods:
                names = (methods,) if isinstance(methods, str) else methods
                by_route.setdefault(view["route_name"], set()).update(names)
        request.registry["allowed_methods_by_route"] = by_route
    return sorted(by_route.get(route, ()))


def require_json_body(event):
    """A request with a body must say it is JSON: no cross-site form reaches a view
    (a ``text/plain`` form could otherwise log a browser into another account)."""
    request = event.request
    has_body = request.method in BODY_METHODS and (
        (request.content_length or 0) > 0 or "chunked" in
        request.headers.get("Transfer-Encoding", "").lower())
    if has_body and request.content_type != "application/json":
        raise ApiError(415, "unsupported_media_type",
                       "Badan permintaan harus berupa JSON (Content-Type: application/json).")


def add_node_id(event):
    event.response.headers["X-Node-Id"] = event.request.registry.settings["app.node_id"]
    # sessions, personal data, CSV exports: nothing the app answers belongs in a cache
    event.response.headers.setdefault("Cache-Control", "no-store")


def includeme(config):
    config.add_subscriber(add_node_id, NewResponse)
    config.add_subscriber(require_json_body, NewRequest)
    for outage in OUTAGES:
        config.add_exception_view(outage_view, context=outage)
    config.scan(__name__)

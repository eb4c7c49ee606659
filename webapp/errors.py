"""JSON errors (contract §3): ``{"error": code, "message": text, "fields": {...}?}``.

Services raise :class:`ApiError`; the exception views turn it, and Pyramid's own 401/403/404/
405/CSRF failures, into that shape for ``/api/`` paths. Every response gets ``X-Node-Id``.
"""
import json
import logging

from pyramid.events import NewResponse
from pyramid.exceptions import BadCSRFToken, PredicateMismatch
from pyramid.httpexceptions import HTTPForbidden, HTTPFound, HTTPNotFound
from pyramid.response import Response
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

log = logging.getLogger(__name__)


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


@exception_view_config(ApiError)
def api_error_view(exc, request):
    return error_response(exc)


@exception_view_config(BadCSRFToken)
def csrf_failed_view(exc, request):
    return error_response(ApiError(
        403, "csrf_failed",
        "Token CSRF tidak ada atau salah: kirim header X-CSRF-Token dari sesi Anda.",
    ))


@forbidden_view_config()
def forbidden_view(exc, request):
    if request.user is None:
        if not _is_api(request):
            return HTTPFound(request.route_url("login", _query={"next": request.path_qs}))
        return error_response(ApiError(401, "unauthenticated", "Silakan masuk terlebih dahulu."))
    if not _is_api(request):
        return HTTPForbidden("Anda tidak berhak membuka halaman ini.")
    return error_response(ApiError(403, "forbidden", "Anda tidak berhak melakukan ini."))


@notfound_view_config()
def notfound_view(exc, request):
    if isinstance(exc, PredicateMismatch):
        return error_response(ApiError(405, "method_not_allowed", "Metode tidak didukung."))
    if not _is_api(request):
        return HTTPNotFound("Halaman tidak ditemukan.")
    return error_response(ApiError(404, "not_found", "Tidak ditemukan."))


@exception_view_config(Exception)
def unexpected_error_view(exc, request):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(ApiError(500, "internal_error", "Terjadi kesalahan pada server."))


def add_node_id(event):
    event.response.headers["X-Node-Id"] = event.request.registry.settings["app.node_id"]


def includeme(config):
    config.add_subscriber(add_node_id, NewResponse)
    config.scan(__name__)

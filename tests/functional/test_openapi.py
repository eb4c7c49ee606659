"""webapp/openapi.yaml: a valid OpenAPI document, served as JSON, and exactly the app's routes."""
import re

import pytest
from openapi_spec_validator import validate

from webapp.openapi import load_document

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
#: every `/api` row of CONTRACT.md §3 (plus the health checks): the spec must describe each
CONTRACT_ROWS = {
    ("POST", "/api/login"), ("POST", "/api/logout"), ("GET", "/api/me"),
    ("POST", "/api/attendance/check-in"), ("POST", "/api/attendance/check-out"),
    ("GET", "/api/me/attendances"), ("GET", "/api/attendances/today"),
    ("GET", "/api/attendances"), ("GET", "/api/attendances/export.csv"),
    ("POST", "/api/users"), ("GET", "/api/users"), ("PATCH", "/api/users/{id}"),
    ("POST", "/api/attendances"), ("PATCH", "/api/attendances/{id}"),
    ("GET", "/api/attendances/{id}/audit"), ("POST", "/api/leave"), ("GET", "/api/leave"),
    ("POST", "/api/leave/{id}/approve"), ("POST", "/api/leave/{id}/reject"),
    ("POST", "/api/leave/{id}/cancel"), ("GET", "/api/me/leave-balance"),
    ("GET", "/api/holidays"), ("POST", "/api/holidays"), ("DELETE", "/api/holidays/{id}"),
    ("GET", "/api/reports/monthly"), ("GET", "/api/reports/monthly.csv"),
    ("PATCH", "/api/branches/{code}"), ("GET", "/api/branches"), ("GET", "/api/servers"),
    ("POST", "/api/realtime/token"), ("GET", "/api/openapi.json"),
    ("GET", "/healthz"), ("GET", "/readyz"),
    # §3.1 shifts, rotas, overtime, requests, sites
    ("GET", "/api/shift-types"), ("POST", "/api/shift-types"), ("PATCH", "/api/shift-types/{id}"),
    ("POST", "/api/schedules"), ("GET", "/api/schedules"), ("GET", "/api/me/schedule"),
    ("POST", "/api/attendance-requests"), ("GET", "/api/attendance-requests"),
    ("POST", "/api/attendance-requests/{id}/approve"),
    ("POST", "/api/attendance-requests/{id}/reject"),
    ("POST", "/api/attendances/{id}/overtime/approve"),
    ("POST", "/api/attendances/{id}/overtime/reject"),
    ("PUT", "/api/branches/{code}/sites"), ("GET", "/api/reports/monthly.xlsx"),
    # §3.2 kiosks, rotating codes, PINs
    ("POST", "/api/kiosks"), ("GET", "/api/kiosks"), ("DELETE", "/api/kiosks/{id}"),
    ("POST", "/api/kiosk/enroll"), ("GET", "/api/kiosk/qr"), ("POST", "/api/kiosk/punch"),
    ("PUT", "/api/me/pin"),
}
#: a kiosk's bearer token: no session rides on it, hence no CSRF token and no 403
KIOSK_ONLY = [{"kioskToken": []}]


def is_described(pattern):
    """The URLs the spec must describe: the API and the health checks (not pages, /metrics)."""
    return pattern.startswith("/api/") or pattern in ("/healthz", "/readyz")


def spec_operations(document):
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item if method in HTTP_METHODS}


def route_operations(registry):
    """(method, pattern) of every view on a described route, from Pyramid's introspector.

    A view without a method predicate would answer every method: listed as ``*`` so the
    comparison fails loudly. ``HEAD`` is implied by ``GET`` and not listed separately.
    """
    introspector = registry.introspector
    patterns = {item["introspectable"]["name"]: item["introspectable"]["pattern"]
                for item in introspector.get_category("routes")}
    operations = set()
    for item in introspector.get_category("views"):
        view = item["introspectable"]
        pattern = patterns.get(view["route_name"])
        if pattern is None or not is_described(pattern):
            continue
        methods = view["request_methods"] or ("*",)
        methods = (methods,) if isinstance(methods, str) else methods
        # "{id:[0-9]+}" in a route is "{id}" in the spec
        path = re.sub(r"\{(\w+):[^}]*\}", r"{\1}", pattern)
        operations |= {(method, path) for method in methods if method != "HEAD"}
    return operations


@pytest.fixture(scope="module")
def document():
    return load_document()


def test_the_document_is_valid_openapi_3(document):
    # Given the YAML as the app loads it / Then it validates against the OpenAPI schema
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_contract_row_has_an_operation(document):
    # Given the contract's table / Then each row is an operation of the spec
    missing = CONTRACT_ROWS - spec_operations(document)
    assert not missing, f"contract rows without an operation in openapi.yaml: {sorted(missing)}"


def test_spec_and_routes_describe_the_same_operations(app, document):
    # Given the running app's routes and views, and the spec
    routes = route_operations(app.app.registry)
    spec = spec_operations(document)
    # Then no route/method lacks an operation, and no operation lacks a route
    assert not routes - spec, f"routes without an operation in openapi.yaml: {sorted(routes - spec)}"
    assert not spec - routes, f"operations without a route in the app: {sorted(spec - routes)}"


def test_every_operation_documents_its_answers(document):
    # Given every operation / Then it names its success answer, and those needing a session
    # document 401, those with a body 400/415, admin-only ones 403
    for method, path in spec_operations(document):
        operation = document["paths"][path][method.lower()]
        codes = set(operation["responses"])
        assert any(code.startswith("2") for code in codes), (method, path)
        if operation.get("security", document["security"]):
            assert "401" in codes, (method, path)
            assert "503" in codes, (method, path)
        if "requestBody" in operation:
            assert {"400", "415"} <= codes, (method, path)
        if (method in ("POST", "PATCH", "DELETE")
                and operation.get("security") not in ([], KIOSK_ONLY)):
            assert {"session": [], "csrf": []} in operation["security"], (method, path)
            assert "403" in codes, (method, path)


def test_the_document_is_served_as_json_to_anyone(app, document):
    # When anyone (no session) asks for /api/openapi.json
    response = app.get("/api/openapi.json", status=200)
    # Then it is the YAML's content as JSON, with the node header
    assert response.content_type == "application/json"
    assert response.json == document
    assert response.headers["X-Node-Id"] == "app-node-1"


def test_the_yaml_is_parsed_once_per_process(app, monkeypatch):
    # Given a running app / When the file could no longer be read
    import webapp.openapi

    monkeypatch.setattr(webapp.openapi, "load_document", lambda: pytest.fail("re-read"))
    # Then the document is still served (it was loaded at configuration time)
    assert app.get("/api/openapi.json").json["openapi"].startswith("3.")

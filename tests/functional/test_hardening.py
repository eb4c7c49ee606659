"""Bad input, outages and protocol details found by the review and the cluster probe."""
import json
from urllib.parse import quote

import pytest
import redis
from sqlalchemy.exc import OperationalError
from webob import Request

from tests.factories import login


# -- bad input gets 4xx, never 500 ----------------------------------------------------

def test_absurdly_nested_json_is_a_400(admin_app):
    body = "[" * 50_000 + "]" * 50_000
    response = admin_app.post("/api/users", body, content_type="application/json", status=400)
    assert response.json["error"] == "invalid_json"


@pytest.mark.parametrize("url", ["/api/users?page=%ff", "/api/users?branch=%ff%fe",
                                 "/api/attendances?from=%c3%28"])
def test_query_strings_that_are_not_utf8_are_a_400(admin_app, url):
    response = admin_app.get(url, status=400)
    assert response.json["error"] == "invalid_encoding"
    assert response.headers["X-Node-Id"] == "app-node-1"


def test_a_path_that_is_not_utf8_is_a_400(app):
    # straight to the WSGI app: WebTest's own cookie jar cannot even build such a URL
    request = Request.blank("/")
    request.environ["PATH_INFO"] = b"/api/users/\xff".decode("latin-1")
    response = request.get_response(app.app)
    assert response.status_int == 400 and response.json["error"] == "invalid_encoding"
    # and the request's id does not stick to what this thread logs next
    from webapp import logs

    assert logs.REQUEST_ID.get() is None


@pytest.mark.parametrize("user_id", ["1" * 30, "9223372036854775808", "١٥", "１５", "15.0", "-1"])
def test_ids_are_ascii_digits_within_range(admin_app, factory, user_id):
    factory.user()
    response = admin_app.patch_json(f"/api/users/{quote(user_id)}", {"name": "Siapa"},
                                    status=404)
    assert response.json["error"] == "not_found"


def test_an_arabic_indic_id_never_reaches_the_user_it_spells(admin_app, factory):
    # Given user 2 (spelled ٢ in Arabic-Indic digits)
    factory.user()
    target = factory.user(name="Asli")
    arabic = str(target["id"]).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    # When someone patches /api/users/<that spelling>
    admin_app.patch_json(f"/api/users/{quote(arabic)}", {"name": "Diubah"}, status=404)
    # Then the user is unchanged
    assert admin_app.get(f"/api/users/{target['id']}").json["name"] == "Asli"


@pytest.mark.parametrize("name, value", [("page", "١"), ("per_page", "１０"), ("page", "1e3")])
def test_numbers_in_queries_are_ascii_digits(admin_app, name, value):
    response = admin_app.get(f"/api/users?{name}={quote(value)}", status=422)
    assert response.json["fields"] == {name: "Harus bilangan bulat positif."}


# -- bodies must be JSON ---------------------------------------------------------------

def test_a_cross_site_text_plain_login_form_is_refused(app, factory):
    user = factory.user()
    body = json.dumps({"email": user["email"], "password": user["password"]})
    response = app.post("/api/login", body, content_type="text/plain", status=415)
    assert response.json["error"] == "unsupported_media_type"
    assert "absensi_session" not in app.cookies


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "text/plain"])
def test_every_body_must_be_json(admin_app, content_type):
    response = admin_app.post("/api/users", b"name=x", content_type=content_type, status=415)
    assert response.json["error"] == "unsupported_media_type"


def test_a_bodiless_post_needs_no_content_type(make_app, factory):
    app = make_app()
    login(app, factory.user())
    assert app.post("/api/attendance/check-in", status=201)


# -- protocol details --------------------------------------------------------------------

def test_a_405_says_which_methods_are_allowed(admin_app):
    response = admin_app.delete("/api/users", status=405)
    assert response.json["error"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, POST"


def test_authenticated_answers_are_never_cached(admin_app):
    assert admin_app.get("/api/me").headers["Cache-Control"] == "no-store"
    assert admin_app.get("/api/attendances/export.csv").headers["Cache-Control"] == "no-store"
    assert admin_app.get("/admin").headers["Cache-Control"] == "no-store"


# -- outages are 503 with Retry-After, in JSON, from the right node -----------------------

@pytest.mark.parametrize("failure", [
    redis.exceptions.ConnectionError("Connection refused"),
    OperationalError("SELECT 1", {}, Exception("database is locked")),
])
def test_an_outage_answers_json_503_with_retry_after(make_app, factory, monkeypatch, failure):
    # Given a logged-in employee, then Redis or the database failing under every request
    app = make_app()
    login(app, factory.user())

    def fail(*args, **kwargs):
        raise failure

    monkeypatch.setattr("webapp.sessions.load_session", fail, raising=True)
    monkeypatch.setattr(app.app.registry["redis"], "pipeline", fail)
    monkeypatch.setattr(app.app.registry["redis"], "register_script", fail)
    monkeypatch.setattr("webapp.security.current_user", fail)
    app.app.registry.pop("allowed_methods_by_route", None)

    # When the employee checks in, or opens a page
    api = app.post("/api/attendance/check-in", status=503)
    page = app.get("/absen", status=503)

    # Then both say "try again" in the right shape, naming the node
    assert api.json["error"] == "service_unavailable"
    assert api.headers["Retry-After"] == "2" and api.headers["X-Node-Id"] == "app-node-1"
    assert page.content_type == "text/html" and "Layanan sedang tidak tersedia" in page.text


def test_a_failure_after_the_views_still_answers_json_with_the_node(make_app, factory,
                                                                   monkeypatch):
    # Given Redis failing only when the session is saved (a response callback, after the
    # exception views are done)
    app = make_app()
    from webapp.sessions import RedisSession

    def fail(self, response, settings):
        raise redis.exceptions.ConnectionError("Connection reset by peer")

    monkeypatch.setattr(RedisSession, "persist", fail)

    # When a login would save the session
    user = factory.user()
    response = app.post_json("/api/login", {"email": user["email"], "password": user["password"]},
                             status=503)

    # Then the safety net answers in the API's shape
    assert response.json["error"] == "service_unavailable"
    assert response.headers["X-Node-Id"] == "app-node-1"
    assert response.headers["Retry-After"] == "2"


# -- pages for browsers are the app's own, in Bahasa Indonesia ----------------------------

def test_browser_error_pages_are_indonesian_with_navigation(make_app, factory):
    app = make_app()
    login(app, factory.user())
    missing = app.get("/tidak-ada", status=404)
    assert 'lang="id"' in missing.text and "Halaman tidak ditemukan" in missing.text
    assert 'href="/absen"' in missing.text
    forbidden = app.get("/admin", status=403)
    assert "Akses ditolak" in forbidden.text and 'data-testid="error-page"' in forbidden.text
    # the API keeps answering JSON
    assert app.get("/api/tidak-ada", status=404).json["error"] == "not_found"

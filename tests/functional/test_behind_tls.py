"""What the app does only behind the HTTPS front (nginx sets X-Forwarded-Proto; the WSGI
server then reports ``https``): Pyramid checks the Origin of unsafe session requests."""
import pytest

from tests.factories import login

SITE = "https://absensi.example"
HTTPS = {"wsgi.url_scheme": "https", "HTTP_HOST": "absensi.example"}


@pytest.fixture()
def https_employee(make_app, factory):
    app = make_app()
    app.extra_environ = dict(app.extra_environ, **HTTPS)
    login(app, factory.user(branch="JKT"))
    return app


def test_a_session_post_without_origin_or_referer_is_a_json_403(https_employee):
    # When an API client posts with its session and CSRF token but no Origin nor Referer
    response = https_employee.post_json("/api/attendance/check-in", {}, status=403)

    # Then it is the contract's JSON error, not Pyramid's HTML 400, and nothing was written
    assert response.content_type == "application/json"
    assert response.json["error"] == "csrf_failed"
    assert https_employee.get("/api/me/attendances").json["total"] == 0


def test_a_session_post_from_another_site_is_refused_in_json(https_employee):
    response = https_employee.post_json("/api/attendance/check-in", {},
                                        headers={"Origin": "https://evil.example"}, status=403)
    assert response.json["error"] == "csrf_failed"


@pytest.mark.parametrize("header", [{"Origin": SITE}, {"Referer": SITE + "/karyawan"}])
def test_a_session_post_from_the_site_itself_goes_through(https_employee, header):
    response = https_employee.post_json("/api/attendance/check-in", {}, headers=header,
                                        status=201)
    assert response.json["attendance"]["branch"] == "JKT"

"""Pages in a real browser against the whole app on a loopback port: the login page
follows ?next= only within its own origin; the user form's POST is idempotent."""
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from playwright.sync_api import sync_playwright

from tests.browser_helpers import WAIT_MS, launch_chromium

pytestmark = pytest.mark.browser


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture()
def served(app):
    """The whole app on a loopback port (a real HTTP server for the browser)."""
    server = make_server("127.0.0.1", 0, app.app, server_class=_ThreadingServer,
                         handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture()
def page(served):
    """A Chromium page that may only reach the served app (anything else is aborted)."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                served) else route.abort())
            yield page
        finally:
            browser.close()


def log_in(page, served, user, landing, query=""):
    page.goto(f"{served}/login{query}")
    page.fill("#login-email", user["email"])
    page.fill("#login-password", user["password"])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{served}{landing}", timeout=WAIT_MS)


@pytest.mark.parametrize("target", ["/%09/evil.example/", "/%0A/evil.example/",
                                    "/%5Cevil.example/", "//evil.example/",
                                    "/%252e%252e//evil.example", "/%2e%2e/%2f/evil.example",
                                    "/./%2E%2E//evil.example/", "/%5C%5Cevil.example"])
def test_next_never_leads_to_another_site(served, page, factory, target):
    log_in(page, served, factory.user(), "/absen", query=f"?next={target}")


def test_a_same_origin_next_is_followed(served, page, factory):
    log_in(page, served, factory.user(), "/absen?tab=izin", query="?next=/absen%3Ftab%3Dizin")


def test_the_user_form_sends_an_idempotency_key(served, page, factory):
    # Given an admin on the Karyawan page
    log_in(page, served, factory.admin(), "/admin")
    page.goto(f"{served}/admin/karyawan")

    # When they add an employee
    page.click("#btn-add-user")
    page.fill("#user-name", "Karyawan Baru")
    page.fill("#user-email", "baru@example.com")
    page.fill("#user-password", "rahasia-123")
    page.fill("#user-password2", "rahasia-123")
    with page.expect_response(lambda r: r.url.endswith("/api/users")
                              and r.request.method == "POST") as answer:
        page.click("#btn-save-user")

    # Then the POST carries a key nginx's retry can replay
    assert answer.value.status == 201
    assert len(answer.value.request.headers.get("idempotency-key", "")) >= 16


def test_times_carry_their_zone_in_one_format(served, page):
    page.goto(f"{served}/login")
    shown = page.evaluate("""() => [
        Absensi.fmt.time("2026-11-20T08:05:00+07:00"),
        Absensi.fmt.time("2026-11-20T08:05:59+08:00"),
        Absensi.fmt.time("2026-11-20T08:05:00+09:00"),
        Absensi.fmt.dateTime("2026-11-20T17:30:00+08:00"),
        Absensi.fmt.time(null),
    ]""")
    assert shown[:3] == ["08:05 WIB", "08:05 WITA", "08:05 WIT"]
    assert shown[3].endswith("17:30 WITA") and "2026" in shown[3]
    assert shown[4] == "–"


def test_next_is_resolved_as_chromium_resolves_it(page, served):
    # the resolver's cases, checked against the browser's own URL parser: what Chromium
    # takes to this origin comes out as its path; what it takes elsewhere comes out None
    from tests.unit.test_redirects import ELSEWHERE, SAME_ORIGIN
    from webapp.accounts.redirects import safe_next

    site = "https://absensi.example"
    values = ELSEWHERE + [value for value, _ in SAME_ORIGIN]
    page.goto(f"{served}/login")
    for value in values:
        if not value:
            continue
        browser = page.evaluate("""([value, site]) => {
            const url = new URL(value, site + "/");
            return url.origin === site ? url.pathname + url.search + url.hash : null;
        }""", [value, site])
        ours = safe_next(value, site)
        if browser is None or browser.startswith("//"):
            assert ours is None, value
        else:
            # same origin for Chromium: the same path, or refused where unsure ("/ab\x00sen")
            assert ours == browser or (ours is None and "\x00" in value), (value, ours, browser)

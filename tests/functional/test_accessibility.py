"""WCAG 2.2 AA in a real browser: axe-core finds no serious or critical violation on any
page, as the employee, the admin and a visitor, at 1280 px and at 390 px (and once in the
dark palette), also with a tab selected, a dialog open and on an enrolled kiosk.

The pages are enumerated from the app's routes (every route that is not an API, a probe or
the bare ``/`` redirect), so a page added later is swept without editing this file. axe-core
is the npm package's released ``axe.min.js``, vendored in tests/vendor (MPL-2.0)."""
import datetime
import json
import pathlib

import pytest
from playwright.sync_api import sync_playwright
from pyramid.interfaces import IRoutesMapper

from tests.browser_helpers import DESKTOP, PHONE, WAIT_MS, launch_chromium
from tests.functional.test_pages_browser import log_in, served  # noqa: F401

pytestmark = pytest.mark.browser

AXE_JS = (pathlib.Path(__file__).resolve().parents[1] / "vendor" / "axe.min.js").read_text()
#: what the issue asks: WCAG 2.0-2.2 A and AA (axe's best practices are not a target)
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = {"serious", "critical"}
NOT_PAGES = ("/api/", "/healthz", "/readyz", "/metrics", "/static", "/ws")
WIDTHS = {"1280": DESKTOP, "390": PHONE}
#: the sweep also runs once in the dark palette (prefers-color-scheme: dark), whose colours
#: do not depend on the width
SWEEPS = {**WIDTHS, "1280-dark": dict(DESKTOP, color_scheme="dark")}


def page_paths(wsgi_app):
    """Every HTML page's path, from the route table (placeholders make them non-pages)."""
    mapper = wsgi_app.registry.getUtility(IRoutesMapper)
    paths = []
    for route in mapper.get_routes():
        pattern = route.pattern if route.pattern.startswith("/") else "/" + route.pattern
        if pattern == "/" or "{" in pattern or "*" in pattern or pattern.startswith(NOT_PAGES):
            continue
        paths.append(pattern)
    return sorted(paths)


def axe_violations(page):
    """Run axe on the page as it is now; the serious and critical violations."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE_JS)
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})",
                           AXE_TAGS)
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def describe(where, violations):
    """One readable block per violation: rule, impact, help, and the offending nodes."""
    lines = []
    for v in violations:
        lines.append(f"{where}: [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:8]:
            lines.append(f"    {json.dumps(node['target'])}: {node['failureSummary']}"
                         .replace("\n", " / "))
    return lines


def settle(page):
    """Wait until the page's data is drawn: Alpine started and the network went quiet."""
    page.wait_for_load_state("load", timeout=WAIT_MS)
    try:
        page.wait_for_load_state("networkidle", timeout=5_000)
    except Exception:  # a page that polls never idles; what is drawn by now is checked
        pass
    page.wait_for_function("() => !document.querySelector('[x-cloak]:not([style])') || "
                           "window.Alpine !== undefined", timeout=WAIT_MS)


def check(page, where, failures):
    failures.extend(describe(where, axe_violations(page)))


def check_each_tab(page, where, failures):
    for tab in page.locator('[role="tab"]').all():
        tab.click()
        settle(page)
        check(page, f"{where} tab {tab.get_attribute('id')}", failures)


@pytest.fixture()
def browser():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, served, width):  # noqa: F811
    context = browser.new_context(**SWEEPS[width])
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
        served) else route.abort())
    return page


@pytest.fixture()
def people(app, factory):
    """An admin and an employee of Jakarta with something on every page: a check-in, a
    pending leave and a pending attendance request."""
    from tests.factories import login

    admin = factory.admin(branch="JKT", name="Admin Aksesibel")
    employee = factory.user(branch="JKT", name="Budi Aksesibel")
    login(app, employee)
    app.post_json("/api/attendance/check-in", {}, status=201)
    year = datetime.date.today().year + 1
    app.post_json("/api/leave", {"kind": "izin", "date_from": f"{year}-02-02",
                                 "date_to": f"{year}-02-08", "reason": "Urusan keluarga"},
                  status=201)
    app.post_json("/api/logout", None, status=204)
    return {"admin": admin, "employee": employee}


@pytest.mark.parametrize("width", sorted(SWEEPS))
def test_every_page_has_no_serious_axe_violation(browser, served, app, people,  # noqa: F811
                                                 width):
    paths = page_paths(app.app) + ["/tidak-ada-halaman-ini"]
    assert "/absen" in paths and "/admin" in paths and "/login" in paths
    failures, seen = [], set()
    for who in ("visitor", "employee", "admin"):
        page = new_page(browser, served, width)
        if who != "visitor":
            log_in(page, served, people[who], "/admin" if who == "admin" else "/absen")
        for path in paths:
            response = page.goto(served + path)
            if "text/html" not in (response.headers.get("content-type", "") if response else ""):
                continue  # a route that is not a page (a manifest, a service worker)
            settle(page)
            # the same page reached twice (a redirect to /login, one 403 page) is checked once
            landed = (who, page.url.split("?")[0], response.status if response else None)
            if landed in seen:
                continue
            seen.add(landed)
            check(page, f"{width}px {who} {path} -> {page.url} ({landed[2]})", failures)
        page.context.close()
    assert not failures, "axe found serious/critical violations:\n" + "\n".join(failures)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_selected_tabs_and_open_dialogs_have_no_serious_axe_violation(
        browser, served, people, width):  # noqa: F811
    failures = []
    page = new_page(browser, served, width)
    log_in(page, served, people["employee"], "/absen")
    check_each_tab(page, f"{width}px employee /absen", failures)
    page.context.close()

    page = new_page(browser, served, width)
    log_in(page, served, people["admin"], "/admin")
    page.goto(served + "/admin/riwayat")
    settle(page)
    check_each_tab(page, f"{width}px admin /admin/riwayat", failures)
    for path, opener in (("/admin/karyawan", "#btn-add-user"),):
        page.goto(served + path)
        settle(page)
        page.click(opener)
        page.wait_for_selector("dialog[open]", timeout=WAIT_MS)
        check(page, f"{width}px admin {path} dialog of {opener}", failures)
    page.context.close()
    assert not failures, "axe found serious/critical violations:\n" + "\n".join(failures)


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_an_enrolled_kiosk_and_a_kiosk_check_in_have_no_serious_axe_violation(
        browser, served, app, people, width):  # noqa: F811
    from tests.factories import login

    login(app, people["admin"])
    created = app.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios Lobi"}, status=201)
    failures = []
    page = new_page(browser, served, width)
    page.goto(served + "/kiosk")
    page.fill("#enroll-code", created.json["enrollment_code"])
    page.press("#enroll-code", "Enter")
    page.wait_for_selector("#kiosk-run:not([hidden])", timeout=WAIT_MS)
    page.wait_for_function("() => document.getElementById('kiosk-code').textContent !== '–'",
                           timeout=WAIT_MS)
    check(page, f"{width}px enrolled /kiosk", failures)
    code = page.text_content("#kiosk-code").strip()
    page.context.close()

    page = new_page(browser, served, width)
    log_in(page, served, people["employee"], "/absen")
    page.goto(f"{served}/absen?kiosk={code}")
    settle(page)
    check(page, f"{width}px employee /absen?kiosk=", failures)
    page.context.close()
    assert not failures, "axe found serious/critical violations:\n" + "\n".join(failures)

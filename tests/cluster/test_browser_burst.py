"""A burst of check-ins with the admin dashboard open, in a real browser through the cluster.

60 employees check in through the API within about a second. The dashboard must end on
exactly the database's counts and latest rows, and it must get there from websocket
events alone: after its first load it makes no ``/api/attendances/today`` request
(counted with Playwright), so a morning rush costs it nothing per event.
"""
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser_helpers import (
    CHROMIUM, DESKTOP, WAIT_MS, ApiClient, Screenshots, assert_not_reloaded, launch_chromium,
    login_with_form, mark_page,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "password"
BRANCHES = ("JKT", "BDG", "SBY", "DPS")
EMPLOYEES = 60
TODAY_PATH = "/api/attendances/today"
#: the counts may also arrive through the scheduler's periodic refresh (30 s)
FINAL_WAIT_MS = 45_000


@pytest.fixture()
def admin_api(cluster):
    api = ApiClient(cluster.base_url)
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    return api


def _logged_in_employees(cluster, admin_api):
    def make(i):
        user, password = admin_api.create_employee(BRANCHES[i % len(BRANCHES)], "Karyawan Serbu")
        client = ApiClient(cluster.base_url)
        client.login(user["email"], password)
        return user, client

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(make, range(EMPLOYEES)))


def _latest_rows(admin_api, limit=50):
    """The newest check-ins of every branch's today, as the dashboard shows them."""
    rows = []
    for code in BRANCHES:
        status, body = admin_api.request("GET", f"{TODAY_PATH}?branch={code}&per_page={limit}")
        assert status == 200, body
        rows += body["data"]
    rows.sort(key=lambda a: (time.mktime(time.strptime(a["check_in_at"][:19],
                                                       "%Y-%m-%dT%H:%M:%S"))
                             - _offset_seconds(a["check_in_at"]), a["id"]), reverse=True)
    return rows[:limit]


def _offset_seconds(iso):
    sign = 1 if iso[19] == "+" else -1
    return sign * (int(iso[20:22]) * 3600 + int(iso[23:25]) * 60)


def test_dashboard_ends_on_the_database_counts_after_a_burst_without_refetching(
        cluster, admin_api, browser_context):
    shots = Screenshots("dashboard-burst")
    employees = _logged_in_employees(cluster, admin_api)

    # Given the admin dashboard, loaded and subscribed to both live channels
    admin, watch = login_with_form(browser_context, cluster.base_url, ADMIN_EMAIL,
                                   ADMIN_PASSWORD, expected_path="/admin", shots=shots)
    today_requests = []
    admin.on("request", lambda r: TODAY_PATH in r.url and today_requests.append(r.url))
    expect(admin.locator("#realtime-status")).to_have_text("Terhubung", timeout=WAIT_MS)
    watch.wait_subscribed("attendances")
    watch.wait_subscribed("summaries")
    admin.wait_for_function(
        "() => { const el = document.querySelector('[x-data=dashboardPage]');"
        " return el && !Alpine.$data(el).loading; }", timeout=WAIT_MS)
    admin.wait_for_timeout(1000)  # the reload that follows the first subscription
    settled = len(today_requests)
    marker = mark_page(admin)

    # When 60 employees check in through the API within about a second
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(
            lambda e: e[1].request("POST", "/api/attendance/check-in"), employees))
    burst_seconds = time.monotonic() - started
    assert [status for status, _ in answers] == [201] * EMPLOYEES, answers
    mine = {body["attendance"]["id"] for _, body in answers}

    # Then every one of them arrives as an event
    def all_events_seen():
        seen = {(f.get("data") or {}).get("id") for f in watch.frames
                if f.get("op") == "event" and f.get("channel") == "attendances"}
        return mine <= seen

    deadline = time.monotonic() + WAIT_MS / 1000
    while not all_events_seen() and time.monotonic() < deadline:
        admin.wait_for_timeout(200)
    assert all_events_seen(), "not every check-in reached the dashboard"

    # And the counts become the database's, branch by branch and in total
    events_at = time.monotonic()
    server = {code: admin_api.summary(code) for code in BRANCHES}
    for code in BRANCHES:
        for key in ("checked_in", "late", "not_checked_in", "employees"):
            expect(admin.locator(f'[data-branch="{code}"] .count-{key.replace("_", "-")}')) \
                .to_have_text(f"{server[code][key]:,}".replace(",", "."), timeout=FINAL_WAIT_MS)
    total = sum(server[code]["checked_in"] for code in BRANCHES)
    expect(admin.locator("#summary-total .count-checked-in")).to_have_text(
        f"{total:,}".replace(",", "."), timeout=WAIT_MS)
    counts_after = time.monotonic() - events_at
    assert {code: admin_api.summary(code) for code in BRANCHES} == server, \
        "something else changed the day during the test"

    # And the latest rows are the database's newest check-ins, none of the 60 is "absent"
    expected = [a["id"] for a in _latest_rows(admin_api)]
    shown = admin.locator("#latest-checkins tbody tr[data-attendance-id]")
    expect(shown).to_have_count(len(expected), timeout=WAIT_MS)
    assert sorted(int(i) for i in shown.evaluate_all(
        "rows => rows.map(r => r.dataset.attendanceId)")) == sorted(expected)
    absent = admin.locator("#absent-users li[data-user-id]").evaluate_all(
        "items => items.map(li => Number(li.dataset.userId))")
    assert not set(absent) & {user["id"] for user, _ in employees}
    shots.take(admin, "after-burst")

    # And the page did it without a single request for the day after its first load
    assert today_requests[settled:] == [], today_requests[settled:]
    assert_not_reloaded(admin, marker)
    assert watch.errors == []
    print(f"burst of {EMPLOYEES} check-ins took {burst_seconds:.2f} s; "
          f"{settled} today requests at load, none after; counts exact {counts_after:.1f} s "
          "after the last event")


@pytest.fixture()
def browser_context():
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        with contextlib.closing(browser):
            context = browser.new_context(**DESKTOP)
            context.set_default_timeout(WAIT_MS)
            yield context

"""Live updates in real browsers, through nginx, the web nodes, the worker and the gateway.

Each test creates its own employees (the session's cluster is shared, so nobody else has
checked them in today), drives the pages in separate browser contexts (separate cookies,
like separate devices) and proves an update is live: it arrives as a websocket event and
the page was not reloaded (a marker put on ``window`` before is still there after).
Counts are compared with the page's own values before the action, never absolute.
Screenshots of every step: ``test-artifacts/screenshots/``.
"""
import contextlib

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser_helpers import (
    CHROMIUM, DESKTOP, PHONE, WAIT_MS, ApiClient, Screenshots, assert_not_reloaded,
    launch_chromium, login_with_form, mark_page, record_toasts, wait_for_toast,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.browser,
    pytest.mark.timeout(300),
    # Checked before the (slow) cluster fixture starts anything.
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "password"
CHECK_IN = "/api/attendance/check-in"
CHECK_OUT = "/api/attendance/check-out"


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture()
def new_context(browser):
    """Factory for browser contexts (one per "device"), all closed after the test."""
    with contextlib.ExitStack() as stack:
        def factory(options):
            context = browser.new_context(**options)
            stack.callback(context.close)
            context.set_default_timeout(WAIT_MS)
            context.set_default_navigation_timeout(WAIT_MS)
            return context
        yield factory


@pytest.fixture()
def admin_api(cluster):
    api = ApiClient(cluster.base_url)
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD)
    return api


@pytest.fixture()
def shots(request):
    return Screenshots(request.node.name)


def wait_connected(page, watch, channel):
    """The header says "Terhubung" and the page's channel subscription is confirmed."""
    expect(page.locator("#realtime-status")).to_have_text("Terhubung", timeout=WAIT_MS)
    watch.wait_subscribed(channel)


def act(page, button, path):
    """Click a check-in/out button and return the Attendance from the API's answer."""
    with page.expect_response(
        lambda r: r.url.endswith(path) and r.request.method == "POST", timeout=WAIT_MS
    ) as answer:
        page.click(button)
    response = answer.value
    assert response.status in (200, 201), response.text()
    return response.json()["attendance"]


def open_employee_page(new_context, base_url, user, password, shots, device=PHONE):
    """Log ``user`` in on a new device (context) and wait for its live channel."""
    page, watch = login_with_form(new_context(device), base_url, user["email"], password,
                                  expected_path="/absen", shots=shots)
    wait_connected(page, watch, f"user.{user['id']}")
    shots.take(page, "employee-page")
    return page, watch


def test_admin_dashboard_shows_another_browsers_check_in_and_out_live(
        cluster, admin_api, new_context, shots):
    # Given a fresh Jakarta employee and the admin dashboard, connected
    employee, password = admin_api.create_employee("JKT", "Karyawan Dasbor")
    admin, admin_watch = login_with_form(new_context(DESKTOP), cluster.base_url,
                                         ADMIN_EMAIL, ADMIN_PASSWORD, expected_path="/admin",
                                         shots=shots)
    wait_connected(admin, admin_watch, "attendances")
    jkt_count = admin.locator('[data-branch="JKT"] .count-checked-in')
    total_count = admin.locator("#summary-total .count-checked-in")
    server = {code: admin_api.summary(code)["checked_in"] for code in ("JKT", "BDG", "SBY", "DPS")}
    expect(jkt_count).to_have_text(str(server["JKT"]), timeout=WAIT_MS)
    expect(total_count).to_have_text(str(sum(server.values())), timeout=WAIT_MS)
    jkt_before, total_before = int(jkt_count.inner_text()), int(total_count.inner_text())
    marker = mark_page(admin)
    record_toasts(admin)
    shots.take(admin, "admin-dashboard-before")

    # When the employee logs in from another browser and checks in
    phone, _ = open_employee_page(new_context, cluster.base_url, employee, password, shots)
    attendance = act(phone, "#btn-check-in", CHECK_IN)
    expect(phone.locator("#today-status")).to_contain_text("Sudah masuk pukul")
    shots.take(phone, "employee-checked-in")

    # Then the dashboard shows the new row, the counts one higher and a toast, without a reload
    row = admin.locator(f'#latest-checkins tbody tr[data-attendance-id="{attendance["id"]}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(row.locator(".cell-name")).to_have_text(employee["name"])
    expect(row.locator(".cell-check-out")).to_have_text("–")
    expect(jkt_count).to_have_text(str(jkt_before + 1), timeout=WAIT_MS)
    expect(total_count).to_have_text(str(total_before + 1), timeout=WAIT_MS)
    shots.take(admin, "admin-dashboard-after-check-in")
    admin_watch.wait_event("attendances", attendance["id"], "attendance.created")
    wait_for_toast(admin, employee["name"] + " absen masuk di Jakarta")
    assert_not_reloaded(admin, marker)

    # When the employee checks out
    jkt_out = admin.locator('[data-branch="JKT"] .count-checked-out')
    out_before = admin_api.summary("JKT")["checked_out"]
    expect(jkt_out).to_have_text(str(out_before), timeout=WAIT_MS)
    checked_out = act(phone, "#btn-check-out", CHECK_OUT)
    expect(phone.locator("#today-status")).to_contain_text("Sudah pulang pukul")
    shots.take(phone, "employee-checked-out")

    # Then the same dashboard row gets its check-out time (Jakarta: WIB), live
    expect(row.locator(".cell-check-out")).to_have_text(
        checked_out["check_out_at"][11:16] + " WIB", timeout=WAIT_MS)
    expect(row).to_have_count(1)
    expect(jkt_out).to_have_text(str(out_before + 1), timeout=WAIT_MS)
    admin_watch.wait_event("attendances", attendance["id"], "attendance.updated")
    wait_for_toast(admin, employee["name"] + " absen pulang di Jakarta")
    assert_not_reloaded(admin, marker)
    shots.take(admin, "admin-dashboard-after-check-out")
    assert admin_watch.errors == []


def test_history_page_today_tab_is_live_and_history_tab_offers_a_reload(
        cluster, admin_api, new_context, shots):
    # Given two fresh employees and the admin on Riwayat, "Hari Ini" tab, connected
    first, first_password = admin_api.create_employee("BDG", "Karyawan Riwayat")
    second, second_password = admin_api.create_employee("SBY", "Karyawan Riwayat")
    admin, admin_watch = login_with_form(new_context(DESKTOP), cluster.base_url,
                                         ADMIN_EMAIL, ADMIN_PASSWORD, expected_path="/admin",
                                         shots=shots)
    shots.take(admin, "admin-dashboard")
    admin_watch.forget()
    admin.goto(cluster.base_url + "/admin/riwayat")
    wait_connected(admin, admin_watch, "attendances")
    expect(admin.locator("#tab-today")).to_have_attribute("aria-selected", "true")
    marker = mark_page(admin)
    shots.take(admin, "history-today-before")

    # When the first employee checks in from another browser
    phone, _ = open_employee_page(new_context, cluster.base_url, first, first_password, shots)
    first_attendance = act(phone, "#btn-check-in", CHECK_IN)
    expect(phone.locator("#today-status")).to_have_attribute("data-state", "in")
    shots.take(phone, "first-employee-checked-in")

    # Then its row appears in the today table, live
    today_row = admin.locator(
        f'#today-table tbody tr[data-attendance-id="{first_attendance["id"]}"]')
    expect(today_row).to_have_count(1, timeout=WAIT_MS)
    expect(today_row).to_contain_text(first["name"])
    admin_watch.wait_event("attendances", first_attendance["id"], "attendance.created")
    assert_not_reloaded(admin, marker)
    shots.take(admin, "history-today-after-check-in")

    # Given the admin switched to the "Riwayat" tab (it loads, newest first)
    admin.click("#tab-history")
    history_rows = admin.locator("#history-table tbody tr[data-attendance-id]")
    expect(admin.locator(
        f'#history-table tbody tr[data-attendance-id="{first_attendance["id"]}"]'
    )).to_have_count(1, timeout=WAIT_MS)
    badge = admin.locator("#history-new-badge")
    expect(badge).to_be_hidden()
    shots.take(admin, "history-tab")

    # When another employee checks in
    other_phone, _ = open_employee_page(new_context, cluster.base_url, second, second_password,
                                        shots)
    second_attendance = act(other_phone, "#btn-check-in", CHECK_IN)
    expect(other_phone.locator("#today-status")).to_have_attribute("data-state", "in")
    shots.take(other_phone, "second-employee-checked-in")
    admin_watch.wait_event("attendances", second_attendance["id"], "attendance.created")

    # Then the filtered history is not patched, but the "Baru" badge offers a reload
    expect(badge).to_be_visible(timeout=WAIT_MS)
    second_row = admin.locator(
        f'#history-table tbody tr[data-attendance-id="{second_attendance["id"]}"]')
    expect(second_row).to_have_count(0)
    shots.take(admin, "history-new-badge")

    # When the admin clicks it, Then the history reloads with the new row and the badge goes
    admin.click("#history-new-badge")
    expect(second_row).to_have_count(1, timeout=WAIT_MS)
    expect(second_row).to_contain_text(second["name"])
    expect(badge).to_be_hidden(timeout=WAIT_MS)
    expect(history_rows.first).to_have_attribute("data-attendance-id",
                                                 str(second_attendance["id"]))
    assert_not_reloaded(admin, marker)
    shots.take(admin, "history-after-badge-click")

    # And the today tab got the second check-in live as well
    admin.click("#tab-today")
    expect(admin.locator(
        f'#today-table tbody tr[data-attendance-id="{second_attendance["id"]}"]'
    )).to_have_count(1, timeout=WAIT_MS)
    shots.take(admin, "history-today-both")
    assert admin_watch.errors == []


def test_employee_page_follows_the_same_users_other_device_live(
        cluster, admin_api, new_context, shots):
    # Given one fresh employee signed in on a phone and on a laptop, both on /absen
    employee, password = admin_api.create_employee("DPS", "Karyawan Dua Perangkat")
    phone, phone_watch = open_employee_page(new_context, cluster.base_url, employee, password,
                                            shots)
    laptop, laptop_watch = open_employee_page(new_context, cluster.base_url, employee, password,
                                              shots, device=DESKTOP)
    for page in (phone, laptop):
        expect(page.locator("#today-status")).to_have_attribute("data-state", "none")
        expect(page.locator("#today-status")).to_contain_text("Belum absen")
    phone_marker, laptop_marker = mark_page(phone), mark_page(laptop)

    # When the phone checks in
    attendance = act(phone, "#btn-check-in", CHECK_IN)
    expect(phone.locator("#today-status")).to_have_attribute("data-state", "in")
    shots.take(phone, "phone-checked-in")

    # Then the laptop shows it without a reload
    laptop_status = laptop.locator("#today-status")
    expect(laptop_status).to_have_attribute("data-state", "in", timeout=WAIT_MS)
    expect(laptop_status).to_contain_text(
        "Sudah masuk pukul " + attendance["check_in_at"][11:16])
    expect(laptop.locator("#btn-check-out")).to_be_enabled()
    laptop_watch.wait_event(f"user.{employee['id']}", attendance["id"], "attendance.created")
    assert_not_reloaded(laptop, laptop_marker)
    shots.take(laptop, "laptop-after-phone-check-in")

    # When the laptop checks out
    checked_out = act(laptop, "#btn-check-out", CHECK_OUT)
    expect(laptop.locator("#today-status")).to_have_attribute("data-state", "out")
    shots.take(laptop, "laptop-checked-out")

    # Then the phone's status changes to checked out, live
    phone_status = phone.locator("#today-status")
    expect(phone_status).to_have_attribute("data-state", "out", timeout=WAIT_MS)
    expect(phone_status).to_contain_text(
        "Sudah pulang pukul " + checked_out["check_out_at"][11:16])
    expect(phone.locator("#btn-check-in")).to_be_disabled()
    expect(phone.locator("#btn-check-out")).to_be_disabled()
    phone_watch.wait_event(f"user.{employee['id']}", attendance["id"], "attendance.updated")
    assert_not_reloaded(phone, phone_marker)
    shots.take(phone, "phone-after-laptop-check-out")
    assert phone_watch.errors == [] and laptop_watch.errors == []


@pytest.mark.parametrize("outage", ["redis", "mariadb"])
def test_the_employee_page_rides_out_a_10_second_outage(
        cluster, mariadb_server, new_context, admin_api, shots, outage):
    import signal
    import time

    # Given an employee on their page (the cluster runs on MariaDB with its own Redis)
    employee, password = admin_api.create_employee("SBY", f"Outage {outage}")
    page, _ = open_employee_page(new_context, cluster.base_url, employee, password, shots)
    record_toasts(page)
    stop, resume = {
        # frozen: every connection to it hangs, as a Redis under memory pressure would
        "redis": (lambda: cluster.supervisor.send("redis", signal.SIGSTOP),
                  lambda: cluster.supervisor.send("redis", signal.SIGCONT)),
        # gone: connections are refused until it is back (its data is kept on disk)
        "mariadb": (lambda: mariadb_server.kill(signal.SIGTERM), mariadb_server.start),
    }[outage]

    # When the dependency is down for 10 s and they click Absen Masuk during it
    stop()
    try:
        down_at = time.monotonic()
        page.click("#btn-check-in")
        time.sleep(max(0.0, 10 - (time.monotonic() - down_at)))
    finally:
        resume()

    # Then the check-in goes through once it is back, and the page never showed an error
    page.wait_for_function(
        "() => (window.__absensiToasts || []).some((t) => t.includes('Absen masuk tercatat'))",
        timeout=40_000)
    shots.take(page, f"employee-after-{outage}-outage")
    expect(page.locator("#attendance-error")).to_be_hidden()
    toasts = page.evaluate("() => window.__absensiToasts")
    assert [t for t in toasts if "tercatat" not in t] == [], toasts
    status, body = admin_api.request("GET", f"/api/attendances?user_id={employee['id']}")
    assert status == 200 and body["total"] == 1

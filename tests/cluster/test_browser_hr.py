"""HR pages live in real browsers (through nginx, the web nodes, the worker, the gateway):
a cuti request reaches the admin's inbox without a reload and the approval reaches the
employee's page; an admin's correction reaches another admin's Riwayat. Same rules as
test_browser_live.py: fresh users per test, proof by websocket frame and an unreloaded page.
"""
import datetime as dt
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser_helpers import (
    CHROMIUM, DESKTOP, PHONE, WAIT_MS, ApiClient, assert_not_reloaded, login_with_form,
    mark_page, record_toasts, wait_for_toast,
)
from tests.cluster.test_browser_live import (  # noqa: F401 (fixtures)
    ADMIN_EMAIL, ADMIN_PASSWORD, admin_api, browser, new_context, shots, wait_connected,
)

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.browser,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
]


def two_weekdays_ahead():
    """A Monday–Tuesday pair two weeks or more ahead, within one calendar year."""
    day = dt.date.today() + dt.timedelta(days=14)
    while day.weekday() != 0 or (day + dt.timedelta(days=1)).year != day.year:
        day += dt.timedelta(days=1)
    return day, day + dt.timedelta(days=1)


def test_cuti_request_reaches_the_admin_inbox_and_the_approval_the_employee_live(
        cluster, admin_api, new_context, shots):  # noqa: F811
    # Given a fresh employee on the "Izin & Cuti" tab and the admin on /admin/izin
    employee, password = admin_api.create_employee("JKT", "Karyawan Cuti")
    phone, phone_watch = login_with_form(new_context(PHONE), cluster.base_url,
                                         employee["email"], password, expected_path="/absen",
                                         shots=shots)
    wait_connected(phone, phone_watch, f"user.{employee['id']}")
    phone.click("#tab-leave")
    expect(phone.locator("#leave-balance .balance-remaining")).to_have_text("12")
    admin, admin_watch = login_with_form(new_context(DESKTOP), cluster.base_url, ADMIN_EMAIL,
                                         ADMIN_PASSWORD, expected_path="/admin", shots=shots)
    admin_watch.forget()
    admin.goto(cluster.base_url + "/admin/izin")
    wait_connected(admin, admin_watch, "leave")
    admin_marker, phone_marker = mark_page(admin), mark_page(phone)
    record_toasts(admin)
    shots.take(admin, "inbox-before")

    # When the employee asks for two days of cuti
    first, last = two_weekdays_ahead()
    phone.select_option("#leave-kind", "cuti")
    phone.fill("#leave-from", first.isoformat())
    phone.fill("#leave-to", last.isoformat())
    phone.fill("#leave-reason", "Acara keluarga di Yogyakarta")
    with phone.expect_response(lambda r: r.url.endswith("/api/leave")
                               and r.request.method == "POST", timeout=WAIT_MS) as answer:
        phone.click("#btn-request-leave")
    assert answer.value.status == 201, answer.value.text()
    leave = answer.value.json()
    shots.take(phone, "employee-requested")

    # Then the admin's inbox shows it, live, with a toast
    row = admin.locator(f'#leave-inbox tbody tr[data-leave-id="{leave["id"]}"]')
    expect(row).to_have_count(1, timeout=WAIT_MS)
    expect(row).to_contain_text(employee["name"])
    expect(row.locator(".leave-status")).to_have_text("Menunggu")
    admin_watch.wait_for_frame(
        lambda f: f.get("op") == "event" and f.get("channel") == "leave"
        and f.get("event") == "leave.created" and f["data"]["id"] == leave["id"],
        "leave.created on 'leave'")
    wait_for_toast(admin, employee["name"] + " mengajukan cuti")
    assert_not_reloaded(admin, admin_marker)
    shots.take(admin, "inbox-after-request")

    # When the admin approves it
    row.locator(".btn-approve").click()
    expect(row.locator(".leave-status")).to_have_text("Disetujui", timeout=WAIT_MS)
    shots.take(admin, "inbox-approved")

    # Then the employee's page shows the approval and the smaller balance, without a reload
    mine = phone.locator(f'#my-leave tbody tr[data-leave-id="{leave["id"]}"] .leave-status')
    expect(mine).to_have_text("Disetujui", timeout=WAIT_MS)
    expect(phone.locator("#leave-balance .balance-remaining")).to_have_text(
        str(12 - leave["days"]), timeout=WAIT_MS)
    phone_watch.wait_for_frame(
        lambda f: f.get("op") == "event" and f.get("channel") == f"user.{employee['id']}"
        and f.get("event") == "leave.updated" and f["data"]["status"] == "approved",
        "leave.updated (approved) on the employee's channel")
    assert_not_reloaded(phone, phone_marker)
    shots.take(phone, "employee-sees-approval")
    assert admin_watch.errors == [] and phone_watch.errors == []


def test_a_correction_appears_live_on_another_admins_riwayat(
        cluster, admin_api, new_context, shots):  # noqa: F811
    # Given a fresh employee checked in, and a second admin
    employee, password = admin_api.create_employee("BDG", "Karyawan Koreksi")
    employee_api = ApiClient(cluster.base_url)
    employee_api.login(employee["email"], password)
    status, body = employee_api.request("POST", "/api/attendance/check-in", {})
    assert status == 201, body
    attendance = body["attendance"]
    suffix = uuid.uuid4().hex[:8]
    status, other_admin = admin_api.request("POST", "/api/users", {
        "name": "Admin Kedua", "email": f"admin.kedua.{suffix}@example.com",
        "password": "rahasia-admin-2", "role": "admin", "branch": "BDG"})
    assert status == 201, other_admin

    # ...watched by the first admin on Riwayat's history tab
    watcher, watcher_watch = login_with_form(new_context(DESKTOP), cluster.base_url, ADMIN_EMAIL,
                                             ADMIN_PASSWORD, expected_path="/admin",
                                             shots=shots)
    watcher_watch.forget()
    watcher.goto(cluster.base_url + "/admin/riwayat#riwayat")
    wait_connected(watcher, watcher_watch, "attendances")
    watched = watcher.locator(
        f'#history-table tbody tr[data-attendance-id="{attendance["id"]}"]')
    expect(watched).to_have_count(1, timeout=WAIT_MS)
    expect(watched.locator(".cell-corrected")).to_be_hidden()
    marker = mark_page(watcher)
    shots.take(watcher, "watcher-before")

    # When the second admin corrects the check-in to 00:01 from their own Riwayat
    editor, editor_watch = login_with_form(new_context(DESKTOP), cluster.base_url,
                                           other_admin["email"], "rahasia-admin-2",
                                           expected_path="/admin", shots=shots)
    editor.goto(cluster.base_url + "/admin/riwayat#riwayat")
    row = editor.locator(f'#history-table tbody tr[data-attendance-id="{attendance["id"]}"]')
    row.locator(".btn-correct").click()
    expect(editor.locator("#correction-dialog")).to_be_visible()
    editor.fill("#correction-in", "00:01")
    editor.fill("#correction-reason", "Mesin absen rusak pagi ini")
    shots.take(editor, "editor-dialog")
    with editor.expect_response(lambda r: f"/api/attendances/{attendance['id']}" in r.url
                                and r.request.method == "PATCH", timeout=WAIT_MS) as answer:
        editor.click("#btn-save-correction")
    assert answer.value.status == 200, answer.value.text()
    expect(row.locator(".cell-corrected")).to_be_visible(timeout=WAIT_MS)

    # Then the watching admin's row says "Dikoreksi" with the new time, without a reload
    expect(watched.locator(".cell-corrected")).to_be_visible(timeout=WAIT_MS)
    expect(watched.locator(".cell-check-in")).to_contain_text("00:01", timeout=WAIT_MS)
    watcher_watch.wait_for_frame(
        lambda f: f.get("op") == "event" and f.get("channel") == "attendances"
        and f.get("event") == "attendance.updated" and f["data"]["id"] == attendance["id"]
        and f["data"]["corrected"] is True, "the correction on 'attendances'")
    assert_not_reloaded(watcher, marker)
    shots.take(watcher, "watcher-after-correction")

    # And the audit trail lists the check-in and the correction with its reason
    watched.locator(".btn-audit").click()
    audit = watcher.locator("#audit-table tbody")
    expect(audit).to_contain_text("Dikoreksi admin", timeout=WAIT_MS)
    expect(audit).to_contain_text("Mesin absen rusak pagi ini")
    expect(audit).to_contain_text("Admin Kedua")
    shots.take(watcher, "watcher-audit")
    assert watcher_watch.errors == [] and editor_watch.errors == []


def test_a_fenced_branch_asks_the_browser_for_its_location(
        cluster, admin_api, new_context, shots):  # noqa: F811
    # Given Surabaya fenced around its office (restored afterwards: the cluster is shared)
    office = {"lat": -7.257472, "lon": 112.752088}
    status, body = admin_api.request("PATCH", "/api/branches/SBY",
                                     {"geofence": {**office, "radius_m": 200}})
    assert status == 200, body
    try:
        employee, password = admin_api.create_employee("SBY", "Karyawan Geofence")
        # When an employee whose browser refuses location access tries to check in
        denied, _ = login_with_form(new_context(PHONE), cluster.base_url, employee["email"],
                                    password, expected_path="/absen", shots=shots)
        expect(denied.locator("#geofence-hint")).to_contain_text("200 m")
        denied.click("#btn-check-in")
        # Then the page says why (nothing was sent without a location)
        error = denied.locator("#attendance-error")
        expect(error).to_contain_text("Akses lokasi ditolak", timeout=WAIT_MS)
        shots.take(denied, "location-denied")

        # When the same employee allows it, standing 50 m from the office
        allowed_context = new_context({**PHONE, "permissions": ["geolocation"],
                                       "geolocation": {"latitude": -7.257022,
                                                       "longitude": 112.752088,
                                                       "accuracy": 15}})
        allowed, _ = login_with_form(allowed_context, cluster.base_url, employee["email"],
                                     password, expected_path="/absen", shots=shots)
        expect(allowed.locator("#btn-check-in")).to_be_enabled()
        try:
            with allowed.expect_response(lambda r: r.url.endswith("/api/attendance/check-in"),
                                         timeout=WAIT_MS) as answer:
                allowed.click("#btn-check-in")
        finally:
            shots.take(allowed, "location-allowed")
        # Then the check-in is accepted with its distance from the fence's centre
        assert answer.value.status == 201, answer.value.text()
        assert 45 <= answer.value.json()["attendance"]["check_in_distance_m"] <= 55
        status = allowed.locator("#today-status")
        expect(status).to_have_attribute("data-state", "in", timeout=WAIT_MS)
    finally:
        admin_api.request("PATCH", "/api/branches/SBY", {"geofence": None})


def test_another_admins_assignment_appears_live_on_the_week_grid(
        cluster, admin_api, new_context, shots):  # noqa: F811
    # Given a fresh Jakarta employee and a new shift type, and the admin on the week grid
    employee, _ = admin_api.create_employee("JKT", "Karyawan Jadwal")
    code = "SIANG" + uuid.uuid4().hex[:6].upper()
    status, body = admin_api.request("POST", "/api/shift-types", {
        "code": code, "name": "Siang", "start": "12:00", "end": "20:00"})
    assert status == 201, body
    admin, watch = login_with_form(new_context(DESKTOP), cluster.base_url, ADMIN_EMAIL,
                                   ADMIN_PASSWORD, expected_path="/admin", shots=shots)
    watch.forget()
    admin.goto(cluster.base_url + "/admin/jadwal")
    admin.select_option("#roster-branch", "JKT")
    wait_connected(admin, watch, "schedules")
    row = admin.locator(f'#roster-grid tr[data-user-id="{employee["id"]}"]')
    expect(row.locator(".roster-cell")).to_have_count(7, timeout=WAIT_MS)
    expect(row.locator(".roster-cell").nth(2)).not_to_have_text(code)
    monday = admin.input_value("#roster-week")
    marker = mark_page(admin)

    # When another admin (here: the API) assigns the shift on this week's Wednesday
    sunday = (dt.date.fromisoformat(monday) + dt.timedelta(days=6)).isoformat()
    status, body = admin_api.request("POST", "/api/schedules", {
        "user_ids": [employee["id"]], "date_from": monday, "date_to": sunday,
        "weekdays": [3], "shift_type": code})
    assert status == 201, body

    # Then the open grid shows it without a reload, from the `schedules` event
    expect(row.locator(".roster-cell").nth(2)).to_have_text(code, timeout=WAIT_MS)
    watch.wait_for_frame(
        lambda f: f.get("op") == "event" and f.get("channel") == "schedules"
        and f.get("event") == "schedule.updated" and employee["id"] in f["data"]["user_ids"],
        "schedule.updated on 'schedules'")
    assert_not_reloaded(admin, marker)
    assert watch.errors == []

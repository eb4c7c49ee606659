"""The kiosk and the offline queue in a real browser (Chromium through Playwright) against
the whole app on a loopback port: the page's WebCrypto codes equal the server's, the
kiosk enrolls and keeps showing codes without a network, and check-ins made offline on
/absen wait as "Tertunda" and are sent once, with ``offline: true``, when the network is
back (also at the next page load)."""
import datetime as dt
import re

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.browser_helpers import WAIT_MS, launch_chromium
from tests.factories import login
from tests.functional.shift_helpers import at
# the whole app on a loopback port (the app's clock is the real one, as the browser's is)
from tests.functional.test_pages_browser import served  # noqa: F401
from webapp.kiosks import codes

pytestmark = pytest.mark.browser


@pytest.fixture()
def context(served):  # noqa: F811
    """A browser context that may only reach the served app (anything else is aborted)."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context()
            context.set_default_timeout(WAIT_MS)
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
                served) else route.abort())
            yield context
        finally:
            browser.close()


@pytest.fixture()
def admin(make_app, factory):
    admin = make_app()
    login(admin, factory.admin())
    return admin


def now_slot():
    return codes.slot_of(dt.datetime.now(dt.timezone.utc))


def test_the_pages_codes_and_signatures_equal_the_servers(served, context):  # noqa: F811
    page = context.new_page()
    page.goto(f"{served}/kiosk")
    made = page.evaluate("""async () => [
        await AbsensiOffline.kioskCode("a-device-secret", 42, 117964800),
        await AbsensiOffline.kioskCode("another", 7, 1),
        await AbsensiOffline.punchSignature("a-device-secret", 42, "E-1", "check_in",
                                            "2026-11-23T07:50:00+07:00"),
    ]""")
    assert made == [
        codes.make_code("a-device-secret", 42, 117964800), codes.make_code("another", 7, 1),
        codes.punch_signature("a-device-secret", kiosk_id=42, employee_number="E-1",
                              action="check_in", offline_at="2026-11-23T07:50:00+07:00")]


def test_the_kiosk_enrolls_survives_a_reload_and_makes_codes_offline(
        served, context, admin):  # noqa: F811
    created = admin.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios Lobi"}).json
    page = context.new_page()
    page.goto(f"{served}/kiosk")
    page.fill("#enroll-code", created["enrollment_code"])
    page.click("#enroll-form button[type=submit]")
    expect(page.locator("#kiosk-name")).to_have_text("Kios Lobi")
    expect(page.locator("#kiosk-connection")).to_have_attribute("data-state", "online")
    shown = page.locator("#kiosk-code").text_content()
    assert shown.startswith(f"{created['kiosk']['id']}-")
    assert page.locator("#kiosk-qr svg").count() == 1
    # a reload keeps the credential
    page.reload()
    expect(page.locator("#kiosk-connection")).to_have_attribute("data-state", "online")
    # without a network it keeps showing valid codes, made from its device secret
    context.set_offline(True)
    page.evaluate("window.dispatchEvent(new Event('offline'))")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator("#kiosk-connection")).to_have_attribute("data-state", "offline")
    offline_code = page.locator("#kiosk-code").text_content()
    kiosk_id, slot, _ = codes.parse_code(offline_code)
    assert kiosk_id == created["kiosk"]["id"] and abs(slot - now_slot()) <= 1
    context.set_offline(False)
    # revoked: the kiosk says so at its next contact (its own 15-second refresh, or the
    # reload's first request, whichever comes first), and keeps saying so after a reload
    admin.delete(f"/api/kiosks/{kiosk_id}")
    page.reload()
    expect(page.locator("#kiosk-revoked")).to_be_visible()
    expect(page.locator("#revoked-title")).to_have_text("Perangkat dicabut")
    page.reload()
    expect(page.locator("#kiosk-revoked")).to_be_visible()


def enrolled_secret(admin, make_app):
    created = admin.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios Lobi"}).json
    device = make_app()
    answer = device.post_json("/api/kiosk/enroll",
                              {"enrollment_code": created["enrollment_code"]}).json
    return answer["kiosk"]["id"], answer["device_secret"]


def log_in(page, served, user, next_path):  # noqa: F811
    page.goto(f"{served}{next_path}")  # not logged in: the login page, then back here
    page.fill("#login-email", user["email"])
    page.fill("#login-password", user["password"])
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{served}{next_path}")


#: a Monday morning in Jakarta: the browser's clock and the server's start here, so the
#: check-out always falls inside the shift's check-out window whenever the test runs
MORNING = "2026-11-23T09:00:00+07:00"


def test_offline_check_ins_wait_as_pending_and_are_sent_once(  # noqa: F811
        served, context, app, admin, make_app, factory):  # noqa: F811
    # Given a kiosk whose network is down (no contact), and Budi at /absen with its code
    kiosk_id, secret = enrolled_secret(admin, make_app)
    user = factory.user(name="Budi")
    morning = dt.datetime.fromisoformat(MORNING)
    at(app, MORNING)
    code = codes.make_code(secret, kiosk_id, codes.slot_of(morning))
    page = context.new_page()
    page.clock.install(time=morning)
    log_in(page, served, user, f"/absen?kiosk={code}")
    expect(page.locator("#kiosk-checkin-code")).to_have_text(code)
    assert axe_serious(page) == []

    # When his phone loses the network and he taps "Absen Masuk"
    context.set_offline(True)
    page.click("#btn-kiosk-check-in")
    # Then the check-in waits, counted
    expect(page.locator("#kiosk-pending")).to_be_visible()
    expect(page.locator("#kiosk-pending-count")).to_have_text("1")

    # When the network is back, it is sent by itself, once, as an offline check-in
    context.set_offline(False)
    page.evaluate("window.dispatchEvent(new Event('online'))")
    expect(page.locator("#kiosk-pending")).to_be_hidden()
    expect(page.locator("#kiosk-checkin-message")).to_contain_text("Terkirim")
    budi = make_app()
    login(budi, user)
    [attendance] = budi.get("/api/me/attendances").json["data"]
    assert attendance["offline"] is True and attendance["check_out_at"] is None
    assert attendance["check_in_at"].startswith("2026-11-23T09:00")  # the phone's time

    # And a check-out made offline with the next code waits through a closed page and is
    # sent at the next page load
    later = codes.make_code(secret, kiosk_id, codes.slot_of(morning) + 1)
    page.goto(f"{served}/absen?kiosk={later}")
    context.set_offline(True)
    page.click("#btn-kiosk-check-out")
    expect(page.locator("#kiosk-pending-count")).to_have_text("1")
    page.close()
    context.set_offline(False)
    again = context.new_page()
    again.clock.install(time=morning + dt.timedelta(seconds=20))
    again.goto(f"{served}/absen")
    expect(again.locator("#kiosk-pending")).to_be_hidden()
    expect(again.locator("#kiosk-checkin-message")).to_contain_text("Terkirim")
    [attendance] = budi.get("/api/me/attendances").json["data"]
    assert attendance["offline"] is True and attendance["check_out_at"] is not None
    assert budi.get("/api/me/attendances").json["total"] == 1


def axe_serious(page):
    """axe-core's serious/critical WCAG violations on the page (the accessibility test's
    helper; without it, as in a tree that lacks that test, nothing is checked here)."""
    try:
        from tests.functional.test_accessibility import axe_violations
    except (ImportError, OSError):
        return []

    return [(v["id"], [n["target"] for n in v["nodes"]]) for v in axe_violations(page)]


def test_admin_sets_up_a_kiosk_and_an_employee_punches_with_a_pin(  # noqa: F811
        served, context, factory, make_app):  # noqa: F811
    # Given an admin on /admin/kios and Budi of Jakarta with a PIN
    admin_user = factory.admin(name="Admin Kios")
    budi = make_app()
    user = factory.user(name="Budi Pin")
    login(budi, user)
    page = context.new_page()
    log_in(page, served, admin_user, "/admin/kios")
    # When the admin gives Budi a number and creates a kiosk
    row = page.locator(f"#numbers-table tr[data-user-id='{user['id']}']")
    row.locator("input").fill("E-77")
    row.locator("button").click()
    expect(page.locator("#toasts")).to_contain_text("disimpan")
    budi.put_json("/api/me/pin", {"pin": "482915"}, status=204)
    page.fill("#kiosk-name", "Kios Lobi")
    page.click("#btn-add-kiosk")
    expect(page.locator("#enrollment-code")).to_have_text(re.compile(r"^[A-Z2-9]{5}-[A-Z2-9]{5}$"))
    code = page.locator("#enrollment-code").text_content()
    assert axe_serious(page) == []
    # And the tablet enrolls with the code (its own context: no admin session there)
    tablet = context.browser.new_context()
    kiosk = tablet.new_page()
    kiosk.goto(f"{served}/kiosk")
    assert axe_serious(kiosk) == []
    kiosk.fill("#enroll-code", code.lower())
    kiosk.press("#enroll-code", "Enter")
    expect(kiosk.locator("#kiosk-connection")).to_have_attribute("data-state", "online")
    assert axe_serious(kiosk) == []
    # Then Budi checks in on the PIN pad, typing the PIN on its buttons
    kiosk.fill("#pin-number", "E-77")
    for digit in "482915":
        kiosk.click(f".pin-key[data-digit='{digit}']")
    kiosk.click("#pin-form button[data-action='check_in']")
    expect(kiosk.locator("#pin-message")).to_contain_text("Selamat datang, Budi Pin")
    assert budi.get("/api/me/attendances").json["total"] == 1
    # And the admin's list shows the kiosk as seen
    page.reload()
    expect(page.locator("#kiosks-table")).to_contain_text("Aktif")
    tablet.close()

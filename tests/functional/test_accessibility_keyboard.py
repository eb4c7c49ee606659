"""What a keyboard or screen-reader user meets, in a real browser: tabs move with the arrow
keys (roving tabindex), focus comes back to a dialog's opener and lands on the result of a
check-in or a decision; the phone nav shows every item; the 403 page starts no realtime
client; branch cards and "Dimuat pukul" speak WIB/WITA."""
import datetime
import re

import pytest
from playwright.sync_api import expect

from tests.browser_helpers import PHONE, WAIT_MS
from tests.functional.test_accessibility import browser, new_page, settle  # noqa: F401
from tests.functional.test_pages_browser import log_in, served  # noqa: F401

pytestmark = pytest.mark.browser


def focused_id(page):
    return page.evaluate("() => document.activeElement && document.activeElement.id")


def test_arrow_keys_home_and_end_move_between_tabs(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.user(branch="JKT"), "/absen")
    first = page.locator("#tab-attendance")
    # only the selected tab is in the Tab order
    expect(first).to_have_attribute("tabindex", "0")
    expect(page.locator("#tab-leave")).to_have_attribute("tabindex", "-1")
    first.focus()

    page.keyboard.press("ArrowRight")
    assert focused_id(page) == "tab-leave"
    expect(page.locator("#tab-leave")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#tab-leave")).to_have_attribute("tabindex", "0")
    expect(first).to_have_attribute("tabindex", "-1")
    expect(page.locator("#panel-leave")).to_be_visible()

    page.keyboard.press("End")
    assert focused_id(page) == "tab-schedule"
    expect(page.locator("#panel-schedule")).to_be_visible()
    page.keyboard.press("ArrowRight")  # wraps round to the first
    assert focused_id(page) == "tab-attendance"
    page.keyboard.press("ArrowLeft")  # and back to the last
    assert focused_id(page) == "tab-schedule"
    page.keyboard.press("Home")
    assert focused_id(page) == "tab-attendance"
    expect(page.locator("#panel-attendance")).to_be_visible()
    # Tab leaves the tablist instead of walking through the other tabs
    page.keyboard.press("Tab")
    assert not (focused_id(page) or "").startswith("tab-")
    page.context.close()


def test_closing_a_dialog_gives_focus_back_to_its_opener(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.admin(), "/admin")
    page.goto(served + "/admin/karyawan")
    settle(page)
    for close in ("Escape", "Batal"):
        page.focus("#btn-add-user")
        page.keyboard.press("Enter")
        expect(page.locator("#user-dialog")).to_have_attribute("open", "", timeout=WAIT_MS)
        if close == "Escape":
            page.keyboard.press("Escape")
        else:
            page.locator("#user-dialog").get_by_role("button", name="Batal").click()
        expect(page.locator("#user-dialog")).not_to_have_attribute("open", re.compile(".*"))
        page.wait_for_function("() => document.activeElement.id === 'btn-add-user'",
                               timeout=WAIT_MS)
    page.context.close()


def test_after_check_in_focus_is_on_the_new_status(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.user(branch="JKT"), "/absen")
    button = page.locator("#btn-check-in")
    expect(button).to_be_enabled(timeout=WAIT_MS)
    button.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.activeElement.id === 'today-status'",
                           timeout=WAIT_MS)
    expect(page.locator("#today-status")).to_contain_text("Sudah masuk")
    assert page.get_attribute("#today-status", "tabindex") == "-1"
    page.context.close()


def test_after_an_approval_focus_is_on_the_rows_new_status(browser, served, app,  # noqa: F811
                                                           factory):
    from tests.factories import login

    employee = factory.user(branch="JKT")
    login(app, employee)
    year = datetime.date.today().year + 1  # only this year and the next are accepted
    leave = app.post_json("/api/leave", {"kind": "izin", "date_from": f"{year}-02-04",
                                         "date_to": f"{year}-02-05", "reason": "Keluarga"},
                          status=201)
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.admin(), "/admin")
    page.goto(served + "/admin/izin")
    row = page.locator(f'tr[data-leave-id="{leave.json["id"]}"]')
    approve = row.locator(".btn-approve")
    expect(approve).to_be_visible(timeout=WAIT_MS)
    approve.focus()
    page.keyboard.press("Enter")
    expect(row.locator(".badge")).to_have_text("Disetujui", timeout=WAIT_MS)
    page.wait_for_function(
        "id => document.activeElement.closest('tr') && "
        "document.activeElement.closest('tr').dataset.leaveId === String(id)",
        arg=leave.json["id"], timeout=WAIT_MS)
    page.context.close()


def test_the_phone_nav_shows_every_item(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "390")
    log_in(page, served, factory.admin(), "/admin")
    links = page.locator(".mainnav a")
    assert links.count() >= 10
    width = PHONE["viewport"]["width"]
    for link in links.all():
        box = link.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= width, link.text_content()
        assert box["width"] >= 24 and box["height"] >= 24, link.text_content()
        # nothing covers it and no scroller clips it: the point at its centre is the link
        hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('a')?.href",
                            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
        assert hit == link.evaluate("a => a.href"), link.text_content()
    page.context.close()


def test_the_403_page_starts_no_realtime_client(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.user(), "/absen")
    token_requests = []
    page.on("request", lambda r: "/api/realtime/token" in r.url and token_requests.append(r))
    response = page.goto(served + "/admin")
    assert response.status == 403
    settle(page)
    page.wait_for_timeout(1500)  # the client would have asked at once, then every ~0.5-1 s
    assert token_requests == []
    assert page.locator("#realtime-status").count() == 0
    assert page.evaluate("() => typeof (window.Absensi || {}).realtime") == "undefined"
    # the visitor can still leave: logging out from the 403 page works
    page.click("#btn-logout")
    page.wait_for_url(served + "/login", timeout=WAIT_MS)
    page.context.close()


def test_branch_cards_and_load_times_name_the_zone(browser, served, factory):  # noqa: F811
    page = new_page(browser, served, "1280")
    log_in(page, served, factory.admin(branch="DPS"), "/admin")
    settle(page)
    zones = {code: page.locator(f'[data-branch="{code}"] .branch-zone').text_content()
             for code in ("JKT", "DPS")}
    assert zones == {"JKT": "WIB", "DPS": "WITA"}
    assert "Asia/" not in page.locator(".branch-grid").text_content()
    # "Dimuat pukul" is the admin's branch clock (Bali) with its label
    expect(page.locator("text=Dimuat pukul")).to_contain_text(
        re.compile(r"Dimuat pukul \d{2}:\d{2} WITA"), timeout=WAIT_MS)
    bali_now = page.evaluate("""() => new Intl.DateTimeFormat('en-GB', {timeZone: 'Asia/Makassar',
        hour: '2-digit', minute: '2-digit', hourCycle: 'h23'}).format(new Date())""")
    shown = re.search(r"(\d{2}):(\d{2}) WITA", page.locator("text=Dimuat pukul").text_content())
    hours, minutes = map(int, bali_now.split(":"))
    drift = ((hours * 60 + minutes) - (int(shown[1]) * 60 + int(shown[2]))) % 1440
    assert drift in (0, 1, 1439)  # a minute may turn between the two readings
    page.goto(served + "/admin/cabang")
    expect(page.locator('[data-branch="DPS"] h2')).to_contain_text("DPS · WITA", timeout=WAIT_MS)
    page.context.close()


def test_after_an_overtime_decision_focus_is_on_the_rows_overtime(browser, served, app,  # noqa: F811,E501
                                                                  factory):
    from tests.factories import at, login

    clock = app.app.registry["clock"]
    employee = factory.user(branch="JKT", name="Lembur Aksesibel")
    login(app, employee)
    at(app, "2026-11-02T08:00:00+07:00")
    app.post_json("/api/attendance/check-in", {}, status=201)
    at(app, "2026-11-02T20:00:00+07:00")
    attendance = app.post_json("/api/attendance/check-out", {}, status=200).json["attendance"]
    app.app.registry["clock"] = clock
    assert attendance["overtime_status"] == "pending", attendance

    page = new_page(browser, served, "1280")
    log_in(page, served, factory.admin(), "/admin")
    page.goto(served + "/admin/riwayat")
    page.click("#tab-history")
    approve = page.locator(f'#history-table tr[data-attendance-id="{attendance["id"]}"] '
                           ".btn-overtime-approve")
    expect(approve).to_be_visible(timeout=WAIT_MS)
    approve.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => document.activeElement.classList.contains('cell-overtime')", timeout=WAIT_MS)
    expect(page.locator(":focus")).to_contain_text("disetujui")
    page.context.close()

"""The §3.1 pages in a real browser against the whole app: the admin's week roster grid
assigns a shift to a selected cell; the employee's "Jadwal saya" tab lists 14 days."""
import pytest
from playwright.sync_api import expect

from tests.browser_helpers import WAIT_MS
from tests.functional.test_pages_browser import log_in, page, served  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_week_grid_assigns_a_shift_to_the_selected_cell(page, served, app,  # noqa: F811
                                                            factory):
    # Given a night shift type and an employee of Jakarta
    from tests.factories import login

    admin = factory.admin(branch="JKT")
    login(app, admin)
    app.post_json("/api/shift-types", {"code": "MALAM", "name": "Malam", "start": "22:00",
                                       "end": "06:00"}, status=201)
    employee = factory.user(branch="JKT", name="Joko Satpam")
    # When the admin selects Joko's Wednesday and applies MALAM
    log_in(page, served, admin, "/admin")
    page.goto(f"{served}/admin/jadwal")
    row = page.locator(f'#roster-grid tr[data-user-id="{employee["id"]}"]')
    expect(row.locator(".roster-cell")).to_have_count(7, timeout=WAIT_MS)
    row.locator(".roster-cell").nth(2).click()
    page.select_option("#roster-shift", "MALAM")
    page.click("#btn-roster-apply")
    # Then that cell shows the night shift (and the roster says so)
    expect(row.locator(".roster-cell").nth(2)).to_have_text("MALAM", timeout=WAIT_MS)
    monday = page.input_value("#roster-week")
    data = app.get("/api/schedules", params={"from": monday, "user_id": employee["id"]}
                   ).json["data"]
    assert [r["source"] for r in data[:7]].count("assignment") == 1


def test_the_employee_sees_the_next_14_days(page, served, factory):  # noqa: F811
    employee = factory.user(branch="DPS")
    log_in(page, served, employee, "/absen")
    page.click("#tab-schedule")
    expect(page.locator("#my-schedule tbody tr[data-date]")).to_have_count(14, timeout=WAIT_MS)
    expect(page.locator("#request-form")).to_be_visible()

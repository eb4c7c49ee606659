"""The pages of §3.1: the employee's "Jadwal saya" tab (roster and attendance requests)."""
from tests.factories import login


def test_the_employee_page_has_the_schedule_tab_and_the_request_form(app, factory):
    # Given an employee / When they open /absen
    login(app, factory.user(branch="JKT"))
    page = app.get("/absen").text
    # Then the "Jadwal saya" tab, its roster table and the request form are there
    for text in ("tab-schedule", "Jadwal saya", "my-schedule", "request-form", "request-kind",
                 "Ajukan koreksi absensi", "my-requests", "my_schedule.js"):
        assert text in page, text
    # and its script is served
    script = app.get("/static/js/pages/my_schedule.js").text
    for call in ("/api/me/schedule", "/api/attendance-requests", "request."):
        assert call in script, call


def test_admins_have_an_inbox_of_attendance_requests(app, make_app, factory):
    # Given an admin / When they open /admin/koreksi
    login(app, factory.admin())
    page = app.get("/admin/koreksi").text
    # Then the inbox is there, linked from the navigation, live on the requests channel
    for text in ("requests-inbox", "Pengajuan koreksi absensi", "request-filter-status",
                 "requests_inbox.js", 'href="/admin/koreksi"'):
        assert text in page, text
    # (the page configures the inbox it shares with the leave inbox: its channel and API)
    script = app.get("/static/js/pages/requests_inbox.js").text
    assert 'channel: "requests"' in script and 'path: "/api/attendance-requests"' in script
    shared = app.get("/static/js/app.js").text
    assert "Absensi.realtime.subscribe(channel," in shared
    assert 'Absensi.api.post(path + "/" + item.id + "/" + action' in shared
    # And employees may not open it
    employee = make_app()
    login(employee, factory.user())
    employee.get("/admin/koreksi", status=403)


def test_riwayat_rows_show_the_shift_and_decide_overtime(app, factory):
    login(app, factory.admin())
    page = app.get("/admin/riwayat").text
    for text in ("cell-shift", "cell-overtime", "btn-overtime-approve", "Setujui lembur",
                 "Tolak lembur"):
        assert text in page, text
    assert "/overtime/" in app.get("/static/js/pages/history.js").text


def test_the_branch_page_edits_sites_without_a_map(app, factory):
    login(app, factory.admin())
    page = app.get("/admin/cabang").text
    for text in ("branch-sites", "Tambah lokasi", "Gunakan lokasi saya", "btn-remove-site",
                 "Lintang", "Bujur", "Radius"):
        assert text in page, text
    script = app.get("/static/js/pages/branches.js").text
    assert "/sites" in script and "geolocation" in script


def test_admins_have_a_week_roster_grid(app, make_app, factory):
    # Given an admin / When they open /admin/jadwal
    login(app, factory.admin())
    page = app.get("/admin/jadwal").text
    # Then the grid, the shift choice, apply and copy-last-week are there, and linked
    for text in ("roster-grid", "roster-week", "roster-shift", "btn-roster-apply",
                 "btn-roster-copy", "Salin minggu lalu", "roster.js", 'href="/admin/jadwal"'):
        assert text in page, text
    script = app.get("/static/js/pages/roster.js").text
    assert "/api/schedules" in script and "/api/shift-types" in script
    employee = make_app()
    login(employee, factory.user())
    employee.get("/admin/jadwal", status=403)

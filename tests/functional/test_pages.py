"""The HTML shells render, carry the hooks the live scripts need, and respect roles."""
import pytest

from tests.factories import login

ADMIN_PAGES = {
    "/admin": ["latest-checkins", "summary-total", "realtime-status"],
    "/admin/riwayat": ["tab-today", "tab-history", "today-table", "history-new-badge"],
    "/admin/karyawan": ["Karyawan"],
    "/admin/server": ["servers-table"],
    "/admin/izin": ["leave-inbox", "leave-filter-status", "Setujui"],
    "/admin/libur": ["holiday-form", "holidays-table"],
    "/admin/rekap": ["recap-month", "recap-branch", "recap-totals", "btn-recap-csv"],
    "/admin/cabang": ["branch-settings", "Hari kerja", "Geofence"],
}


def test_login_page_is_indonesian(app):
    page = app.get("/login")
    assert page.content_type == "text/html"
    assert 'lang="id"' in page.text
    for text in ("login-form", "login-email", "login-password", "Masuk"):
        assert text in page.text


def test_pages_need_login(app):
    response = app.get("/absen", status=302)
    assert "/login?next=%2Fabsen" in response.location
    assert "/login" in app.get("/", status=302).location


def test_employee_page(app, factory):
    login(app, factory.user(name="Budi"))
    page = app.get("/absen")
    for text in ("Absen Masuk", "Absen Pulang", "btn-check-in", "btn-check-out", "today-status",
                 "Budi", 'name="csrf-token"', "app-node-1"):
        assert text in page.text
    assert "/absen" in app.get("/", status=302).location
    app.get("/login", status=302)


def test_login_page_hands_the_page_only_a_same_origin_next(app, factory):
    # the browser resolves "/%2e%2e//evil.example" to the path "//evil.example"
    page = app.get("/login", params={"next": "/%2e%2e//evil.example"})
    assert 'data-next=""' in page.text
    page = app.get("/login", params={"next": "/absen?tab=izin"})
    assert 'data-next="/absen?tab=izin"' in page.text
    # signed in already: /login follows a good next at once, and ignores a bad one
    login(app, factory.user())
    assert app.get("/login", params={"next": "/absen?tab=izin"}, status=302
                   ).location.endswith("/absen?tab=izin")
    assert app.get("/login", params={"next": "/\\evil.example"}, status=302
                   ).location == "http://localhost/absen"


@pytest.mark.parametrize("path", sorted(ADMIN_PAGES))
def test_admin_pages(app, factory, path):
    login(app, factory.admin())
    page = app.get(path)
    for text in ADMIN_PAGES[path]:
        assert text in page.text, text


@pytest.mark.parametrize("path", sorted(ADMIN_PAGES))
def test_employees_cannot_open_admin_pages(app, factory, path):
    login(app, factory.user())
    app.get(path, status=403)


def test_static_assets_are_vendored(app):
    assert app.get("/static/vendor/alpine.min.js").content_length > 10_000
    assert "connect" in app.get("/static/js/realtime.js").text


def test_secure_cookie_flag_is_configurable(make_app, factory):
    app = make_app(session__cookie_secure="true")
    user = factory.user()
    response = app.post_json("/api/login", {"email": user["email"], "password": user["password"]})
    assert "secure" in response.headers["Set-Cookie"].lower()
    assert "samesite=lax" in response.headers["Set-Cookie"].lower()


def test_static_urls_carry_a_cache_busting_token(app):
    page = app.get("/login")
    assert "/static/js/realtime.js?x=" in page.text or "/static/js/app.js?x=" in page.text


def test_employee_page_has_the_leave_tab_and_the_geofence_hint(app, make_app, factory):
    # Given a fenced branch
    admin = make_app()
    login(admin, factory.admin())
    admin.patch_json("/api/branches/JKT", {"geofence": {"lat": -6.2, "lon": 106.8,
                                                        "radius_m": 150}})
    login(app, factory.user(branch="JKT"))
    page = app.get("/absen").text
    for text in ("tab-leave", "Izin &amp; Cuti", "leave-form", "leave-balance", "my-leave",
                 "geofence-hint", "150 m", "my_leave.js"):
        assert text in page, text


def test_riwayat_and_dashboard_have_the_hr_hooks(app, factory):
    login(app, factory.admin())
    history = app.get("/admin/riwayat").text
    for text in ("correction-dialog", "correction-reason", "audit-dialog", "btn-create-attendance",
                 "Dikoreksi", "Koreksi", "Jejak"):
        assert text in history, text
    dashboard = app.get("/admin").text
    for text in ("absent-users", "Belum absen hari ini", "count-on-leave"):
        assert text in dashboard, text

"""Every URL of the app in one place (contract §3 for /api)."""


def includeme(config):
    config.add_route("healthz", "/healthz")
    config.add_route("readyz", "/readyz")
    config.add_route("metrics", "/metrics")  # Prometheus; nginx answers 404 for it

    config.add_route("api.login", "/api/login")
    config.add_route("api.logout", "/api/logout")
    config.add_route("api.me", "/api/me")
    config.add_route("api.my_attendances", "/api/me/attendances")
    config.add_route("api.check_in", "/api/attendance/check-in")
    config.add_route("api.check_out", "/api/attendance/check-out")
    config.add_route("api.today", "/api/attendances/today")
    config.add_route("api.export", "/api/attendances/export.csv")
    config.add_route("api.attendances", "/api/attendances")
    config.add_route("api.users", "/api/users")
    config.add_route("api.user", "/api/users/{id}")
    config.add_route("api.branches", "/api/branches")
    config.add_route("api.servers", "/api/servers")
    config.add_route("api.realtime_token", "/api/realtime/token")
    config.add_route("api.openapi", "/api/openapi.json")

    config.add_route("home", "/")
    config.add_route("login", "/login")
    config.add_route("employee", "/absen")
    config.add_route("admin", "/admin")
    config.add_route("admin.history", "/admin/riwayat")
    config.add_route("admin.users", "/admin/karyawan")
    config.add_route("admin.servers", "/admin/server")

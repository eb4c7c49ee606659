"""The kiosk's pages: ``/kiosk`` (enroll, then the unattended screen), ``/admin/kios``,
and what makes the app installable and usable offline (web app manifest, service
worker). Their data comes from the JSON API (webapp.kiosks.views)."""
import json

from pyramid.response import Response
from pyramid.view import view_config

from webapp.pages.views import page_context
from webapp.static_assets import STATIC_DIR, static_token

#: the static files the shell needs offline (the service worker caches them at install)
SHELL_ASSETS = ("css/app.css", "css/kiosk.css", "js/app.js", "js/realtime.js", "js/offline.js",
                "js/kiosk_checkin.js", "js/pages/kiosk.js", "js/pages/employee.js",
                "js/pages/my_leave.js", "js/pages/my_schedule.js", "vendor/alpine.min.js",
                "vendor/qrcode.js", "img/favicon.svg", "img/icon-192.png",
                "img/icon-512.png")


@view_config(route_name="kiosk", renderer="webapp:templates/kiosk.jinja2")
def kiosk_page(request):
    # no user session on a kiosk: the device holds its own credential (localStorage)
    return {"node_id": request.node_id, "page": "kiosk"}


@view_config(route_name="admin.kiosks", permission="admin",
             renderer="webapp:templates/admin/kiosks.jinja2")
def kiosks_admin_page(request):
    return page_context(request, "kiosks")


@view_config(route_name="manifest")
def manifest(request):
    """One manifest per installed app: the employee page, or the kiosk (``?app=kiosk``)."""
    kiosk = request.GET.get("app") == "kiosk"
    body = {
        "name": "Absensi Kios" if kiosk else "Absensi",
        "short_name": "Kios" if kiosk else "Absensi",
        "lang": "id",
        "start_url": "/kiosk" if kiosk else "/absen",
        "scope": "/",
        "display": "fullscreen" if kiosk else "standalone",
        "background_color": "#ffffff",
        "theme_color": "#0f766e",
        "icons": [
            {"src": request.static_path(f"webapp:static/img/icon-{size}.png"),
             "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any maskable"}
            for size in (192, 512)],
    }
    response = Response(json.dumps(body), content_type="application/manifest+json",
                        charset="utf-8")
    response.headers["Cache-Control"] = "no-cache"
    return response


@view_config(route_name="service_worker")
def service_worker(request):
    """``/sw.js`` from the root (its scope is the whole site), with this release's shell
    URLs (cache-busting tokens included) and a cache name that changes with them."""
    script = (STATIC_DIR / "sw.js").read_text()
    config = {"cache": f"absensi-shell-{static_token()}",
              "shell": ["/kiosk"] + [request.static_path(f"webapp:static/{asset}")
                                     for asset in SHELL_ASSETS]}
    body = f"self.ABSENSI_SW = {json.dumps(config)};\n{script}"
    response = Response(body, content_type="text/javascript", charset="utf-8")
    # always asked again, so a new release's worker is found on the next visit
    response.headers["Cache-Control"] = "no-cache"
    return response

"""HTML shells; their data comes from the JSON API (see webapp/templates)."""
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.renderers import render_to_response
from pyramid.view import view_config

from webapp.accounts.redirects import safe_next
from webapp.accounts.services import user_json
from webapp.branches.services import all_branches, branch_json
from webapp.errors import OUTAGES


#: Indonesia's zones as people name them (branch cards show these, not the IANA name)
ZONE_NAMES = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA",
              "Asia/Jayapura": "WIT"}


def page_context(request, page):
    return {
        "zone_names": ZONE_NAMES,
        "user": user_json(request.user) if request.user else None,
        # visitors who are not logged in get no token, hence no session (bots included);
        # the login call is CSRF-exempt and answers with the new session's token
        "csrf_token": get_csrf_token(request) if request.user else "",
        "node_id": request.node_id,
        "branches": [branch_json(b) for b in all_branches(request.dbsession)],
        "page": page,
    }


def _home_for(request):
    return request.route_url("admin" if request.user.is_admin else "employee")


@view_config(route_name="home")
def home(request):
    if request.user is None:
        return HTTPFound(request.route_url("login"))
    return HTTPFound(_home_for(request))


@view_config(route_name="login", renderer="webapp:templates/login.jinja2")
def login_page(request):
    # ?next= resolved here as the browser will resolve it; the page follows only this
    next_path = safe_next(request.GET.get("next"), request.host_url)
    if request.user is not None:
        return HTTPFound(request.host_url + next_path if next_path else _home_for(request))
    return dict(page_context(request, "login"), next_path=next_path or "")


#: route -> (page key, template) of the shells that need nothing but the page context
SHELLS = {
    "employee": ("employee", "employee.jinja2", "user"),
    "admin": ("dashboard", "admin/dashboard.jinja2", "admin"),
    "admin.history": ("history", "admin/history.jinja2", "admin"),
    "admin.users": ("users", "admin/users.jinja2", "admin"),
    "admin.servers": ("servers", "admin/servers.jinja2", "admin"),
    "admin.leave": ("leave", "admin/leave.jinja2", "admin"),
    "admin.requests": ("requests", "admin/requests.jinja2", "admin"),
    "admin.schedules": ("schedules", "admin/schedules.jinja2", "admin"),
    "admin.holidays": ("holidays", "admin/holidays.jinja2", "admin"),
    "admin.recap": ("recap", "admin/recap.jinja2", "admin"),
    "admin.branches": ("branches", "admin/branches.jinja2", "admin"),
}


def shell_view(page):
    def view(request):
        return page_context(request, page)

    view.__name__ = f"{page}_page"
    return view


def error_page(request, status, title, message, *, with_user=True):
    """The error page in the app's layout (see :func:`webapp.errors.error_page`)."""
    user, csrf_token = None, ""
    if with_user:
        try:
            user = request.user
            # a signed-in visitor can still log out from here (POST needs the token)
            csrf_token = get_csrf_token(request) if user else ""
        except OUTAGES:
            user, csrf_token = None, ""
    context = {"user": user_json(user) if user else None, "csrf_token": csrf_token,
               "node_id": request.registry.settings["app.node_id"], "branches": [],
               "page": "error", "status": status, "title": title, "message": message}
    response = render_to_response("webapp:templates/error.jinja2", context, request=request)
    response.status = status
    return response


def includeme(config):
    config.registry["error_page"] = error_page
    for route, (page, template, permission) in SHELLS.items():
        config.add_view(shell_view(page), route_name=route, permission=permission,
                        renderer=f"webapp:templates/{template}")

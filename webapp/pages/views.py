"""HTML shells; their data comes from the JSON API (see webapp/templates)."""
from pyramid.csrf import get_csrf_token
from pyramid.httpexceptions import HTTPFound
from pyramid.view import view_config

from webapp.accounts.services import user_json
from webapp.branches.services import all_branches, branch_json


def page_context(request, page):
    return {
        "user": user_json(request.user) if request.user else None,
        # visitors who are not logged in get no token, hence no session (bots included);
        # the login call is CSRF-exempt and answers with the new session's token
        "csrf_token": get_csrf_token(request) if request.user else "",
        "node_id": request.registry.settings["app.node_id"],
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
    if request.user is not None:
        return HTTPFound(_home_for(request))
    return page_context(request, "login")


@view_config(route_name="employee", renderer="webapp:templates/employee.jinja2",
             permission="user")
def employee_page(request):
    return page_context(request, "employee")


@view_config(route_name="admin", renderer="webapp:templates/admin/dashboard.jinja2",
             permission="admin")
def dashboard_page(request):
    return page_context(request, "dashboard")


@view_config(route_name="admin.history", renderer="webapp:templates/admin/history.jinja2",
             permission="admin")
def history_page(request):
    return page_context(request, "history")


@view_config(route_name="admin.users", renderer="webapp:templates/admin/users.jinja2",
             permission="admin")
def users_page(request):
    return page_context(request, "users")


@view_config(route_name="admin.servers", renderer="webapp:templates/admin/servers.jinja2",
             permission="admin")
def servers_page(request):
    return page_context(request, "servers")


@view_config(route_name="admin.leave", renderer="webapp:templates/admin/leave.jinja2",
             permission="admin")
def leave_page(request):
    return page_context(request, "leave")


@view_config(route_name="admin.holidays", renderer="webapp:templates/admin/holidays.jinja2",
             permission="admin")
def holidays_page(request):
    return page_context(request, "holidays")


@view_config(route_name="admin.recap", renderer="webapp:templates/admin/recap.jinja2",
             permission="admin")
def recap_page(request):
    return page_context(request, "recap")


@view_config(route_name="admin.branches", renderer="webapp:templates/admin/branches.jinja2",
             permission="admin")
def branches_page(request):
    return page_context(request, "branches")

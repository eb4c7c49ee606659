import functools

from pyramid.view import view_config

from webapp import validation as v
from webapp.branches.cache import bump_branches_version
from webapp.branches.services import branch_from_query
from webapp.db import after_commit
from webapp.errors import ApiError
from webapp.shifts import schedules, services


def _branches_changed(request):
    # every node's branch cache (which holds the branches' default shift types) reloads
    after_commit(request.dbsession, functools.partial(bump_branches_version, request.redis))


@view_config(route_name="api.shift_types", request_method="GET", renderer="json",
             permission="user")
def list_shift_types(request):
    return {"data": [services.shift_type_json(s)
                     for s in services.all_shift_types(request.dbsession)]}


@view_config(route_name="api.shift_types", request_method="POST", renderer="json",
             permission="admin")
def create_shift_type(request):
    shift = services.create_shift_type(request.dbsession, v.json_object(request))
    request.response.status_code = 201
    return services.shift_type_json(shift)


@view_config(route_name="api.shift_type", request_method="PATCH", renderer="json",
             permission="admin")
def update_shift_type(request):
    shift_id = v.path_id(request)
    if shift_id is None:
        raise ApiError(404, "not_found", "Jenis shift tidak ditemukan.")
    body = v.json_object(request)
    shift = services.update_shift_type(request.dbsession, shift_id, body)
    if shift.branch_id is not None:
        _branches_changed(request)
    return services.shift_type_json(shift)


@view_config(route_name="api.schedules", request_method="POST", renderer="json",
             permission="admin")
def assign(request):
    days = schedules.assign(request.dbsession, body=v.json_object(request), actor=request.user,
                            node_id=request.node_id)
    request.response.status_code = 201
    return {"days": days}


@view_config(route_name="api.schedules", request_method="GET", renderer="json",
             permission="admin")
def roster(request):
    errors = {}
    branch = branch_from_query(request.dbsession, request.GET, errors)
    user_id = (v.positive_int(request.GET["user_id"], "user_id", errors)
               if request.GET.get("user_id") else None)
    today = request.user.branch.local_date(request.now)
    date_from, date_to = schedules.parse_range(request.GET, errors, today=today)
    v.raise_if(errors)
    users = schedules.roster_users(request.dbsession, branch=branch, user_id=user_id)
    if branch is not None and user_id is not None:
        users = [u for u in users if u.branch_id == branch.id]
    return {"data": schedules.roster_json(request.dbsession, users=users, date_from=date_from,
                                          date_to=date_to)}


@view_config(route_name="api.my_schedule", request_method="GET", renderer="json",
             permission="user")
def my_schedule(request):
    errors = {}
    today = request.principal.branch.local_date(request.now)
    date_from, date_to = schedules.parse_range(request.GET, errors, today=today)
    v.raise_if(errors)
    users = schedules.roster_users(request.dbsession, user_id=request.principal.id)
    return {"data": schedules.roster_json(request.dbsession, users=users, date_from=date_from,
                                          date_to=date_to)}

import functools

from pyramid.response import Response
from pyramid.view import view_config

from webapp import validation as v
from webapp.branches.services import branch_by_code
from webapp.db import after_commit
from webapp.errors import json_response
from webapp.holidays import services
from webapp.holidays.cache import bump_holidays_version


def parse_year(request, errors):
    year = request.user.branch.local_date(request.now).year
    if request.GET.get("year"):
        year = v.positive_int(request.GET["year"], "year", errors)
        if year is not None and not 2000 <= year <= 2100:
            errors["year"] = "Tahun 2000–2100."
    return year


def _reload_node_caches(request):
    # every node's check-ins read holidays from its cache (webapp.holidays.cache)
    after_commit(request.dbsession, functools.partial(bump_holidays_version, request.redis))


@view_config(route_name="api.holidays", request_method="GET", renderer="json",
             permission="user")
def list_holidays(request):
    errors = {}
    year = parse_year(request, errors)
    v.raise_if(errors)
    return {"data": [services.holiday_json(h)
                     for h in services.list_holidays(request.dbsession, year)]}


@view_config(route_name="api.holidays", request_method="POST", permission="admin")
def add_holiday(request):
    body = v.json_object(request)
    v.reject_unknown(body, ("date", "name", "branch"))
    errors = {}
    day = v.iso_date(body.get("date"), "date", errors)
    if day is None and "date" not in errors:
        errors["date"] = "Wajib diisi."
    elif day is not None and not 2000 <= day.year <= 2100:
        errors["date"] = "Tahun 2000–2100."
    name = v.check_name(body.get("name"), errors)
    branch = None
    if body.get("branch") is not None:
        branch = branch_by_code(request.dbsession, body["branch"])
        if branch is None:
            errors["branch"] = "Kode cabang tidak dikenal."
    v.raise_if(errors)
    holiday = services.add_holiday(request.dbsession, day=day, name=name, branch=branch)
    _reload_node_caches(request)
    return json_response(201, services.holiday_json(holiday))


@view_config(route_name="api.holiday", request_method="DELETE", permission="admin")
def delete_holiday(request):
    holiday_id = v.path_id(request)
    services.delete_holiday(request.dbsession, holiday_id or 0)
    _reload_node_caches(request)
    return Response(status=204)

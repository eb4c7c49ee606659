import functools

from pyramid.view import view_config

from webapp import validation as v
from webapp.branches.cache import bump_branches_version
from webapp.branches.services import (all_branches, branch_by_code, branch_json, set_sites,
                                      update_branch)
from webapp.db import after_commit
from webapp.errors import ApiError


@view_config(route_name="api.branches", request_method="GET", renderer="json", permission="user")
def list_branches(request):
    return {"data": [branch_json(b) for b in all_branches(request.dbsession)]}


def _branch(request):
    branch = branch_by_code(request.dbsession, request.matchdict["code"])
    if branch is None:
        raise ApiError(404, "not_found", "Cabang tidak ditemukan.")
    return branch


@view_config(route_name="api.branch", request_method="PATCH", renderer="json",
             permission="admin")
def patch_branch(request):
    branch = _branch(request)
    update_branch(request.dbsession, branch, v.json_object(request))
    # every node's branch cache reloads (webapp.accounts.principal)
    after_commit(request.dbsession, functools.partial(bump_branches_version, request.redis))
    return branch_json(branch)


@view_config(route_name="api.branch_sites", request_method="PUT", renderer="json",
             permission="admin")
def put_sites(request):
    branch = _branch(request)
    set_sites(request.dbsession, branch, v.json_object(request))
    after_commit(request.dbsession, functools.partial(bump_branches_version, request.redis))
    return branch_json(branch)

from pyramid.view import view_config

from webapp.branches.services import all_branches, branch_json


@view_config(route_name="api.branches", request_method="GET", renderer="json", permission="user")
def list_branches(request):
    return {"data": [branch_json(b) for b in all_branches(request.dbsession)]}

from pyramid.view import view_config

from webapp import validation as v
from webapp.branches.services import branch_from_query
from webapp.errors import ApiError
from webapp.idempotency.services import idempotent_response
from webapp.pagination import paginate
from webapp.requests import services


@view_config(route_name="api.attendance_requests", request_method="POST", permission="user")
def file_request(request):
    body = v.json_object(request)

    def action():
        filed = services.create_request(request.dbsession, user=request.user, body=body,
                                        node_id=request.node_id, now=request.now)
        return 201, services.request_json(filed)

    return idempotent_response(request, action)


@view_config(route_name="api.attendance_requests", request_method="GET", renderer="json",
             permission="user")
def list_requests(request):
    """Admins see every request (filters apply); employees only their own."""
    errors = {}
    page, per_page = v.pagination(request.GET, errors)
    status, user_id = services.parse_filters(request.GET, errors)
    branch = branch_from_query(request.dbsession, request.GET, errors)
    v.raise_if(errors)
    if not request.user.is_admin:
        user_id, branch = request.user.id, None
    rows, total = paginate(request.dbsession,
                           services.list_query(status=status, user_id=user_id, branch=branch),
                           page=page, per_page=per_page, order_by=services.NEWEST_FIRST)
    return {"data": [services.request_json(r) for r in rows], "page": page,
            "per_page": per_page, "total": total}


def _decision(request, approve):
    request_id = v.path_id(request)
    if request_id is None:
        raise ApiError(404, "not_found", "Pengajuan tidak ditemukan.")
    body = v.json_object(request, optional=True)
    v.reject_unknown(body, ("note",))
    note = v.check_note(body.get("note"))
    decided = services.decide(request.dbsession, request_id=request_id, approve=approve,
                              actor=request.user, note=note, node_id=request.node_id,
                              now=request.now)
    return services.request_json(decided)


@view_config(route_name="api.attendance_request_approve", request_method="POST",
             renderer="json", permission="admin")
def approve(request):
    return _decision(request, True)


@view_config(route_name="api.attendance_request_reject", request_method="POST",
             renderer="json", permission="admin")
def reject(request):
    return _decision(request, False)

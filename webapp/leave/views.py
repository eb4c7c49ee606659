from pyramid.view import view_config

from webapp import inbox
from webapp import validation as v
from webapp.idempotency.services import idempotent_response
from webapp.leave import services
from webapp.leave.models import STATUSES, LeaveRequest


@view_config(route_name="api.leave", request_method="POST", permission="user")
def request_leave(request):
    body = v.json_object(request)

    def action():
        leave = services.create_leave(request.dbsession, user=request.user, body=body,
                                      node_id=request.node_id, now=request.now)
        return 201, services.leave_json(leave)

    return idempotent_response(request, action)


@view_config(route_name="api.leave", request_method="GET", renderer="json", permission="user")
def list_leave(request):
    """Admins see every request (filters apply); employees only their own."""
    return inbox.list_page(request, LeaveRequest, statuses=STATUSES,
                           to_json=services.leave_json)


def _decision(request, approve):
    leave_id, note = inbox.decision(request)
    leave = services.decide(request.dbsession, leave_id=leave_id, approve=approve,
                            actor=request.user, note=note, node_id=request.node_id,
                            now=request.now)
    return services.leave_json(leave)


@view_config(route_name="api.leave_approve", request_method="POST", renderer="json",
             permission="admin")
def approve(request):
    return _decision(request, True)


@view_config(route_name="api.leave_reject", request_method="POST", renderer="json",
             permission="admin")
def reject(request):
    return _decision(request, False)


@view_config(route_name="api.leave_cancel", request_method="POST", renderer="json",
             permission="user")
def cancel(request):
    leave = services.cancel(request.dbsession, leave_id=inbox.path_request_id(request),
                            user=request.user, node_id=request.node_id)
    return services.leave_json(leave)


@view_config(route_name="api.leave_balance", request_method="GET", renderer="json",
             permission="user")
def leave_balance(request):
    errors = {}
    year = request.user.branch.local_date(request.now).year
    if request.GET.get("year"):
        year = v.positive_int(request.GET["year"], "year", errors)
        if year is not None and not 2000 <= year <= 2100:
            errors["year"] = "Tahun 2000–2100."
    v.raise_if(errors)
    return services.balance(request.dbsession, request.user.id, year)

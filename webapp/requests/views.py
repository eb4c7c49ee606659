from pyramid.view import view_config

from webapp import inbox
from webapp import validation as v
from webapp.idempotency.services import idempotent_response
from webapp.requests import services
from webapp.requests.models import STATUSES, AttendanceRequest


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
    return inbox.list_page(request, AttendanceRequest, statuses=STATUSES,
                           to_json=services.request_json)


def _decision(request, approve):
    request_id, note = inbox.decision(request)
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

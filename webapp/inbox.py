"""What every inbox of requests that wait for an admin shares (leave, attendance
requests): the list answer (admins see every request, filtered by ``status``, ``user_id``
and ``branch``; employees only their own; newest first, paginated) and the body of a
decision (the request id from the path, an optional ``note``)."""
from sqlalchemy import select

from webapp import validation as v
from webapp.branches.services import branch_from_query
from webapp.errors import ApiError
from webapp.pagination import paginate


def one_of(values):
    """``'a', 'b' atau 'c'``: the words of a "must be one of" message."""
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + " atau " + quoted[-1] if len(quoted) > 1 else quoted[0]


def list_page(request, model, *, statuses, to_json):
    """The ``Page`` of *model* rows *request* may see, each answered by ``to_json``."""
    errors = {}
    page, per_page = v.pagination(request.GET, errors)
    status = request.GET.get("status") or None
    if status and status not in statuses:
        errors["status"] = f"Harus {one_of(statuses)}."
    user_id = v.positive_int(request.GET["user_id"], "user_id", errors) \
        if request.GET.get("user_id") else None
    branch = branch_from_query(request.dbsession, request.GET, errors)
    v.raise_if(errors)
    if not request.user.is_admin:
        user_id, branch = request.user.id, None
    query = select(model)
    if status:
        query = query.where(model.status == status)
    if user_id:
        query = query.where(model.user_id == user_id)
    if branch is not None:
        query = query.where(model.branch_id == branch.id)
    rows, total = paginate(request.dbsession, query, page=page, per_page=per_page,
                           order_by=(model.id.desc(),))
    return {"data": [to_json(row) for row in rows], "page": page, "per_page": per_page,
            "total": total}


def path_request_id(request):
    """The request id of the path; 404 for one that cannot be an id."""
    request_id = v.path_id(request)
    if request_id is None:
        raise ApiError(404, "not_found", "Pengajuan tidak ditemukan.")
    return request_id


def decision(request):
    """``(request id, note)`` of an approve / reject call."""
    request_id = path_request_id(request)
    body = v.json_object(request, optional=True)
    v.reject_unknown(body, ("note",))
    return request_id, v.check_note(body.get("note"))

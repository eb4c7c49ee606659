import json
import logging

from pyramid.view import view_config
from redis.exceptions import RedisError

from webapp import validation as v
from webapp.attendance import audit, corrections, kiosk, services, summaries
from webapp.attendance import today as today_board
from webapp.attendance.export import csv_response
from webapp.attendance.models import Attendance, STATUSES
from webapp.attendance.serializers import attendance_json, audit_json
from webapp.branches.geofence import parse_location
from webapp.branches.services import branch_from_query, cached_branches
from webapp.errors import ApiError
from webapp.idempotency.services import idempotent_response
from webapp.pagination import paginate

log = logging.getLogger(__name__)


def _attendance_change(request, change, success_status):
    body = v.json_object(request, optional=True)
    v.reject_unknown(body, ("note", "location", "kiosk_code", "offline_at"))
    note = v.check_note(body.get("note"))
    location = parse_location(body.get("location"))
    node_id = request.node_id
    errors = {}
    offline_at = kiosk.offline_instant(body, errors)
    v.raise_if(errors)
    kiosk_code = body.get("kiosk_code")
    kiosk.require_offline_code(kiosk_code, offline_at)

    def action():
        if kiosk_code is not None:  # contract §3.2: the code proves presence
            attendance = kiosk.kiosk_change(
                request, change, user=request.principal, now=offline_at or request.now,
                note=note, kiosk_code=kiosk_code, offline_at=offline_at)
            return success_status, {"attendance": attendance_json(attendance)}
        # the principal, not the user row: the session already proved who this is
        attendance = change(request.dbsession, user=request.principal, node_id=node_id,
                            note=note, now=request.now, location=location)
        return success_status, {"attendance": attendance_json(attendance)}

    return idempotent_response(request, action)


@view_config(route_name="api.check_in", request_method="POST", permission="user")
def check_in(request):
    return _attendance_change(request, kiosk.check_in_with_node_holidays(request), 201)


@view_config(route_name="api.check_out", request_method="POST", permission="user")
def check_out(request):
    return _attendance_change(request, services.check_out, 200)


def _page(request, query, errors, page, per_page):
    v.raise_if(errors)
    rows, total = paginate(
        request.dbsession, query, page=page, per_page=per_page, order_by=services.NEWEST_FIRST
    )
    return {"data": [attendance_json(a) for a in rows], "page": page, "per_page": per_page,
            "total": total}


@view_config(route_name="api.my_attendances", request_method="GET", renderer="json",
             permission="user")
def my_attendances(request):
    errors = {}
    page, per_page = v.pagination(request.GET, errors)
    query = services.history_query(user_id=request.principal.id)
    return _page(request, query, errors, page, per_page)


@view_config(route_name="api.today", request_method="GET", permission="admin")
def today(request):
    """The same answer for every admin until the next commit: computed and encoded once
    per stamp in each process (:mod:`webapp.attendance.today_cache`)."""
    errors = {}
    every_branch = cached_branches(request)
    branch = branch_from_query(request.dbsession, request.GET, errors, among=every_branch)
    page, per_page = _today_pagination(request.GET, errors)
    v.raise_if(errors)
    branches = [branch] if branch else every_branch
    # the stamp first: the board below is then at least as new as what it names
    versions, generation = summary_stamp(request, branches)
    cache = request.registry["today_cache"]
    key = (tuple(b.id for b in branches), tuple(b.local_date(request.now) for b in branches),
           page, per_page)
    stamp = (generation, tuple(versions.items()))
    body = cache.get(key, stamp) if generation is not None else None
    if body is None:
        rows, summary, absent = today_board.board(request.dbsession, branches, page=page,
                                                  per_page=per_page, now=request.now)
        body = json.dumps({"data": rows, "summary": summary, "absent_users": absent,
                           "page": page, "per_page": per_page, "total": summary["checked_in"],
                           "summary_versions": versions}).encode()
        if generation is not None:
            cache.put(key, stamp, body)
    response = request.response
    response.content_type = "application/json"
    response.body = body
    return response


def _today_pagination(params, errors):
    # larger pages than elsewhere: a board shows a screenful of the day at once
    page = v.positive_int(params.get("page", "1"), "page", errors)
    per_page = v.positive_int(params.get("per_page", str(today_board.DEFAULT_PER_PAGE)),
                              "per_page", errors)
    if per_page and per_page > today_board.MAX_PER_PAGE:
        errors["per_page"] = f"Paling banyak {today_board.MAX_PER_PAGE}."
    return page or 1, per_page or today_board.DEFAULT_PER_PAGE


def summary_stamp(request, branches):
    """``(versions, generation)`` (:func:`summaries.stamp`); while Redis is unreachable
    every version is 0, so a page takes the next pushed summary whatever its version, and
    the generation is None: nothing is cached."""
    try:
        return summaries.stamp(request.redis, branches, request.now)
    except RedisError:
        log.warning("summary versions unavailable (Redis)", exc_info=True)
        return {b.code: 0 for b in branches}, None


def history_filters(request):
    """Parse the history/export filters; 422 with every bad field at once."""
    errors = {}
    params = request.GET
    filters = {
        "date_from": v.iso_date(params.get("from"), "from", errors),
        "date_to": v.iso_date(params.get("to"), "to", errors),
        "branch": branch_from_query(request.dbsession, request.GET, errors),
        "user_id": (v.positive_int(params["user_id"], "user_id", errors)
                    if params.get("user_id") else None),
        "status": params.get("status") or None,
    }
    if filters["status"] and filters["status"] not in STATUSES:
        errors["status"] = "Harus 'present' atau 'late'."
    if filters["date_from"] and filters["date_to"] and filters["date_from"] > filters["date_to"]:
        errors["to"] = "Tanggal akhir sebelum tanggal awal."
    return filters, errors


@view_config(route_name="api.attendances", request_method="GET", renderer="json",
             permission="admin")
def history(request):
    filters, errors = history_filters(request)
    page, per_page = v.pagination(request.GET, errors)
    return _page(request, services.history_query(**filters), errors, page, per_page)


@view_config(route_name="api.export", request_method="GET", permission="admin")
def export(request):
    filters, errors = history_filters(request)
    v.raise_if(errors)
    return csv_response(request, services.history_query(**filters))


# -- admin corrections and the audit trail ---------------------------------------------

@view_config(route_name="api.attendances", request_method="POST", permission="admin")
def create_attendance(request):
    body = v.json_object(request)

    def action():
        attendance = corrections.create_attendance(
            request.dbsession, body=body, actor=request.user, node_id=request.node_id,
            now=request.now)
        return 201, {"attendance": attendance_json(attendance)}

    return idempotent_response(request, action)


def _attendance_id(request):
    attendance_id = v.path_id(request)
    if attendance_id is None:
        raise ApiError(404, "not_found", "Absensi tidak ditemukan.")
    return attendance_id


@view_config(route_name="api.attendance", request_method="PATCH", renderer="json",
             permission="admin")
def correct_attendance(request):
    attendance_id = _attendance_id(request)
    body = v.json_object(request)
    attendance = corrections.correct_attendance(
        request.dbsession, attendance_id=attendance_id, body=body, actor=request.user,
        node_id=request.node_id, now=request.now)
    return {"attendance": attendance_json(attendance)}


@view_config(route_name="api.attendance_audit", request_method="GET", renderer="json",
             permission="admin")
def attendance_audit(request):
    attendance = request.dbsession.get(Attendance, _attendance_id(request))
    if attendance is None:
        raise ApiError(404, "not_found", "Absensi tidak ditemukan.")
    zone = attendance.branch.zone
    entries = audit.entries(request.dbsession, attendance.id)
    return {"data": [audit_json(entry, zone) for entry in entries]}


def _overtime_decision(request, approve):
    attendance_id = _attendance_id(request)
    body = v.json_object(request, optional=True)
    v.reject_unknown(body, ("note",))
    note = v.check_note(body.get("note"))
    attendance = corrections.decide_overtime(
        request.dbsession, attendance_id=attendance_id, approve=approve, actor=request.user,
        note=note, node_id=request.node_id)
    return {"attendance": attendance_json(attendance)}


@view_config(route_name="api.overtime_approve", request_method="POST", renderer="json",
             permission="admin")
def approve_overtime(request):
    return _overtime_decision(request, True)


@view_config(route_name="api.overtime_reject", request_method="POST", renderer="json",
             permission="admin")
def reject_overtime(request):
    return _overtime_decision(request, False)

"""Attendance requests: file, list, approve or reject (contract §3.1).

Approval goes through the admin correction's own code (webapp.attendance.corrections):
it creates the attendance of the work date, or corrects the one there is, with the
approver as the audit entry's actor and the request's reason as its reason, and publishes
``attendance.*`` like any correction. Races are settled as for leave: filing and deciding
first lock the owner's ``users`` row, then the request's, so two approvals on two nodes
run one after the other and the second finds the request decided (409 ``not_pending``).
"""
import datetime as dt

from sqlalchemy import select

from webapp import validation as v
from webapp.accounts.models import User
from webapp.attendance.corrections import (apply_correction, check_instants, create_for_day,
                                           locked_attendance, planned, shift_of)
from webapp.attendance.services import attendance_for_day
from webapp.clock import local_iso, utcnow
from webapp.errors import ApiError
from webapp.events.services import record_event
from webapp.requests.models import KINDS, AttendanceRequest
from webapp.shifts.roster import roster
from realtime.channels import channels_for_request_event

REQUEST_CREATED = "request.created"
REQUEST_UPDATED = "request.updated"
#: how far back a request may go (a month and a day: the recap's month is still open)
MAX_AGE_DAYS = 31


def _person(user):
    return {"id": user.id, "name": user.name} if user else None


def request_json(request):
    zone = request.branch.zone
    return {
        "id": request.id,
        "user": _person(request.user),
        "branch": request.branch.code,
        "kind": request.kind,
        "work_date": request.work_date.isoformat(),
        "check_in_at": local_iso(request.check_in_at, zone),
        "check_out_at": local_iso(request.check_out_at, zone),
        "reason": request.reason,
        "status": request.status,
        "decided_by": _person(request.decided_by),
        "decided_at": local_iso(request.decided_at, zone),
        "note": request.note,
        "attendance_id": request.attendance_id,
        "created_at": local_iso(request.created_at, zone),
    }


def _record(dbsession, event_type, request, node_id):
    dbsession.flush()
    return record_event(
        dbsession, event_type=event_type, aggregate_id=request.id, user_id=request.user_id,
        channels=channels_for_request_event(request.user_id), payload=request_json(request),
        node_id=node_id)


def _naive(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None) if instant else None


def _aware(naive):
    return naive.replace(tzinfo=dt.timezone.utc) if naive is not None else None


def _lock_user(dbsession, user_id):
    return dbsession.scalar(select(User).where(User.id == user_id).with_for_update()
                            .execution_options(populate_existing=True))


def _scheduled_shift(dbsession, user, day):
    branch = user.branch
    return roster(dbsession, users=[user], branches={branch.id: branch}, date_from=day,
                  date_to=day)[user.id][0][1]


def _planned_day(dbsession, user, work_date):
    """``(attendance or None, shift_of-like dict)`` of *user*'s *work_date*."""
    attendance = attendance_for_day(dbsession, user.id, work_date)
    if attendance is not None:
        return attendance, shift_of(attendance)
    return None, planned(user, work_date, _scheduled_shift(dbsession, user, work_date))


def create_request(dbsession, *, user, body, node_id, now=None):
    """201 AttendanceRequest (``pending``); 409 ``request_exists`` (a pending one for that
    work date); 422 naming every bad field."""
    now = now or utcnow()
    v.reject_unknown(body, ("kind", "work_date", "check_in_at", "check_out_at", "reason"))
    errors = {}
    kind = body.get("kind")
    if kind not in KINDS:
        errors["kind"] = "Harus 'check_in', 'check_out' atau 'both'."
    work_date = v.iso_date(body.get("work_date"), "work_date", errors)
    if work_date is None and "work_date" not in errors:
        errors["work_date"] = "Wajib diisi."
    reason = v.required_text(body.get("reason"), "reason", errors)
    instants = {}
    for field, needed in (("check_in_at", kind in ("check_in", "both")),
                          ("check_out_at", kind in ("check_out", "both"))):
        raw = body.get(field)
        if raw is None:
            if needed:
                errors[field] = "Wajib diisi untuk jenis pengajuan ini."
            instants[field] = None
        elif not needed and kind in KINDS:
            errors[field] = "Tidak dipakai untuk jenis pengajuan ini."
        else:
            instants[field] = v.iso_instant(raw, field, errors)
    user = _lock_user(dbsession, user.id)
    today = user.branch.local_date(now)
    if work_date is not None and "work_date" not in errors:
        if work_date > today:
            errors["work_date"] = "Tidak boleh di masa depan."
        elif (today - work_date).days > MAX_AGE_DAYS:
            errors["work_date"] = f"Paling lama {MAX_AGE_DAYS} hari yang lalu."
    if not errors:
        attendance, shift = _planned_day(dbsession, user, work_date)
        check_in = instants.get("check_in_at")
        if check_in is None and attendance is not None:
            check_in = _aware(attendance.check_in_at)
        if check_in is None:
            errors["kind"] = "Belum ada absen masuk pada tanggal ini: ajukan 'both'."
        else:
            check_out = instants.get("check_out_at")
            if check_out is None and attendance is not None:
                check_out = _aware(attendance.check_out_at)
            check_instants(shift, check_in, check_out, now, errors)
    v.raise_if(errors)
    if dbsession.scalar(select(AttendanceRequest.id).where(
            AttendanceRequest.user_id == user.id, AttendanceRequest.work_date == work_date,
            AttendanceRequest.status == "pending").limit(1)) is not None:
        raise ApiError(409, "request_exists",
                       "Sudah ada pengajuan yang menunggu untuk tanggal ini.")
    request = AttendanceRequest(
        user=user, branch=user.branch, kind=kind, work_date=work_date,
        check_in_at=_naive(instants.get("check_in_at")),
        check_out_at=_naive(instants.get("check_out_at")), reason=reason, status="pending",
        created_at=_naive(now).replace(microsecond=0))
    dbsession.add(request)
    _record(dbsession, REQUEST_CREATED, request, node_id)
    return request


def _not_found():
    return ApiError(404, "not_found", "Pengajuan tidak ditemukan.")


def _locked_request(dbsession, request_id):
    owner_id = dbsession.scalar(select(AttendanceRequest.user_id)
                                .where(AttendanceRequest.id == request_id))
    if owner_id is None:
        raise _not_found()
    _lock_user(dbsession, owner_id)
    return dbsession.scalar(select(AttendanceRequest).where(AttendanceRequest.id == request_id)
                            .with_for_update().execution_options(populate_existing=True))


def decide(dbsession, *, request_id, approve, actor, note, node_id, now=None):
    """Approve (create or correct the attendance as an admin correction does) or reject a
    pending request; 409 ``not_pending`` once decided; 403 for one's own request."""
    now = now or utcnow()
    request = _locked_request(dbsession, request_id)
    if request.user_id == actor.id:
        raise ApiError(403, "forbidden", "Pengajuan sendiri diputuskan oleh admin lain.")
    if request.status != "pending":
        raise ApiError(409, "not_pending", "Pengajuan ini sudah diputuskan.",
                       extra={"request": request_json(request)})
    if approve:
        request.attendance_id = _apply(dbsession, request, actor=actor, node_id=node_id,
                                       now=now).id
    request.status = "approved" if approve else "rejected"
    request.decided_by = actor
    request.decided_at = _naive(now).replace(microsecond=0)
    request.note = note
    _record(dbsession, REQUEST_UPDATED, request, node_id)
    return request


def _apply(dbsession, request, *, actor, node_id, now):
    user = request.user
    existing = attendance_for_day(dbsession, user.id, request.work_date)
    errors = {}
    if existing is not None:
        attendance = locked_attendance(dbsession, existing.id)
        check_in = _aware(request.check_in_at or attendance.check_in_at)
        check_out = _aware(request.check_out_at or attendance.check_out_at)
        check_instants(shift_of(attendance), check_in, check_out, now, errors)
        v.raise_if(errors)
        return apply_correction(dbsession, attendance, check_in=check_in, check_out=check_out,
                                note=attendance.note, reason=request.reason, actor=actor,
                                node_id=node_id)
    if request.check_in_at is None:
        raise ApiError(409, "not_checked_in",
                       "Tidak ada absen masuk pada tanggal ini untuk dikoreksi.")
    shift = _scheduled_shift(dbsession, user, request.work_date)
    check_in, check_out = _aware(request.check_in_at), _aware(request.check_out_at)
    check_instants(planned(user, request.work_date, shift), check_in, check_out, now, errors)
    v.raise_if(errors)
    return create_for_day(dbsession, user=user, work_date=request.work_date, shift=shift,
                          check_in=check_in, check_out=check_out, reason=request.reason,
                          actor=actor, node_id=node_id)

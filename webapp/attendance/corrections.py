"""Admin corrections: create a missing attendance or change one, always with a reason.

Status, early leave and overtime are recomputed against the attendance's shift; the change
is audited (``create`` / ``correct``) and published as ``attendance.created`` /
``attendance.updated`` through the outbox, like a check-in. Approved attendance requests
(webapp.requests) go through :func:`create_for_day` and :func:`apply_correction` too.
"""
import datetime as dt

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import validation as v
from webapp.accounts.models import User
from webapp.attendance import audit
from webapp.attendance.events import (ATTENDANCE_CREATED, ATTENDANCE_UPDATED,
                                      record_attendance_event)
from webapp.attendance.models import Attendance
from webapp.attendance.serializers import attendance_json
from webapp.attendance.services import (apply_rules, attendance_for_day, shift_columns)
from webapp.clock import utcnow
from webapp.errors import ApiError
from webapp.shifts.roster import EARLY_CHECK_IN, shift_for_check_in

OFF_DATE = "Harus pada tanggal kerja absensi ini ({})."


def _naive(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _belongs(field, instant, *, work_date, zone, shift_start_at, shift_end_at):
    """An instant may be on the work date, or within its shift: a check-in from 3 hours
    before the shift's start, a check-out on the day a night shift ends."""
    if instant.astimezone(zone).date() == work_date:
        return True
    naive = _naive(instant)
    if field == "check_in_at":
        return shift_start_at is not None and \
            shift_start_at - EARLY_CHECK_IN <= naive <= shift_end_at
    return shift_end_at is not None and \
        instant.astimezone(zone).date() == _aware(shift_end_at).astimezone(zone).date()


def check_instants(shift, check_in, check_out, now, errors):
    """The shared rules: not in the future, within the work date (or its shift),
    check-out after check-in. *shift* has ``work_date``, ``zone``, ``shift_start_at``,
    ``shift_end_at``."""
    for field, instant in (("check_in_at", check_in), ("check_out_at", check_out)):
        if instant is None or field in errors:
            continue
        if instant > now:
            errors[field] = "Tidak boleh di masa depan."
        elif not _belongs(field, instant, **shift):
            errors[field] = OFF_DATE.format(shift["work_date"].isoformat())
    if check_in and check_out and not errors and check_out < check_in:
        errors["check_out_at"] = "Jam pulang sebelum jam masuk."


def shift_of(attendance):
    return {"work_date": attendance.work_date, "zone": attendance.branch.zone,
            "shift_start_at": attendance.shift_start_at, "shift_end_at": attendance.shift_end_at}


def planned(user, work_date, shift):
    """``shift_of`` for an attendance not yet made: *user*'s *shift* on *work_date*."""
    zone = user.branch.zone
    return {"work_date": work_date, "zone": zone,
            **{k: v for k, v in shift_columns(shift, work_date, zone).items()
               if k in ("shift_start_at", "shift_end_at")}}


def _recompute(dbsession, attendance):
    apply_rules(dbsession, attendance)
    if attendance.check_out_at is not None:
        attendance.auto_closed = False
    attendance.corrected = True


def create_attendance(dbsession, *, body, actor, node_id, now=None):
    """``POST /api/attendances``: 201, 409 ``already_checked_in``, 422 ``invalid``. The
    attendance belongs to the shift a check-in at ``check_in_at`` would have had."""
    now = now or utcnow()
    errors = {}
    v.reject_unknown(body, ("user_id", "check_in_at", "check_out_at", "reason"))
    user_id = body.get("user_id")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 1 <= user_id <= 10**9:
        errors["user_id"] = "Harus id karyawan."
        user = None
    else:
        user = dbsession.get(User, user_id)
        if user is None:
            errors["user_id"] = "Karyawan tidak ditemukan."
    check_in = v.iso_instant(body.get("check_in_at"), "check_in_at", errors)
    check_out = (v.iso_instant(body["check_out_at"], "check_out_at", errors)
                 if body.get("check_out_at") is not None else None)
    reason = v.required_text(body.get("reason"), "reason", errors)
    if user is not None and check_in is not None:
        work_date, shift = shift_for_check_in(dbsession, user=user, branch=user.branch,
                                              now=check_in)
        check_instants(planned(user, work_date, shift), check_in, check_out, now, errors)
    v.raise_if(errors)
    return create_for_day(dbsession, user=user, work_date=work_date, shift=shift,
                          check_in=check_in, check_out=check_out, reason=reason, actor=actor,
                          node_id=node_id)


def create_for_day(dbsession, *, user, work_date, shift, check_in, check_out, reason, actor,
                   node_id):
    """Create *user*'s attendance of *work_date* (validated instants); 409
    ``already_checked_in`` when there is one (the unique index decides)."""
    existing = attendance_for_day(dbsession, user.id, work_date)
    if existing is not None:
        raise _exists(existing)
    attendance = Attendance(
        user=user, branch=user.branch, work_date=work_date, check_in_at=_naive(check_in),
        check_out_at=_naive(check_out) if check_out else None, status="present",
        check_in_node=node_id, check_out_node=node_id if check_out else None, note=None,
        auto_closed=False, early_leave=False, corrected=True, overtime_minutes=0,
        overtime_status="none", **shift_columns(shift, work_date, user.branch.zone),
    )
    _recompute(dbsession, attendance)
    try:
        with dbsession.begin_nested():
            dbsession.add(attendance)
            dbsession.flush()
    except IntegrityError:
        raise _exists(attendance_for_day(dbsession, user.id, work_date)) from None
    audit.append(dbsession, attendance, action="create", before=audit.NOTHING, actor=actor,
                 node_id=node_id, reason=reason)
    record_attendance_event(dbsession, event_type=ATTENDANCE_CREATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _exists(existing):
    return ApiError(
        409, "already_checked_in", "Karyawan ini sudah punya absensi pada tanggal itu.",
        extra={"attendance": attendance_json(existing)} if existing else None,
    )


def locked_attendance(dbsession, attendance_id):
    attendance = dbsession.scalar(
        select(Attendance).where(Attendance.id == attendance_id).with_for_update()
        .execution_options(populate_existing=True))
    if attendance is None:
        raise ApiError(404, "not_found", "Absensi tidak ditemukan.")
    return attendance


def correct_attendance(dbsession, *, attendance_id, body, actor, node_id, now=None):
    """``PATCH /api/attendances/{id}``: 200 (unchanged values change nothing), 404, 422."""
    now = now or utcnow()
    attendance = locked_attendance(dbsession, attendance_id)
    errors = {}
    v.reject_unknown(body, ("check_in_at", "check_out_at", "note", "reason"))
    reason = v.required_text(body.get("reason"), "reason", errors)
    if not set(body) - {"reason"}:
        errors["_body"] = "Tidak ada yang diubah."
    check_in = (v.iso_instant(body["check_in_at"], "check_in_at", errors)
                if "check_in_at" in body else _aware(attendance.check_in_at))
    check_out = _aware(attendance.check_out_at)
    if "check_out_at" in body:
        check_out = (v.iso_instant(body["check_out_at"], "check_out_at", errors)
                     if body["check_out_at"] is not None else None)
    note = attendance.note
    if "note" in body:
        try:
            note = v.check_note(body["note"])
        except ApiError as error:
            errors.update(error.fields or {})
    if check_in is not None:
        check_instants(shift_of(attendance), check_in, check_out, now, errors)
    v.raise_if(errors)
    return apply_correction(dbsession, attendance, check_in=check_in, check_out=check_out,
                            note=note, reason=reason, actor=actor, node_id=node_id)


def apply_correction(dbsession, attendance, *, check_in, check_out, note, reason, actor,
                     node_id):
    """Set a locked *attendance*'s validated instants and note; audit and publish the
    change (nothing when nothing changed)."""
    before = audit.snapshot(attendance)
    had_check_out = attendance.check_out_at is not None
    attendance.check_in_at = _naive(check_in)
    attendance.check_out_at = _naive(check_out) if check_out else None
    attendance.note = note
    if check_out is None:
        attendance.check_out_node = None
        attendance.check_out_distance_m = None
        attendance.check_out_site = None
    elif not had_check_out:
        attendance.check_out_node = node_id
    was_corrected = attendance.corrected
    _recompute(dbsession, attendance)
    if not audit.changes_between(before, audit.snapshot(attendance)):
        attendance.corrected = was_corrected  # nothing changed: nothing to audit or publish
        return attendance
    audit.append(dbsession, attendance, action="correct", before=before, actor=actor,
                 node_id=node_id, reason=reason)
    record_attendance_event(dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance,
                            node_id=node_id)
    return attendance


def _aware(naive):
    return naive.replace(tzinfo=dt.timezone.utc) if naive is not None else None


def decide_overtime(dbsession, *, attendance_id, approve, actor, note, node_id):
    """``POST /api/attendances/{id}/overtime/approve|reject``: 404, 409 ``no_overtime``.
    Audited as a correction (the note, or what was decided, as its reason) and published;
    deciding again the same way changes nothing."""
    attendance = locked_attendance(dbsession, attendance_id)
    if not attendance.overtime_minutes:
        raise ApiError(409, "no_overtime", "Absensi ini tidak punya lembur.",
                       extra={"attendance": attendance_json(attendance)})
    status = "approved" if approve else "rejected"
    if attendance.overtime_status == status:
        return attendance
    before = audit.snapshot(attendance)
    attendance.overtime_status = status
    reason = note or ("Lembur disetujui." if approve else "Lembur ditolak.")
    audit.append(dbsession, attendance, action="correct", before=before, actor=actor,
                 node_id=node_id, reason=reason)
    record_attendance_event(dbsession, event_type=ATTENDANCE_UPDATED, attendance=attendance,
                            node_id=node_id)
    return attendance

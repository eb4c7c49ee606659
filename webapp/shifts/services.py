"""Shift types: list, create, change (contract §3.1). A change of a branch's default
shift type changes the branch's ``shift_start``/``shift_end``/``grace_minutes`` too."""
import re

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from webapp import validation as v
from webapp.branches.models import Branch, ShiftType
from webapp.branches.services import MAX_GRACE_MINUTES, sync_branch_from_default
from webapp.errors import ApiError, invalid

CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,15}$", re.ASCII)
MAX_OVERTIME_AFTER_MINUTES = 720
FIELDS = ("code", "name", "start", "end", "grace_minutes", "early_leave_grace_minutes",
          "overtime_after_minutes")
MINUTE_FIELDS = {"grace_minutes": MAX_GRACE_MINUTES, "early_leave_grace_minutes":
                 MAX_GRACE_MINUTES, "overtime_after_minutes": MAX_OVERTIME_AFTER_MINUTES}
DEFAULTS = {"grace_minutes": 15, "early_leave_grace_minutes": 0, "overtime_after_minutes": 30}


def shift_type_json(shift):
    return {
        "id": shift.id,
        "code": shift.code,
        "name": shift.name,
        "start": shift.start_time.strftime("%H:%M"),
        "end": shift.end_time.strftime("%H:%M"),
        "overnight": shift.overnight,
        "grace_minutes": shift.grace_minutes,
        "early_leave_grace_minutes": shift.early_leave_grace_minutes,
        "overtime_after_minutes": shift.overtime_after_minutes,
    }


def all_shift_types(dbsession):
    return list(dbsession.scalars(select(ShiftType).order_by(ShiftType.code)))


def shift_type_by_code(dbsession, code):
    if not isinstance(code, str):
        return None
    return dbsession.scalar(select(ShiftType).where(ShiftType.code == code.strip().upper()))


def _values(body, errors, *, creating):
    values = {}
    if "code" in body or creating:
        code = body.get("code")
        code = code.strip().upper() if isinstance(code, str) else None
        if not code or not CODE_RE.match(code):
            errors["code"] = "Harus 1–16 huruf, angka, '-' atau '_'."
        values["code"] = code
    if "name" in body or creating:
        values["name"] = v.check_name(body.get("name"), errors)
    for field, column in (("start", "start_time"), ("end", "end_time")):
        if field in body or creating:
            values[column] = v.clock_time(body.get(field), field, errors)
    for field, maximum in MINUTE_FIELDS.items():
        if field not in body:
            if creating:
                values[field] = DEFAULTS[field]
            continue
        value = body[field]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= maximum:
            values[field] = value
        else:
            errors[field] = f"Harus bilangan bulat 0–{maximum}."
    return values


def create_shift_type(dbsession, body):
    """201 ShiftType; 409 ``shift_type_exists``; 422 naming every bad field."""
    v.reject_unknown(body, FIELDS)
    errors = {}
    values = _values(body, errors, creating=True)
    v.raise_if(errors)
    if shift_type_by_code(dbsession, values["code"]) is not None:
        raise _exists()
    shift = ShiftType(branch_id=None, **values)
    try:
        with dbsession.begin_nested():
            dbsession.add(shift)
            dbsession.flush()
    except IntegrityError:
        raise _exists() from None  # two admins creating the same code at once
    return shift


def _exists():
    return ApiError(409, "shift_type_exists", "Kode jenis shift sudah dipakai.",
                    fields={"code": "Kode sudah dipakai."})


def update_shift_type(dbsession, shift_id, body):
    """Any field but ``code``; a branch's default changes the branch with it."""
    shift = dbsession.get(ShiftType, shift_id, with_for_update=True)
    if shift is None:
        raise ApiError(404, "not_found", "Jenis shift tidak ditemukan.")
    if "code" in body:
        raise invalid({"code": "Kode tidak dapat diubah."})
    v.reject_unknown(body, FIELDS)
    if not body:
        raise invalid({"_body": "Tidak ada yang diubah."})
    errors = {}
    values = _values(body, errors, creating=False)
    v.raise_if(errors)
    for column, value in values.items():
        setattr(shift, column, value)
    if shift.branch_id is not None:
        sync_branch_from_default(dbsession.get(Branch, shift.branch_id), shift)
    dbsession.flush()
    return shift

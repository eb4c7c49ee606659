"""Leave (izin, sakit, cuti): request, decide, cancel, balance, and who is on leave.

Races are settled by locking the owner's ``users`` row (``SELECT ... FOR UPDATE``) before
any check that reads their other requests: a request's overlap check and an approval's
balance check for one user therefore run one at a time, whichever nodes they reach, and
the second sees what the first committed (READ COMMITTED). On SQLite every write
transaction already holds the database's write lock (BEGIN IMMEDIATE).
Lock order is always user row, then leave row.
"""
import datetime as dt

from sqlalchemy import and_, func, or_, select

from webapp import validation as v
from webapp.accounts.models import User
from webapp.clock import local_iso
from webapp.clock import utcnow
from webapp.errors import ApiError, invalid
from webapp.events.services import record_event
from webapp.holidays.services import count_work_days
from webapp.leave.events import LEAVE_CREATED, LEAVE_UPDATED
from webapp.leave.models import HOLDING, KINDS, LeaveRequest
from realtime.channels import channels_for_leave_event

CUTI = "cuti"
CUTI_ALLOWANCE = 12  # work days per calendar year (contract §3)


def _person(user):
    return {"id": user.id, "name": user.name} if user else None


def leave_json(leave):
    zone = leave.branch.zone
    return {
        "id": leave.id,
        "user": _person(leave.user),
        "branch": leave.branch.code,
        "kind": leave.kind,
        "date_from": leave.date_from.isoformat(),
        "date_to": leave.date_to.isoformat(),
        "days": leave.days,
        "reason": leave.reason,
        "status": leave.status,
        "decided_by": _person(leave.decided_by),
        "decided_at": local_iso(leave.decided_at, zone),
        "note": leave.note,
        "created_at": local_iso(leave.created_at, zone),
    }


def _record(dbsession, event_type, leave, node_id):
    dbsession.flush()
    return record_event(
        dbsession, event_type=event_type, aggregate_id=leave.id, user_id=leave.user_id,
        channels=channels_for_leave_event(leave.user_id), payload=leave_json(leave),
        node_id=node_id,
    )


def _naive_utc(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def _lock_user(dbsession, user_id):
    return dbsession.scalar(
        select(User).where(User.id == user_id).with_for_update().execution_options(
            populate_existing=True))


def _cuti_days(dbsession, user_id, year, status):
    return dbsession.scalar(
        select(func.coalesce(func.sum(LeaveRequest.days), 0)).where(
            LeaveRequest.user_id == user_id, LeaveRequest.kind == CUTI,
            LeaveRequest.status == status,
            LeaveRequest.date_from >= dt.date(year, 1, 1),
            LeaveRequest.date_from <= dt.date(year, 12, 31),
        )
    ) or 0


def balance(dbsession, user_id, year):
    """The contract's leave balance; ``cuti_remaining`` = allowance − approved (pending
    requests are shown apart, they are not yet taken)."""
    taken = int(_cuti_days(dbsession, user_id, year, "approved"))
    return {
        "year": year,
        "cuti_allowance": CUTI_ALLOWANCE,
        "cuti_taken": taken,
        "cuti_pending": int(_cuti_days(dbsession, user_id, year, "pending")),
        "cuti_remaining": max(0, CUTI_ALLOWANCE - taken),
    }


def parse_request(body, *, today):
    """Validate a ``POST /api/leave`` body; ``(kind, date_from, date_to, reason)``."""
    errors = {}
    v.reject_unknown(body, ("kind", "date_from", "date_to", "reason"))
    kind = body.get("kind")
    if kind not in KINDS:
        errors["kind"] = "Harus 'izin', 'sakit' atau 'cuti'."
    date_from = v.iso_date(body.get("date_from"), "date_from", errors)
    date_to = v.iso_date(body.get("date_to"), "date_to", errors)
    for field, value in (("date_from", date_from), ("date_to", date_to)):
        if value is None and field not in errors:
            errors[field] = "Wajib diisi."
    reason = v.required_text(body.get("reason"), "reason", errors)
    if date_from and date_to:
        if date_from > date_to:
            errors["date_to"] = "Tanggal akhir sebelum tanggal awal."
        elif date_from.year != date_to.year:
            errors["date_to"] = "Satu pengajuan tidak boleh melewati pergantian tahun."
        elif abs(date_from.year - today.year) > 1:
            errors["date_from"] = "Hanya tahun lalu, tahun ini atau tahun depan."
    v.raise_if(errors)
    return kind, date_from, date_to, reason


def _overlapping(dbsession, user_id, date_from, date_to):
    return dbsession.scalar(select(LeaveRequest.id).where(
        LeaveRequest.user_id == user_id, LeaveRequest.status.in_(HOLDING),
        LeaveRequest.date_from <= date_to, LeaveRequest.date_to >= date_from,
    ).limit(1))


def create_leave(dbsession, *, user, body, node_id, now=None):
    now = now or utcnow()
    kind, date_from, date_to, reason = parse_request(body, today=user.branch.local_date(now))
    user = _lock_user(dbsession, user.id)
    if _overlapping(dbsession, user.id, date_from, date_to):
        raise ApiError(409, "leave_overlaps",
                       "Sudah ada pengajuan izin/cuti pada sebagian tanggal tersebut.")
    days = count_work_days(dbsession, user.branch, date_from, date_to)
    if days == 0:
        raise invalid({"date_to": "Rentang ini tidak berisi hari kerja (akhir pekan/libur)."})
    if kind == CUTI:
        remaining = balance(dbsession, user.id, date_from.year)["cuti_remaining"]
        if days > remaining:
            raise invalid({"date_to": f"Melebihi sisa cuti {date_from.year}: "
                                      f"{days} hari diminta, sisa {remaining} hari."})
    leave = LeaveRequest(
        user=user, branch=user.branch, kind=kind, date_from=date_from, date_to=date_to,
        days=days, reason=reason, status="pending", created_at=_naive_utc(now),
    )
    dbsession.add(leave)
    _record(dbsession, LEAVE_CREATED, leave, node_id)
    return leave


def _not_found():
    return ApiError(404, "not_found", "Pengajuan tidak ditemukan.")


def _not_pending(leave):
    return ApiError(409, "not_pending", "Pengajuan ini sudah diputuskan atau dibatalkan.",
                    extra={"leave": leave_json(leave)})


def _locked_leave(dbsession, leave_id):
    """The leave row, locked after its owner's row (the module's lock order)."""
    owner_id = dbsession.scalar(select(LeaveRequest.user_id).where(LeaveRequest.id == leave_id))
    if owner_id is None:
        raise _not_found()
    _lock_user(dbsession, owner_id)
    return dbsession.scalar(
        select(LeaveRequest).where(LeaveRequest.id == leave_id).with_for_update()
        .execution_options(populate_existing=True))


def decide(dbsession, *, leave_id, approve, actor, note, node_id, now=None):
    """Approve or reject a pending request (admins). Approving cuti beyond the year's
    remaining allowance is 409 ``insufficient_balance``."""
    now = now or utcnow()
    leave = _locked_leave(dbsession, leave_id)
    if leave.user_id == actor.id:
        raise ApiError(403, "forbidden", "Pengajuan sendiri diputuskan oleh admin lain.")
    if leave.status != "pending":
        raise _not_pending(leave)
    if approve:
        # Holidays may have been added since the request: count again.
        leave.days = count_work_days(dbsession, leave.branch, leave.date_from, leave.date_to)
        if leave.kind == CUTI:
            remaining = balance(dbsession, leave.user_id, leave.date_from.year)["cuti_remaining"]
            if leave.days > remaining:
                raise ApiError(
                    409, "insufficient_balance",
                    f"Sisa cuti {leave.date_from.year} tinggal {remaining} hari, "
                    f"pengajuan ini {leave.days} hari.",
                    extra={"cuti_remaining": remaining},
                )
    leave.status = "approved" if approve else "rejected"
    leave.decided_by = actor
    leave.decided_at = _naive_utc(now)
    leave.note = note
    _record(dbsession, LEAVE_UPDATED, leave, node_id)
    return leave


def cancel(dbsession, *, leave_id, user, node_id):
    """The owner withdraws a pending request; someone else's is 404 (not even shown)."""
    leave = _locked_leave(dbsession, leave_id)
    if leave.user_id != user.id:
        raise _not_found()
    if leave.status != "pending":
        raise _not_pending(leave)
    leave.status = "cancelled"
    _record(dbsession, LEAVE_UPDATED, leave, node_id)
    return leave


def approved_leave_on(dbsession, branches, now=None):
    """``{user_id: kind}`` of approved leave covering each branch's own local today."""
    now = now or utcnow()
    if not branches:
        return {}
    rows = dbsession.execute(
        select(LeaveRequest.user_id, LeaveRequest.kind)
        .join(User, User.id == LeaveRequest.user_id)
        .where(LeaveRequest.status == "approved", or_(*(
            and_(User.branch_id == b.id, LeaveRequest.date_from <= b.local_date(now),
                 LeaveRequest.date_to >= b.local_date(now))
            for b in branches
        )))
    )
    return {user_id: kind for user_id, kind in rows}

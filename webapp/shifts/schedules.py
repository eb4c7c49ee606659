"""Schedules: assign a shift type (or a day off) to employees over a date range, and read
the roster they expand to (contract §3.1)."""
import datetime as dt

from sqlalchemy import insert, select

from realtime.channels import channels_for_schedule_event

from webapp import validation as v
from webapp.accounts.models import User
from webapp.branches.services import all_branches
from webapp.clock import utcnow_naive
from webapp.db import execute_write
from webapp.errors import ApiError
from webapp.events.services import record_event
from webapp.holidays.services import days_between
from webapp.shifts.models import ShiftAssignment
from webapp.shifts.roster import roster
from webapp.shifts.services import all_shift_types, shift_type_by_code, shift_type_json

MAX_ROSTER_DAYS = 62
#: one assignment covers at most this many days (a year and a day)
MAX_ASSIGNMENT_DAYS = 366
MAX_USERS_PER_ASSIGNMENT = 5000
#: the event announcing an assignment, on the admins' ``schedules`` channel
SCHEDULE_UPDATED = "schedule.updated"


def _weekdays(raw, errors):
    if raw is None:
        return None
    if (isinstance(raw, list) and raw and len(raw) <= 7
            and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in raw)
            and len(set(raw)) == len(raw)):
        return ",".join(str(d) for d in sorted(raw))
    errors["weekdays"] = "Harus daftar hari ISO 1–7 tanpa duplikat (1 = Senin), minimal satu."
    return None


def _user_ids(raw, errors):
    if (isinstance(raw, list) and 1 <= len(raw) <= MAX_USERS_PER_ASSIGNMENT
            and all(isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= 10**9
                    for i in raw)):
        return sorted(set(raw))
    errors["user_ids"] = f"Harus daftar 1–{MAX_USERS_PER_ASSIGNMENT} id karyawan."
    return None


def assign(dbsession, *, body, actor, node_id):
    """``POST /api/schedules``: one assignment per user; returns the number of days
    written (users × dates of the range on the chosen weekdays). 404 for an unknown user,
    422 for anything else wrong. A ``schedule.updated`` event (who, which dates) goes out
    with the same commit, so every open week grid shows the change."""
    v.reject_unknown(body, ("user_ids", "date_from", "date_to", "weekdays", "shift_type"))
    errors = {}
    user_ids = _user_ids(body.get("user_ids"), errors)
    date_from = v.iso_date(body.get("date_from"), "date_from", errors)
    date_to = v.iso_date(body.get("date_to"), "date_to", errors)
    for field, value in (("date_from", date_from), ("date_to", date_to)):
        if value is None and field not in errors:
            errors[field] = "Wajib diisi."
    if date_from and date_to:
        if date_from > date_to:
            errors["date_to"] = "Tanggal akhir sebelum tanggal awal."
        elif (date_to - date_from).days >= MAX_ASSIGNMENT_DAYS:
            errors["date_to"] = f"Paling banyak {MAX_ASSIGNMENT_DAYS} hari sekaligus."
    weekdays = _weekdays(body.get("weekdays"), errors)
    if "shift_type" not in body:
        errors["shift_type"] = "Wajib diisi (kode jenis shift, atau null untuk libur)."
        shift = None
    elif body["shift_type"] is None:
        shift = None
    else:
        shift = shift_type_by_code(dbsession, body["shift_type"])
        if shift is None:
            errors["shift_type"] = "Kode jenis shift tidak dikenal."
    v.raise_if(errors)
    found = set(dbsession.scalars(select(User.id).where(User.id.in_(user_ids))))
    missing = [i for i in user_ids if i not in found]
    if missing:
        raise ApiError(404, "not_found", "Karyawan tidak ditemukan.",
                       fields={"user_ids": ", ".join(str(i) for i in missing[:20])})
    days = sum(1 for day in days_between(date_from, date_to)
               if weekdays is None or str(day.isoweekday()) in weekdays.split(","))
    now = utcnow_naive()
    execute_write(dbsession, insert(ShiftAssignment.__table__), [
        {"user_id": user_id, "date_from": date_from, "date_to": date_to, "weekdays": weekdays,
         "shift_type_id": shift.id if shift else None, "created_at": now,
         "created_by_id": actor.id}
        for user_id in user_ids])
    record_event(
        dbsession, event_type=SCHEDULE_UPDATED, aggregate_id=user_ids[0], user_id=actor.id,
        channels=channels_for_schedule_event(), node_id=node_id,
        payload={"user_ids": user_ids, "date_from": date_from.isoformat(),
                 "date_to": date_to.isoformat(),
                 "weekdays": [int(d) for d in weekdays.split(",")] if weekdays else None,
                 "shift_type": shift.code if shift else None})
    return days * len(user_ids)


def parse_range(params, errors, *, today):
    """``from``/``to`` (default: today and the 13 days after it); at most 62 days."""
    date_from = v.iso_date(params.get("from"), "from", errors) or today
    date_to = v.iso_date(params.get("to"), "to", errors) or (
        date_from + dt.timedelta(days=13))
    if "from" not in errors and "to" not in errors:
        if date_from > date_to:
            errors["to"] = "Tanggal akhir sebelum tanggal awal."
        elif (date_to - date_from).days >= MAX_ROSTER_DAYS:
            errors["to"] = f"Paling banyak {MAX_ROSTER_DAYS} hari."
        elif not (dt.date(2000, 1, 1) <= date_from and date_to <= dt.date(2100, 12, 31)):
            errors["from"] = "Tanggal 2000–2100."
    return date_from, date_to


def roster_json(dbsession, *, users, date_from, date_to):
    """``[Roster]`` of *users* (rows with ``id``, ``name``, ``branch_id``), user by user,
    day by day. Each shift type's JSON is built once."""
    branches = {b.id: b for b in all_branches(dbsession)}
    types = {s.id: s for s in all_shift_types(dbsession)}
    for branch in branches.values():  # the cached defaults may be a reload behind
        if branch.default_shift is not None:
            types.setdefault(branch.default_shift.id, branch.default_shift)
    shown = {}

    def shift_json(shift):
        if shift is None:
            return None
        key = shift.id if shift.id is not None else ("default", shift.branch_id)
        if key not in shown:
            shown[key] = shift_type_json(shift)
        return shown[key]

    schedule = roster(dbsession, users=users, branches=branches, date_from=date_from,
                      date_to=date_to, shift_types=types)
    out = []
    for user in users:
        person = {"id": user.id, "name": user.name}
        for day, shift, source in schedule[user.id]:
            out.append({"user": person, "date": day.isoformat(),
                        "shift_type": shift_json(shift), "source": source})
    return out


def roster_users(dbsession, *, branch=None, user_id=None):
    query = (select(User.id, User.name, User.branch_id).where(User.active.is_(True))
             .order_by(User.branch_id, User.name, User.id))
    if branch is not None:
        query = query.where(User.branch_id == branch.id)
    if user_id is not None:
        query = select(User.id, User.name, User.branch_id).where(User.id == user_id)
    return dbsession.execute(query).all()

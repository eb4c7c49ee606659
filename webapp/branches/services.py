import datetime as dt

from sqlalchemy import select

from webapp.branches.models import Branch

#: Seeded by the first migration (contract §1).
CONTRACT_BRANCHES = [
    {"code": "JKT", "name": "Jakarta", "timezone": "Asia/Jakarta"},
    {"code": "BDG", "name": "Bandung", "timezone": "Asia/Jakarta"},
    {"code": "SBY", "name": "Surabaya", "timezone": "Asia/Jakarta"},
    {"code": "DPS", "name": "Bali (Denpasar)", "timezone": "Asia/Makassar"},
]


def all_branches(dbsession):
    return list(dbsession.scalars(select(Branch).order_by(Branch.id)))


def branch_by_code(dbsession, code):
    if not isinstance(code, str):
        return None
    return dbsession.scalar(select(Branch).where(Branch.code == code.strip().upper()))


def branch_json(branch):
    return {
        "code": branch.code,
        "name": branch.name,
        "timezone": branch.timezone,
        "shift_start": branch.shift_start.strftime("%H:%M"),
        "grace_minutes": branch.grace_minutes,
    }


def local_today(branch, now_utc=None):
    return branch.local_date(now_utc or dt.datetime.now(dt.timezone.utc))

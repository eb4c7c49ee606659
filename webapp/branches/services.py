from sqlalchemy import select

from webapp.branches.models import Branch


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


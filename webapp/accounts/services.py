"""Users: creation, lookup, updates. Called by views, the CLI and the demo seeder."""

import re

from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.exc import IntegrityError

from webapp.accounts.models import ROLES, User
from webapp.accounts.passwords import hash_password, verify_password
from webapp.branches.services import branch_by_code, branch_json
from webapp.clock import utcnow_naive
from webapp.db import execute_write
from webapp.errors import ApiError, invalid
from webapp import validation as v


def user_json(user):
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "active": user.active,
        "branch": branch_json(user.branch),
        "employee_number": user.employee_number,
    }


def authenticate(session_factory, read_engine, email, password):
    """The active user with these credentials, or None (constant-ish time either way).

    The user is read in a short transaction of its own and the password verified after it
    ends: argon2 takes tens of milliseconds and must hold no lock meanwhile. A password
    longer than any we accept is refused without hashing it at all.
    """
    if not isinstance(password, str) or not password or len(password) > v.MAX_PASSWORD_LENGTH:
        return None
    user = None
    if email:
        with session_factory(bind=read_engine) as dbsession:
            user = dbsession.scalar(
                select(User).options(joinedload(User.branch)).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password)
    return user if ok and user.active else None


def _email_taken():
    return ApiError(409, "email_taken", "Email sudah terdaftar.", fields={"email": "Sudah dipakai."})


def create_user(dbsession, *, name, email, password, role, branch):
    """Validate and insert a user; raises ApiError 422/409."""
    errors = {}
    clean_name = v.check_name(name, errors)
    clean_email = v.normalise_email(email)
    if clean_email is None:
        errors["email"] = "Email tidak valid."
    v.check_password(password, errors)
    if role not in ROLES:
        errors["role"] = "Harus 'employee' atau 'admin'."
    branch_row = branch_by_code(dbsession, branch)
    if branch_row is None:
        errors["branch"] = "Kode cabang tidak dikenal."
    v.raise_if(errors)
    if dbsession.scalar(select(User.id).where(User.email == clean_email)) is not None:
        raise _email_taken()
    user = User(
        name=clean_name,
        email=clean_email,
        password_hash=hash_password(password),
        role=role,
        active=True,
        branch=branch_row,
        auth_version=1,
        created_at=utcnow_naive(),
    )
    try:
        with dbsession.begin_nested():
            dbsession.add(user)
            dbsession.flush()
    except IntegrityError:
        # Two admins adding the same email at once: the unique index decides.
        raise _email_taken() from None
    return user


UPDATABLE = ("name", "role", "branch", "active", "password", "employee_number")
#: employee numbers: what a kiosk's pad and a payroll export can both carry
EMPLOYEE_NUMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9./-]{0,31}$", re.ASCII)


def update_user(dbsession, user, changes, *, acting_user):
    errors = {}
    v.reject_unknown(changes, UPDATABLE)
    if not changes:
        raise invalid({"_body": "Tidak ada yang diubah."})
    if "name" in changes:
        name = v.check_name(changes["name"], errors)
    if "role" in changes and changes["role"] not in ROLES:
        errors["role"] = "Harus 'employee' atau 'admin'."
    if "branch" in changes:
        branch_row = branch_by_code(dbsession, changes["branch"])
        if branch_row is None:
            errors["branch"] = "Kode cabang tidak dikenal."
    if "active" in changes and not isinstance(changes["active"], bool):
        errors["active"] = "Harus true atau false."
    if "password" in changes:
        v.check_password(changes["password"], errors)
    if "employee_number" in changes:
        number = changes["employee_number"]
        if number is not None and not (isinstance(number, str)
                                       and EMPLOYEE_NUMBER_RE.match(number)):
            errors["employee_number"] = ("1–32 huruf, angka, titik, garis miring atau "
                                         "tanda hubung; atau null.")
    if user.id == acting_user.id:
        # An admin locking themselves out leaves nobody to undo it.
        if changes.get("active") is False:
            errors["active"] = "Tidak dapat menonaktifkan akun sendiri."
        if changes.get("role") == "employee":
            errors["role"] = "Tidak dapat mencabut hak admin sendiri."
    v.raise_if(errors)

    if "name" in changes:
        user.name = name
    if "role" in changes:
        user.role = changes["role"]
    if "branch" in changes:
        user.branch = branch_row
    if "active" in changes and changes["active"] != user.active:
        user.active = changes["active"]
        user.auth_version += 1  # deactivation ends the user's sessions
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        user.auth_version += 1  # so do password resets
    if "employee_number" in changes:
        _set_employee_number(dbsession, user, changes["employee_number"])
    dbsession.flush()
    return user


def _employee_number_taken():
    return ApiError(409, "employee_number_taken", "Nomor karyawan sudah dipakai.",
                    fields={"employee_number": "Sudah dipakai."})


def _set_employee_number(dbsession, user, number):
    if number is not None and dbsession.scalar(select(User.id).where(
            User.employee_number == number, User.id != user.id)) is not None:
        raise _employee_number_taken()
    user.employee_number = number
    try:
        with dbsession.begin_nested():
            dbsession.flush()
    except IntegrityError:
        # two admins giving one number at once: the unique index decides
        raise _employee_number_taken() from None


def user_by_employee_number(session_factory, read_engine, number):
    """The user with this employee number, or None, read in a short transaction of its own
    (the PIN is verified after it ended, as passwords are)."""
    with session_factory(bind=read_engine) as dbsession:
        return dbsession.scalar(select(User).options(joinedload(User.branch))
                                .where(User.employee_number == number))


# -- kiosk PINs (contract §3.2) -----------------------------------------------------------

PIN_RE = re.compile(r"^[0-9]{6}$", re.ASCII)


def trivial_pin(pin, employee_number=None):
    """A PIN anyone would try first: one digit repeated, a run up or down (123456, 654321,
    890123 too), a pair or triple repeated (121212, 123123), or the employee number."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:])}
    if len(steps) == 1 and steps <= {0, 1, 9}:
        return True
    if pin[:2] * 3 == pin or pin[:3] * 2 == pin:
        return True
    digits = "".join(c for c in (employee_number or "") if c.isdigit())
    return pin == employee_number or (len(digits) >= 6 and pin in digits)


def pin_hash_for(pin, *, employee_number):
    """The argon2 hash of a good PIN; 422 naming what is wrong otherwise."""
    if not isinstance(pin, str) or not PIN_RE.match(pin):
        raise invalid({"pin": "PIN harus 6 angka."})
    if trivial_pin(pin, employee_number):
        raise invalid({"pin": "PIN terlalu mudah ditebak (angka berulang, berurutan, "
                              "atau nomor karyawan). Pilih yang lain."})
    return hash_password(pin)


def employee_number_of(session_factory, read_engine, user_id):
    with session_factory(bind=read_engine) as dbsession:
        return dbsession.scalar(select(User.employee_number).where(User.id == user_id))


def store_pin(dbsession, user_id, pin_hash):
    execute_write(dbsession, update(User.__table__).where(User.__table__.c.id == user_id)
                  .values(pin_hash=pin_hash))


def list_users(dbsession, *, branch=None, page=1, per_page=20):
    query = select(User)
    if branch is not None:
        query = query.where(User.branch_id == branch.id)
    total = dbsession.scalar(select(func.count()).select_from(query.subquery()))
    rows = dbsession.scalars(
        query.order_by(User.name, User.id).offset((page - 1) * per_page).limit(per_page)
    )
    return list(rows), total

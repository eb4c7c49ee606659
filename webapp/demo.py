"""Demo data for ``make run`` (ABSENSI_DEMO=1): an admin and a few employees per branch.

Demo credentials exist only here; a production install has no default password.
"""
from sqlalchemy import select

from webapp.accounts.models import User
from webapp.accounts.services import create_user

ADMIN = ("Admin Absensi", "admin@example.com", "admin", "JKT")
DEMO_PASSWORD = "password"
EMPLOYEES = {
    "JKT": ["Budi Santoso", "Siti Rahayu", "Agus Wijaya"],
    "BDG": ["Dewi Lestari", "Rudi Hartono", "Intan Permata"],
    "SBY": ["Eko Prasetyo", "Fitri Handayani", "Bayu Saputra"],
    "DPS": ["Made Wirawan", "Ni Luh Ayu", "Komang Adi"],
}


def demo_users():
    yield ADMIN
    for code, names in EMPLOYEES.items():
        for name in names:
            local = name.lower().replace(" ", ".")
            yield name, f"{local}@example.com", "employee", code


def seed(dbsession):
    """Insert missing demo users (idempotent); returns how many were created."""
    created = 0
    for name, email, role, branch in demo_users():
        if dbsession.scalar(select(User.id).where(User.email == email)) is None:
            create_user(dbsession, name=name, email=email, password=DEMO_PASSWORD,
                        role=role, branch=branch)
            created += 1
    return created

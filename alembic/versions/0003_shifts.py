"""Shifts: shift types (each branch's default made from its shift_start/shift_end/grace),
rotas (shift_assignments), attendances that follow a shift (shift, overtime, sites),
attendance requests, and several sites per branch (the geofence becomes the first).

Existing data is kept and carried over: every branch gets its default shift type
(``<CODE>-REG``) from its columns, every existing attendance is given that shift (code and
start/end instants of its work date in the branch's zone), and a branch's geofence becomes
its one site. The branches' columns stay (a node of the previous release still reads them
during a rolling update; the app keeps them equal to the default shift and first site).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""
import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DEFAULT_OVERTIME_AFTER_MINUTES = 30


def upgrade():
    shift_types = op.create_table(
        "shift_types",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("start_time", sa.Time, nullable=False),
        sa.Column("end_time", sa.Time, nullable=False),
        sa.Column("grace_minutes", sa.Integer, nullable=False),
        sa.Column("early_leave_grace_minutes", sa.Integer, nullable=False),
        sa.Column("overtime_after_minutes", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_types")),
        sa.UniqueConstraint("code", name=op.f("uq_shift_types_code")),
        sa.UniqueConstraint("branch_id", name=op.f("uq_shift_types_branch_id")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_shift_types_branch_id_branches")),
    )
    sites = op.create_table(
        "branch_sites",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("lon", sa.Double, nullable=False),
        sa.Column("radius_m", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branch_sites")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_branch_sites_branch_id_branches")),
    )
    op.create_index(op.f("ix_branch_sites_branch_id"), "branch_sites", ["branch_id"])

    op.create_table(
        "shift_assignments",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("date_from", sa.Date, nullable=False),
        sa.Column("date_to", sa.Date, nullable=False),
        sa.Column("weekdays", sa.String(16), nullable=True),
        sa.Column("shift_type_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by_id", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shift_assignments")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_shift_assignments_user_id_users")),
        sa.ForeignKeyConstraint(["shift_type_id"], ["shift_types.id"],
                                name=op.f("fk_shift_assignments_shift_type_id_shift_types")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_shift_assignments_created_by_id_users")),
    )
    op.create_index("ix_shift_assignments_user_dates", "shift_assignments",
                    ["user_id", "date_to", "date_from"])

    op.create_table(
        "attendance_requests",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("work_date", sa.Date, nullable=False),
        sa.Column("check_in_at", sa.DateTime, nullable=True),
        sa.Column("check_out_at", sa.DateTime, nullable=True),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by_id", sa.Integer, nullable=True),
        sa.Column("decided_at", sa.DateTime, nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("attendance_id", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_requests")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_attendance_requests_user_id_users")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_attendance_requests_branch_id_branches")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_attendance_requests_decided_by_id_users")),
        sa.ForeignKeyConstraint(["attendance_id"], ["attendances.id"],
                                name=op.f("fk_attendance_requests_attendance_id_attendances")),
    )
    op.create_index("ix_attendance_requests_user_date", "attendance_requests",
                    ["user_id", "work_date"])
    op.create_index("ix_attendance_requests_status", "attendance_requests", ["status", "id"])

    # (no foreign key on shift_type_id: SQLite cannot add one to an existing table)
    for column in (
        sa.Column("shift_type_id", sa.Integer, nullable=True),
        sa.Column("shift_code", sa.String(16), nullable=True),
        sa.Column("shift_start_at", sa.DateTime, nullable=True),
        sa.Column("shift_end_at", sa.DateTime, nullable=True),
        sa.Column("overtime_minutes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("overtime_status", sa.String(16), nullable=False, server_default="none"),
        sa.Column("check_in_site", sa.String(100), nullable=True),
        sa.Column("check_out_site", sa.String(100), nullable=True),
    ):
        op.add_column("attendances", column)

    _carry_over(shift_types, sites)


def _carry_over(shift_types, sites):
    bind = op.get_bind()
    branches = sa.table(
        "branches", sa.column("id"), sa.column("code"), sa.column("name"),
        sa.column("timezone"), sa.column("shift_start", sa.Time), sa.column("shift_end", sa.Time),
        sa.column("grace_minutes"), sa.column("geofence_lat"), sa.column("geofence_lon"),
        sa.column("geofence_radius_m"))
    attendances = sa.table(
        "attendances", sa.column("branch_id"), sa.column("work_date", sa.Date),
        sa.column("shift_type_id"), sa.column("shift_code"),
        sa.column("shift_start_at", sa.DateTime), sa.column("shift_end_at", sa.DateTime))
    for branch in bind.execute(sa.select(branches).order_by(branches.c.id)).all():
        code = f"{branch.code}-REG"
        shift_id = bind.execute(shift_types.insert().values(
            code=code, name=f"Reguler {branch.name}", start_time=branch.shift_start,
            end_time=branch.shift_end, grace_minutes=branch.grace_minutes,
            early_leave_grace_minutes=0,
            overtime_after_minutes=DEFAULT_OVERTIME_AFTER_MINUTES,
            branch_id=branch.id)).inserted_primary_key[0]
        if branch.geofence_radius_m is not None:
            bind.execute(sites.insert().values(
                branch_id=branch.id, position=0, name=branch.name, lat=branch.geofence_lat,
                lon=branch.geofence_lon, radius_m=branch.geofence_radius_m))
        # Every existing attendance belonged to its branch's one shift: one UPDATE per
        # work date (instants differ by date only through the zone's offset).
        zone = ZoneInfo(branch.timezone)
        days = bind.execute(sa.select(attendances.c.work_date).distinct().where(
            attendances.c.branch_id == branch.id)).scalars().all()
        overnight = branch.shift_end <= branch.shift_start
        for day in days:
            start = _utc(dt.datetime.combine(day, branch.shift_start, tzinfo=zone))
            end_day = day + dt.timedelta(days=1) if overnight else day
            end = _utc(dt.datetime.combine(end_day, branch.shift_end, tzinfo=zone))
            bind.execute(attendances.update().where(
                attendances.c.branch_id == branch.id, attendances.c.work_date == day,
            ).values(shift_type_id=shift_id, shift_code=code, shift_start_at=start,
                     shift_end_at=end))


def _utc(instant):
    return instant.astimezone(dt.timezone.utc).replace(tzinfo=None)


def downgrade():
    with op.batch_alter_table("attendances") as batch:
        for name in ("check_out_site", "check_in_site", "overtime_status", "overtime_minutes",
                     "shift_end_at", "shift_start_at", "shift_code", "shift_type_id"):
            batch.drop_column(name)
    for table in ("attendance_requests", "shift_assignments", "branch_sites", "shift_types"):
        op.drop_table(table)

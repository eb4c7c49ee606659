"""HR: branch settings (shift end, work days, geofence), early leave / corrected / distance
on attendances, the append-only attendance audit, leave requests, holidays (seeded with
Indonesia's national holidays from webapp/holidays/data/indonesia.csv), outbox channels.

The audit table gets BEFORE UPDATE / BEFORE DELETE triggers that raise an error on both
MariaDB (SIGNAL SQLSTATE '45000') and SQLite (RAISE(ABORT)): whoever holds the app's
credentials can append audit rows but not change or remove them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AUDIT_TRIGGERS = ("attendance_audit_no_update", "attendance_audit_no_delete")
APPEND_ONLY_MESSAGE = "attendance_audit is append-only"


def upgrade():
    op.add_column("branches", sa.Column("shift_end", sa.Time, nullable=False,
                                        server_default="17:00:00"))
    op.add_column("branches", sa.Column("work_days", sa.String(16), nullable=False,
                                        server_default="1,2,3,4,5"))
    op.add_column("branches", sa.Column("geofence_lat", sa.Double, nullable=True))
    op.add_column("branches", sa.Column("geofence_lon", sa.Double, nullable=True))
    op.add_column("branches", sa.Column("geofence_radius_m", sa.Integer, nullable=True))

    for name in ("early_leave", "corrected"):
        op.add_column("attendances", sa.Column(name, sa.Boolean, nullable=False,
                                               server_default=sa.false()))
    for name in ("check_in_distance_m", "check_out_distance_m"):
        op.add_column("attendances", sa.Column(name, sa.Integer, nullable=True))

    op.add_column("outbox_events", sa.Column("channels", sa.JSON, nullable=True))

    op.create_table(
        "attendance_audit",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("attendance_id", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor_id", sa.Integer, nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("changes", sa.JSON, nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance_audit")),
        sa.ForeignKeyConstraint(["attendance_id"], ["attendances.id"],
                                name=op.f("fk_attendance_audit_attendance_id_attendances")),
        sa.ForeignKeyConstraint(["actor_id"], ["users.id"],
                                name=op.f("fk_attendance_audit_actor_id_users")),
    )
    op.create_index("ix_attendance_audit_attendance", "attendance_audit",
                    ["attendance_id", "id"])
    _create_audit_triggers()

    op.create_table(
        "leave_requests",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("date_from", sa.Date, nullable=False),
        sa.Column("date_to", sa.Date, nullable=False),
        sa.Column("days", sa.Integer, nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by_id", sa.Integer, nullable=True),
        sa.Column("decided_at", sa.DateTime, nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leave_requests")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_leave_requests_user_id_users")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_leave_requests_branch_id_branches")),
        sa.ForeignKeyConstraint(["decided_by_id"], ["users.id"],
                                name=op.f("fk_leave_requests_decided_by_id_users")),
    )
    op.create_index("ix_leave_requests_user_dates", "leave_requests", ["user_id", "date_from"])
    op.create_index("ix_leave_requests_status", "leave_requests", ["status", "id"])
    op.create_index("ix_leave_requests_branch_dates", "leave_requests",
                    ["branch_id", "date_from"])

    holidays = op.create_table(
        "holidays",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=True),
        sa.Column("scope", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holidays")),
        sa.UniqueConstraint("date", "scope", name=op.f("uq_holidays_date_scope")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_holidays_branch_id_branches")),
    )
    op.create_index(op.f("ix_holidays_date"), "holidays", ["date"])
    _seed_national_holidays(holidays)


def _create_audit_triggers():
    dialect = op.get_bind().dialect.name
    for name, event in zip(AUDIT_TRIGGERS, ("UPDATE", "DELETE")):
        if dialect == "mysql":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON attendance_audit FOR EACH ROW "
                f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{APPEND_ONLY_MESSAGE}'"
            )
        elif dialect == "sqlite":
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {event} ON attendance_audit "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )


def _seed_national_holidays(table):
    from webapp.holidays.services import read_data_file

    op.bulk_insert(table, [
        {"date": day, "name": name, "branch_id": None, "scope": 0}
        for day, name in read_data_file()
    ])


def downgrade():
    for name in AUDIT_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("holidays", "leave_requests", "attendance_audit"):
        op.drop_table(table)
    with op.batch_alter_table("outbox_events") as batch:
        batch.drop_column("channels")
    with op.batch_alter_table("attendances") as batch:
        for name in ("check_out_distance_m", "check_in_distance_m", "corrected", "early_leave"):
            batch.drop_column(name)
    with op.batch_alter_table("branches") as batch:
        for name in ("geofence_radius_m", "geofence_lon", "geofence_lat", "work_days",
                     "shift_end"):
            batch.drop_column(name)

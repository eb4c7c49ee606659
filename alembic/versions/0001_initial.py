"""Initial schema: branches (seeded), users, attendances, idempotency keys, outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BRANCHES = [
    ("JKT", "Jakarta", "Asia/Jakarta"),
    ("BDG", "Bandung", "Asia/Jakarta"),
    ("SBY", "Surabaya", "Asia/Jakarta"),
    ("DPS", "Bali (Denpasar)", "Asia/Makassar"),
]


def upgrade():
    branches = op.create_table(
        "branches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("shift_start", sa.Time, nullable=False),
        sa.Column("grace_minutes", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("code", name=op.f("uq_branches_code")),
    )
    op.bulk_insert(branches, [
        {"id": i, "code": code, "name": name, "timezone": tz,
         "shift_start": dt.time(8, 0), "grace_minutes": 15}
        for i, (code, name, tz) in enumerate(BRANCHES, start=1)
    ])

    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("auth_version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_users_branch_id_branches")),
    )
    op.create_index(op.f("ix_users_branch_id"), "users", ["branch_id"])

    op.create_table(
        "attendances",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("work_date", sa.Date, nullable=False),
        sa.Column("check_in_at", sa.DateTime, nullable=False),
        sa.Column("check_out_at", sa.DateTime, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("check_in_node", sa.String(64), nullable=False),
        sa.Column("check_out_node", sa.String(64), nullable=True),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("auto_closed", sa.Boolean, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendances")),
        sa.UniqueConstraint("user_id", "work_date", name=op.f("uq_attendances_user_id_work_date")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_attendances_user_id_users")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_attendances_branch_id_branches")),
    )
    op.create_index("ix_attendances_branch_date", "attendances", ["branch_id", "work_date"])
    op.create_index("ix_attendances_date", "attendances", ["work_date"])

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(128), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("response_body", sa.JSON, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id_key")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_idempotency_keys_user_id_users")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])

    op.create_table(
        "outbox_events",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("aggregate_id", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("published_at", sa.DateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    op.create_index("ix_outbox_events_unpublished", "outbox_events", ["published_at", "id"])


def downgrade():
    for table in ("outbox_events", "idempotency_keys", "attendances", "users", "branches"):
        op.drop_table(table)

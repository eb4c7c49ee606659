"""Kiosks (contract §3.2): enrolled branch devices, the single use of their codes per
employee, employees' numbers and kiosk PINs, and offline attendances.

Only additions: new tables, nullable columns and a boolean with a server default, so a
node of the previous release keeps working during a rolling update. The unique index on
``users.employee_number`` is an index (not a table constraint), which SQLite can add
without rebuilding the table; both databases let many rows have NULL there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "kiosks",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("branch_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("enrollment_code_hash", sa.String(64), nullable=True),
        sa.Column("enrollment_expires_at", sa.DateTime, nullable=True),
        sa.Column("device_token_hash", sa.String(64), nullable=True),
        sa.Column("secret_nonce", sa.String(64), nullable=True),
        sa.Column("enrolled_at", sa.DateTime, nullable=True),
        sa.Column("last_seen", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosks")),
        sa.UniqueConstraint("enrollment_code_hash", name=op.f("uq_kiosks_enrollment_code_hash")),
        sa.UniqueConstraint("device_token_hash", name=op.f("uq_kiosks_device_token_hash")),
        sa.ForeignKeyConstraint(["branch_id"], ["branches.id"],
                                name=op.f("fk_kiosks_branch_id_branches")),
    )
    op.create_index(op.f("ix_kiosks_branch_id"), "kiosks", ["branch_id"])
    op.create_table(
        "kiosk_code_uses",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("kiosk_id", sa.Integer, nullable=False),
        sa.Column("slot", sa.Integer, nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("used_at", sa.DateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_code_uses")),
        sa.UniqueConstraint("kiosk_id", "slot", "user_id",
                            name=op.f("uq_kiosk_code_uses_kiosk_id_slot_user_id")),
        sa.ForeignKeyConstraint(["kiosk_id"], ["kiosks.id"],
                                name=op.f("fk_kiosk_code_uses_kiosk_id_kiosks")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_kiosk_code_uses_user_id_users")),
    )
    op.create_index(op.f("ix_kiosk_code_uses_used_at"), "kiosk_code_uses", ["used_at"])
    op.add_column("users", sa.Column("employee_number", sa.String(32), nullable=True))
    op.add_column("users", sa.Column("pin_hash", sa.String(255), nullable=True))
    op.create_index("uq_users_employee_number", "users", ["employee_number"], unique=True)
    op.add_column("attendances", sa.Column("offline", sa.Boolean, nullable=False,
                                           server_default=sa.false()))


def downgrade():
    with op.batch_alter_table("attendances") as batch:
        batch.drop_column("offline")
    op.drop_index("uq_users_employee_number", table_name="users")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("pin_hash")
        batch.drop_column("employee_number")
    op.drop_table("kiosk_code_uses")
    op.drop_table("kiosks")

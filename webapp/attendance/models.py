import datetime as dt

from sqlalchemy import (JSON, Date, DateTime, ForeignKey, Index, Integer, String,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.branches.models import Branch
from webapp.meta import Base

STATUSES = ("present", "late")
OVERTIME_STATUSES = ("none", "pending", "approved", "rejected")


class Attendance(Base):
    """One user's working day. Instants are naive UTC; ``work_date`` is branch-local."""

    __tablename__ = "attendances"
    __table_args__ = (
        # The race guard: whichever node a check-in reaches, one row per user and day.
        UniqueConstraint("user_id", "work_date"),
        Index("ix_attendances_branch_date", "branch_id", "work_date"),
        Index("ix_attendances_date", "work_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    work_date: Mapped[dt.date] = mapped_column(Date)
    check_in_at: Mapped[dt.datetime] = mapped_column(DateTime)
    check_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    check_in_node: Mapped[str] = mapped_column(String(64))
    check_out_node: Mapped[str | None] = mapped_column(String(64), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    # Set by the end-of-day job when nobody checked out (see README "End of day").
    auto_closed: Mapped[bool] = mapped_column(default=False)
    # Checked out before the branch's shift end (decided at check-out or correction).
    early_leave: Mapped[bool] = mapped_column(default=False)
    # An admin created or changed it (POST/PATCH /api/attendances).
    corrected: Mapped[bool] = mapped_column(default=False)
    # Great-circle metres from the branch's geofence centre, when it had one.
    check_in_distance_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    check_out_distance_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The shift it belongs to, as it was when the attendance began (NULL: a day off).
    # ``shift_type_id`` has no foreign key: SQLite cannot add one to an existing table
    # (migration 0003); the code and instants are kept so that changing or deleting a
    # shift type later never rewrites the past.
    shift_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    shift_code: Mapped[str | None] = mapped_column(String(16), nullable=True)
    shift_start_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    shift_end_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # Minutes after the shift's end beyond its threshold (a day off: every minute).
    overtime_minutes: Mapped[int] = mapped_column(Integer, default=0)
    overtime_status: Mapped[str] = mapped_column(String(16), default="none")
    # The name of the branch site the check-in / check-out was inside of, if it had any.
    check_in_site: Mapped[str | None] = mapped_column(String(100), nullable=True)
    check_out_site: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # A check-in or check-out of it was made without a network and sent later with a kiosk
    # code proving the time (contract §3.2 "Offline"); its instants are the device's.
    offline: Mapped[bool] = mapped_column(default=False)

    user: Mapped[User] = relationship(lazy="joined")
    branch: Mapped[Branch] = relationship(lazy="joined")


AUDIT_ACTIONS = ("check_in", "check_out", "create", "correct", "auto_close")


class AttendanceAudit(Base):
    """One change of an attendance. Append-only: rows are inserted, never updated or
    deleted (database triggers refuse both, see migration 0002 and README "Audit trail")."""

    __tablename__ = "attendance_audit"
    __table_args__ = (Index("ix_attendance_audit_attendance", "attendance_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    attendance_id: Mapped[int] = mapped_column(ForeignKey("attendances.id"))
    at: Mapped[dt.datetime] = mapped_column(DateTime)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(16))
    # {"field": [old, new]} with values as the API shows them
    changes: Mapped[dict] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    node_id: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship(lazy="joined")

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.branches.models import Branch
from webapp.meta import Base

KINDS = ("check_in", "check_out", "both")
STATUSES = ("pending", "approved", "rejected")


class AttendanceRequest(Base):
    """An employee's request to set the check-in and/or check-out of one work date."""

    __tablename__ = "attendance_requests"
    __table_args__ = (
        Index("ix_attendance_requests_user_date", "user_id", "work_date"),
        Index("ix_attendance_requests_status", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    kind: Mapped[str] = mapped_column(String(16))
    work_date: Mapped[dt.date] = mapped_column(Date)
    check_in_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    check_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    attendance_id: Mapped[int | None] = mapped_column(ForeignKey("attendances.id"),
                                                      nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])
    branch: Mapped[Branch] = relationship(lazy="joined")
    decided_by: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[decided_by_id])

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.branches.models import Branch
from webapp.meta import Base

KINDS = ("izin", "sakit", "cuti")
STATUSES = ("pending", "approved", "rejected", "cancelled")
#: statuses that hold the dates (a new request overlapping them is refused)
HOLDING = ("pending", "approved")


class LeaveRequest(Base):
    """A leave request (izin, sakit, cuti) for an inclusive date range of one calendar year."""

    __tablename__ = "leave_requests"
    __table_args__ = (
        Index("ix_leave_requests_user_dates", "user_id", "date_from"),
        Index("ix_leave_requests_status", "status", "id"),
        Index("ix_leave_requests_branch_dates", "branch_id", "date_from"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    # The branch whose work days and holidays `days` was counted with (the user's at request).
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    kind: Mapped[str] = mapped_column(String(8))
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    user: Mapped[User] = relationship(lazy="joined", foreign_keys=[user_id])
    branch: Mapped[Branch] = relationship(lazy="joined")
    decided_by: Mapped[User | None] = relationship(lazy="joined", foreign_keys=[decided_by_id])

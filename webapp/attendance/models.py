import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.accounts.models import User
from webapp.branches.models import Branch
from webapp.meta import Base

STATUSES = ("present", "late")


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

    user: Mapped[User] = relationship(lazy="joined")
    branch: Mapped[Branch] = relationship(lazy="joined")

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.meta import Base


class ShiftAssignment(Base):
    """One rota entry: ``shift_type_id`` (NULL: a day off) for a user on every date of
    ``date_from``–``date_to`` whose ISO weekday is in ``weekdays`` (NULL: every day).

    Entries are never changed, only added: a later one (higher id) replaces an earlier one
    on the days they share, so the roster of a day is the newest entry covering it.
    """

    __tablename__ = "shift_assignments"
    __table_args__ = (Index("ix_shift_assignments_user_dates", "user_id", "date_to",
                            "date_from"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    # Comma-separated ISO weekdays ("1,3,5"), NULL for every day of the range.
    weekdays: Mapped[str | None] = mapped_column(String(16), nullable=True)
    shift_type_id: Mapped[int | None] = mapped_column(ForeignKey("shift_types.id"),
                                                      nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)

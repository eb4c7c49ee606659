import datetime as dt

from sqlalchemy import Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.branches.models import Branch
from webapp.meta import Base

NATIONAL_SCOPE = 0


class Holiday(Base):
    """A non-working day: national (``branch_id`` NULL) or of one branch."""

    __tablename__ = "holidays"
    # NULLs never collide in a unique index, so uniqueness is on ``scope``:
    # 0 for a national holiday, else the branch id.
    __table_args__ = (UniqueConstraint("date", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[dt.date] = mapped_column(Date, index=True)
    name: Mapped[str] = mapped_column(String(100))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True)
    scope: Mapped[int] = mapped_column(Integer, default=NATIONAL_SCOPE)

    branch: Mapped[Branch | None] = relationship(lazy="joined")

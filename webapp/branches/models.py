import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from webapp.meta import Base


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    shift_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    grace_minutes: Mapped[int] = mapped_column(Integer, default=15)

    @property
    def zone(self):
        return ZoneInfo(self.timezone)

    def local_date(self, instant_utc):
        """The branch-local calendar date of an aware UTC instant."""
        return instant_utc.astimezone(self.zone).date()

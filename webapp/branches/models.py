import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Double, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column

from webapp.meta import Base

DEFAULT_WORK_DAYS = "1,2,3,4,5"  # ISO weekdays, Monday–Friday


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    shift_start: Mapped[dt.time] = mapped_column(Time, default=dt.time(8, 0))
    shift_end: Mapped[dt.time] = mapped_column(Time, default=dt.time(17, 0))
    grace_minutes: Mapped[int] = mapped_column(Integer, default=15)
    # Comma-separated ISO weekdays (1 = Monday), e.g. "1,2,3,4,5,6" for a six-day office.
    work_days: Mapped[str] = mapped_column(String(16), default=DEFAULT_WORK_DAYS)
    # The geofence: all three set, or all three NULL (no fence).
    geofence_lat: Mapped[float | None] = mapped_column(Double, nullable=True)
    geofence_lon: Mapped[float | None] = mapped_column(Double, nullable=True)
    geofence_radius_m: Mapped[int | None] = mapped_column(Integer, nullable=True)

    @property
    def zone(self):
        return ZoneInfo(self.timezone)

    def local_date(self, instant_utc):
        """The branch-local calendar date of an aware UTC instant."""
        return instant_utc.astimezone(self.zone).date()

    @property
    def weekdays(self):
        """The work days as a frozenset of ISO weekday numbers."""
        return frozenset(int(day) for day in (self.work_days or DEFAULT_WORK_DAYS).split(","))

    @property
    def geofence(self):
        if self.geofence_radius_m is None:
            return None
        return {"lat": self.geofence_lat, "lon": self.geofence_lon,
                "radius_m": self.geofence_radius_m}

    def local_instant(self, day, time_of_day):
        """An aware instant: ``time_of_day`` on the branch-local date ``day``."""
        return dt.datetime.combine(day, time_of_day, tzinfo=self.zone)

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import Double, ForeignKey, Integer, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.meta import Base

DEFAULT_WORK_DAYS = "1,2,3,4,5"  # ISO weekdays, Monday–Friday


class ShiftType(Base):
    """When work happens: ``start``–``end`` local time, overnight when the end is not after
    the start (it ends the next day).

    Shift types live beside branches because every branch has one of its own, its
    *default* (``branch_id`` set), which its ``shift_start``/``shift_end``/``grace_minutes``
    describe and which changes with them (webapp.branches.services). Other shift types
    (``branch_id`` NULL) are assigned to employees by schedules (webapp.shifts).
    """

    __tablename__ = "shift_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    start_time: Mapped[dt.time] = mapped_column(Time)
    end_time: Mapped[dt.time] = mapped_column(Time)
    grace_minutes: Mapped[int] = mapped_column(Integer, default=15)
    early_leave_grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    overtime_after_minutes: Mapped[int] = mapped_column(Integer, default=30)
    # The branch whose default shift type this is (at most one per branch), else NULL.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True,
                                                  unique=True)

    @property
    def overnight(self):
        return self.end_time <= self.start_time

    def instants(self, day, zone):
        """``(start, end)``: the aware instants of this shift when it starts on local ``day``."""
        start = dt.datetime.combine(day, self.start_time, tzinfo=zone)
        end_day = day + dt.timedelta(days=1) if self.overnight else day
        end = dt.datetime.combine(end_day, self.end_time, tzinfo=zone)
        return start, end


class BranchSite(Base):
    """A place where a branch's people may check in: a circle of ``radius_m`` metres."""

    __tablename__ = "branch_sites"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    lat: Mapped[float] = mapped_column(Double)
    lon: Mapped[float] = mapped_column(Double)
    radius_m: Mapped[int] = mapped_column(Integer)

    def as_json(self):
        return {"name": self.name, "lat": self.lat, "lon": self.lon, "radius_m": self.radius_m}


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
    # The geofence: all three set, or all three NULL (no fence). Kept equal to the first
    # site (see ``sites``), so that a node of the previous release, which knows only the
    # geofence, still fences during a rolling update.
    geofence_lat: Mapped[float | None] = mapped_column(Double, nullable=True)
    geofence_lon: Mapped[float | None] = mapped_column(Double, nullable=True)
    geofence_radius_m: Mapped[int | None] = mapped_column(Integer, nullable=True)

    # Loaded with the branch (the per-node branch cache keeps them): a check-in needs both.
    default_shift: Mapped[ShiftType | None] = relationship(
        ShiftType, lazy="joined", uselist=False, foreign_keys=[ShiftType.branch_id])
    sites: Mapped[list[BranchSite]] = relationship(
        BranchSite, lazy="selectin", order_by=BranchSite.position,
        cascade="all, delete-orphan")

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

    @property
    def fences(self):
        """``[(name, lat, lon, radius_m)]`` where its people may check in: its sites, or the
        single geofence as one site (named after the branch); empty: anywhere."""
        if self.sites:
            return [(s.name, s.lat, s.lon, s.radius_m) for s in self.sites]
        if self.geofence_radius_m is None:
            return []
        return [(self.name, self.geofence_lat, self.geofence_lon, self.geofence_radius_m)]

    def local_instant(self, day, time_of_day):
        """An aware instant: ``time_of_day`` on the branch-local date ``day``."""
        return dt.datetime.combine(day, time_of_day, tzinfo=self.zone)

    def default_shift_type(self):
        """Its default shift type; one made from its columns when it has none yet (a branch
        created outside the migrations, or a transient one in a test)."""
        if self.default_shift is not None:
            return self.default_shift
        return ShiftType(id=None, code=f"{self.code}-REG", name=f"Reguler {self.name}",
                         start_time=self.shift_start, end_time=self.shift_end,
                         grace_minutes=self.grace_minutes, early_leave_grace_minutes=0,
                         overtime_after_minutes=DEFAULT_OVERTIME_AFTER_MINUTES,
                         branch_id=self.id)


DEFAULT_OVERTIME_AFTER_MINUTES = 30

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.branches.models import Branch
from webapp.meta import Base


class Kiosk(Base):
    """A shared device at one branch. Only hashes of its enrollment code and device token
    are stored; its device secret is derived from the app's secret key and
    ``secret_nonce`` (webapp.kiosks.codes), so a copy of the database cannot make codes."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # SHA-256 of the one-time enrollment code; NULL once used (single use)
    enrollment_code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                             unique=True)
    enrollment_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # SHA-256 of the device's bearer token, kept after revocation (to answer "revoked")
    device_token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True,
                                                          unique=True)
    secret_nonce: Mapped[str | None] = mapped_column(String(64), nullable=True)
    enrolled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # written at most once a minute (the live value is in Redis, webapp.kiosks.contact)
    last_seen: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)

    branch: Mapped[Branch] = relationship(lazy="joined")

    @property
    def revoked(self):
        return self.revoked_at is not None


class KioskCodeUse(Base):
    """One employee used one kiosk code (kiosk, slot): the unique index makes a code
    single-use per employee whichever node the requests reach; the row is written in the
    check-in's own transaction, so a failed check-in uses nothing."""

    __tablename__ = "kiosk_code_uses"
    __table_args__ = (UniqueConstraint("kiosk_id", "slot", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kiosk_id: Mapped[int] = mapped_column(ForeignKey("kiosks.id"))
    slot: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    used_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)

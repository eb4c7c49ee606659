import datetime as dt

from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.branches.models import Branch
from webapp.meta import Base

ROLES = ("employee", "admin")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Stored lower-cased and stripped, so the unique index is the uniqueness check.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="employee")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    # Bumped on password change or deactivation: sessions carrying an older value end.
    auth_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Typed on a kiosk's PIN pad with the PIN (contract §3.2); unique, set by admins.
    employee_number: Mapped[str | None] = mapped_column(
        String(32), nullable=True, unique=True)
    # Argon2 hash of the 6-digit kiosk PIN (PUT /api/me/pin), NULL until one is set.
    pin_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)

    branch: Mapped[Branch] = relationship(lazy="joined")

    @property
    def is_admin(self):
        return self.role == "admin"

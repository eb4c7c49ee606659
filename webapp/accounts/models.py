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

    branch: Mapped[Branch] = relationship(lazy="joined")

    @property
    def is_admin(self):
        return self.role == "admin"

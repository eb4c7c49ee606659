import datetime as dt

from sqlalchemy import JSON, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from webapp.meta import Base


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it describes.

    The emitting domain decides its type, channels and payload (see
    ``webapp.events.services.record_event``). Its id is the ``event_id`` clients see;
    ``published_at`` is set once the event is in Redis (the relay sweep republishes rows
    still NULL).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unpublished", "published_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    # Where it goes, decided by the emitting domain (NULL on rows written before 0002:
    # those are attendance events, see tasks.outbox.channels_for).
    channels: Mapped[list | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

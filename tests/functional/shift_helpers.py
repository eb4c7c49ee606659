"""Helpers of the shift, schedule, request and site tests (apps pinned to a moment)."""
import datetime as dt

from sqlalchemy import select

from tests.factories import login
from webapp.events.models import OutboxEvent


def at(app, iso):
    """Pin the app's clock to an instant (ISO 8601 with offset)."""
    instant = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    app.app.registry["clock"] = lambda: instant


def events(app, prefix=""):
    """``[(event_type, channels, payload)]`` of the outbox rows the app wrote, oldest first."""
    with app.app.registry["dbsession_factory"]() as dbsession:
        rows = dbsession.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
        return [(e.event_type, e.channels, e.payload) for e in rows
                if e.event_type.startswith(prefix)]


def person(make_app, factory, role="employee", now=None, **fields):
    """A new app logged in as a new user (``app.user``), its clock pinned to *now*."""
    app = make_app()
    user = factory.admin(**fields) if role == "admin" else factory.user(**fields)
    login(app, user)
    app.user = user
    if now:
        at(app, now)
    return app


def check_in(app, iso, status=201, **body):
    at(app, iso)
    return app.post_json("/api/attendance/check-in", body, status=status).json


def check_out(app, iso, status=200, **body):
    at(app, iso)
    return app.post_json("/api/attendance/check-out", body, status=status).json

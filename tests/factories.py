"""One place that knows how to make valid users, log them in, pin an app's clock and read
its outbox."""
import datetime as dt
import itertools

from sqlalchemy import select

from webapp.accounts.services import create_user
from webapp.events.models import OutboxEvent

PASSWORD = "correct-horse-battery"
_sequence = itertools.count(1)


class Factory:
    def __init__(self, session_factory):
        self.session_factory = session_factory

    def user(self, *, name=None, email=None, role="employee", branch="JKT", password=PASSWORD):
        n = next(_sequence)
        with self.session_factory.begin() as dbsession:
            user = create_user(
                dbsession, name=name or f"Karyawan {n}", email=email or f"user{n}@example.com",
                password=password, role=role, branch=branch,
            )
            return {"id": user.id, "email": user.email, "password": password, "role": role,
                    "branch": branch}

    def admin(self, **kw):
        return self.user(role="admin", **kw)


def login(app, user, status=200):
    """Log ``user`` in on ``app``; returns the CSRF token (also set as a default header)."""
    response = app.post_json(
        "/api/login", {"email": user["email"], "password": user["password"]}, status=status
    )
    if status != 200:
        return response
    token = response.json["csrf_token"]
    app.extra_environ = dict(app.extra_environ, HTTP_X_CSRF_TOKEN=token)
    return token


def at(app, iso):
    """Pin the app's clock to an instant (ISO 8601 with offset)."""
    instant = dt.datetime.fromisoformat(iso).astimezone(dt.timezone.utc)
    app.app.registry["clock"] = lambda: instant


def outbox(app):
    """Every outbox row the app wrote, oldest first."""
    with app.app.registry["dbsession_factory"]() as dbsession:
        return dbsession.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()


def check_in_as(make_app, factory, iso, branch="JKT", name=None, check_out=None):
    """A new employee of *branch* checks in at *iso* (and out at *check_out*) on an app of
    their own; returns ``(app, attendance)``, the employee as ``app.user``."""
    app = make_app()
    user = factory.user(branch=branch, name=name)
    login(app, user)
    at(app, iso)
    attendance = app.post("/api/attendance/check-in", status=201).json["attendance"]
    if check_out:
        at(app, check_out)
        attendance = app.post("/api/attendance/check-out", status=200).json["attendance"]
    app.user = user
    return app, attendance

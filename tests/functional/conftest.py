"""Fixtures of the functional tests: apps (WebTest, each its own cookie jar) logged in."""
import pytest

from tests.factories import at, login


@pytest.fixture()
def logged_in(make_app, factory):
    """``logged_in(role, now=None, **user)``: a fresh app logged in as a new user of that
    role (``"admin"`` or ``"employee"``), kept as ``app.user`` (and ``app.admin``); *now*
    pins its clock (ISO 8601 with offset)."""

    def make(role="admin", now=None, **fields):
        app = make_app()
        user = factory.admin(**fields) if role == "admin" else factory.user(**fields)
        login(app, user)
        app.user = user
        if role == "admin":
            app.admin = user
        if now is not None:
            at(app, now)
        return app

    return make


@pytest.fixture()
def admin_app(logged_in):
    """An admin of Jakarta, logged in (modules that need another moment override it)."""
    return logged_in("admin", name="Admin", branch="JKT")


@pytest.fixture()
def employee_app(logged_in):
    """Budi, an employee of Jakarta, logged in."""
    return logged_in("employee", name="Budi", branch="JKT")

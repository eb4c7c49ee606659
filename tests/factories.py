"""One place that knows how to make valid users and log them in."""
import itertools

from webapp.accounts.services import create_user

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

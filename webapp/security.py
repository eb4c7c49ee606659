"""Who the request is (session → user), what they may do, and the CSRF rule.

Permissions used by views: ``"user"`` (any active, logged-in user) and ``"admin"``.
"""

from pyramid.security import Allowed, Denied
from pyramid.csrf import SessionCSRFStoragePolicy
from sqlalchemy import select

from webapp.accounts import principal as principals
from webapp.accounts.models import User
from webapp.branches.cache import BranchCache
from webapp.sessions import has_live_session

SESSION_USER = "user_id"
SESSION_AUTH_VERSION = "auth_version"


class SessionSecurityPolicy:
    def identity(self, request):
        return request.principal

    def authenticated_userid(self, request):
        principal = request.principal
        return principal.id if principal else None

    def permits(self, request, context, permission):
        user = request.principal
        if user is None:
            return Denied("not logged in")
        if permission == "admin" and not user.is_admin:
            return Denied("admins only")
        return Allowed("ok")

    def remember(self, request, userid, **kw):
        # Rotating the session id at login defeats session fixation.
        user = kw["user"]
        request.session.invalidate()
        request.session[SESSION_USER] = user.id
        request.session[SESSION_AUTH_VERSION] = user.auth_version
        request.session.new_csrf_token()
        return []

    def forget(self, request, **kw):
        request.session.invalidate()
        return []


def current_principal(request):
    """Who the logged-in, active user is, or None (reified as ``request.principal``):
    proven by Redis's record of the user when it matches the session, else by the
    database (see webapp.accounts.principal)."""
    session = request.session
    user_id = session.get(SESSION_USER)
    if user_id is None:
        return None
    cache = request.registry["branch_cache"]
    principal = principals.from_record(
        session.principal_record, user_id=user_id,
        auth_version=session.get(SESSION_AUTH_VERSION),
        branch_of=lambda branch_id: cache.get(branch_id, session.branches_version))
    if principal is not None:
        return principal
    user = _checked_user(request, user_id)
    if user is None:
        return None
    request.__dict__[_LOADED_USER] = user
    principals.remember_quietly(request.redis, user)
    return principals.Principal.of(user)


_LOADED_USER = "_absensi_loaded_user"


def _checked_user(request, user_id):
    user = request.dbsession.scalar(select(User).where(User.id == user_id))
    if user is None or not user.active:
        return None
    if user.auth_version != request.session.get(SESSION_AUTH_VERSION):
        return None  # password changed or account deactivated since this login
    return user


def current_user(request):
    """The logged-in, active user's row, or None (reified as ``request.user``): for views
    that need more of the user than ``request.principal`` says."""
    principal = request.principal
    if principal is None:
        return None
    user = request.__dict__.get(_LOADED_USER)
    return user if user is not None else _checked_user(request, principal.id)


#: login creates the session; the kiosk's calls carry a bearer token (or an enrollment
#: code), never the browser's session, so a forged one has nothing to ride on
CSRF_EXEMPT_ROUTES = frozenset({"api.login", "api.kiosk_enroll", "api.kiosk_qr",
                                "api.kiosk_punch"})


def csrf_applies(request):
    # Only requests riding on a session can be forged through the victim's browser;
    # login is exempt (JSON-only, it creates the session) — see README "CSRF".
    if request.matched_route and request.matched_route.name in CSRF_EXEMPT_ROUTES:
        return False
    return has_live_session(request)


def includeme(config):
    config.set_security_policy(SessionSecurityPolicy())
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(
        require_csrf=True, token="csrf_token", header="X-CSRF-Token", callback=csrf_applies,
    )
    config.registry["branch_cache"] = BranchCache(
        config.registry["db_read_engine"])
    config.add_request_method(current_principal, "principal", reify=True)
    config.add_request_method(current_user, "user", reify=True)

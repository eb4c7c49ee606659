"""Who the request is (session → user), what they may do, and the CSRF rule.

Permissions used by views: ``"user"`` (any active, logged-in user) and ``"admin"``.
"""
import ipaddress

from pyramid.security import Allowed, Denied
from pyramid.csrf import SessionCSRFStoragePolicy
from sqlalchemy import select

from webapp.accounts.models import User
from webapp.sessions import has_live_session
from webapp.settings import as_list

SESSION_USER = "user_id"
SESSION_AUTH_VERSION = "auth_version"


class SessionSecurityPolicy:
    def identity(self, request):
        return request.user

    def authenticated_userid(self, request):
        user = request.user
        return user.id if user else None

    def permits(self, request, context, permission):
        user = request.user
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


def current_user(request):
    """The logged-in, active user, or None (reified as ``request.user``)."""
    user_id = request.session.get(SESSION_USER)
    if user_id is None:
        return None
    user = request.dbsession.scalar(select(User).where(User.id == user_id))
    if user is None or not user.active:
        return None
    if user.auth_version != request.session.get(SESSION_AUTH_VERSION):
        return None  # password changed or account deactivated since this login
    return user


def client_address(request):
    """The client's IP: nginx's ``X-Real-IP`` when the direct peer is a trusted proxy."""
    peer = request.remote_addr or ""
    trusted = request.registry["trusted_proxies"]
    forwarded = request.headers.get("X-Real-IP", "").strip()
    if forwarded and _in_networks(peer, trusted):
        return forwarded
    return peer


def _in_networks(address, networks):
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def csrf_applies(request):
    # Only requests riding on a session can be forged through the victim's browser;
    # login is exempt (JSON-only, it creates the session) — see README "CSRF".
    if request.matched_route and request.matched_route.name == "api.login":
        return False
    return has_live_session(request)


def includeme(config):
    settings = config.get_settings()
    config.registry["trusted_proxies"] = [
        ipaddress.ip_network(item, strict=False)
        for item in as_list(settings, "app.trusted_proxies")
    ]
    config.set_security_policy(SessionSecurityPolicy())
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(
        require_csrf=True, token="csrf_token", header="X-CSRF-Token", callback=csrf_applies,
    )
    config.add_request_method(current_user, "user", reify=True)

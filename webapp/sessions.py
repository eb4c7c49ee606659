"""Server-side sessions in Redis, so a login made through one node is valid on all four.

The cookie holds only a random 256-bit id; the data lives under ``absensi:session:{id}``
with a sliding expiry (``session.idle_timeout_seconds``, refreshed by every request) and an
absolute one (``session.lifetime_seconds`` after login, however busy). Visitors who are not
logged in get no session at all. :meth:`RedisSession.invalidate` also serves as rotation at
login: the old id is deleted and the next write goes to a fresh one.
"""
import json
import secrets
import time

from pyramid.interfaces import ISession
from zope.interface import implementer

from webapp.accounts.principal import RECORD_PREFIX
from webapp.branches.cache import BRANCHES_VERSION_KEY
from webapp.holidays.cache import HOLIDAYS_VERSION_KEY

KEY_PREFIX = "absensi:session:"

# One round trip per request: the session (sliding its expiry) and, for a logged-in
# session, what proves its user without the database (webapp.accounts.principal), and the
# versions of the node caches (branches, holidays).
_LOAD = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {false, false, false, false} end
redis.call('EXPIRE', KEYS[1], ARGV[1])
local record = false
local ok, data = pcall(cjson.decode, raw)
if ok and type(data) == 'table' and type(data['user_id']) == 'number' then
  record = redis.call('GET', ARGV[2] .. string.format('%d', data['user_id']))
end
return {raw, record, redis.call('GET', ARGV[3]), redis.call('GET', ARGV[4])}
"""


@implementer(ISession)
class RedisSession(dict):
    def __init__(self, request, *, redis, session_id, data, idle_timeout, lifetime):
        super().__init__(data or {})
        self.request = request
        self.redis = redis
        self.session_id = session_id
        self.new = session_id is None
        self.created = self.get("_created", time.time())
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self._dirty = False
        self._deleted_ids = []
        #: what Redis held beside the session when it was loaded (see load_session)
        self.principal_record = None
        self.branches_version = self.holidays_version = None

    # -- ISession --------------------------------------------------------------
    def changed(self):
        self._dirty = True

    def invalidate(self):
        if self.session_id:
            self._deleted_ids.append(self.session_id)
        self.session_id = None
        self.new = True
        self.created = time.time()  # a rotated session starts its lifetime afresh
        self.clear()
        self._dirty = True

    def flash(self, msg, queue="", allow_duplicate=True):
        messages = self.setdefault("_f_" + queue, [])
        if allow_duplicate or msg not in messages:
            messages.append(msg)
            self.changed()

    def pop_flash(self, queue=""):
        messages = self.pop("_f_" + queue, [])
        self.changed()
        return messages

    def peek_flash(self, queue=""):
        return self.get("_f_" + queue, [])

    def new_csrf_token(self):
        token = secrets.token_urlsafe(32)
        self["_csrft_"] = token
        return token

    def get_csrf_token(self):
        return self.get("_csrft_") or self.new_csrf_token()

    # -- dict mutations mark the session dirty ---------------------------------
    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self._dirty = True

    def __delitem__(self, key):
        super().__delitem__(key)
        self._dirty = True

    def pop(self, *args):
        self._dirty = True
        return super().pop(*args)

    def setdefault(self, key, default=None):
        if key not in self:
            self._dirty = True
        return super().setdefault(key, default)

    def update(self, *args, **kw):
        self._dirty = True
        super().update(*args, **kw)

    def clear(self):
        self._dirty = True
        super().clear()

    # -- persistence ------------------------------------------------------------
    def persist(self, response, settings):
        if self._deleted_ids:
            self.redis.delete(*(KEY_PREFIX + sid for sid in self._deleted_ids))
        if not self._dirty:
            return
        cookie = settings["session.cookie_name"]
        if not self and not self.session_id:
            response.delete_cookie(cookie, path="/")
            return
        if self.session_id is None:
            self.session_id = secrets.token_urlsafe(32)
        self["_created"] = self.created
        self.redis.set(KEY_PREFIX + self.session_id, json.dumps(dict(self)),
                       ex=expiry(self.created, self.idle_timeout, self.lifetime))
        response.set_cookie(
            cookie,
            self.session_id,
            path="/",
            httponly=True,
            secure=settings["session.cookie_secure"] in (True, "true", "1", "yes", "on"),
            samesite="Lax",
        )


def expiry(created, idle_timeout, lifetime):
    """Seconds a session may live from now: idle timeout, but never past its lifetime."""
    return max(1, min(idle_timeout, int(created + lifetime - time.time())))


def load_session(request):
    """Pyramid session factory: ``config.set_session_factory(load_session)``."""
    settings = request.registry.settings
    redis = request.registry["redis"]
    idle_timeout = int(settings["session.idle_timeout_seconds"])
    lifetime = int(settings["session.lifetime_seconds"])
    session_id = request.cookies.get(settings["session.cookie_name"])
    data = record = branches_version = holidays_version = None
    if session_id and len(session_id) < 100:
        key = KEY_PREFIX + session_id
        # sliding expiry (capped below)
        raw, record, branches_version, holidays_version = redis.register_script(_LOAD)(
            keys=[key],
            args=[idle_timeout, RECORD_PREFIX, BRANCHES_VERSION_KEY, HOLIDAYS_VERSION_KEY])
        data = json.loads(raw) if raw else None
        created = data.get("_created", 0) if isinstance(data, dict) else 0
        if data is not None and time.time() - created >= lifetime:
            redis.delete(key)  # past its absolute lifetime: log in again
            data = None
        elif data is not None and created + lifetime - time.time() < idle_timeout:
            redis.expire(key, expiry(created, idle_timeout, lifetime), lt=True)
    session = RedisSession(
        request, redis=redis, session_id=session_id if data is not None else None,
        data=data, idle_timeout=idle_timeout, lifetime=lifetime,
    )
    if data is not None:
        session.principal_record, session.branches_version = record, branches_version
        session.holidays_version = holidays_version
    request.add_response_callback(lambda req, resp: session.persist(resp, settings))
    return session


def has_live_session(request):
    """True when the request's cookie names a session that exists (used by the CSRF rule)."""
    settings = request.registry.settings
    session_id = request.cookies.get(settings["session.cookie_name"])
    return bool(session_id) and not request.session.new


def includeme(config):
    config.set_session_factory(load_session)

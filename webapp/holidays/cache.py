"""Every holiday, cached per web node, for the check-in's shift lookup: a check-in read the
holidays of the days around it in a SELECT of its own, though they change a few times a
year. Invalidated as the branch cache is (webapp.branches.cache): a committed holiday
change bumps a version in Redis (an after-commit callback); each node reloads when the
version it reads along with the session has moved, or after a minute whatever it reads."""
import threading
import time

from sqlalchemy import select

from webapp.holidays.models import Holiday
from webapp.holidays.services import days_between

#: bumped after every committed holiday change: nodes then reload their holiday cache
HOLIDAYS_VERSION_KEY = "absensi:holidays:version"
#: a node's holiday cache is reloaded at least this often, whatever Redis says (a change
#: whose bump was lost, e.g. Redis down at that moment, shows within this)
HOLIDAY_CACHE_MAX_AGE_SECONDS = 60


class HolidayCache:
    """``{date: (scope, ...)}`` of every holiday, read once per node and shared by its
    request threads, reloaded when the holidays' version in Redis moved or after
    :data:`HOLIDAY_CACHE_MAX_AGE_SECONDS`."""

    def __init__(self, engine):
        self.engine = engine
        self._scopes, self._version, self._loaded_at = {}, None, 0.0
        self._lock = threading.Lock()

    def _stale(self, version):
        return version != self._version or \
            time.monotonic() - self._loaded_at > HOLIDAY_CACHE_MAX_AGE_SECONDS

    def by_scope(self, start, end, version):
        """``{scope: {dates}}`` for [start, end], as :func:`holidays_by_scope` reads it."""
        if self._stale(version):
            with self._lock:  # one reload, not one per request thread
                if self._stale(version):
                    self._reload(version)
        scopes, result = self._scopes, {}
        for day in days_between(start, end):
            for scope in scopes.get(day, ()):
                result.setdefault(scope, set()).add(day)
        return result

    def _reload(self, version):
        scopes = {}
        with self.engine.connect() as connection:
            for day, scope in connection.execute(select(Holiday.date, Holiday.scope)):
                scopes.setdefault(day, []).append(scope)
        # swapped in whole: concurrent readers see the old dict or the new one
        self._scopes, self._version, self._loaded_at = scopes, version, time.monotonic()


def bump_holidays_version(redis):
    """After a committed holiday change (an after-commit callback)."""
    redis.incr(HOLIDAYS_VERSION_KEY)


def node_holidays(request):
    """The check-in's holidays source (``(start, end) -> {scope: {dates}}``) from the node's
    cache, at the version read with the request's session (one GET of Redis without one:
    a kiosk's PIN punch)."""
    session = request.session
    version = session.holidays_version if not session.new else \
        request.redis.get(HOLIDAYS_VERSION_KEY)
    cache = request.registry["holiday_cache"]
    return lambda start, end: cache.by_scope(start, end, version)


def includeme(config):
    config.registry["holiday_cache"] = HolidayCache(config.registry["db_read_engine"])

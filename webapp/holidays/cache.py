"""Every holiday, cached per web node (webapp.node_cache), for the check-in's shift lookup:
a check-in read the holidays of the days around it in a SELECT of its own, though they
change a few times a year."""
from sqlalchemy import select

from webapp.holidays.models import Holiday
from webapp.holidays.services import days_between
from webapp.node_cache import VersionedNodeCache

#: bumped after every committed holiday change: nodes then reload their holiday cache
HOLIDAYS_VERSION_KEY = "absensi:holidays:version"


class HolidayCache(VersionedNodeCache):
    """``{date: [scope, ...]}`` of every holiday."""

    def load(self):
        scopes = {}
        with self.engine.connect() as connection:
            for day, scope in connection.execute(select(Holiday.date, Holiday.scope)):
                scopes.setdefault(day, []).append(scope)
        return scopes

    def by_scope(self, start, end, version):
        """``{scope: {dates}}`` for [start, end], as :func:`holidays_by_scope` reads it."""
        scopes, result = self.current(version), {}
        for day in days_between(start, end):
            for scope in scopes.get(day, ()):
                result.setdefault(scope, set()).add(day)
        return result


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

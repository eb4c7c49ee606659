"""Every branch, cached per web node: branches change rarely and every request needs its
user's. A committed branch change bumps a version in Redis (an after-commit callback);
each node reloads when the version it reads along with the session has moved."""
import threading
import time

from sqlalchemy import select
from sqlalchemy.orm import Session

from webapp.branches.models import Branch

#: bumped after every committed branch change: nodes then reload their branch cache
BRANCHES_VERSION_KEY = "absensi:branches:version"
#: a node's branch cache is reloaded at least this often, whatever Redis says
BRANCH_CACHE_MAX_AGE_SECONDS = 60


class BranchCache:
    """Every branch, read once per node and shared by its request threads (read-only
    detached rows), reloaded when the branches' version in Redis moved or after
    :data:`BRANCH_CACHE_MAX_AGE_SECONDS`."""

    def __init__(self, engine):
        self.engine = engine
        self._branches, self._version, self._loaded_at = {}, None, 0.0
        self._lock = threading.Lock()

    def _stale(self, version):
        return version != self._version or \
            time.monotonic() - self._loaded_at > BRANCH_CACHE_MAX_AGE_SECONDS

    def _current(self, version):
        if self._stale(version):
            with self._lock:  # one reload, not one per request thread
                if self._stale(version):
                    self._reload(version)
        return self._branches

    def get(self, branch_id, version):
        return self._current(version).get(branch_id)

    def all(self, version):
        """Every branch, by id."""
        return sorted(self._current(version).values(), key=lambda b: b.id)

    def _reload(self, version):
        with Session(self.engine, expire_on_commit=False) as session:
            branches = {b.id: b for b in session.scalars(select(Branch))}
            session.expunge_all()
        # swapped in whole: concurrent readers see the old dict or the new one
        self._branches, self._version, self._loaded_at = branches, version, time.monotonic()


def bump_branches_version(redis):
    """After a committed branch change (an after-commit callback)."""
    redis.incr(BRANCHES_VERSION_KEY)

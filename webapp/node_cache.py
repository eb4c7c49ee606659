"""A web node's copy of rows that rarely change (branches, holidays), shared by its request
threads: every request would otherwise read them again. A committed change bumps a version
in Redis (an after-commit callback) that each request reads along with its session; the
node reloads when that version moved, or after a minute whatever it says (a change whose
bump was lost, e.g. Redis down at that moment, shows within that)."""
import threading
import time

#: a node's copy is reloaded at least this often, whatever Redis says
MAX_AGE_SECONDS = 60


class VersionedNodeCache:
    """What :meth:`load` returns, reloaded when asked for another *version* than the one
    loaded, or after :data:`MAX_AGE_SECONDS`; one reload at a time, never one per thread."""

    def __init__(self, engine):
        self.engine = engine
        self._value, self._version, self._loaded_at = None, None, 0.0
        self._lock = threading.Lock()

    def load(self):
        raise NotImplementedError

    def _stale(self, version):
        return self._value is None or version != self._version or \
            time.monotonic() - self._loaded_at > MAX_AGE_SECONDS

    def current(self, version):
        if self._stale(version):
            with self._lock:
                if self._stale(version):
                    value = self.load()
                    # swapped in whole: concurrent readers see the old value or the new one
                    self._value, self._version, self._loaded_at = \
                        value, version, time.monotonic()
        return self._value

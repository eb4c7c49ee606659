"""One today board per data generation.

``GET /api/attendances/today`` is the same answer for every admin until the next commit
that touches attendances or leave, and at 08:00 a hundred dashboards ask for it at once:
each web process computes it once per *stamp* and serves the rest from memory.

The stamp is read from Redis (one ``MGET``) before the board is computed, so a stored
answer is at least as new as its stamp:

- the commit generation (:data:`webapp.events.handoff.COMMITTED_KEY`), bumped by the
  after-commit hand-off of every commit that wrote an outbox event, in the script call
  it makes anyway: a commit answered to its client is never followed by an older board;
- the branches' live summary versions (:func:`webapp.attendance.summaries.stamp`), which
  the answer carries.

Changes that write no outbox event (a user created or deactivated, a branch's rules)
reach the board within :data:`TTL_SECONDS`, as the live summaries see them within their
30-second refresh. Without Redis nothing is cached. Each app (registry) has its own cache.
"""
import threading
import time
from collections import OrderedDict

#: how long an answer may serve changes that bump no generation
TTL_SECONDS = 5.0
#: (branch set, dates, page, per page) combinations kept per process
MAX_ENTRIES = 64


class TodayCache:
    def __init__(self, *, ttl_seconds=TTL_SECONDS, max_entries=MAX_ENTRIES,
                 clock=time.monotonic):
        self._entries = OrderedDict()
        self._lock = threading.Lock()
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock

    def get(self, key, stamp):
        """The answer stored for *key* under this very *stamp*, or None."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_stamp, expires_at, answer = entry
            if stored_stamp != stamp or self._clock() >= expires_at:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return answer

    def put(self, key, stamp, answer):
        with self._lock:
            self._entries[key] = (stamp, self._clock() + self._ttl, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)


def includeme(config):
    config.registry["today_cache"] = TodayCache()

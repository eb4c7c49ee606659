"""Keep Python's cyclic garbage collector off the path of a connection storm.

With 10,000 sockets a gateway holds about a million objects the collector tracks (Tornado's
handler, connection, stream and coroutines of each socket). CPython runs a full collection
whenever the objects that survived younger collections grew by a quarter, and a full
collection walks all of them: measured 1.3-4.5 s with the event loop stopped, several
times while 10,000 sockets connect (sockets then missed the 5 s auth deadline) and at
times during a fan-out (the last socket waited for it).

So, every :data:`CHECK_SECONDS`: once :data:`FREEZE_AFTER` more sockets are open than at
the last freeze, everything alive is moved out of the collector's sight (``gc.freeze()``);
later collections walk only what is newer. Frozen objects are never collected, and a
closed socket leaves cycles behind (~40 objects), so once half as many sockets closed as
were frozen, everything is thawed and collected once (one pause, bounded by the churn,
not by the growth) and frozen again.
"""
import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

CHECK_SECONDS = 5.0
#: new sockets since the last freeze that make the next one worth it
FREEZE_AFTER = 1000
#: closed sockets, as a share of those frozen, that make a full collection worth it
COLLECT_AFTER_SHARE = 0.5


class CollectorPolicy:
    """Freeze on growth, thaw and collect on churn (see the module's docstring)."""

    def __init__(self, hub, *, collector=gc, freeze_after=FREEZE_AFTER,
                 collect_after_share=COLLECT_AFTER_SHARE):
        self.hub = hub
        self.gc = collector
        self.freeze_after = freeze_after
        self.collect_after_share = collect_after_share
        self.frozen_sockets = 0
        self._closed_at_freeze = 0

    def step(self):
        """One check: freeze, thaw-and-collect, or nothing. Returns what it did."""
        open_now = len(self.hub.clients)
        closed = self.hub.detached - self._closed_at_freeze
        if self.frozen_sockets and closed >= max(
                self.freeze_after, self.collect_after_share * self.frozen_sockets):
            began = time.perf_counter()
            self.gc.unfreeze()
            collected = self.gc.collect()
            self._freeze(open_now)
            log.info("full garbage collection after %d sockets closed: %d objects in %.0f ms",
                     closed, collected, (time.perf_counter() - began) * 1000)
            return "collected"
        if open_now - self.frozen_sockets >= self.freeze_after:
            self._freeze(open_now)
            return "frozen"
        return None

    def _freeze(self, open_now):
        self.gc.freeze()
        self.frozen_sockets = open_now
        self._closed_at_freeze = self.hub.detached

    async def run(self):
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            self.step()

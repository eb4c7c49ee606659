"""The after-publish subscribers (:mod:`webapp.events.subscribers`), off the publisher's path.

The one subscriber today, the dashboards' summaries
(:func:`webapp.attendance.summaries.refresh_after_events`), recomputes each touched
branch's summary of today from the database: measured, as much time as publishing the
batch itself (5,000 events: 1.2 s to publish, 1.3 s more for the summaries). The
publisher therefore hands each marked batch to one background thread per worker process,
which merges the batches handed in while it was busy (or within MIN_INTERVAL_SECONDS of
its last start) into its next call: in a burst the subscribers follow a few times per
second instead of once per batch, and the publisher never waits for them. Exactness
stays the subscribers' own (the summaries: a refresh that starts after the last commit
always happens and carries the highest version); a refresh lost with a stopping process
is caught up by the scheduler's periodic refresh.
"""
import logging
import os
import threading
import time

from webapp.events import subscribers

log = logging.getLogger(__name__)

#: refreshes start at most this often in a burst (a lone event's starts at once): a
#: refresh costs ~40 ms of worker time for four branches, measured, and took 22 % of the
#: worker's samples draining a 10,000-event backlog when it followed every batch
MIN_INTERVAL_SECONDS = 0.25


def notify_now(session_factory, redis, events, *, retention_seconds):
    """Run the subscribers in this thread (tests, tools); never raises."""
    subscribers.notify(session_factory, redis, events, retention_seconds=retention_seconds)


class BackgroundRefresher:
    """``submit(events)``: hand *events* to the subscribers soon, in one thread."""

    def __init__(self, session_factory, redis, *, retention_seconds, refresh=notify_now,
                 min_interval=MIN_INTERVAL_SECONDS):
        self.session_factory = session_factory
        self.redis = redis
        self.retention_seconds = retention_seconds
        self.refresh = refresh
        self.min_interval = min_interval
        self._pending = []
        self._cond = threading.Condition()
        self._thread = None
        self._pid = None

    def submit(self, events):
        with self._cond:
            self._pending.extend(events)
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                # (re)started lazily: a forked worker process gets a thread of its own
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="after-publish",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self):
        while True:
            with self._cond:
                while not self._pending:
                    self._cond.wait()
                events, self._pending = self._pending, []
            started = time.monotonic()
            self.refresh(self.session_factory, self.redis, events,
                         retention_seconds=self.retention_seconds)
            # what arrives meanwhile waits for the next one, merged
            time.sleep(max(0.0, self.min_interval - (time.monotonic() - started)))

    def wait_idle(self, timeout):
        """Until everything submitted has been handed to a refresh (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._cond:
                if not self._pending:
                    return True
            time.sleep(0.01)
        return False

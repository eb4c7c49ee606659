"""``absensi scheduler``: the periodic jobs, run by APScheduler.

Jobs: the outbox relay sweep (every ``outbox.sweep_interval_seconds``), the ``servers``
channel monitor (every 2 s), the auto-close of attendances left open 4 hours after their
shift's end (every 15 minutes, and once at start to catch up), the purges of old
idempotency keys, of kiosk code uses and of outbox rows published longer ago than
``realtime.history_retention_seconds``, and the refresh of the live today summaries (every
30 s, :mod:`webapp.attendance.summaries`). Several schedulers may run: each job run
first takes a short Redis lock (:mod:`tasks.locks`), so only one of them does the work.
"""
import datetime as dt
import logging
import signal
import threading
import time

from apscheduler.schedulers.background import BackgroundScheduler

from tasks import dlq, locks
from tasks.broker import make_broker, make_redis_client
from tasks.end_of_day import close_open_attendances
from tasks.outbox import (
    QUEUE, enqueuer, purge_published, redis_claim, stranded_drain, sweep_unpublished,
)
from tasks.servers import announce_node_changes
from webapp.clock import utcnow
from webapp.idempotency.services import purge_older_than
from webapp.kiosks.services import purge_code_uses
from webapp.attendance import summaries
from webapp.servers.heartbeats import HeartbeatThread

log = logging.getLogger(__name__)

SERVERS_MONITOR_SECONDS = 2
#: shifts end at any hour (a night shift at 06:00): an attendance still open 4 hours after its
#: shift's end is closed within this long of that moment, not at the next local midnight
AUTO_CLOSE_SECONDS = 900
END_OF_DAY_LOCK_MS = 60_000
IDEMPOTENCY_PURGE_SECONDS = 3600
IDEMPOTENCY_KEY_DAYS = 7
#: kiosk code uses are kept a day: a code is accepted at most 12 h 2 min after its slot
KIOSK_CODE_USE_HOURS = 24
OUTBOX_PURGE_SECONDS = 900
#: how stale a dashboard's counts may get from changes that publish no event
SUMMARY_REFRESH_SECONDS = 30
#: a job failing again with the same error within this long logs one line, not a traceback
REPEATED_ERROR_QUIET_SECONDS = 300


class SchedulerJobs:
    """The job functions and what they need; tests call the jobs directly."""

    def __init__(self, settings, *, session_factory=None, redis=None, enqueue=None,
                 broker=None):
        if session_factory is None:
            from webapp.db import make_engine, make_session_factory

            session_factory = make_session_factory(make_engine(settings))
        self.settings = settings
        self.node_id = settings["scheduler.node_id"]
        self.session_factory = session_factory
        self.redis = redis if redis is not None else make_redis_client(
            settings, decode_responses=True)
        self.broker = broker or make_broker(settings)
        self.enqueue = enqueue or enqueuer(self.broker)
        self.sweep_interval = float(settings["outbox.sweep_interval_seconds"])
        self.retention = int(settings["realtime.history_retention_seconds"])

    def relay_sweep(self):
        """Re-enqueue outbox events still unpublished after ``outbox.sweep_min_age_seconds``;
        also restart a drain a killed publisher left behind, and drop dead letters whose
        events went out since. Returns the ids re-enqueued."""
        return locks.exclusive(
            self.redis, "relay_sweep", self.sweep_interval * 800, self._relay_sweep)

    def _relay_sweep(self):
        enqueued = sweep_unpublished(
            self.session_factory, self.enqueue,
            min_age_seconds=float(self.settings["outbox.sweep_min_age_seconds"]),
            claim=redis_claim(self.redis),
        )
        # One round trip when all is well (no SCAN): a drain request nobody holds the lock
        # for, and the publisher's dead-letter count.
        stranded, dead = stranded_drain(self.redis, dead_letter_queue=f"{QUEUE}.XQ")
        if stranded and not enqueued:
            self.enqueue(0)  # a message without an event of its own: a plain drain
        if dead:
            removed = dlq.discard_published(self.broker, self.session_factory)
            if removed:
                log.info("removed %d dead-lettered publisher message(s) whose events were "
                         "published since", len(removed))
        return enqueued

    def servers_monitor(self):
        """Announce ``node.up`` / ``node.down`` on the ``servers`` channel."""
        return locks.exclusive(
            self.redis, "servers_monitor", SERVERS_MONITOR_SECONDS * 750, announce_node_changes,
            self.redis, node_id=self.node_id, retention_seconds=self.retention,
        )

    def end_of_day(self, branch_codes=None, now=None):
        """Auto-close attendances left open past their shift's end + 4 h (all branches by
        default)."""
        name = "end_of_day:" + (",".join(branch_codes) if branch_codes else "all")
        return locks.exclusive(
            self.redis, name, END_OF_DAY_LOCK_MS, close_open_attendances,
            self.session_factory, self.enqueue, node_id=self.node_id,
            branch_codes=branch_codes, now=now,
        )

    def purge_idempotency_keys(self, now=None):
        """Forget ``Idempotency-Key`` responses older than a week (replays come in seconds)."""
        cutoff = (now or utcnow()) - dt.timedelta(days=IDEMPOTENCY_KEY_DAYS)

        def purge():
            with self.session_factory.begin() as session:
                return purge_older_than(session, cutoff.replace(tzinfo=None))

        return locks.exclusive(self.redis, "purge_idempotency_keys", 60_000, purge)

    def purge_kiosk_code_uses(self, now=None):
        """Forget kiosk code uses a day old (no code is accepted that late)."""
        cutoff = (now or utcnow()) - dt.timedelta(hours=KIOSK_CODE_USE_HOURS)

        def purge():
            with self.session_factory.begin() as session:
                return purge_code_uses(session, cutoff.replace(tzinfo=None))

        return locks.exclusive(self.redis, "purge_kiosk_code_uses", 60_000, purge)

    def purge_outbox(self, now=None):
        """Delete outbox rows published longer ago than Redis keeps their history."""
        return locks.exclusive(
            self.redis, "purge_outbox", 600_000, purge_published, self.session_factory,
            older_than_seconds=self.retention, now=now)

    def refresh_summaries(self, now=None):
        """Publish today's branch summaries that differ from the last ones pushed (user
        created or deactivated: no event; a summary holder that died)."""
        return locks.exclusive(
            self.redis, "refresh_summaries", SUMMARY_REFRESH_SECONDS * 750,
            summaries.refresh_stale, self.session_factory, self.redis,
            retention_seconds=self.retention, node_id=self.node_id, now=now)


def _logged(name, job, clock=time.monotonic):
    # Every failure is logged with its traceback, except that a job failing every few
    # seconds with the same error (Redis or the database down) repeats it once every
    # REPEATED_ERROR_QUIET_SECONDS and says "failing again" in one line in between.
    # APScheduler never sees the exception; the next run simply tries again.
    last = {"error": None, "traceback_at": None, "repeats": 0}

    def run(*args, **kwargs):
        try:
            result = job(*args, **kwargs)
        except Exception as error:  # noqa: BLE001
            summary = f"{type(error).__name__}: {error}"
            now = clock()
            if (summary == last["error"] and last["traceback_at"] is not None
                    and now - last["traceback_at"] < REPEATED_ERROR_QUIET_SECONDS):
                last["repeats"] += 1
                log.warning("%s failing again (%d times since its traceback): %s", name,
                            last["repeats"], summary)
            else:
                log.error("%s failed: %s", name, summary, exc_info=True)
                last.update(error=summary, traceback_at=now, repeats=0)
            return None
        if last["error"] is not None:
            log.info("%s works again", name)
            last.update(error=None, traceback_at=None, repeats=0)
        return result

    run.__name__ = name
    return run


def build_scheduler(jobs):
    """A BackgroundScheduler with every job; not started."""
    scheduler = BackgroundScheduler(
        timezone="UTC",
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
        executors={"default": {"type": "threadpool", "max_workers": 4}},
    )
    scheduler.add_job(_logged("relay_sweep", jobs.relay_sweep), "interval",
                      seconds=jobs.sweep_interval, id="relay_sweep")
    scheduler.add_job(_logged("servers_monitor", jobs.servers_monitor), "interval",
                      seconds=SERVERS_MONITOR_SECONDS, id="servers_monitor")
    scheduler.add_job(_logged("purge_idempotency_keys", jobs.purge_idempotency_keys), "interval",
                      seconds=IDEMPOTENCY_PURGE_SECONDS, id="purge_idempotency_keys")
    scheduler.add_job(_logged("purge_kiosk_code_uses", jobs.purge_kiosk_code_uses), "interval",
                      seconds=IDEMPOTENCY_PURGE_SECONDS, id="purge_kiosk_code_uses")
    scheduler.add_job(_logged("purge_outbox", jobs.purge_outbox), "interval",
                      seconds=OUTBOX_PURGE_SECONDS, id="purge_outbox")
    scheduler.add_job(_logged("refresh_summaries", jobs.refresh_summaries), "interval",
                      seconds=SUMMARY_REFRESH_SECONDS, id="refresh_summaries")
    # At start (catch up on what closed while no scheduler ran), then every 15 minutes.
    auto_close = _logged("end_of_day", jobs.end_of_day)
    scheduler.add_job(auto_close, id="end_of_day:catch_up")
    scheduler.add_job(auto_close, "interval", seconds=AUTO_CLOSE_SECONDS, id="end_of_day")
    return scheduler


def run(settings, *, stop=None, jobs=None):
    """Run the scheduler until SIGTERM/SIGINT (or until *stop* is set); return 0."""
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
    jobs = jobs or SchedulerJobs(settings)
    heartbeat = HeartbeatThread(
        jobs.redis, node_id=jobs.node_id, role="scheduler",
        interval=int(settings["heartbeat.interval_seconds"]),
        ttl=int(settings["heartbeat.ttl_seconds"]),
    )
    scheduler = build_scheduler(jobs)
    heartbeat.start()
    scheduler.start()
    log.info("scheduler %s running", jobs.node_id)
    try:
        while not stop.wait(1):
            pass
    finally:
        log.info("scheduler %s stopping", jobs.node_id)
        # Jobs are short and every Redis call times out within 2 s, so waiting is bounded.
        scheduler.shutdown(wait=True)
        heartbeat.stop()
    return 0

"""The Dramatiq broker: one factory for the worker, the scheduler and the CLI.

Worker processes build it through :func:`setup` (``dramatiq tasks.broker:setup tasks.actors``,
which ``absensi worker`` wraps), so the global broker is set before ``tasks.actors`` declares
its actors. Nothing happens at import time. Web nodes never build it: they only enqueue,
through :mod:`webapp.events.handoff`.
"""
import os

import dramatiq
from dramatiq.middleware import (
    AgeLimit, Callbacks, Pipelines, Retries, ShutdownNotifications, TimeLimit,
)

from tasks.doorbell import IDLE_WAIT_SECONDS, DoorbellRedisBroker
from tasks.middleware.dead_letters import DeadLetterLog
from tasks.middleware.doorbell import WakeConsumersAtShutdown
from tasks.middleware.heartbeat import WorkerHeartbeat
from tasks.middleware.resources import AppResources
from webapp import multiproc
from webapp.redis import make_redis_client

#: Defaults for every actor; each actor repeats the ones that matter on its decorator.
MAX_RETRIES = 3
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 30_000
TIME_LIMIT_MS = 60_000
MAX_AGE_MS = 3_600_000


def make_middleware(settings):
    """Dramatiq's defaults with our limits, plus our own middleware (one per file)."""
    return [
        AgeLimit(max_age=MAX_AGE_MS),
        TimeLimit(time_limit=TIME_LIMIT_MS),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=MAX_RETRIES, min_backoff=MIN_BACKOFF_MS, max_backoff=MAX_BACKOFF_MS),
        AppResources(settings),
        WorkerHeartbeat(settings),
        DeadLetterLog(),
        WakeConsumersAtShutdown(),
    ]


def make_broker(settings):
    """A RedisBroker on ``redis.url`` with every middleware whose idle consumers block on a
    doorbell instead of polling (:mod:`tasks.doorbell`); does not touch the global broker.

    The blocking waits get their own connections, with a socket timeout longer than the
    wait; the short timeouts above stay on every other command."""
    return DoorbellRedisBroker(
        client=make_redis_client(settings), middleware=make_middleware(settings),
        bell_client=make_redis_client(settings, socket_timeout=IDLE_WAIT_SECONDS + 5))


def setup(settings=None):
    """Build the broker (settings from :func:`webapp.settings.load_settings` by default) and
    make it Dramatiq's global broker. The ``dramatiq`` CLI calls it as ``tasks.broker:setup``."""
    if settings is None:
        from webapp.settings import load_settings

        settings = load_settings()
    broker = make_broker(settings)
    if os.environ.get(multiproc.VARIABLE) and int(settings["worker.metrics_port"]):
        # exported by `absensi worker` before this process was forked (tasks/cli.py)
        from tasks.middleware.metrics import WorkerMetrics

        broker.add_middleware(WorkerMetrics())
    dramatiq.set_broker(broker)
    return broker

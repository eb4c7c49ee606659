"""The scheduler's live-summaries refresh (tasks/scheduler.py ``refresh_summaries``)."""
import datetime as dt

import pytest

from tasks.scheduler import SUMMARY_REFRESH_SECONDS, SchedulerJobs, build_scheduler
from tests.factories import Factory
from realtime import channels, streams
from webapp.settings import apply_environment

NOW = dt.datetime(2026, 11, 10, 2, 0, tzinfo=dt.timezone.utc)


@pytest.fixture()
def jobs(db_url, redis_server, session_factory, redis_client):
    settings = apply_environment({
        "database.url": db_url, "redis.url": redis_server.url,
        "scheduler.node_id": "scheduler-9", "outbox.sweep_interval_seconds": "0.3",
    }, environ={})
    return SchedulerJobs(settings, session_factory=session_factory, redis=redis_client,
                         enqueue=lambda *a: None)


def test_refresh_summaries_publishes_changed_branches_on_one_scheduler(
        jobs, redis_client, session_factory):
    assert jobs.refresh_summaries(now=NOW) == ["JKT", "BDG", "SBY", "DPS"]
    # another scheduler (or this one) within the interval: the lock makes it skip
    assert jobs.refresh_summaries(now=NOW) is None
    redis_client.delete("absensi:lock:refresh_summaries")
    Factory(session_factory).user(branch="DPS")
    assert jobs.refresh_summaries(now=NOW) == ["DPS"]
    _, entries = streams.read_since(redis_client, channels.SUMMARIES, "0-0")
    assert len(entries) == 5 and all('"node_id":"scheduler-9"' in e.frame for e in entries)


def test_refresh_summaries_is_scheduled_every_30_seconds(jobs):
    job = build_scheduler(jobs).get_job("refresh_summaries")
    assert job is not None and SUMMARY_REFRESH_SECONDS == 30
    assert job.trigger.interval == dt.timedelta(seconds=30)

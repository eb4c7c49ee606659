"""Published outbox rows are purged after the history retention; the status never counts
the published rows (tasks/outbox.py, the scheduler's purge_outbox job)."""
import datetime as dt

from sqlalchemy import event, select, update

from tasks import outbox
from tasks.scheduler import SchedulerJobs, build_scheduler
from tests.tasks_helpers import add_outbox_event
from webapp.events.models import OutboxEvent
from webapp.settings import apply_environment

NOW = dt.datetime(2026, 11, 22, 12, 0, 0)
RETENTION = 48 * 3600


def published(session_factory, event_id, at):
    with session_factory.begin() as session:
        session.execute(update(OutboxEvent).where(OutboxEvent.id == event_id)
                        .values(published_at=at))


def ids(session_factory):
    with session_factory() as session:
        return session.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)).all()


def test_rows_published_before_the_retention_go_the_rest_stays(session_factory):
    # Given rows published 3 days ago, 1 day ago, one never published (3 days old) and
    # the newest row, also published 3 days ago
    old = [add_outbox_event(session_factory, created_at=NOW - dt.timedelta(days=3))
           for _ in range(5)]
    for event_id in old:
        published(session_factory, event_id, NOW - dt.timedelta(days=3))
    recent = add_outbox_event(session_factory, created_at=NOW - dt.timedelta(days=1))
    published(session_factory, recent, NOW - dt.timedelta(days=1))
    stuck = add_outbox_event(session_factory, created_at=NOW - dt.timedelta(days=3))
    newest = add_outbox_event(session_factory, created_at=NOW - dt.timedelta(days=3))
    published(session_factory, newest, NOW - dt.timedelta(days=3))

    # When the purge runs in batches of two
    purged = outbox.purge_published(session_factory, older_than_seconds=RETENTION, now=NOW,
                                    batch_size=2)

    # Then the old published rows are gone in three batches; the recent, the unpublished
    # and the newest row (whose id SQLite would otherwise hand out again) stay
    assert purged == 5
    assert ids(session_factory) == [recent, stuck, newest]
    # and a new event gets a fresh id, not a reused one
    assert add_outbox_event(session_factory) > newest


def test_the_purge_stops_after_max_batches_and_the_next_run_goes_on(session_factory):
    for _ in range(6):
        event_id = add_outbox_event(session_factory, created_at=NOW - dt.timedelta(days=5))
        published(session_factory, event_id, NOW - dt.timedelta(days=5))
    add_outbox_event(session_factory)  # the newest row, unpublished

    assert outbox.purge_published(session_factory, older_than_seconds=RETENTION, now=NOW,
                                  batch_size=2, max_batches=2) == 4
    assert outbox.purge_published(session_factory, older_than_seconds=RETENTION, now=NOW,
                                  batch_size=2, max_batches=2) == 2
    assert len(ids(session_factory)) == 1


def test_status_never_counts_the_published_rows(session_factory):
    # Given published and unpublished rows
    for _ in range(3):
        published(session_factory, add_outbox_event(session_factory), NOW)
    pending = add_outbox_event(session_factory, created_at=NOW - dt.timedelta(seconds=30))
    statements = []
    engine = session_factory.kw["bind"]

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    # When the status is read
    event.listen(engine, "before_cursor_execute", record)
    try:
        status = outbox.outbox_status(session_factory, now=NOW)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    # Then it reports the backlog, and every count it made is of unpublished rows only
    assert status == {"unpublished": 1, "oldest_unpublished_id": pending,
                      "oldest_unpublished_age_seconds": 30.0, "newest_event_id": pending}
    counts = [s for s in statements if "count(" in s.lower()]
    assert counts and all("published_at IS NULL" in s for s in counts)


def test_the_scheduler_purges_after_the_history_retention(session_factory, redis_client):
    # Given the scheduler's jobs with the default retention (48 h)
    settings = apply_environment({}, environ={})
    jobs = SchedulerJobs(settings, session_factory=session_factory, redis=redis_client,
                         enqueue=lambda event_id: None)
    gone = add_outbox_event(session_factory)
    published(session_factory, gone, NOW - dt.timedelta(hours=49))
    kept = add_outbox_event(session_factory)
    published(session_factory, kept, NOW - dt.timedelta(hours=47))
    add_outbox_event(session_factory)

    # When its purge job runs, then only the row published 49 h ago is deleted
    assert jobs.purge_outbox(now=NOW) == 1
    assert gone not in ids(session_factory) and kept in ids(session_factory)
    # and the job is on the schedule
    assert "purge_outbox" in {job.id for job in build_scheduler(jobs).get_jobs()}

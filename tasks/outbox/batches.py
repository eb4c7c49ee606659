"""Publishing a batch of outbox rows: read them, publish them, mark them.

A batch is up to :data:`BATCH_SIZE` pending rows in ``id`` order (one SELECT of plain
columns, no ORM objects); all their (event, channel) entries go out in one
:func:`realtime.streams.publish_many` script call and are marked published by one guarded
UPDATE. Publishing is idempotent per ``(channel, event_id)``, so a crash between the
script and the UPDATE only means the rows are published again (same offsets) later. A
batch in id order is also what keeps a user's events in order. A row that keeps failing
(a "poison" row) is published alone, so it never fails its whole batch again.
"""
import datetime as dt
import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import or_, select, update

from realtime import channels, streams
from webapp.clock import utcnow_naive
from webapp.events.models import OutboxEvent

log = logging.getLogger(__name__)

#: pending rows per SELECT / script call / UPDATE (~1,000 stream entries, a few ms of Redis)
BATCH_SIZE = 500
#: a row that failed this many times is published on its own, outside the batches (a
#: poison row must not fail its whole batch on every run)
SUSPECT_ATTEMPTS = 3


def channels_for(event):
    """The channels the emitting domain wrote on the row. Rows from before migration 0002
    have none; every event then was an attendance event (``attendance.*``)."""
    if event.channels:
        return list(event.channels)
    return channels.channels_for_attendance_event(event.user_id)


_COLUMNS = [OutboxEvent.__table__.c[name] for name in (
    "id", "event_type", "user_id", "node_id", "payload", "created_at", "channels", "attempts")]


def read_pending(session_factory, limit, *, include=(), skip=()):
    """Up to *limit* unpublished rows in id order, as plain rows (no ORM objects): those
    not yet suspect, plus the *include* ids even if they are; never the *skip* ids."""
    t = OutboxEvent.__table__
    wanted = t.c.attempts < SUSPECT_ATTEMPTS
    if include:
        wanted = or_(wanted, t.c.id.in_(sorted(include)))
    query = select(*_COLUMNS).where(t.c.published_at.is_(None), wanted)
    if skip:
        query = query.where(t.c.id.not_in(sorted(skip)))
    with session_factory() as session:
        return session.execute(query.order_by(t.c.id).limit(limit)).all()


def _publications(row):
    """The row's entries; ValueError (before Redis is called) for an unknown channel."""
    unknown = [c for c in channels_for(row) if not channels.is_valid(c)]
    if unknown:
        raise ValueError(f"unknown channel(s) {unknown!r}")
    ts = row.created_at.replace(tzinfo=dt.timezone.utc).isoformat()
    return [streams.Publication(channel, row.id, row.event_type, row.node_id, ts, row.payload)
            for channel in channels_for(row)]


#: failures of Redis itself, not of a row: the run stops and the rows stay unpublished
#: (NotReplicated: the primary has them, too few replicas confirmed them in time)
_CONNECTION_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, streams.NotReplicated)
#: how long a batch waits for its replicas (``outbox.publish_replicas``) to confirm it
REPLICA_TIMEOUT_MS = 1000


def publish_rows(session_factory, redis, rows, retention_seconds, after_batch, *, replicas=0):
    """Publish *rows* (in id order), mark those published, count those failed.

    Consecutive rows go out in one script call; a suspect row (failed before) goes alone,
    and if a batch call fails for a reason other than the connection, its rows are retried
    one by one, so that one poison row fails alone. A connection failure fails every row
    not yet published and raises. Returns ``(published ids, {id: error})``.
    """
    done, failed = [], {}
    segments = _segments(rows, failed)
    try:
        for segment in segments:
            try:
                streams.publish_many(redis, [p for _, ps in segment for p in ps],
                                     retention_seconds=retention_seconds, replicas=replicas,
                                     replica_timeout_ms=REPLICA_TIMEOUT_MS)
                done += [row for row, _ in segment]
                continue
            except _CONNECTION_ERRORS:
                raise
            except Exception as error:  # noqa: BLE001 - find the row that causes it
                if len(segment) == 1:
                    failed[segment[0][0].id] = error
                    continue
                log.warning("publishing a batch of %d outbox events failed (%s: %s); "
                            "publishing them one by one", len(segment),
                            type(error).__name__, error)
            for row, publications in segment:
                try:
                    streams.publish_many(redis, publications,
                                         retention_seconds=retention_seconds,
                                         replicas=replicas,
                                         replica_timeout_ms=REPLICA_TIMEOUT_MS)
                    done.append(row)
                except _CONNECTION_ERRORS:
                    raise
                except Exception as error:  # noqa: BLE001
                    failed[row.id] = error
    except Exception as error:
        published = {row.id for row in done}
        failed.update({row.id: error for segment in segments for row, _ in segment
                       if row.id not in published and row.id not in failed})
        raise
    finally:
        _mark_published(session_factory, done, after_batch)
        count_failed_attempts(session_factory, sorted(failed))
        _log_failures(failed)
    return [row.id for row in done], failed


def _segments(rows, failed):
    """*rows* as runs of ``(row, publications)`` sharing one script call: a suspect row
    is a run of its own; a row whose entries cannot even be built goes into *failed*."""
    segments, alone = [], True
    for row in rows:
        try:
            publications = _publications(row)
        except Exception as error:  # noqa: BLE001 - a malformed row fails alone
            failed[row.id] = error
            continue
        suspect = row.attempts >= SUSPECT_ATTEMPTS
        if suspect or alone:
            segments.append([])
        segments[-1].append((row, publications))
        alone = suspect
    return segments


def _log_failures(failed):
    by_error = {}
    for event_id in sorted(failed):
        error = failed[event_id]
        by_error.setdefault(f"{type(error).__name__}: {error}", []).append(event_id)
    for error, ids in by_error.items():
        more = f" and {len(ids) - 20} more" if len(ids) > 20 else ""
        shown = ", ".join(map(str, ids[:20])) + more
        log.warning("could not publish outbox event(s) %s: %s", shown, error)


def _mark_published(session_factory, rows, after_batch):
    if not rows:
        return
    with session_factory.begin() as session:
        session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id.in_([row.id for row in rows]),
                   OutboxEvent.published_at.is_(None))
            .values(published_at=utcnow_naive(), attempts=OutboxEvent.attempts + 1)
            .execution_options(synchronize_session=False))
    try:
        after_batch(rows)  # the after-publish subscribers (e.g. the dashboards' summaries)
    except Exception:  # noqa: BLE001 - the events are out; the summaries catch up later
        log.exception("the after-batch hook failed")


def count_failed_attempts(session_factory, event_ids):
    if not event_ids:
        return
    try:
        with session_factory.begin() as session:
            session.execute(
                update(OutboxEvent).where(OutboxEvent.id.in_(list(event_ids)),
                                          OutboxEvent.published_at.is_(None))
                .values(attempts=OutboxEvent.attempts + 1)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # noqa: BLE001 - only a counter; the publish error is what matters
        log.warning("could not count a failed attempt of outbox events %s", list(event_ids),
                    exc_info=True)

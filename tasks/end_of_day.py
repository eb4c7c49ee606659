"""End of a branch's day: flag its still-open attendances (README "End of day")."""
import logging

from webapp.attendance.services import flag_open_attendances

log = logging.getLogger(__name__)


def close_open_attendances(session_factory, enqueue, *, node_id, branch_codes=None, now=None):
    """Flag attendances left open on an earlier branch-local day, commit, then enqueue
    their ``attendance.updated`` events; return the event ids. Idempotent, so the
    scheduler also runs it at start to catch up on days it was not running."""
    with session_factory() as session:
        event_ids = flag_open_attendances(session, node_id=node_id, now=now,
                                          branch_codes=branch_codes)
        session.commit()
    for event_id in event_ids:
        try:
            enqueue(event_id)
        except Exception:  # noqa: BLE001 - committed; the relay sweep publishes it
            log.warning("could not enqueue outbox event %s; the sweep will", event_id,
                        exc_info=True)
    if event_ids:
        log.info("end of day: flagged %d open attendances", len(event_ids))
    return event_ids

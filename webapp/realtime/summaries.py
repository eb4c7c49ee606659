"""Live per-branch summaries of today (issue 9): pushed on the ``summaries`` channel.

Stub: the outbox publisher calls :func:`refresh_after_events` after each published
batch; the real computation follows.
"""
import logging

log = logging.getLogger(__name__)


def refresh_after_events(session_factory, redis, events, *, retention_seconds):
    """Recompute and publish the summary of every (branch, today) *events* touched.

    Never raises: a failure is logged, the periodic refresh catches up.
    """
    return None

"""After-publish subscribers: a domain's reactions to its events once they are out.

A domain registers a function for the event types it reacts to, at import time of the
module that holds it (:func:`subscribe`); the publisher (:mod:`tasks.outbox`) hands every
published batch to :func:`notify`, which calls each subscriber once with the batch's
events of its types, in order. ``function(session_factory, redis, events, *,
retention_seconds)`` gets rows with ``.id``, ``.event_type`` and ``.payload``. A failing
subscriber is logged and never fails the publisher: its events are out already.

The worker imports the subscribing modules with its actors (``tasks.actors``).
"""
import logging

log = logging.getLogger(__name__)

_subscribers = []  # (event types, function), in registration order


def subscribe(function, *event_types):
    """Call *function* after each published batch that holds events of *event_types*."""
    if not event_types:
        raise ValueError("a subscriber names the event types it reacts to")
    entry = (frozenset(event_types), function)
    if entry not in _subscribers:
        _subscribers.append(entry)
    return function


def notify(session_factory, redis, events, *, retention_seconds):
    """Hand *events* (a published batch, or several merged) to their subscribers."""
    events = list(events)
    for event_types, function in list(_subscribers):
        mine = [event for event in events if event.event_type in event_types]
        if not mine:
            continue
        try:
            function(session_factory, redis, mine, retention_seconds=retention_seconds)
        except Exception:  # noqa: BLE001 - the events are published; the reaction waits
            log.exception("after-publish subscriber %s failed", getattr(
                function, "__qualname__", function))

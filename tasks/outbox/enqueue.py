"""``enqueue(event_id)`` for the worker side (scheduler, CLI, actors, tests).

The message is the web nodes' (:mod:`webapp.events.handoff`): on a Redis broker the same
script writes it, so every producer queues the same thing the same way; other brokers
(Dramatiq's StubBroker in unit tests) get it through ``broker.enqueue``.
"""
from dramatiq import Message

from webapp.events.handoff import Handoff, publish_message


def enqueuer(broker, *, coalesce=False):
    """``enqueue(event_id)``: send the publisher actor's message on *broker* (see
    :class:`webapp.events.handoff.Handoff` for *coalesce*)."""
    client = getattr(broker, "client", None)
    if client is not None:
        return Handoff(client, coalesce=coalesce, namespace=broker.namespace)

    def send(event_id):
        return broker.enqueue(Message(**publish_message(event_id)))

    return send

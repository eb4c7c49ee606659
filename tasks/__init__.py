"""Background work: the Dramatiq broker and actors, the scheduler, and their CLI.

``config.include("tasks")`` gives the web node ``registry["broker"]`` and
``registry["enqueue_outbox_event"](event_id)``, which sends the publisher actor's message
unless one sent earlier has not started yet (failing within ~2 s when Redis is down; the
relay sweep then publishes the event).
"""


def includeme(config):
    from tasks.broker import make_broker
    from tasks.outbox import enqueuer

    broker = make_broker(config.get_settings())
    config.registry["broker"] = broker
    # coalescing: a commit sends no message while an earlier one waits to start
    config.registry["enqueue_outbox_event"] = enqueuer(broker, coalesce=True)

def includeme(config):
    # the enqueue side of the publisher queue first: the outbox hands committed events to it
    config.include("webapp.events.handoff")
    config.include("webapp.events.services")

def includeme(config):
    from webapp.events.services import includeme as install_publisher

    install_publisher(config)

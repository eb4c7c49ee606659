"""Absensi web node (Pyramid)."""


def main(global_config, **settings):
    """PasteDeploy entry point: ``use = egg:absensi``."""
    from webapp.config import configure

    return configure(settings).make_wsgi_app()

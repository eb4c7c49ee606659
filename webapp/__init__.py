"""Absensi web node (Pyramid)."""


def main(global_config, **settings):
    """PasteDeploy entry point: ``use = egg:absensi``."""
    from webapp.config import make_wsgi_app

    return make_wsgi_app(settings)

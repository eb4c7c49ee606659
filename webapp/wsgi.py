"""WSGI entry for gunicorn: ``gunicorn webapp.wsgi:application`` (ini from ABSENSI_CONFIG)."""
from pyramid.paster import get_app, setup_logging

from webapp.settings import default_config_path

_config = default_config_path()
setup_logging(_config)
application = get_app(_config, "main")

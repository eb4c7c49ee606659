"""WSGI entry for gunicorn: ``gunicorn webapp.wsgi:application`` (ini from ABSENSI_CONFIG)."""
from pyramid.paster import get_app

from webapp import process_logging
from webapp.settings import default_config_path, load_settings

_config = default_config_path()
process_logging.configure(load_settings(_config), "web")
application = get_app(_config, "main")

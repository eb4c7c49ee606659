"""Static files, with a cache-busting token so a deploy never serves yesterday's JS."""
import hashlib
from pathlib import Path

from pyramid.static import QueryStringConstantCacheBuster

STATIC_DIR = Path(__file__).parent / "static"


def static_token(directory=STATIC_DIR):
    """A short hash of every static file's name, size and mtime (cheap: no file is read)."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(directory)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:12]


def includeme(config):
    # nginx serves /static/ itself in the cluster; the app serves it in development/tests.
    config.add_static_view("static", "webapp:static", cache_max_age=3600)
    config.add_cache_buster("webapp:static/", QueryStringConstantCacheBuster(static_token()))

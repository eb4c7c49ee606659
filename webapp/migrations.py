"""``absensi db upgrade``: Alembic to head, under a lock so four nodes starting at once
take turns (MySQL ``GET_LOCK``; SQLite serialises through its own write lock)."""
import os
from contextlib import contextmanager
from importlib.util import find_spec

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from webapp.db import make_engine

LOCK_NAME = "absensi_migrations"


def migrations_dir():
    # a directory without __init__.py (in the repository it must not shadow the alembic
    # library for code run from the top folder), so found through its spec
    locations = find_spec("absensi_migrations").submodule_search_locations
    return next(str(path) for path in locations if os.path.isdir(path))


def alembic_config(connection=None):
    """Alembic's configuration for the packaged migrations (``alembic/`` of the repository,
    installed as ``absensi_migrations``); the URL and logging come from the app's settings."""
    config = Config()
    config.set_main_option("script_location", migrations_dir())
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


@contextmanager
def _migration_lock(connection, timeout=300):
    if connection.dialect.name != "mysql":
        yield
        return
    got = connection.execute(text("SELECT GET_LOCK(:n, :t)"), {"n": LOCK_NAME, "t": timeout}).scalar()
    if got != 1:
        raise RuntimeError("could not take the migration lock (another upgrade still running?)")
    try:
        yield
    finally:
        connection.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK_NAME})


def upgrade(settings, revision="head"):
    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            with _migration_lock(connection):
                command.upgrade(alembic_config(connection), revision)
                connection.commit()
    finally:
        engine.dispose()


def current_revision(settings):
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(settings)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()

"""``absensi db upgrade``: Alembic to head, under a lock so four nodes starting at once
take turns (MySQL ``GET_LOCK``; SQLite serialises through its own write lock)."""
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from webapp.db import make_engine
from webapp.settings import REPO_ROOT

LOCK_NAME = "absensi_migrations"


def alembic_config(connection=None):
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "alembic"))
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

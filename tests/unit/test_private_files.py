"""Data files are readable by their owner only: SQLite (with its WAL) and Redis's dir."""
import stat

from sqlalchemy import text

from tests.servers import RedisServer
from webapp.db import make_engine


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_the_sqlite_database_and_its_wal_are_private(tmp_path):
    (tmp_path / "var").mkdir()
    database = tmp_path / "var" / "absensi.sqlite"
    engine = make_engine({"database.url": f"sqlite:///{database}"})
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.execute(text("INSERT INTO t VALUES (1)"))
    wal = tmp_path / "var" / "absensi.sqlite-wal"
    assert mode(database) == 0o600
    assert wal.exists() and mode(wal) == 0o600
    engine.dispose()


def test_an_existing_world_readable_database_is_made_private(tmp_path):
    database = tmp_path / "absensi.sqlite"
    database.touch(mode=0o644)
    database.chmod(0o644)
    make_engine({"database.url": f"sqlite:///{database}"}).dispose()
    assert mode(database) == 0o600


def test_the_redis_data_directory_is_private(tmp_path):
    server = RedisServer(data_dir=tmp_path / "redis")
    assert mode(server.data_dir) == 0o700

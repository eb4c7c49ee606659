"""``absensi db backup`` / ``absensi db restore``: consistent dumps of the database.

MariaDB/MySQL: ``mariadb-dump --single-transaction`` (one consistent snapshot, no table
locks, so check-ins go on during a backup), restored with the ``mariadb`` client. The
password goes to the client tools in a private option file, never on their command line
(where ``ps`` would show it). SQLite (``make run``): the same SQL-text dump via the
standard library. Dumps are gzip-compressed when the file name ends in ``.gz``.
"""
import datetime as dt
import gzip
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

DUMP_PREFIX = "absensi-"
DUMP_SUFFIX = ".sql.gz"
# Triggers are dumped with the account that created them (`absensi`@<the web host that ran
# the migration>); creating a trigger for another account needs SUPER. Restored triggers
# belong to the restoring account instead.
DEFINER = re.compile(rb"/\*!50017 DEFINER=`[^`]*`@`[^`]*`\*/ ?")


class BackupError(RuntimeError):
    """A dump or restore failed (the client tool's message is in the text)."""


def default_filename(now=None):
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{DUMP_PREFIX}{now:%Y%m%dT%H%M%SZ}{DUMP_SUFFIX}"


def backup(settings, output):
    """Write a consistent dump of the database to *output* (a path); return the path."""
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    url = make_url(settings["database.url"])
    # Write beside the target and rename: a failed dump never leaves a half file that
    # looks like a backup.
    fd, partial = tempfile.mkstemp(prefix=".partial-", dir=output.parent)
    os.close(fd)
    try:
        with _open_dump(partial, "wb", compressed=_compressed(output)) as sink:
            if url.get_backend_name() == "sqlite":
                _sqlite_dump(url, sink)
            else:
                _mysql_dump(url, settings, sink)
        os.chmod(partial, 0o600)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return output


def restore(settings, path):
    """Load the dump at *path* into the (empty) database the settings name."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no such dump: {path}")
    url = make_url(settings["database.url"])
    # A dump replaces whole tables: loading one over live data would silently lose rows.
    if _table_names(settings):
        raise BackupError(f"database {url.database!r} is not empty: restore into an empty one")
    with _open_dump(path, "rb", compressed=_compressed(path)) as source:
        if url.get_backend_name() == "sqlite":
            _sqlite_restore(url, source)
        else:
            _mysql_restore(url, settings, source)


def prune(directory, keep_days, now=None):
    """Delete this tool's dumps in *directory* older than *keep_days*; return their paths."""
    now = now or dt.datetime.now(dt.timezone.utc)
    cutoff = (now - dt.timedelta(days=keep_days)).timestamp()
    removed = []
    for path in sorted(Path(directory).glob(f"{DUMP_PREFIX}*{DUMP_SUFFIX}")):
        if path.stat().st_mtime < cutoff:
            path.unlink()
            removed.append(path)
    return removed


def _compressed(path):
    return str(path).endswith(".gz")


def _open_dump(path, mode, *, compressed):
    return gzip.open(path, mode) if compressed else open(path, mode)


@contextmanager
def _client_options(url, settings):
    """Arguments for mariadb/mariadb-dump: the connection, TLS, and the password in an
    option file readable only by us (``--defaults-extra-file`` must come first)."""
    with tempfile.NamedTemporaryFile("w", prefix="absensi-client-", suffix=".cnf") as option_file:
        os.chmod(option_file.name, 0o600)
        option_file.write("[client]\n")
        if url.password:
            option_file.write(f"password={url.password}\n")
        option_file.flush()
        args = [f"--defaults-extra-file={option_file.name}",
                f"--host={url.host or 'localhost'}", f"--port={url.port or 3306}",
                f"--user={url.username}", "--default-character-set=utf8mb4"]
        if settings.get("database.ssl_ca"):
            args += ["--ssl", f"--ssl-ca={settings['database.ssl_ca']}", "--ssl-verify-server-cert"]
        yield args


def _tool(*names):
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(f"none of {', '.join(names)} is installed (the MariaDB client tools)")


def _mysql_dump(url, settings, sink):
    dump = _tool("mariadb-dump", "mysqldump")
    with _client_options(url, settings) as options:
        process = subprocess.Popen(
            [dump, *options, "--single-transaction", "--quick", "--routines", "--triggers",
             "--hex-blob", "--no-tablespaces", url.database],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        shutil.copyfileobj(process.stdout, sink)
        _, errors = process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(dump).name} failed: {errors.decode(errors='replace').strip()}")


def _mysql_restore(url, settings, source):
    client = _tool("mariadb", "mysql")
    with _client_options(url, settings) as options:
        process = subprocess.Popen([client, *options, url.database],
                                   stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for line in source:
                process.stdin.write(DEFINER.sub(b"", line))
        except BrokenPipeError:
            pass  # the client stopped early: its exit status and message say why
        finally:
            process.stdin.close()
        errors = process.stderr.read()
        process.wait()
    if process.returncode != 0:
        raise BackupError(f"{Path(client).name} failed: {errors.decode(errors='replace').strip()}")


def _sqlite_dump(url, sink):
    # SQLite's online backup API gives a consistent copy even while nodes write.
    with sqlite3.connect(url.database) as live, sqlite3.connect(":memory:") as snapshot:
        live.backup(snapshot)
        for statement in snapshot.iterdump():
            sink.write(f"{statement}\n".encode())


def _sqlite_restore(url, source):
    with sqlite3.connect(url.database) as connection:
        connection.executescript(source.read().decode())


def _table_names(settings):
    from sqlalchemy import inspect

    from webapp.db import make_engine

    engine = make_engine(settings)
    try:
        return inspect(engine).get_table_names()
    finally:
        engine.dispose()

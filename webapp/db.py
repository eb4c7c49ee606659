"""Engine and sessions: one engine per process, one session (and transaction) per request.

On SQLite (the default cluster: four nodes on one file) a transaction that may write takes
the write lock when it begins; one that only reads takes none (WAL readers neither block nor
wait). Requests with a safe method (GET, HEAD, OPTIONS), health checks and streamed exports
read through :func:`read_only`, so a read can never queue behind, or freeze, the writers.
"""
import contextvars
import logging
import os
import ssl
import time
from pathlib import Path

import zope.sqlalchemy
from sqlalchemy import create_engine, event, exc, make_url
from sqlalchemy.orm import sessionmaker

from webapp import models  # noqa: F401  (configure every mapper before first use)

log = logging.getLogger(__name__)
#: a pooled connection unused this long is pinged before it is handed out again
PING_AFTER_IDLE_SECONDS = 10


def make_engine(settings):
    url = settings["database.url"]
    sqlite = url.startswith("sqlite")
    options = {}
    if sqlite:
        keep_private(make_url(url).database)
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        options["pool_size"] = int(settings.get("database.pool_size", 10))
        options["max_overflow"] = 20
        options["pool_recycle"] = 1800
        # the pool's ROLLBACK on every return is a round trip per request even after a
        # COMMIT; forget_closed_transactions below rolls back only what may still be open
        options["pool_reset_on_return"] = None
        # READ COMMITTED: after a unique-key collision the losing transaction must be able
        # to read the winner's freshly committed row (REPEATABLE READ would hide it).
        options["isolation_level"] = "READ COMMITTED"
        url, options["connect_args"] = mysql_driver_options(url, settings.get("database.ssl_ca"))
    engine = create_engine(url, **options)
    if sqlite:
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        ping_when_idle(engine)
        forget_closed_transactions(engine)
    return engine


def mysql_driver():
    """``mysqldb`` (mysqlclient, on the C library libmariadb) when it is installed, else
    ``pymysql``: the C driver costs a fraction of PyMySQL's CPU per statement, the hot
    path's largest share after the app itself; PyMySQL stays the fallback wherever the C
    library and the ``c-driver`` extra are not installed."""
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        return "pymysql"
    return "mysqldb"


def mysql_driver_options(url, ssl_ca=None):
    """The URL with the driver of :func:`mysql_driver` and its ``connect_args``.

    Settings name PyMySQL (``mysql+pymysql://``: the roles, the cluster and the tests write
    that); whichever driver connects, TLS (given a CA) verifies the server's certificate
    and name, and plain TCP (loopback in the cluster and the tests) never tries TLS.
    """
    driver = mysql_driver()
    url = make_url(url).set(drivername=f"mysql+{driver}")
    connect_args = {"charset": "utf8mb4"}
    if driver == "mysqldb":
        # libmariadb has no SSL mode of its own: mysqlclient turns VERIFY_IDENTITY into
        # "TLS required" and "verify the server's certificate", name included
        connect_args["ssl_mode"] = "VERIFY_IDENTITY" if ssl_ca else "DISABLED"
        if ssl_ca:
            connect_args["ssl"] = {"ca": ssl_ca}
    elif ssl_ca:
        # One verifying context for every connection of the pool. Given only a CA,
        # PyMySQL would encrypt without checking the server's certificate at all.
        connect_args["ssl"] = ssl.create_default_context(cafile=ssl_ca)
    else:
        # PyMySQL would otherwise build a TLS context for every new connection (~40 ms of
        # CPU) to try an unverified TLS that protects nothing.
        connect_args["ssl_disabled"] = True
    return url, connect_args


#: ``record.info`` key: a transaction may be open on this pooled connection
_MAY_BE_IN_TRANSACTION = "absensi_may_be_in_transaction"


def forget_closed_transactions(engine):
    """Roll back a connection returned to the pool only if a transaction may still be open
    on it: after a COMMIT there is nothing to undo, and the pool's ROLLBACK on every return
    was a round trip per request.

    PyMySQL exposes the server's "in transaction" status bit, mysqlclient does not; so the
    pool record notes it for both: open from checkout and after every statement, closed
    once a COMMIT or ROLLBACK sent through SQLAlchemy has succeeded (the dialect's own
    calls, wrapped: SQLAlchemy's commit event fires before the COMMIT, which may fail). A
    connection used below SQLAlchemy, or whose COMMIT failed, is rolled back.
    """
    dialect = engine.dialect

    def closing(end):
        def end_transaction(connection):  # the pool's proxy: its info is the record's
            end(connection)
            try:
                connection.info[_MAY_BE_IN_TRANSACTION] = False
            except NotImplementedError:  # the dialect's checks on connect: no record yet
                pass
        return end_transaction

    dialect.do_commit = closing(dialect.do_commit)
    dialect.do_rollback = closing(dialect.do_rollback)

    @event.listens_for(engine.pool, "checkout")
    def _checked_out(_dbapi_connection, record, _proxy):
        record.info[_MAY_BE_IN_TRANSACTION] = True

    @event.listens_for(engine, "before_cursor_execute")
    def _statement(connection, *_args):
        connection.info[_MAY_BE_IN_TRANSACTION] = True

    @event.listens_for(engine.pool, "reset")
    def _reset_open_transaction(dbapi_connection, record, reset_state):
        if reset_state.terminate_only:
            return
        if record is None or record.info.get(_MAY_BE_IN_TRANSACTION, True):
            dbapi_connection.rollback()


def ping_when_idle(engine, idle_seconds=PING_AFTER_IDLE_SECONDS):
    """Ping a connection before reuse only if it sat in the pool for *idle_seconds*.

    ``pool_pre_ping`` costs a round trip on every checkout, i.e. one per request in the
    rush. A connection in steady use is known to be alive; one that idled may have been
    dropped (server restart, idle timeout, failover). Should a busy connection break,
    the request fails with the outage 503 and SQLAlchemy invalidates the whole pool, so
    the next checkouts reconnect.
    """
    pool, dialect = engine.pool, engine.dialect

    @event.listens_for(pool, "checkin")
    def _note_return(_dbapi_connection, record):
        if record is not None:
            record.info["returned_at"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        returned_at = record.info.get("returned_at")
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_connection)  # never reconnecting: PyMySQL's would
        except Exception as error:  # noqa: BLE001 - any failure means: not usable
            # the pool discards it and checks out (or opens) another one
            raise exc.DisconnectionError(str(error)) from error


def keep_private(path):
    """Create the SQLite file readable by its owner only: it holds password hashes. SQLite
    gives its -wal and -shm files the database file's mode. (A missing directory is left
    for SQLite to report: it is a configuration error, not ours to paper over.)"""
    database = Path(path) if path and path != ":memory:" else None
    if database is None or not database.parent.is_dir():
        return
    os.close(os.open(database, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(0o600)


def _sqlite_pragmas(dbapi_connection, _record):
    # Four web nodes share one SQLite file in `make run`: WAL lets readers and one
    # writer work at once, busy_timeout makes writers queue instead of failing.
    # pysqlite's own transaction handling breaks SAVEPOINTs: we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


READ_ONLY = "absensi_read_only"
#: ``session.info`` key of the transaction manager a request's session is joined to
TRANSACTION_MANAGER = "transaction_manager"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _sqlite_begin(connection):
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # A transaction that may write takes the write lock up front: a deferred one that
    # reads, then writes after another process committed, fails at once with SQLITE_BUSY
    # instead of waiting its turn.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def read_only(engine):
    """The same engine and pool, for transactions that never write (no SQLite write lock)."""
    return engine.execution_options(**{READ_ONLY: True})


def after_commit(dbsession, callback):
    """Run *callback()* once *dbsession*'s transaction has really committed (never after a
    rollback); a failure of the callback is logged, the commit stands."""

    def run(committed=True):
        if committed:
            try:
                callback()
            except Exception:  # noqa: BLE001 - the change is committed whatever happens here
                log.warning("after-commit action %r failed", callback, exc_info=True)

    manager = dbsession.info.get(TRANSACTION_MANAGER)
    if manager is not None:
        # a request: the transaction manager knows when everything committed
        manager.get().addAfterCommitHook(run)
        return
    done = []

    def on_commit(session):
        # SQLAlchemy also fires after_commit when a SAVEPOINT is released
        if not done and not session.in_nested_transaction():
            done.append(True)
            run()

    event.listen(dbsession, "after_commit", on_commit)


def execute_write(dbsession, statement, params=None):
    """Execute a Core INSERT/UPDATE in *dbsession*'s transaction and return its result.

    The hot paths write rows without the ORM's unit of work: a Core statement executed
    with its parameters is compiled once and costs a fraction of a flush. zope.sqlalchemy
    only notices ORM statements, so a request's transaction manager is told here that the
    session changed (else it would roll the transaction back as read-only).
    """
    result = dbsession.execute(statement, params)
    manager = dbsession.info.get(TRANSACTION_MANAGER)
    if manager is not None:
        zope.sqlalchemy.mark_changed(dbsession, transaction_manager=manager)
    return result


def make_session_factory(engine):
    return sessionmaker(bind=engine, expire_on_commit=False)


class _SessionsManager:
    """The transaction manager of the session whose event is being handled.

    zope.sqlalchemy's listeners are built for one manager; pyramid_tm gives each request
    its own (``request.tm``). :class:`_RequestTransactions` sets this, around each event,
    to the manager of that session, so the public listeners serve every request.
    """

    def __init__(self):
        self.current = contextvars.ContextVar("absensi_session_tm")

    def get(self):
        return self.current.get().get()


class _RequestTransactions(zope.sqlalchemy.ZopeTransactionEvents):
    """zope.sqlalchemy's session listeners, registered once on the session factory.

    ``zope.sqlalchemy.register(session)`` for each request added seven event listeners to
    every new session: ~13 % of a check-in's web CPU, and growing, since SQLAlchemy's
    event registry holds them until the garbage collector frees the session. Registered
    on the factory, each event is handed to zope.sqlalchemy's own listener with the
    session's transaction manager (from its info); sessions without one (jobs, the CLI,
    short reads of their own) are left alone.
    """

    def __init__(self):
        self.managers = _SessionsManager()
        super().__init__(transaction_manager=self.managers)

    def _with_manager(self, session, listener, *args):
        manager = session.info.get(TRANSACTION_MANAGER)
        if manager is None:
            return
        token = self.managers.current.set(manager)
        try:
            listener(*args)
        finally:
            self.managers.current.reset(token)

    def after_begin(self, session, transaction, connection):
        self._with_manager(session, super().after_begin, session, transaction, connection)

    def after_attach(self, session, instance):
        self._with_manager(session, super().after_attach, session, instance)

    def after_flush(self, session, flush_context):
        self._with_manager(session, super().after_flush, session, flush_context)

    def after_bulk_update(self, update_context):
        self._with_manager(update_context.session, super().after_bulk_update, update_context)

    def after_bulk_delete(self, delete_context):
        self._with_manager(delete_context.session, super().after_bulk_delete, delete_context)

    def before_commit(self, session):
        self._with_manager(session, super().before_commit, session)

    def do_orm_execute(self, execute_state):
        self._with_manager(execute_state.session, super().do_orm_execute, execute_state)


def join_request_transactions(session_factory):
    """Let sessions made with a transaction manager in their info (get_tm_session) be
    committed or aborted by it: zope.sqlalchemy's listeners, once, on the factory."""
    listeners = _RequestTransactions()
    for name in ("after_begin", "after_attach", "after_flush", "after_bulk_update",
                 "after_bulk_delete", "before_commit", "do_orm_execute"):
        event.listen(session_factory, name, getattr(listeners, name))


def get_tm_session(session_factory, transaction_manager, request=None, bind=None):
    """A session joined to the request's transaction (committed or aborted by pyramid_tm);
    *session_factory* went through :func:`join_request_transactions`."""
    options = {"bind": bind} if bind is not None else {}
    return session_factory(
        info={"request": request, TRANSACTION_MANAGER: transaction_manager}, **options)


def includeme(config):
    settings = config.get_settings()
    settings["tm.manager_hook"] = "pyramid_tm.explicit_manager"
    # pyramid_tm would look the user up (DB and Redis) to annotate the transaction, outside
    # the exception views: an outage then became the WSGI server's HTML 500.
    settings["tm.annotate_user"] = False
    config.include("pyramid_tm")

    engine = make_engine(settings)
    session_factory = make_session_factory(engine)
    join_request_transactions(session_factory)
    config.registry["dbsession_factory"] = session_factory
    config.registry["db_engine"] = engine
    config.registry["db_read_engine"] = read_engine = read_only(engine)

    def dbsession(request):
        # Tests may hand in their own session through the environ.
        existing = request.environ.get("app.dbsession")
        if existing is not None:
            return existing
        bind = read_engine if request.method in SAFE_METHODS else None
        return get_tm_session(session_factory, request.tm, request=request, bind=bind)

    config.add_request_method(dbsession, reify=True)

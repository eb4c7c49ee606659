"""Process-wide resources of a worker: settings, database sessions, the Redis client.

Created lazily, so each forked worker process opens its own connections (never ones
inherited from the parent), and released when the worker shuts down.
"""
import threading

from dramatiq import Middleware


class AppResources(Middleware):
    """Gives actors the settings, a session factory and a Redis client.

    Tests may pass ready-made ``session_factory`` / ``redis`` objects.
    """

    def __init__(self, settings, *, session_factory=None, redis=None):
        self.settings = settings
        self._session_factory = session_factory
        self._redis = redis
        self._engine = None
        self._lock = threading.Lock()

    @property
    def session_factory(self):
        with self._lock:
            if self._session_factory is None:
                from webapp.db import make_engine, make_session_factory

                self._engine = make_engine(self.settings)
                self._session_factory = make_session_factory(self._engine)
            return self._session_factory

    @property
    def redis(self):
        with self._lock:
            if self._redis is None:
                from webapp.redis import make_redis

                self._redis = make_redis(self.settings)
            return self._redis

    def after_worker_boot(self, broker, worker):
        # Built now rather than by the first message: a lone check-in after a deploy
        # would otherwise wait for the engine, the imports and the first connections
        # (measured: 100-800 ms for the first event of each worker process).
        try:
            from sqlalchemy import text

            with self.session_factory() as session:
                session.execute(text("SELECT 1"))
            self.redis.ping()
        except Exception:  # noqa: BLE001 - the first message will try (and report) again
            pass

    def after_worker_shutdown(self, broker, worker):
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = self._session_factory = None


def resources(broker):
    """The :class:`AppResources` installed on *broker*."""
    for middleware in broker.middleware:
        if isinstance(middleware, AppResources):
            return middleware
    raise LookupError("the broker has no AppResources middleware (use tasks.broker.make_broker)")

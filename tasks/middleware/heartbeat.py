"""Worker liveness: each worker process beats like a web node (role ``worker``)."""
import multiprocessing

from dramatiq import Middleware

from webapp.servers.heartbeats import HeartbeatThread


def process_node_id(node_id):
    """``worker-1`` for the first process of a ``dramatiq`` master, ``worker-1.p1``... after.

    The dramatiq CLI starts its worker processes first and in order, so their
    multiprocessing identities are 1..N; a process that is not a child (tests, a worker
    run in-process) counts as the first.
    """
    identity = multiprocessing.current_process()._identity
    index = identity[0] - 1 if identity else 0
    return node_id if index <= 0 else f"{node_id}.p{index}"


class WorkerHeartbeat(Middleware):
    """Starts a heartbeat thread when the worker boots and removes the heartbeat at shutdown."""

    def __init__(self, settings, *, redis=None):
        self.settings = settings
        self._redis = redis
        self.thread = None

    def after_worker_boot(self, broker, worker):
        from webapp.redis import make_redis

        self.thread = HeartbeatThread(
            self._redis or make_redis(self.settings),
            node_id=process_node_id(self.settings["worker.node_id"]),
            role="worker",
            interval=int(self.settings["heartbeat.interval_seconds"]),
            ttl=int(self.settings["heartbeat.ttl_seconds"]),
            extra=lambda: {"threads": worker.worker_threads},
        )
        self.thread.start()

    def before_worker_shutdown(self, broker, worker):
        if self.thread is not None:
            self.thread.stop()
            self.thread = None

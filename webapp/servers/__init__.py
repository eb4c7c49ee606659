"""Live nodes: this web node's own heartbeat and the server list read from Redis."""
import atexit

from webapp.servers.heartbeats import HeartbeatThread


def node_id(request):
    """This web node's id (``APP_NODE_ID``): recorded on every write, sent as X-Node-Id."""
    return request.registry.settings["app.node_id"]


def includeme(config):
    settings = config.get_settings()
    config.add_request_method(node_id, "node_id", reify=True)
    if settings.get("heartbeat.enabled", "true") != "true":
        return
    thread = HeartbeatThread(
        config.registry["redis"],
        node_id=settings["app.node_id"],
        role="web",
        city=settings.get("app.city"),
        interval=int(settings["heartbeat.interval_seconds"]),
        ttl=int(settings["heartbeat.ttl_seconds"]),
        started_at=settings.get("app.started_at"),
        # the node's gunicorn workers beat apart: one exiting leaves the node up
        per_process=True,
    )
    # Started lazily on the first request: gunicorn forks after the app is built, and a
    # thread started before the fork would not survive into the worker.
    config.registry["heartbeat"] = thread
    atexit.register(thread.stop)


def ensure_heartbeat(event):
    thread = event.request.registry.get("heartbeat")
    if thread is not None and not thread.is_alive() and not thread.ident:
        try:
            thread.start()
        except RuntimeError:
            pass  # another request thread started it first

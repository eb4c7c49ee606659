"""Liveness of every process, kept in Redis as expiring keys.

Each process (web, worker, gateway, scheduler) calls :func:`beat` every
``heartbeat.interval_seconds``; the key expires after ``heartbeat.ttl_seconds``, so a
node that stops beating disappears from :func:`live_nodes` on its own.
"""
import datetime as dt
import json
import threading
import logging

KEY_PREFIX = "absensi:heartbeat:"
log = logging.getLogger(__name__)

VERSION = "0.1.0"


def utc_now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def beat(redis, *, node_id, role, city=None, started_at, ttl_seconds, extra=None):
    record = {
        "node_id": node_id,
        "role": role,
        "city": city or None,
        "started_at": started_at,
        "last_seen": utc_now_iso(),
        "version": VERSION,
        "status": "up",
    }
    record.update(extra or {})
    redis.set(KEY_PREFIX + node_id, json.dumps(record), ex=ttl_seconds)
    return record


def stop(redis, node_id):
    """Remove a node's heartbeat at a clean shutdown, so it shows as gone at once."""
    redis.delete(KEY_PREFIX + node_id)


def live_nodes(redis):
    """Every live node's record, sorted by role then id (contract `Node` plus extras)."""
    keys = sorted(redis.scan_iter(match=KEY_PREFIX + "*", count=500))
    records = [json.loads(value) for value in redis.mget(keys) if value] if keys else []
    return sorted(records, key=lambda r: (r.get("role", ""), r.get("node_id", "")))


def public_node(record):
    return {
        "node_id": record["node_id"],
        "role": record["role"],
        "city": record.get("city"),
        "last_seen": record["last_seen"],
        "status": "up",
        "started_at": record.get("started_at"),
        "version": record.get("version"),
        **({"connections": record["connections"]} if "connections" in record else {}),
    }


class HeartbeatThread(threading.Thread):
    """Beats in the background of a synchronous process (web node, worker, scheduler).

    Redis being down must never take the process down: a failed beat is logged and
    retried at the next interval.
    """

    def __init__(self, redis, *, node_id, role, city=None, interval, ttl, extra=None,
                 started_at=None):
        super().__init__(name=f"heartbeat-{node_id}", daemon=True)
        self.redis = redis
        self.fields = dict(node_id=node_id, role=role, city=city, ttl_seconds=ttl)
        self.interval = interval
        self.extra = extra or (lambda: {})
        # Several processes of one node (gunicorn workers) must report one start time, or
        # the servers monitor would see the node "restart" at every other beat.
        self.started_at = started_at or utc_now_iso()
        self._stopped = threading.Event()

    def run(self):
        while not self._stopped.is_set():
            try:
                beat(self.redis, started_at=self.started_at, extra=self.extra(), **self.fields)
            except Exception:  # noqa: BLE001 - any Redis/network failure: try again later
                log.warning("heartbeat for %s failed", self.fields["node_id"], exc_info=True)
            self._stopped.wait(self.interval)

    def stop(self):
        if self._stopped.is_set():
            return
        self._stopped.set()
        try:
            stop(self.redis, self.fields["node_id"])
        except Exception:  # noqa: BLE001
            log.warning("could not remove heartbeat of %s", self.fields["node_id"])

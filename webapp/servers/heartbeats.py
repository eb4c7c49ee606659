"""Liveness of every process, in one Redis hash with a sorted set of expiry times.

Each process (web, worker, gateway, scheduler) calls :func:`beat` every
``heartbeat.interval_seconds``; its record counts for ``heartbeat.ttl_seconds`` (Redis's
clock), so a node that stops beating disappears from :func:`live_nodes` on its own.

Processes that share a node id (the gunicorn workers of one web node) beat under their
own ``process`` key and remove only that at exit: the node is live while any of them
beats, so recycling one worker never looks like the node going down. :func:`live_nodes`
reads one hash (no keyspace SCAN), dropping expired records on the way.
"""
import datetime as dt
import importlib.metadata
import json
import logging
import os
import threading

RECORDS_KEY = "absensi:heartbeats"
EXPIRY_KEY = "absensi:heartbeats:expiry"
log = logging.getLogger(__name__)

_BEAT = """
local now = redis.call('TIME')
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(now[1]) + tonumber(ARGV[3]), ARGV[1])
"""

_LIVE = """
local now = redis.call('TIME')
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now[1])
for _, member in ipairs(expired) do
  redis.call('HDEL', KEYS[1], member)
  redis.call('ZREM', KEYS[2], member)
end
return redis.call('HVALS', KEYS[1])
"""


def _installed_version():
    try:
        return importlib.metadata.version("absensi")
    except importlib.metadata.PackageNotFoundError:  # running from a bare source tree
        return "unknown"


#: the release this process runs (the package's own metadata, so a deploy shows its version)
VERSION = _installed_version()


def utc_now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _member(node_id, process):
    return f"{node_id}#{process}" if process else node_id


def beat(redis, *, node_id, role, city=None, started_at, ttl_seconds, extra=None, process=None):
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
    redis.register_script(_BEAT)(keys=[RECORDS_KEY, EXPIRY_KEY],
                                 args=[_member(node_id, process), json.dumps(record),
                                       int(ttl_seconds)])
    return record


def stop(redis, node_id, process=None):
    """Remove a process's heartbeat at a clean shutdown, so it shows as gone at once."""
    member = _member(node_id, process)
    pipe = redis.pipeline(transaction=True)
    pipe.hdel(RECORDS_KEY, member)
    pipe.zrem(EXPIRY_KEY, member)
    pipe.execute()


def live_nodes(redis):
    """Every live node's record (the newest of its processes), sorted by role then id
    (contract `Node` plus extras)."""
    newest = {}
    for value in redis.register_script(_LIVE)(keys=[RECORDS_KEY, EXPIRY_KEY]):
        record = json.loads(value)
        known = newest.get(record["node_id"])
        if known is None or record["last_seen"] > known["last_seen"]:
            newest[record["node_id"]] = record
    return sorted(newest.values(), key=lambda r: (r.get("role", ""), r.get("node_id", "")))


def is_beating(redis, node_id):
    return any(record["node_id"] == node_id for record in live_nodes(redis))


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
                 started_at=None, per_process=False):
        super().__init__(name=f"heartbeat-{node_id}", daemon=True)
        self.redis = redis
        self.fields = dict(node_id=node_id, role=role, city=city, ttl_seconds=ttl,
                           process=None)
        self.per_process = per_process
        self.interval = interval
        self.extra = extra or (lambda: {})
        # Several processes of one node (gunicorn workers) must report one start time, or
        # the servers monitor would see the node "restart" at every other beat.
        self.started_at = started_at or utc_now_iso()
        self._stopped = threading.Event()

    def run(self):
        if self.per_process:  # known only now: the thread starts after gunicorn's fork
            self.fields["process"] = f"pid{os.getpid()}"
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
            stop(self.redis, self.fields["node_id"], self.fields["process"])
        except Exception:  # noqa: BLE001
            log.warning("could not remove heartbeat of %s", self.fields["node_id"])

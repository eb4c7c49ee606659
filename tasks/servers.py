"""The ``servers`` channel: announce nodes appearing (``node.up``) and going (``node.down``).

Heartbeats expire on their own; this diff compares the live set with the set announced
last time, which is kept in Redis so that a restarted scheduler, or a second one, does
not announce the same change again.
"""
import json

from realtime import channels, streams
from webapp.servers import heartbeats

KNOWN_KEY = "absensi:servers:known"
EVENT_SEQ_KEY = "absensi:servers:event_seq"


def announce_node_changes(redis, *, node_id, retention_seconds):
    """Publish one event per node that appeared, restarted or disappeared since the last
    call; return ``[(event, node_id), ...]``. ``node_id`` is the announcing node."""
    live = {record["node_id"]: record for record in heartbeats.live_nodes(redis)}
    known = {name: json.loads(value) for name, value in redis.hgetall(KNOWN_KEY).items()}
    changes = [
        ("node.up", record) for name, record in live.items()
        if name not in known or known[name].get("started_at") != record.get("started_at")
    ] + [("node.down", record) for name, record in known.items() if name not in live]
    for event, record in changes:
        data = heartbeats.public_node(record)
        if event == "node.down":
            data["status"] = "down"
        streams.publish(
            redis, channels.SERVERS, event_id=redis.incr(EVENT_SEQ_KEY), event=event,
            node_id=node_id, ts=heartbeats.utc_now_iso(),
            data=data, retention_seconds=retention_seconds,
        )
        # Remembered per change: a crash half-way repeats at most the unrecorded ones.
        if event == "node.up":
            redis.hset(KNOWN_KEY, record["node_id"], json.dumps(record))
        else:
            redis.hdel(KNOWN_KEY, record["node_id"])
    return [(event, record["node_id"]) for event, record in changes]

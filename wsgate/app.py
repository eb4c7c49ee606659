"""Composition and lifecycle of a gateway process.

``python -m wsgate`` (or :func:`main`) reads the settings, listens on
``gateway.host:gateway.port``, keeps the hub subscribed to Redis, beats every
``heartbeat.interval_seconds``, and on SIGTERM/SIGINT stops accepting, closes every
client with 1001 (going away), removes its heartbeat and returns.
"""
import asyncio
import functools
import logging
import resource
import signal
import socket

import tornado.web
from redis.exceptions import RedisError

from webapp import process_logging
from webapp.redis import connect_async, make_redis
from webapp.servers import heartbeats
from webapp.settings import load_settings
from wsgate.handlers import HealthHandler, RealtimeSocket
from wsgate.access import AccessGuard
from wsgate.collector import CollectorPolicy
from wsgate.hub import Hub
from wsgate.metrics import MetricsHandler

log = logging.getLogger(__name__)

# Pings keep idle sockets open through nginx (proxy_read_timeout 60 s by default) and
# find dead peers; client frames are tiny, so anything big is abuse.
PING_INTERVAL_SECONDS = 20
PING_TIMEOUT_SECONDS = 20
MAX_MESSAGE_SIZE = 64 * 1024
#: TCP keepalive on the Redis connections: probe after 5 s idle, every 5 s, give up after 3
KEEPALIVE_OPTIONS = {socket.TCP_KEEPIDLE: 5, socket.TCP_KEEPINTVL: 5, socket.TCP_KEEPCNT: 3}
#: how long a shutdown waits for clients to answer the close frame
SHUTDOWN_GRACE_SECONDS = 3
#: Redis connections of one gateway (the pub/sub subscription holds one), and how long a
#: command waits for a free one
REDIS_POOL_SIZE = 32
REDIS_POOL_WAIT_SECONDS = 5
#: pending connections the kernel queues for accept(): a whole office reconnecting at once
#: after a restart must not overflow Tornado's default of 128 (the kernel caps it at
#: net.core.somaxconn)
LISTEN_BACKLOG = 4096
#: descriptors besides the sockets: Redis pool, listening socket, logs, Python's own
SPARE_FILES = 256


def make_app(settings, hub):
    """The Tornado application; every handler gets its dependencies from here."""
    return tornado.web.Application(
        [
            (r"/ws", RealtimeSocket, {"hub": hub, "settings": settings}),
            (r"/healthz", HealthHandler, {"hub": hub, "node_id": settings["gateway.node_id"]}),
            (r"/metrics", MetricsHandler, {"hub": hub}),
        ],
        websocket_ping_interval=PING_INTERVAL_SECONDS,
        websocket_ping_timeout=PING_TIMEOUT_SECONDS,
        websocket_max_message_size=MAX_MESSAGE_SIZE,
    )


def make_async_redis(settings):
    # Every read is bounded (the hub polls its subscription with its own short timeout and
    # pings over it), and the kernel gives up on a dead peer within ~20 s, not ~2 h.
    # A blocking pool: when thousands of sockets authenticate at once (a gateway restart),
    # redis-py's default pool refused every command beyond its 100th connection at once
    # ("Too many connections"), and those sockets were let in without their revocation
    # check; now they queue for one of REDIS_POOL_SIZE connections (bounded wait).
    return connect_async(
        settings, max_connections=REDIS_POOL_SIZE, pool_timeout=REDIS_POOL_WAIT_SECONDS,
        decode_responses=True, socket_connect_timeout=2, socket_timeout=5,
        socket_keepalive=True, socket_keepalive_options=KEEPALIVE_OPTIONS,
        health_check_interval=30,
    )


async def _beat_forever(settings, sync_redis, hub, started_at):
    beat = functools.partial(
        heartbeats.beat, sync_redis, node_id=settings["gateway.node_id"], role="gateway",
        started_at=started_at, ttl_seconds=int(settings["heartbeat.ttl_seconds"]),
    )
    loop = asyncio.get_running_loop()
    while True:
        try:
            # redis-py's sync client, off the event loop
            await loop.run_in_executor(None, functools.partial(
                beat, extra={"connections": len(hub.clients),
                             "subscription": "ok" if hub.healthy() else "down"}))
        except (RedisError, OSError) as exc:
            log.warning("heartbeat failed: %s", exc)
        await asyncio.sleep(float(settings["heartbeat.interval_seconds"]))


async def _wait_until_empty(hub, timeout):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while hub.clients and loop.time() < deadline:
        await asyncio.sleep(0.05)


async def _cancel(*tasks):
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def serve(settings, stop=None):
    """Run a gateway until *stop* (an :class:`asyncio.Event`, else SIGTERM/SIGINT) is set."""
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    async_redis, sync_redis = make_async_redis(settings), make_redis(settings)
    node_id = settings["gateway.node_id"]
    hub = Hub(async_redis)
    guard = AccessGuard(hub, async_redis,
                        recheck_seconds=float(settings["gateway.access_recheck_seconds"]))
    hub.on_control, hub.on_resubscribed = guard.on_announcement, guard.on_resubscribed
    server = make_app(settings, hub).listen(
        int(settings["gateway.port"]), address=settings["gateway.host"], xheaders=True,
        backlog=LISTEN_BACKLOG,
    )
    tasks = [
        loop.create_task(hub.run(), name="hub"),
        loop.create_task(guard.run(), name="access-guard"),
        loop.create_task(CollectorPolicy(hub).run(), name="collector"),
        loop.create_task(_beat_forever(settings, sync_redis, hub, heartbeats.utc_now_iso()),
                         name="heartbeat"),
    ]
    log.info("gateway %s listening on %s:%s", node_id, settings["gateway.host"],
             settings["gateway.port"])
    await stop.wait()

    log.info("gateway %s shutting down", node_id)
    server.stop()
    hub.close_all(1001, "going away")
    await _wait_until_empty(hub, SHUTDOWN_GRACE_SECONDS)
    await _cancel(*tasks)
    try:
        await asyncio.wait_for(
            loop.run_in_executor(None, heartbeats.stop, sync_redis, node_id), timeout=3)
    except (RedisError, OSError, asyncio.TimeoutError) as exc:
        log.warning("could not remove the heartbeat: %s", exc)
    await async_redis.aclose()
    sync_redis.close()
    log.info("gateway %s stopped", node_id)


def raise_open_files_limit(max_connections):
    """Every websocket is a file descriptor: lift the soft RLIMIT_NOFILE (often 1,024) to
    the hard one, say so, and warn when even that is too low for *max_connections*.
    Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open files limit from %s to %s: %s",
                        soft, wanted, exc)
    raised = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    needed = max_connections + SPARE_FILES
    log.info("open files limit %s (was %s, hard limit %s); %s sockets need %s",
             raised, soft, "unlimited" if hard == resource.RLIM_INFINITY else hard,
             max_connections, needed)
    if raised < needed:
        log.warning("the open files limit (%s) is too low for gateway.max_connections = %s "
                    "(needs %s): raise the hard limit (systemd LimitNOFILE=, ulimit -Hn, "
                    "docker --ulimit nofile=) or lower gateway.max_connections",
                    raised, max_connections, needed)
    return raised


def main(settings=None):
    """Entry point of ``python -m wsgate`` and ``absensi gateway`` (which passes *settings*)."""
    settings = settings or load_settings()
    process_logging.configure(settings, "gateway")
    raise_open_files_limit(int(settings["gateway.max_connections"]))
    asyncio.run(serve(settings))

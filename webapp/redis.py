"""Redis clients of every process, made here and nowhere else: one pool per web process
(sessions, throttling, heartbeats), the short-timeout clients of the publisher queue (web
hand-off, worker, scheduler) and the gateway's asyncio pool.

``redis.url`` names the server (``rediss://`` for TLS, verified against ``redis.ssl_ca``;
password and database number in the URL). In production the server is whichever one the
Sentinels say is the primary: with ``redis.sentinels`` (``REDIS_SENTINELS=host:port,...``)
every client asks them for ``redis.sentinel_master`` and follows a failover by itself
(redis-py reconnects to the new primary when its connection drops or the old one answers
``READONLY``); the URL then gives only the password, database and TLS.
"""
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.sentinel
import redis.sentinel
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry


def tls_options(settings):
    """Connection options for TLS (``rediss://``): verify the server against ``redis.ssl_ca``.

    Every Redis client of every process (web, worker, gateway, scheduler) takes these."""
    if not settings["redis.url"].startswith("rediss://"):
        return {}
    options = {"ssl_cert_reqs": "required"}
    if settings.get("redis.ssl_ca"):
        options["ssl_ca_certs"] = settings["redis.ssl_ca"]
    return options


def sentinel_addresses(settings):
    """``[(host, port), ...]`` of ``redis.sentinels`` (empty: no Sentinels)."""
    addresses = []
    for item in (settings.get("redis.sentinels") or "").replace(",", " ").split():
        host, _, port = item.rpartition(":")
        addresses.append((host or item, int(port) if host else 26379))
    return addresses


def _url_options(settings):
    """What ``redis.url`` says besides where the server is: database, user, password, TLS."""
    parts = urlsplit(settings["redis.url"])
    options = {"db": int(parts.path.lstrip("/") or 0)}
    if parts.username:
        options["username"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    if parts.scheme == "rediss":
        options["ssl"] = True
        options.update(tls_options(settings))
    return options


#: seconds a Sentinel gets to connect or answer: it answers from memory, so one that is
#: silent this long is on a host that lost power, and the next Sentinel is asked instead
SENTINEL_TIMEOUT = 1


def _sentinel_options(settings, retry):
    """How to talk to the Sentinels themselves: their password, TLS like the data's, and
    no retries of their own (*retry* makes none). redis-py's default retries a silent
    Sentinel ten times: with the data-1 host powered off, each request that asked for the
    primary waited half a minute on it (nginx answered 504)."""
    sentinel = {"socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT,
                "retry": retry}
    if settings.get("redis.sentinel_password"):
        sentinel["password"] = settings["redis.sentinel_password"]
    if settings["redis.url"].startswith("rediss://"):
        sentinel.update(ssl=True, **tls_options(settings))
    return sentinel


class _AsksSentinelsOnReconnect:
    """A Sentinel-managed connection that asks the Sentinels for the primary on *every*
    reconnect. redis-py (redis/redis-py#3874) asks them only when a connection leaves the
    pool: a command retried after a timeout reconnects to the address it last had. With the
    primary's host powered off, each retry of each pooled connection dialled the dead host
    again (a request waited 9 s and more for its session), even after the failover. (Only
    clients with a retry meet this: the gateway's and the queue's have none, their next
    command takes a connection from the pool, which asks.)"""

    _address_fresh = False

    def connect_to(self, address):
        self._address_fresh = True   # just asked: connect_check_health must not ask again
        try:
            super().connect_to(address)
        finally:
            self._address_fresh = False

    def connect_check_health(self, check_health=True, retry_socket_connect=True):
        if self._sock is None and not self._address_fresh and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        super().connect_check_health(check_health=check_health,
                                     retry_socket_connect=retry_socket_connect)


class _PrimaryConnection(_AsksSentinelsOnReconnect, redis.sentinel.SentinelManagedConnection):
    pass


class _PrimarySSLConnection(_AsksSentinelsOnReconnect,
                            redis.sentinel.SentinelManagedSSLConnection):
    pass


def connect(settings, **options):
    """A client of the primary, with redis-py *options* (timeouts, retry, decoding)."""
    sentinels = sentinel_addresses(settings)
    if not sentinels:
        return redis.Redis.from_url(settings["redis.url"], **tls_options(settings), **options)
    manager = redis.sentinel.Sentinel(
        sentinels, sentinel_kwargs=_sentinel_options(settings, Retry(NoBackoff(), 0)))
    url_options = _url_options(settings)
    return manager.master_for(
        settings["redis.sentinel_master"],
        connection_class=_PrimarySSLConnection if url_options.get("ssl") else _PrimaryConnection,
        **url_options, **options)


class _BlockingSentinelPool(redis.asyncio.sentinel.SentinelConnectionPool,
                            redis.asyncio.BlockingConnectionPool):
    """The primary's connections, waiting (bounded) for a free one instead of refusing."""


def connect_async(settings, *, max_connections, pool_timeout, **options):
    """The gateway's ``redis.asyncio`` client of the primary: a blocking pool of at most
    *max_connections*, a caller waiting up to *pool_timeout* s for a free one."""
    sentinels = sentinel_addresses(settings)
    if not sentinels:
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            settings["redis.url"], **tls_options(settings), max_connections=max_connections,
            timeout=pool_timeout, **options)
        return redis.asyncio.Redis.from_pool(pool)
    manager = redis.asyncio.sentinel.Sentinel(
        sentinels, sentinel_kwargs=_sentinel_options(settings, AsyncRetry(NoBackoff(), 0)))
    return manager.master_for(
        settings["redis.sentinel_master"], connection_pool_class=_BlockingSentinelPool,
        max_connections=max_connections, timeout=pool_timeout,
        **_url_options(settings), **options)


def make_redis(settings):
    return connect(
        settings,
        decode_responses=True,
        # Sessions, throttles and heartbeats answer in well under a millisecond. A pooled
        # connection to a primary whose host lost power gets no reset, only silence: each
        # one a request meets costs this much before the retry asks the Sentinels again.
        socket_timeout=2,
        socket_connect_timeout=2,
        health_check_interval=30,
        # One quick retry covers a dropped pooled connection; a Redis that is really down
        # must fail the request (or heartbeat) fast rather than hold a worker thread.
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.05), 1),
    )


# The web node enqueues from a request thread: when Redis is down that must fail within
# a couple of seconds (the relay sweep covers the event), not hang in a retry loop.
SOCKET_CONNECT_TIMEOUT = 1
SOCKET_TIMEOUT = 2


def make_redis_client(settings, *, decode_responses=False, socket_timeout=SOCKET_TIMEOUT):
    """A client with short timeouts and no client-side retries (callers retry on their own
    schedule: Dramatiq, the relay sweep, the next scheduler run)."""
    return connect(
        settings,
        decode_responses=decode_responses,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )


def includeme(config):
    client = make_redis(config.get_settings())
    config.registry["redis"] = client
    config.add_request_method(lambda request: request.registry["redis"], "redis", reify=True)

"""Redis clients: one pool per web process (sessions, throttling, heartbeats), and the
short-timeout clients of the publisher queue (web hand-off, worker, scheduler)."""
import redis
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


def make_redis(settings):
    return redis.Redis.from_url(
        settings["redis.url"],
        **tls_options(settings),
        decode_responses=True,
        socket_timeout=5,
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
    pool = redis.ConnectionPool.from_url(
        settings["redis.url"],
        **tls_options(settings),
        decode_responses=decode_responses,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        socket_timeout=socket_timeout,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=30,
    )
    return redis.Redis(connection_pool=pool)


def includeme(config):
    client = make_redis(config.get_settings())
    config.registry["redis"] = client
    config.add_request_method(lambda request: request.registry["redis"], "redis", reify=True)

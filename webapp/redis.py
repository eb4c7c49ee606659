"""One Redis connection pool per process, shared by sessions, throttling and heartbeats."""
import redis
from redis.backoff import ExponentialBackoff
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


def includeme(config):
    client = make_redis(config.get_settings())
    config.registry["redis"] = client
    config.add_request_method(lambda request: request.registry["redis"], "redis", reify=True)

"""One Redis connection pool per process, shared by sessions, throttling and heartbeats."""
import redis


def make_redis(settings):
    return redis.Redis.from_url(
        settings["redis.url"],
        decode_responses=True,
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=30,
    )


def includeme(config):
    client = make_redis(config.get_settings())
    config.registry["redis"] = client
    config.add_request_method(lambda request: request.registry["redis"], "redis", reify=True)

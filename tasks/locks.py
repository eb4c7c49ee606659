"""One scheduler at a time: a job runs only where it wins a short Redis lock."""
import logging
import uuid

log = logging.getLogger(__name__)

LOCK_PREFIX = "absensi:lock:"


def acquire(redis, name, ttl_ms):
    """True if this caller holds lock *name* for the next *ttl_ms* (``SET NX PX``).

    The lock is not released: held for (most of) a job's interval, it makes every other
    scheduler skip that run, and it expires before the next one.
    """
    return bool(redis.set(LOCK_PREFIX + name, uuid.uuid4().hex, nx=True, px=int(ttl_ms)))


def exclusive(redis, name, ttl_ms, func, *args, **kwargs):
    """Run ``func(*args, **kwargs)`` if the lock is won; return its result, else None."""
    if not acquire(redis, name, ttl_ms):
        log.debug("job %s runs on another scheduler", name)
        return None
    return func(*args, **kwargs)

"""Login throttling in Redis, per account and per client address.

Only failures count. A key lives for the window after its first failure; once a key
reaches its limit, login attempts get 429 with ``Retry-After`` = the key's remaining TTL
(checked before the password, so a locked account cannot be brute-forced further).
"""
import hashlib

PREFIX = "absensi:throttle:"


def _keys(email, address):
    # Hash the email so Redis never holds it in clear text.
    account = hashlib.sha256((email or "").encode()).hexdigest()[:32]
    return PREFIX + "account:" + account, PREFIX + "address:" + (address or "unknown")


class LoginThrottle:
    def __init__(self, redis, *, account_limit, address_limit, window_seconds):
        self.redis = redis
        self.limits = (account_limit, address_limit)
        self.window = window_seconds

    def retry_after(self, email, address):
        """Seconds to wait before another attempt is allowed, or 0."""
        keys = _keys(email, address)
        pipe = self.redis.pipeline()
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        values = pipe.execute()
        waits = [
            max(int(ttl), 1)
            for (count, ttl), limit in zip(zip(values[::2], values[1::2]), self.limits)
            if count is not None and int(count) >= limit
        ]
        return max(waits, default=0)

    def failed(self, email, address):
        pipe = self.redis.pipeline()
        for key in _keys(email, address):
            pipe.incr(key)
            pipe.expire(key, self.window, nx=True)
        pipe.execute()

    def succeeded(self, email, address):
        self.redis.delete(_keys(email, address)[0])


def login_throttle(request):
    settings = request.registry.settings
    return LoginThrottle(
        request.redis,
        account_limit=int(settings["throttle.account_attempts"]),
        address_limit=int(settings["throttle.address_attempts"]),
        window_seconds=int(settings["throttle.window_seconds"]),
    )

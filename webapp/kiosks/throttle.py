"""Guessing limits of the kiosk endpoints, shared by every node, atomic per attempt
(the same fixed-window counters as login's, webapp.accounts.throttle).

Each limit is ``(key, attempts, window seconds)``; :func:`reserve` counts the attempt
against all of them in one Lua script *before* the secret is checked (parallel guesses
through four nodes cannot slip past a limit) and :func:`refund` gives it back when the
attempt succeeded.
"""
PREFIX = "absensi:throttle:kiosk:"

#: enrollment codes: per client address, and across the whole site (a botnet)
ENROLL_PER_ADDRESS = (10, 900)
ENROLL_SITE_WIDE = (200, 900)
#: PIN punches: per kiosk (a guesser at the pad), per account (from any kiosk), per pair
PIN_PER_KIOSK = (30, 900)
PIN_PER_ACCOUNT = (10, 900)
PIN_PER_PAIR = (5, 300)

_RESERVE = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i * 2 - 1]) then
    return math.max(redis.call('TTL', KEYS[i]), 1)
  end
end
for i = 1, #KEYS do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i * 2], 'NX')
end
return 0
"""

_REFUND = """
for i = 1, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


def reserve(redis, limits):
    """Count the attempt; the seconds to wait (the attempt was not counted), or 0."""
    keys = [PREFIX + key for key, _, _ in limits]
    args = [number for _, attempts, window in limits for number in (attempts, window)]
    return int(redis.register_script(_RESERVE)(keys=keys, args=args))


def refund(redis, keys):
    redis.register_script(_REFUND)(keys=[PREFIX + key for key in keys])


def enroll_limits(address):
    return [(f"enroll:{address or 'unknown'}", *ENROLL_PER_ADDRESS),
            ("enroll", *ENROLL_SITE_WIDE)]


def pin_limits(kiosk_id, account):
    # the account is a hash of the employee number, so unknown numbers count too
    return [(f"pin-pair:{kiosk_id}:{account}", *PIN_PER_PAIR),
            (f"pin-kiosk:{kiosk_id}", *PIN_PER_KIOSK),
            (f"pin-account:{account}", *PIN_PER_ACCOUNT)]

"""Login throttling in Redis, shared by every node, atomic per attempt.

Three counters, each a fixed window started by its first failure:

- **account + address** (``throttle.pair_attempts`` = 5 per ``pair_window_seconds`` = 5 min):
  the guesser is locked out for the rest of the window, the same account elsewhere is not;
- **address** across accounts (``address_attempts`` = 50 per ``address_window_seconds`` =
  15 min): one address spraying many accounts; high enough for an office behind one NAT;
- **account** from anywhere (after ``account_slowdown_after`` = 20 failures per
  ``account_window_seconds`` = 15 min): never a lock, only a slowdown to one attempt per
  ``account_spacing_seconds`` = 10 s, so knowing someone's email is not enough to lock
  them out at 08:00; distributed guessing gets ~90 tries an account per 15 minutes.

:meth:`LoginThrottle.reserve` checks and counts the attempt in one Lua script (parallel
guesses through four nodes cannot slip past a limit), before the password is verified;
:meth:`LoginThrottle.refund` gives the attempt back when it succeeded (or never got to
the password because the database was down).
"""
import hashlib

PREFIX = "absensi:throttle:"

_RESERVE = """
local function wait_if_full(key, limit)
  if tonumber(redis.call('GET', key) or '0') >= limit then
    return math.max(redis.call('TTL', key), 1)
  end
  return 0
end
local wait = math.max(wait_if_full(KEYS[1], tonumber(ARGV[1])),
                      wait_if_full(KEYS[2], tonumber(ARGV[3])))
if wait > 0 then return wait end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[5]) then
  local gate = redis.call('PTTL', KEYS[4])
  if gate > 0 then return math.ceil(gate / 1000) end
  redis.call('SET', KEYS[4], '1', 'PX', tonumber(ARGV[7]) * 1000)
end
for i = 1, 3 do
  redis.call('INCR', KEYS[i])
  redis.call('EXPIRE', KEYS[i], ARGV[i * 2], 'NX')
end
return 0
"""

_REFUND = """
redis.call('DEL', KEYS[1])
for i = 2, 3 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


def _keys(email, address):
    # Hash the email so Redis never holds it in clear text.
    account = hashlib.sha256((email or "").encode()).hexdigest()[:32]
    address = address or "unknown"
    return [PREFIX + f"pair:{account}:{address}", PREFIX + f"address:{address}",
            PREFIX + f"account:{account}", PREFIX + f"account-gate:{account}"]


class LoginThrottle:
    def __init__(self, redis, *, pair_limit, pair_window, address_limit, address_window,
                 account_slowdown_after, account_window, account_spacing):
        self.redis = redis
        self.args = [pair_limit, pair_window, address_limit, address_window,
                     account_slowdown_after, account_window, account_spacing]

    def reserve(self, email, address):
        """Count this attempt as a failure in advance; return the seconds to wait (then the
        attempt was not counted and must be refused), or 0 to go ahead."""
        return int(self.redis.register_script(_RESERVE)(keys=_keys(email, address),
                                                         args=self.args))

    def refund(self, email, address):
        """The attempt succeeded: clear the guesser's pair and give the attempt back."""
        self.redis.register_script(_REFUND)(keys=_keys(email, address)[:3])


def login_throttle(request):
    settings = request.registry.settings

    def setting(name):
        return int(settings[f"throttle.{name}"])

    return LoginThrottle(
        request.redis,
        pair_limit=setting("pair_attempts"),
        pair_window=setting("pair_window_seconds"),
        address_limit=setting("address_attempts"),
        address_window=setting("address_window_seconds"),
        account_slowdown_after=setting("account_slowdown_after"),
        account_window=setting("account_window_seconds"),
        account_spacing=setting("account_spacing_seconds"),
    )

"""Channel history and live fan-out in Redis (contract §4).

Each channel's history is the Redis Stream ``absensi:stream:{channel}``; the stream
entry ids are the contract's opaque ``offset`` cursors. Every publish also sends the
complete event frame over the pub/sub channel :data:`LIVE_PUBSUB_CHANNEL`, which each
gateway forwards unchanged to the subscribed clients.

Recovery relies on the stream's ``max-deleted-entry-id``: everything at or before it
is gone, everything after it is still there. Redis 7.0 does not move that marker when
trimming, so :func:`publish` maintains it itself (``XSETID ... MAXDELETEDID``): after
each trim it names the newest trimmed entry, and a new stream starts with it just
before its first entry. The latter matters when Redis lost its data (a restart
without persistence): the recreated stream then says "I have nothing older than my
first event" instead of silently pretending an old offset was recovered.

Both scripts are atomic, so a publish is never half-done (history without live frame)
and a read never races a trim. :func:`publish_many` publishes a whole batch (the outbox
publisher's) in one call of the same script; should a command fail half-way through a
batch (Redis does not roll scripts back), the entries before it stay published, and
retrying the batch sends only the rest, since each entry is idempotent. The sync
functions serve the publisher actor and the tests; the ``a``-prefixed ones take a
``redis.asyncio`` client (the gateway) and share the same scripts and result handling.
"""
import json
import re
from typing import NamedTuple

from realtime import channels as channel_names

LIVE_PUBSUB_CHANNEL = "absensi:live"
STREAM_PREFIX = "absensi:stream:"
DEDUPE_PREFIX = "absensi:published:"
#: a publish is remembered (same offset on replay) this much longer than the history
DEDUPE_GRACE_SECONDS = 24 * 3600
DEFAULT_READ_LIMIT = 10000
#: a random token that lives as long as Redis keeps its data: a new one means a reset
EPOCH_KEY = "absensi:epoch"

_MAX_PART = 2**64 - 1
_OFFSET = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?")

#: Publishes a batch of entries (a single publish is a batch of one), each exactly as if
#: alone: KEYS are (stream, dedupe key) per entry; ARGV are the live pub/sub channel, the
#: retention in ms, the dedupe TTL in s, then (frame head, body) per entry. Returns the
#: offsets in order. An entry already published (its dedupe key exists) returns its first
#: offset and sends nothing, so a replayed batch changes nothing.
_PUBLISH = """
local live, retention, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local offsets = {}
for i = 1, #KEYS / 2 do
  local stream, dedupe = KEYS[2 * i - 1], KEYS[2 * i]
  local head, body = ARGV[2 * i + 2], ARGV[2 * i + 3]
  local offset = redis.call('GET', dedupe)
  if not offset then
    local created = redis.call('EXISTS', stream) == 0
    offset = redis.call('XADD', stream, '*', 'body', body)
    local ms, seq = string.match(offset, '^(%d+)-(%d+)$')
    local forgotten = nil
    if created then
      if seq == '0' then
        forgotten = string.format('%.0f', tonumber(ms) - 1) .. '-18446744073709551615'
      else
        forgotten = ms .. '-' .. string.format('%.0f', tonumber(seq) - 1)
      end
    else
      local cut = tonumber(ms) - retention
      -- the oldest entry first (cheap): only a stream holding expired entries pays for
      -- finding the newest of them (XREVRANGE down from MINID walks the stream)
      local oldest = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1]
      if cut > 0 and oldest and tonumber(string.match(oldest[1], '^(%d+)')) < cut then
        local minid = string.format('%.0f', cut) .. '-0'
        local newest_old = redis.call('XREVRANGE', stream, '(' .. minid, '-', 'COUNT', 1)
        if #newest_old > 0 then
          redis.call('XTRIM', stream, 'MINID', '=', minid)
          forgotten = newest_old[1][1]
        end
      end
    end
    if forgotten then
      redis.call('XSETID', stream, offset, 'MAXDELETEDID', forgotten)
    end
    redis.call('PUBLISH', live, head .. offset .. '",' .. string.sub(body, 2))
    redis.call('SET', dedupe, offset, 'EX', ttl)
  end
  offsets[i] = offset
end
return offsets
"""

_READ = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local meta = {}
for i = 1, #info, 2 do meta[info[i]] = info[i + 1] end
return {meta['max-deleted-entry-id'], meta['last-generated-id'],
        redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', ARGV[2]),
        meta['entries-added'] - meta['length']}
"""


class Entry(NamedTuple):
    """One retained event: its offset and the complete event frame (JSON text)."""

    offset: str
    frame: str


class History(NamedTuple):
    """What a channel's stream holds after ``since`` (see :func:`read_history`)."""

    since: tuple
    exists: bool
    max_deleted: tuple
    last_id: tuple
    entries: list
    truncated: bool
    #: whether this stream ever trimmed an entry (else its marker only says where it began)
    trimmed: bool = False

    @property
    def recovered(self):
        """True iff ``entries`` are every event after ``since``: nothing trimmed or lost,
        and ``since`` is not beyond anything this stream ever produced."""
        return (self.exists and not self.truncated
                and self.max_deleted <= self.since <= self.last_id)

    @property
    def gap_lost(self):
        """True iff events after ``since`` are known to be gone (trimmed or Redis lost them)."""
        return self.truncated or (self.exists and self.since < self.max_deleted)


def stream_key(channel):
    return STREAM_PREFIX + channel


def parse_offset(offset):
    """``"ms-seq"`` (or bare ``"ms"``, meaning ``ms-0``) -> ``(ms, seq)``; ValueError if invalid."""
    match = _OFFSET.fullmatch(offset) if isinstance(offset, str) else None
    if not match:
        raise ValueError(f"not a stream offset: {offset!r}")
    parts = (int(match.group(1)), int(match.group(2) or 0))
    # the very last id has nothing after it and Redis refuses "(" on it
    if max(parts) > _MAX_PART or parts == (_MAX_PART, _MAX_PART):
        raise ValueError(f"stream offset out of range: {offset!r}")
    return parts


def format_offset(parts):
    return f"{parts[0]}-{parts[1]}"


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


def _frame_head(channel):
    """The event frame up to the opening quote of its offset; the script appends the rest."""
    return '{"op":"event","channel":%s,"offset":"' % json.dumps(channel)


def _frame(channel, offset, body):
    # same concatenation as in _PUBLISH, so history and live frames are byte-identical
    return f'{_frame_head(channel)}{offset}",{body[1:]}'


class Publication(NamedTuple):
    """One event for one channel, as :func:`publish_many` takes it."""

    channel: str
    event_id: int
    event: str
    node_id: str
    ts: object
    data: object


def _publish_call(publications, retention_seconds):
    keys, entries, last, body = [], [], None, None
    for p in publications:
        if not channel_names.is_valid(p.channel):
            raise ValueError(f"unknown channel: {p.channel!r}")
        # an event's channels follow each other and share its body: encoded once
        same = (p.event_id, p.event, p.node_id, p.ts, id(p.data))
        if same != last:
            body = json.dumps(
                {"event_id": p.event_id, "event": p.event, "node_id": p.node_id,
                 "ts": p.ts.isoformat() if hasattr(p.ts, "isoformat") else p.ts,
                 "data": p.data},
                separators=(",", ":"),
            )
            last = same
        keys += [stream_key(p.channel), f"{DEDUPE_PREFIX}{p.channel}:{p.event_id}"]
        entries += [_frame_head(p.channel), body]
    retention = int(retention_seconds)
    args = [LIVE_PUBSUB_CHANNEL, retention * 1000, retention + DEDUPE_GRACE_SECONDS, *entries]
    return keys, args


def _read_call(channel, since, limit):
    parts = parse_offset(since)
    # one more than the limit tells a complete answer from a cut-off one
    return parts, [stream_key(channel)], [format_offset(parts), int(limit) + 1]


def _history(channel, since, limit, raw):
    if not raw:
        return History(since, False, (0, 0), (0, 0), [], False)
    max_deleted, last_id, rows, trimmed_count = raw
    entries = [
        Entry(_text(entry_id), _frame(channel, _text(entry_id), _text(fields[1])))
        for entry_id, fields in rows
    ]
    return History(since, True, parse_offset(_text(max_deleted)), parse_offset(_text(last_id)),
                   entries[:limit], len(entries) > limit, int(trimmed_count) > 0)


class NotReplicated(RuntimeError):
    """Published on the primary, but fewer replicas than asked confirmed it in time: a
    failover now could lose it, so the caller must not count it as published yet."""


def publish_many(redis, publications, *, retention_seconds, replicas=0,
                 replica_timeout_ms=1000):
    """Append each :class:`Publication` to its channel's history and send it live, in
    order, in one atomic script call; return their offsets.

    Each one behaves exactly as :func:`publish` would alone (it is the same script):
    idempotent per ``(channel, event_id)``, trimming on the way. Raises ValueError (before
    calling Redis) if a channel is unknown. With *replicas*, Redis's ``WAIT`` follows on
    the same connection: :class:`NotReplicated` unless that many replicas have the
    entries within *replica_timeout_ms*.
    """
    publications = list(publications)
    if not publications:
        return []
    keys, args = _publish_call(publications, retention_seconds)
    script = redis.register_script(_PUBLISH)
    if replicas:
        # WAIT counts what this connection wrote: the script and WAIT share a pipeline
        with redis.pipeline(transaction=False) as pipe:
            script(keys=keys, args=args, client=pipe)
            pipe.execute_command("WAIT", int(replicas), int(replica_timeout_ms))
            offsets, acknowledged = pipe.execute()
        if int(acknowledged) < int(replicas):
            raise NotReplicated(f"{acknowledged} of {replicas} replica(s) confirmed "
                                f"{len(publications)} publication(s) within "
                                f"{replica_timeout_ms} ms")
        return [_text(o) for o in offsets]
    offsets = script(keys=keys, args=args)
    if not isinstance(offsets, list):
        # a pipeline queued the call (its execute() answers the offsets); iterating it
        # would queue GETs forever (redis-py's __getitem__ is GET)
        return offsets
    return [_text(o) for o in offsets]


def publish(redis, channel, *, event_id, event, node_id, ts, data, retention_seconds):
    """Append one domain event to *channel*'s history and send it live; return its offset.

    Idempotent per ``(channel, event_id)``: publishing the same event again (a retried
    actor) changes nothing and returns the first offset. Entries older than
    *retention_seconds* are trimmed on the way.
    """
    offsets = publish_many(redis, [Publication(channel, event_id, event, node_id, ts, data)],
                           retention_seconds=retention_seconds)
    return offsets[0] if isinstance(offsets, list) else offsets


async def apublish(redis, channel, *, event_id, event, node_id, ts, data, retention_seconds):
    """:func:`publish` for a ``redis.asyncio`` client."""
    keys, args = _publish_call([Publication(channel, event_id, event, node_id, ts, data)],
                               retention_seconds)
    [offset] = await redis.register_script(_PUBLISH)(keys=keys, args=args)
    return _text(offset)


def read_history(redis, channel, since, limit=DEFAULT_READ_LIMIT):
    """The retained entries of *channel* after offset *since* (at most *limit*) and what
    is known about the ones that are gone. Raises ValueError for a malformed *since*."""
    parts, keys, args = _read_call(channel, since, limit)
    return _history(channel, parts, limit, redis.register_script(_READ)(keys=keys, args=args))


async def aread_history(redis, channel, since, limit=DEFAULT_READ_LIMIT):
    """:func:`read_history` for a ``redis.asyncio`` client."""
    parts, keys, args = _read_call(channel, since, limit)
    raw = await redis.register_script(_READ)(keys=keys, args=args)
    return _history(channel, parts, limit, raw)


async def aepoch(redis, candidate):
    """The Redis data epoch: the stored token, or *candidate* once stored in its place.

    The token is written once and persisted with the rest of the data, so it changes
    exactly when Redis comes back without its data (no persistence, or a lost volume).
    """
    previous = await redis.set(EPOCH_KEY, candidate, nx=True, get=True)
    return _text(previous) if previous is not None else candidate


def read_since(redis, channel, since, limit=DEFAULT_READ_LIMIT):
    """``(recovered, entries)``: every retained event after *since*, in order, as
    :class:`Entry` (``.offset``, ``.frame``). ``recovered`` is False when some event
    after *since* is no longer retained, the history is gone, *since* lies beyond the
    stream's last offset, or more than *limit* events follow (reload over HTTP instead).
    """
    history = read_history(redis, channel, since, limit)
    return history.recovered, history.entries


async def aread_since(redis, channel, since, limit=DEFAULT_READ_LIMIT):
    """:func:`read_since` for a ``redis.asyncio`` client."""
    history = await aread_history(redis, channel, since, limit)
    return history.recovered, history.entries

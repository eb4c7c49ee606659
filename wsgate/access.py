"""Sockets lose access within seconds of their user losing it (contract §4, 4003 revoked).

The guard closes a socket when :mod:`realtime.revocation` says its token no longer
holds: at once for announced changes (the hub hands their payloads over), and for every
socket every ``gateway.access_recheck_seconds`` and after every Redis reconnect, in case an
announcement was missed. Checks are batched: one Redis round trip per
:data:`BATCH` sockets.
"""
import asyncio
import json
import logging

from redis.exceptions import RedisError

from realtime import revocation

log = logging.getLogger(__name__)
BATCH = 500


class AccessGuard:
    def __init__(self, hub, redis, *, recheck_seconds=30.0):
        self.hub = hub
        self.redis = redis
        self.recheck_seconds = recheck_seconds
        self._tasks = set()

    # -- hooks the hub calls ------------------------------------------------------
    def on_announcement(self, payload):
        """A user changed or a session ended: re-check the sockets it concerns, now."""
        try:
            change = json.loads(payload)
        except (TypeError, ValueError):
            log.warning("ignoring a malformed revocation: %.200r", payload)
            return
        if not isinstance(change, dict):
            return
        user_id, session = change.get("user_id"), change.get("session")
        concerned = [c for c in self._authenticated()
                     if c.claims.get("uid") == user_id or (session and c.claims.get("sid") == session)]
        if concerned:
            self._spawn(self.check(concerned))

    def on_resubscribed(self):
        self._spawn(self.check(self._authenticated()))

    # -- checking -------------------------------------------------------------------
    async def check(self, clients):
        """Close those of *clients* whose tokens no longer hold (a Redis failure keeps them:
        the next periodic check tries again)."""
        for start in range(0, len(clients), BATCH):
            batch = [c for c in clients[start:start + BATCH] if not c.closed]
            try:
                verdicts = await revocation.avalid(self.redis, [c.claims for c in batch])
            except (RedisError, OSError) as exc:
                log.warning("access check postponed: %s", exc)
                return
            for client, valid in zip(batch, verdicts):
                if not valid:
                    log.info("closing a revoked socket of user %s", client.claims.get("uid"))
                    client.drop(revocation.REVOKED, "revoked")

    async def run(self):
        while True:
            await asyncio.sleep(self.recheck_seconds)
            await self.check(self._authenticated())

    def _authenticated(self):
        return [c for c in self.hub.clients if c.claims is not None and not c.closed]

    def _spawn(self, coroutine):
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

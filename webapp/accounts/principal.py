"""Who a request is, without a database query when Redis already proves it.

A session holds the user's id and ``auth_version``. Checking that against the ``users``
row cost every request a query and an ORM load: a fifth of a check-in. So web nodes keep
a short-lived *record* of each logged-in user in Redis (``absensi:principal:<id>`` =
``{"auth_version", "active", "role", "name", "branch_id"}``), which the session's own
round trip reads along (webapp.sessions). A request whose session names the record's
``auth_version`` of an active user is that user; anything else (no record, another
version, inactive) asks the database, which stays the authority.

Revocation holds because whoever changes a user deletes the record *before* committing
(a request that cannot delete it fails with 503 and changes nothing) and writes the new
one after the commit; until then requests ask the database. A request that read the
database itself only adds a missing record (``SET NX``), so it can never overwrite a
newer one, and every record expires after :data:`RECORD_TTL_SECONDS`: even a lost
after-commit write is corrected within that time.
"""
import json
import logging
from dataclasses import dataclass

from redis.exceptions import RedisError
from webapp.branches.models import Branch

log = logging.getLogger(__name__)

RECORD_PREFIX = "absensi:principal:"
RECORD_TTL_SECONDS = 300


@dataclass(frozen=True)
class Principal:
    """The authenticated user as the permission checks and the check-in need it."""

    id: int
    name: str
    role: str
    branch: Branch
    auth_version: int

    @property
    def is_admin(self):
        return self.role == "admin"

    @property
    def branch_id(self):
        return self.branch.id

    @classmethod
    def of(cls, user):
        return cls(user.id, user.name, user.role, user.branch, user.auth_version)


def record_of(user):
    return json.dumps({"auth_version": user.auth_version, "active": bool(user.active),
                       "role": user.role, "name": user.name, "branch_id": user.branch_id},
                      separators=(",", ":"))


def remember(redis, user, *, only_if_absent=False):
    """Write *user*'s record (after a login or a committed change; ``only_if_absent``
    after a database check, so that it cannot replace a newer record)."""
    redis.set(RECORD_PREFIX + str(user.id), record_of(user), ex=RECORD_TTL_SECONDS,
              nx=only_if_absent)


def forget(redis, user_id):
    """Before a change to the user commits: requests ask the database until
    :func:`remember` writes the new record. Raises when Redis is unreachable."""
    redis.delete(RECORD_PREFIX + str(user_id))


def from_record(raw, *, user_id, auth_version, branch_of):
    """The principal a session proves with Redis's record *raw*, or None (ask the DB)."""
    if not raw:
        return None
    try:
        record = json.loads(raw)
        if not record["active"] or record["auth_version"] != auth_version:
            return None
        branch = branch_of(record["branch_id"])
        if branch is None:
            return None
        return Principal(int(user_id), record["name"], record["role"], branch, auth_version)
    except (ValueError, KeyError, TypeError):
        log.warning("unreadable principal record of user %s", user_id)
        return None


def remember_quietly(redis, user):
    """:func:`remember` with ``only_if_absent`` that never fails the request."""
    try:
        remember(redis, user, only_if_absent=True)
    except RedisError:
        log.warning("could not write the principal record of user %s", user.id, exc_info=True)

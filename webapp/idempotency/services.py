"""``Idempotency-Key`` replay for unsafe requests (contract §3).

The key row is inserted *before* the action, inside the same transaction: a concurrent
request with the same key blocks on the unique index until the first commits, then
reads and replays the stored response instead of acting twice. The first request of a
key costs two statements, an INSERT and the UPDATE that stores its answer: a duplicate
key fails only its own INSERT (MariaDB and SQLite alike), so neither a SELECT before it
nor a SAVEPOINT around it is needed; only a repeat reads the stored row.
"""

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.clock import utcnow_naive
from webapp.db import execute_write
from webapp.errors import ApiError, invalid, json_response
from webapp.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 128
_KEYS = IdempotencyKey.__table__
_STORE_ANSWER = (
    update(_KEYS).where(_KEYS.c.id == bindparam("record_id"))
    .values(status_code=bindparam("answer_status"), response_body=bindparam("answer_body"))
)


def _stored(dbsession, user_id, key):
    return dbsession.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )


def _replay(record, fingerprint):
    if record.fingerprint != fingerprint:
        raise ApiError(
            422, "idempotency_key_reused",
            "Idempotency-Key ini sudah dipakai untuk permintaan lain.",
        )
    return record.status_code, record.response_body, True


def run_once(dbsession, *, user_id, key, fingerprint, action):
    """Return ``(status, body, replayed)``: the stored response, or run ``action()``.

    ``action`` returns ``(status, body)`` or raises :class:`ApiError`; a raised 409
    (a domain conflict) is a response like any other and is stored for replay too.
    """
    if key is None:
        return _run(action) + (False,)
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise invalid({"Idempotency-Key": f"1–{MAX_KEY_LENGTH} karakter yang dapat dicetak."})
    try:
        record_id = execute_write(dbsession, insert(_KEYS), {
            "user_id": user_id, "key": key, "fingerprint": fingerprint,
            "created_at": utcnow_naive(),
        }).inserted_primary_key[0]
    except IntegrityError:
        record = _stored(dbsession, user_id, key)
        if record is None:  # not our unique key that failed
            raise
        return _replay(record, fingerprint)
    status, body = _run(action)
    execute_write(dbsession, _STORE_ANSWER,
                  {"record_id": record_id, "answer_status": status, "answer_body": body})
    return status, body, False


def _run(action):
    try:
        return action()
    except ApiError as error:
        if error.status != 409:
            raise
        return error.status, error.body()


def purge_older_than(dbsession, cutoff):
    """Drop keys past their replay window (run hourly by the scheduler)."""
    return dbsession.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff)).rowcount


def idempotent_response(request, action):
    """Run a POST view's ``action`` at most once per ``Idempotency-Key`` of the user."""
    status, body, replayed = run_once(
        request.dbsession,
        user_id=request.principal.id,
        key=request.headers.get("Idempotency-Key"),
        fingerprint=f"{request.method} {request.path}",
        action=action,
    )
    return json_response(status, body, {"Idempotent-Replayed": "true"} if replayed else None)

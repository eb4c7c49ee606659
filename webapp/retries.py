"""A request whose transaction met a transient database error is tried again, whole.

On a Galera cluster a commit can fail certification against a concurrent write on another
node (MariaDB answers it as a deadlock, 1213), and when the proxy moves writes to another
node the connection in use is lost (2006, 2013, a killed connection) or the node is not
ready yet (1047). None of these wrote anything: the transaction was rolled back (a commit
whose answer was lost may have gone through, which is why the retry is safe only because
every write is guarded: one attendance per user and work date by a unique index, an
``Idempotency-Key`` replayed from the row written in the same transaction, the outbox row
in that transaction too). pyramid_retry sends the request through the app again, on a new
session and connection, after a short pause; the last attempt's error is the answer
(503 with ``Retry-After``, and the pages retry with the same key).
"""
import logging
import time

from pyramid_retry import BeforeRetry, mark_error_retryable
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

#: MySQL/MariaDB error numbers after which the whole transaction may simply run again
TRANSIENT_ERRORS = {
    1213: "deadlock or Galera certification failure",
    1047: "node not ready (WSREP)",
    1927: "connection killed",
    2003: "cannot connect",
    2006: "server gone away",
    2013: "connection lost",
}
#: pause before attempt n (1-based): writes move to another node within seconds
BACKOFF_SECONDS = (0.05, 0.2, 0.5)


def transient_code(error):
    """The MySQL error number of *error* if it is one of :data:`TRANSIENT_ERRORS`."""
    if not isinstance(error, DBAPIError) or not getattr(error.orig, "args", None):
        return None
    code = error.orig.args[0]
    return code if code in TRANSIENT_ERRORS else None


def mark_if_transient(error):
    """Let pyramid_retry try the request again when *error* is transient (called by the
    exception view that answers database outages, during the request or at its commit)."""
    if transient_code(error) is not None:
        mark_error_retryable(error)


def _pause_before_retry(event):
    attempt = event.environ.get("retry.attempt", 0) + 1
    log.warning("%s %s: transient database error (%s), trying attempt %d",
                event.request.method, event.request.path,
                TRANSIENT_ERRORS.get(transient_code(event.exception), type(event.exception)),
                attempt + 1)
    time.sleep(BACKOFF_SECONDS[min(attempt, len(BACKOFF_SECONDS)) - 1])


def includeme(config):
    settings = config.get_settings()
    settings["retry.attempts"] = int(settings.get("database.request_attempts", 3))
    config.include("pyramid_retry")
    config.add_subscriber(_pause_before_retry, BeforeRetry)

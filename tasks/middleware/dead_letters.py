"""Why a message was dead-lettered, kept next to Dramatiq's own dead-letter queue.

The Redis broker moves a rejected message to ``<queue>.XQ`` as it was last enqueued,
which does not say what finally went wrong; ``absensi dlq list`` shows what this
middleware records at that moment.
"""
import json
import time

from dramatiq import Middleware

ERROR_KEY_PREFIX = "absensi:dlq:error:"
#: as long as the broker keeps the dead message itself (Dramatiq's default: 7 days)
ERROR_TTL_SECONDS = 7 * 24 * 3600
_ERROR = "absensi_error"


def error_key(redis_message_id):
    return f"{ERROR_KEY_PREFIX}{redis_message_id}"


class DeadLetterLog(Middleware):
    """Records ``{"error", "failed_at"}`` for each dead-lettered message of a Redis broker."""

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None:
            message.options[_ERROR] = f"{type(exception).__name__}: {exception}"

    def after_skip_message(self, broker, message):
        message.options.setdefault(_ERROR, "skipped: message age limit exceeded")

    def after_nack(self, broker, message):
        client = getattr(broker, "client", None)
        redis_message_id = message.options.get("redis_message_id")
        if client is None or redis_message_id is None:
            return  # not a Redis broker (the StubBroker keeps its dead letters itself)
        error = message.options.get(_ERROR)
        if error is None and message.actor_name not in broker.actors:
            error = f"unknown actor {message.actor_name!r}"
        record = {"error": error or "rejected", "failed_at": int(time.time() * 1000)}
        client.set(error_key(redis_message_id), json.dumps(record), ex=ERROR_TTL_SECONDS)

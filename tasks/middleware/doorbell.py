"""Prompt shutdown for consumers that block on the doorbell (:mod:`tasks.doorbell`)."""
from dramatiq import Middleware


class WakeConsumersAtShutdown(Middleware):
    """Wakes this process's blocked consumers when the worker begins to stop, and makes
    them poll from then on, so that stopping does not wait out an idle wait."""

    def after_worker_boot(self, broker, worker):
        if hasattr(broker, "closing"):
            broker.closing = False  # a broker reused by a new worker (tests)

    def before_worker_shutdown(self, broker, worker):
        wake = getattr(broker, "wake_consumers", None)
        if wake is not None:  # the StubBroker of tests has no doorbell
            try:
                wake()
            except Exception:  # noqa: BLE001 - they wake on their own within seconds
                pass

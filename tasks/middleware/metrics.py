"""Dramatiq's Prometheus middleware, served by our own exposition (:mod:`tasks.metrics`).

Import only in worker processes, after :func:`webapp.multiproc.prepare` exported the
directory: Dramatiq's module reads ``dramatiq_prom_db`` when it is imported.
"""
from dramatiq.middleware.prometheus import Prometheus


class WorkerMetrics(Prometheus):
    """Dramatiq's message metrics; its own server is replaced by :func:`tasks.metrics.serve`,
    which also shows the backlog and listens where the settings say."""

    @property
    def forks(self):
        from tasks.metrics import serve

        return [serve]

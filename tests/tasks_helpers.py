"""Helpers for tests of the background work: outbox rows, and real ``absensi worker`` /
``scheduler`` processes."""
import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from webapp.events.models import OutboxEvent
from webapp.settings import REPO_ROOT


def add_outbox_event(session_factory, *, user_id=7, event_type="attendance.created",
                     node_id="app-node-2", created_at=None, payload=None, channels=None):
    """Commit one outbox row (as a web node would) and return its id."""
    created_at = created_at or dt.datetime.now(dt.timezone.utc).replace(
        tzinfo=None, microsecond=0)
    with session_factory() as session:
        event = OutboxEvent(
            event_type=event_type, aggregate_id=100 + user_id, user_id=user_id,
            node_id=node_id, created_at=created_at, attempts=0, channels=channels,
            payload=payload or {"id": 100 + user_id, "user": {"id": user_id, "name": "Ani"},
                                "branch": "BDG", "status": "present"},
        )
        session.add(event)
        session.commit()
        return event.id


class CliProcess:
    """An ``absensi`` command (e.g. ``worker``, ``scheduler``) as a child process in its own
    process group, configured through the environment like the cluster's processes.
    :meth:`kill` is a hard stop of the whole group; :meth:`start` starts it again."""

    def __init__(self, *args, database_url, redis_url, env=None):
        self.env = {
            **os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
            "PYTHONPATH": str(REPO_ROOT), **(env or {}),
        }
        self.argv = [sys.executable, "-m", "webapp.cli", *args]
        self.log = Path(tempfile.mkstemp(prefix=f"absensi-{args[0]}-", suffix=".log")[1])
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the process and remove its log."""
        code = self.stop()
        self.log.unlink(missing_ok=True)
        return code

    def start(self):
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        return self

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self):
        """SIGKILL the whole group (e.g. dramatiq's master and its workers), as a crash would."""
        if self.alive():
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code (SIGKILL if it does not stop in time)."""
        if not self.alive():
            return self.process and self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def output(self):
        return self.log.read_text(errors="replace")


def worker_process(*, node_id="worker-t", processes=1, threads=2, env=None, **kwargs):
    return CliProcess("worker", "--processes", str(processes), "--threads", str(threads),
                      env={"WORKER_ID": node_id, **(env or {})}, **kwargs)


def scheduler_process(*, node_id="scheduler-t", env=None, **kwargs):
    return CliProcess("scheduler", env={"SCHEDULER_ID": node_id, **(env or {})}, **kwargs)

"""Run Procfile entries one by one, for tests that stop, kill and restart single nodes.

honcho runs ``make run`` but treats the Procfile as one unit (one process ends, all end);
fault tests need to take down one web node and bring it back. This runs the very same
commands the same way honcho does (``/bin/sh -c``, one process group per entry, SIGTERM
to the group, SIGKILL after a grace period), with each entry's output in its own log file.
"""
import os
import signal
import subprocess
import time
from pathlib import Path


class Supervisor:
    """Start, stop, kill and restart named :class:`cluster.topology.ProcessSpec` entries."""

    def __init__(self, specs, *, env, cwd, log_dir):
        self.specs = {spec.name: spec for spec in specs}
        self.env = env
        self.cwd = str(cwd)
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.processes = {}
        self._stopped = set()  # stopped on purpose: not reported by exited()

    def log_path(self, name):
        return self.log_dir / f"{name}.log"

    def start(self, name):
        if self.alive(name):
            return self.processes[name]
        spec = self.specs[name]
        self._stopped.discard(name)
        with open(self.log_path(name), "ab") as log:
            log.write(f"--- {time.strftime('%H:%M:%S')} starting {name}\n".encode())
            log.flush()
            self.processes[name] = subprocess.Popen(
                ["/bin/sh", "-c", spec.command], cwd=self.cwd, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.processes[name]

    def alive(self, name):
        process = self.processes.get(name)
        return process is not None and process.poll() is None

    def pid(self, name):
        return self.processes[name].pid if self.alive(name) else None

    def send(self, name, sig):
        """Send *sig* to the entry's whole process group (a gunicorn arbiter and its workers)."""
        process = self.processes.get(name)
        if process is None:
            return
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self, name, sig=signal.SIGKILL):
        """Hard stop (fault tests): the node vanishes mid-request, as in a crash."""
        self._stopped.add(name)
        self.send(name, sig)
        self._reap(name, timeout=15)

    def stop(self, name, timeout=20):
        """Graceful stop: SIGTERM to the group, SIGKILL for what is left after *timeout*."""
        if name not in self.processes:
            return
        self._stopped.add(name)
        self.send(name, signal.SIGTERM)
        if not self._reap(name, timeout=timeout):
            self.send(name, signal.SIGKILL)
            self._reap(name, timeout=10)

    def restart(self, name, timeout=20):
        self.stop(name, timeout=timeout)
        return self.start(name)

    def start_all(self, names=None):
        for name in names or self.specs:
            self.start(name)

    def stop_all(self, timeout=20, last=("redis",)):
        """Stop every entry: all at once (SIGTERM to each group), then the *last* ones, so
        the others can still say goodbye to Redis (heartbeats) while they shut down."""
        names = list(reversed(list(self.processes)))
        self._stopped.update(names)
        for batch in ([n for n in names if n not in last], [n for n in names if n in last]):
            for name in batch:
                self.send(name, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            for name in batch:
                if not self._reap(name, timeout=max(0.1, deadline - time.monotonic())):
                    self.send(name, signal.SIGKILL)
                    self._reap(name, timeout=10)

    def exited(self):
        """Entries that ended without being stopped or killed here: name -> exit code."""
        return {name: process.returncode for name, process in self.processes.items()
                if name not in self._stopped and process.poll() is not None}

    def log_tail(self, name, lines=30):
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _reap(self, name, timeout):
        """Wait for the leader and for the rest of its group; True when all are gone."""
        process = self.processes.get(name)
        if process is None:
            return True
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        deadline = time.monotonic() + timeout
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not group_alive(process.pid)


def group_alive(pgid):
    """True while a process of group *pgid* runs (zombies waiting for a reaper don't count)."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # fields after the parenthesised command name: state ppid pgrp ...
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False

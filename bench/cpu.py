"""Where the CPU went during a round: CPU seconds per role of this process's tree (the
servers and the generators are all our descendants), plus the whole machine's busy time
from /proc/stat, so that load from outside the benchmark shows up instead of hiding in
the latencies."""
import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")

#: (substring of the command line, role), first match wins
ROLES = (
    ("mariadbd", "MariaDB"),
    ("redis-server", "Redis"),
    ("nginx", "nginx"),
    ("gunicorn", "web nodes"),
    ("absensi worker", "Dramatiq worker"),
    ("dramatiq", "Dramatiq worker"),
    ("absensi gateway", "gateway"),
    ("-m wsgate", "gateway"),
    ("absensi scheduler", "scheduler"),
    ("bench.loadgen", "load generator"),
    ("bench.wsclients", "websocket clients"),
    ("bench.dashboards", "dashboards"),
)
#: the roles that drive the system rather than serve it
CLIENT_ROLES = frozenset({"load generator", "websocket clients", "dashboards",
                          "bench (this process)"})


def _processes():
    """pid -> (ppid, cpu seconds, cmdline) for every process we can read."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
        # cmajflt utime stime ...
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                                  cmdline)
    return table


def _machine():
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def _role(cmdline):
    return next((role for needle, role in ROLES if needle in cmdline), "bench (this process)")


def snapshot(root=None):
    """CPU seconds so far per role of *root*'s process tree (default: this process),
    and the machine's counters."""
    root = root or os.getpid()
    table = _processes()
    children = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    per_pid, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            per_pid[pid] = (_role(table[pid][2]), table[pid][1])
        todo += children.get(pid, [])
    return per_pid, _machine()


def usage(before, after, *, extra=None):
    """CPU seconds per role between two snapshots (processes that started in between
    count from zero; *extra* adds roles measured elsewhere, e.g. a finished generator),
    the machine's busy CPU seconds and the share of it used outside our tree."""
    (pids_before, (busy0, total0)), (pids_after, (busy1, total1)) = before, after
    roles = {}
    for pid, (role, seconds) in pids_after.items():
        start = pids_before.get(pid, (role, 0.0))[1]
        roles[role] = roles.get(role, 0.0) + max(0.0, seconds - start)
    for role, seconds in (extra or {}).items():
        roles[role] = roles.get(role, 0.0) + seconds
    busy = (busy1 - busy0) / TICK
    capacity = (total1 - total0) / TICK
    return {"roles": roles, "busy": busy, "capacity": capacity,
            "outside": max(0.0, busy - sum(roles.values()))}


def server_seconds(report):
    """CPU-seconds of the system under test in a :func:`usage` report (no clients)."""
    return sum(seconds for role, seconds in report["roles"].items()
               if role not in CLIENT_ROLES)


def describe(report):
    """One line: ``web nodes 12.1 s, MariaDB 3.0 s, ... of 28.0 CPU-s (busy 96 %)``."""
    parts = [f"{role} {seconds:.1f}" for role, seconds in
             sorted(report["roles"].items(), key=lambda item: -item[1]) if seconds >= 0.05]
    parts.append(f"outside the benchmark {report['outside']:.1f}")
    share = 100 * report["busy"] / report["capacity"] if report["capacity"] else 0
    return (f"CPU-seconds in the round: {', '.join(parts)}; machine busy {share:.0f} % of "
            f"{report['capacity']:.1f} CPU-s")


def speed_check(rounds=5):
    """Milliseconds for a fixed pure-Python loop (best of *rounds*): the same number on
    two runs means the host gave the same CPU speed; shared hosts vary."""
    import time

    best = None
    for _ in range(rounds):
        began = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        elapsed = time.perf_counter() - began
        best = elapsed if best is None else min(best, elapsed)
    return best * 1000

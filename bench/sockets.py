"""Scenario *10,000 sockets through nginx* (issue 9): the cluster's own gateway, reached
the way browsers reach it, holds N subscribed sockets and fans one event out to them.

:func:`sockets_through_nginx` spreads the clients over several ``fanout`` processes of
:mod:`bench.wsclients` (one Python process would be the bottleneck), all on the cluster's
``/ws`` through nginx; each socket authenticates and subscribes to ``attendances``. It
counts the connected ones, publishes one event as the publisher does
(:func:`realtime.streams.publish`), and measures the time to each socket's frame
and the gateway's RSS per socket.
"""
import datetime as dt
import random
import time
from pathlib import Path

from bench import cpu
from bench.report import Row
from bench.scenarios import _fake_attendance
from bench.stack import rss_kib
from bench.wsclients import Fanout

LAST_FRAME_MS = 1000
KIB_PER_SOCKET = 20
#: sockets per client process: a Python process reads ~5,000 frames in a few hundred ms
SOCKETS_PER_PROCESS = 2500
GATEWAY = "gateway-1"


def _shares(clients, processes):
    base, extra = divmod(clients, processes)
    return [base + (1 if n < extra else 0) for n in range(processes) if base or n < extra]


def _group_rss_kib(pgid):
    """RSS of every process in group *pgid* (nginx's master and workers), in KiB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                total += rss_kib(int(stat.parent.name))
        except (OSError, IndexError, ValueError, RuntimeError):
            continue  # gone meanwhile
    return total


def _publish(stack, marker):
    import redis

    from realtime import streams

    client = redis.Redis.from_url(stack.cluster.redis_url, decode_responses=True)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        began = time.monotonic()
        streams.publish(client, "attendances", event_id=marker, event="attendance.created",
                        node_id="bench", ts=now, data=_fake_attendance(marker, 1, now),
                        retention_seconds=int(
                            stack.settings["realtime.history_retention_seconds"]))
        return began
    finally:
        client.close()


def sockets_through_nginx(stack, *, clients=10000, processes=None, log=print):
    """*clients* sockets through the cluster's nginx to its one gateway, one event."""
    pid = stack.cluster.supervisor.pid(GATEWAY)
    if pid is None:
        raise RuntimeError(f"{GATEWAY} is not running")
    processes = processes or max(2, -(-clients // SOCKETS_PER_PROCESS))
    idle = rss_kib(pid)
    nginx = stack.cluster.supervisor.pid("nginx")
    nginx_idle = _group_rss_kib(nginx)
    token = stack.realtime_token(stack.admin_headers())
    marker = random.randint(900_000_000, 999_999_999)
    fans = [Fanout(url=stack.cluster.ws_url, token=token, clients=share, event_id=marker,
                   connect_concurrency=25)
            for share in _shares(clients, processes)]
    finished = False
    try:
        began = time.monotonic()
        for fan in fans:
            fan.start()
        readies = [fan.ready(timeout=600) for fan in fans]
        connect_seconds = time.monotonic() - began
        connected = sum(r["ready"] for r in readies)
        failed = sum(r["failed"] for r in readies)
        errors = [e for r in readies for e in r["errors"]][:5]
        log(f"  {connected} of {clients} sockets subscribed through nginx in "
            f"{connect_seconds:.1f} s over {len(fans)} processes ({failed} failed"
            + (f": {errors}" if errors else "") + ")")
        time.sleep(1)
        loaded = rss_kib(pid)
        nginx_loaded = _group_rss_kib(nginx)
        cpu_before = cpu.snapshot()
        published = _publish(stack, marker)
        results = [fan.result(timeout=120) for fan in fans]
        spent = cpu.describe(cpu.usage(cpu_before, cpu.snapshot()))
        spent = spent.replace("in the round", "from the publish to the last socket")
        after = rss_kib(pid)
        finished = True
    finally:
        for fan in fans:
            fan.close(timeout=30 if finished else 0.1)

    samples = sorted((t - published) * 1000 for r in results for t in r["received"])
    missing = sum(r["missing"] for r in results)
    last = samples[-1] if samples else None
    per_socket = (loaded - idle) / max(connected, 1)
    log(f"  last frame after {last:.0f} ms ({len(samples)} received, {missing} missing); "
        f"gateway RSS {idle / 1024:.1f} MiB idle -> {loaded / 1024:.1f} MiB with sockets "
        f"({per_socket:.1f} KiB each) -> {after / 1024:.1f} MiB after the event"
        if last is not None else f"  no frame received ({missing} missing)")
    row = Row(f"Sockets through nginx: 1 gateway, {clients} sockets, 1 event", clients,
              str(clients), samples, errors=failed + missing + (clients - connected - failed),
              target=f"all connect, last ≤ {LAST_FRAME_MS / 1000:g} s, "
                     f"≤ {KIB_PER_SOCKET} KiB/socket")
    row.max = last
    row.throughput = (f"{len(samples) / (last / 1000):.0f} msg/s" if last else "-") + \
        f"; {per_socket:.1f} KiB/socket"
    row.passed = (connected == clients and missing == 0 and last is not None
                  and last <= LAST_FRAME_MS and per_socket <= KIB_PER_SOCKET)
    row.notes.append(
        f"{connected} of {clients} websockets through the cluster's nginx to its one gateway "
        f"process ({len(fans)} client processes), each authenticated and subscribed to "
        f"`attendances` in {connect_seconds:.1f} s; percentiles from the publish call "
        f"(Redis script) to each socket reading the frame; gateway RSS "
        f"{idle / 1024:.1f} MiB before the sockets, {loaded / 1024:.1f} MiB with them "
        f"(**{per_socket:.1f} KiB per socket**), {after / 1024:.1f} MiB after the event; "
        f"nginx (all processes) {nginx_idle / 1024:.1f} -> {nginx_loaded / 1024:.1f} MiB "
        f"({(nginx_loaded - nginx_idle) / max(connected, 1):.1f} KiB per socket); "
        f"errors = sockets that did not connect or never got the event"
        + (f" ({errors})" if errors else ""))
    row.notes.append(spent)
    return row

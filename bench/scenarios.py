"""The scenarios of issues 4 and 9; each returns :class:`bench.report.Row` objects.

- :func:`rush`: distinct employees check in through nginx at each concurrency, after a
  ``GET /healthz`` round at the same concurrency (the bare endpoint to compare with),
  while an admin socket listens on ``attendances`` (:func:`broadcast`); some rounds with
  admin dashboards open (:mod:`bench.dashboards`), whose final counts must equal the
  database's.
- :func:`fanout`: N sockets on one gateway, one event published, time to the last one.
- :func:`queue`: N unpublished outbox events enqueued, time until all are published.
"""
import collections
import datetime as dt
import random
import time
import uuid

from cluster.topology import WORKER_PROCESSES
from bench import cpu, loadgen
from bench.report import Row
from bench.dashboards import Dashboards, database_counts
from bench.stack import rss_kib
from bench.wsclients import Fanout, Listener

CHECK_IN_P95_MS = 100
BROADCAST_P99_MS = 250
#: check-in throughput with N dashboards open ÷ without, at least: a few dashboards are
#: (nearly) free, a hundred cost at most a tenth (other counts: the nearest below)
DASHBOARD_THROUGHPUT_RATIOS = {20: 0.95, 100: 0.9}
#: servers' CPU per check-in ÷ per ``GET /healthz`` in the same run, at most
CHECK_IN_CPU_RATIO = 3
#: every rush round: the broadcast's p99 at the admin socket ÷ the check-in's p95, at most
#: (the event reaches the dashboards no later than most clients get their answer)
BROADCAST_TO_CHECK_IN_RATIO = 1
FANOUT_LAST_MS = 1000
QUEUE_DRAIN_MS = 5000
#: think time of the quiet round: long enough for the worker to go idle in between
QUIET_PAUSE = (0.2, 2.0)


def _latencies(result, ok):
    return [(end - start) * 1000 for start, end, status, _, _ in result["results"]
            if status in ok]


def _errors(result, ok):
    bad = [(status, error) for _, _, status, error, _ in result["results"] if status not in ok]
    kinds = collections.Counter(f"HTTP {s}" if s else (e or "?").split(":")[0] for s, e in bad)
    return len(bad), kinds


def _rate(count, result):
    seconds = result["ended"] - result["began"]
    return f"{count / seconds:.0f} req/s" if seconds > 0 else "-"


def _measured(host, port, requests, **kwargs):
    """:func:`loadgen.run` (its result also gets ``server_cpu_seconds``: the servers'
    CPU meanwhile) and a description of where the CPU went."""
    before = cpu.snapshot()
    result = loadgen.run(host, port, requests, **kwargs)
    spent = cpu.usage(before, cpu.snapshot(),
                      extra={"load generator": result["cpu_seconds"]})
    result["server_cpu_seconds"] = cpu.server_seconds(spent)
    return result, cpu.describe(spent)


def _per_request_ms(server_seconds, answered):
    return 1000 * server_seconds / answered if answered else None


def healthz_round(stack, *, count, concurrency):
    host, port = stack.host_port()
    result, spent = _measured(host, port, [["GET", "/healthz", {}, None]] * count,
                              concurrency=concurrency)
    errors, kinds = _errors(result, {200})
    row = Row(f"`GET /healthz` (bare), {concurrency} clients", count, str(concurrency),
              _latencies(result, {200}), _rate(count - errors, result), errors)
    row.server_cpu_ms = _per_request_ms(result["server_cpu_seconds"], count - errors)
    row.notes.append(spent)
    if kinds:
        row.notes.append(f"errors: {dict(kinds)}")
    return row


def checkin_round(stack, sessions, *, concurrency, bare=None, pause=None, dashboards=0):
    """Every session checks in once (one request each, with its own Idempotency-Key).

    *bare*: the ``/healthz`` row of the same concurrency (for the ratio); *pause*: think
    time between a client's requests (the quiet round); *dashboards*: how many are open
    (only named in the row)."""
    host, port = stack.host_port()
    requests = [
        ["POST", "/api/attendance/check-in",
         {**headers, "Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())},
         "{}"]
        for headers in sessions
    ]
    result, spent = _measured(host, port, requests, concurrency=concurrency,
                              capture="checkin", pause=pause)
    errors, kinds = _errors(result, {201})
    samples = _latencies(result, {201})
    name = (f"Check-in, quiet: {concurrency} client, {pause[0]:g}–{pause[1]:g} s pauses"
            if pause else f"Check-in (morning rush), {concurrency} clients")
    if dashboards:
        name += f", {dashboards} dashboards open"
    row = Row(name, len(requests), str(concurrency), samples,
              _rate(len(requests) - errors, result), errors)
    row.server_cpu_ms = _per_request_ms(result["server_cpu_seconds"], len(requests) - errors)
    seconds = result["ended"] - result["began"]
    row.rate = (len(requests) - errors) / seconds if seconds > 0 else None
    if pause or dashboards:
        pass  # informational here: the dashboards' target is set by dashboards_round
    elif concurrency == 100:
        row.target, row.passed = f"p95 ≤ {CHECK_IN_P95_MS} ms", (
            errors == 0 and row.p(95) is not None and row.p(95) <= CHECK_IN_P95_MS)
    elif concurrency == 200:
        row.target, row.passed = "0 errors", errors == 0
    nodes = collections.Counter(data["node"] for _, _, status, _, data in result["results"]
                                if status == 201)
    if bare is not None and row.p(50) and bare.p(50) and bare.p(95):
        row.ratio = f"×{row.p(50) / bare.p(50):.1f} / ×{row.p(95) / bare.p(95):.1f}"
    served = "served by " + ", ".join(f"{node} {n}" for node, n in sorted(nodes.items()))
    if bare is not None:
        served += ("; × bare = this latency / `GET /healthz`'s in the round just before, "
                   "at the same concurrency")
    row.notes.append(served)
    row.notes.append(spent)
    if kinds:
        row.notes.append(f"errors: {dict(kinds)}")
    answered = {data["id"]: end for _, end, status, _, data in result["results"]
                if status == 201 and data and data["id"]}
    return row, answered


def sweep_requeues(stack):
    """``(events, messages)`` the relay sweep has re-enqueued so far (its per-event
    counters in Redis live a day): duplicates of messages that were merely queued."""
    import redis

    from tasks.outbox.sweep import REQUEUE_COUNT_PREFIX

    client = redis.Redis.from_url(stack.cluster.redis_url, decode_responses=True)
    try:
        keys = list(client.scan_iter(match=REQUEUE_COUNT_PREFIX + "*", count=1000))
        counts = [int(value) for value in client.mget(keys) if value] if keys else []
    finally:
        client.close()
    return len(counts), sum(counts)


def _requeued_note(before, after):
    events, messages = after[0] - before[0], after[1] - before[1]
    return (f"the relay sweep re-enqueued {events} of these events ({messages} extra "
            f"messages for the worker) because they were still unpublished "
            f"> `outbox.sweep_min_age_seconds` after commit")


def wait_outbox_empty(stack, timeout=120):
    """Until every outbox row is published (bounded); returns the seconds waited."""
    from sqlalchemy import func, select

    from webapp.events.models import OutboxEvent

    began = time.monotonic()
    while time.monotonic() - began < timeout:
        with stack.session_factory() as session:
            pending = session.scalar(select(func.count()).select_from(OutboxEvent)
                                     .where(OutboxEvent.published_at.is_(None)))
        if not pending:
            return time.monotonic() - began
        time.sleep(0.1)
    raise RuntimeError(f"{pending} outbox events still unpublished after {timeout} s")


def broadcast(answered, events, *, label):
    """Row for one round: response received (loadgen) -> event at the admin socket."""
    first_seen, seen_ids = {}, collections.Counter()
    for received, event_id, event, attendance_id in events:
        if event == "attendance.created" and attendance_id in answered:
            seen_ids[event_id] += 1
            first_seen.setdefault(attendance_id, received)
    samples = [(first_seen[a] - end) * 1000 for a, end in answered.items() if a in first_seen]
    missing = len(answered) - len(first_seen)
    duplicates = sum(n - 1 for n in seen_ids.values())
    target = f"p99 ≤ {BROADCAST_P99_MS} ms"
    # the target is for the rush; the quiet round shows where it stands without load
    row = Row(f"Broadcast to admin socket, {label}", len(answered), "1", samples,
              errors=missing, target=f"({target})" if label.startswith("quiet") else target)
    if first_seen:
        span = max(first_seen.values()) - min(first_seen.values())
        row.throughput = f"{len(first_seen) / span:.0f} ev/s" if span > 0 else "-"
    row.passed = missing == 0 and bool(samples) and row.p(99) <= BROADCAST_P99_MS
    early = sum(1 for s in samples if s < 0)
    row.notes.append(
        f"from the check-in response read by the load generator to the `attendance.created` "
        f"frame at one admin socket through nginx, matched by attendance id; errors = events "
        f"never received; {duplicates} duplicates; {early} arrived before the HTTP response "
        f"(negative latency, counted as is)")
    return row


def rush(stack, rounds, *, quiet=(), log=print):
    """*rounds*: ``[(concurrency, sessions, dashboards), ...]``: each round's sessions check
    in at that concurrency with that many admin dashboards open; *quiet*: sessions that
    check in first, one at a time with pauses (the broadcast path without CPU contention).
    Returns the rows of every round, then the ratios between them."""
    admin = stack.admin_headers()
    listener = Listener(url=stack.cluster.ws_url, token=stack.realtime_token(admin),
                        origin=stack.cluster.base_url).start()
    rows, answered, checkins, plain, watched = [], [], [], {}, []
    try:
        if quiet:
            row, ids = checkin_round(stack, quiet, concurrency=1, pause=QUIET_PAUSE)
            log(f"  quiet check-ins: p50 {row.p(50):.0f} ms, p95 {row.p(95):.0f} ms")
            rows.append(row)
            answered.append(("quiet: 1 check-in at a time", ids))
            checkins.append(row)
        for concurrency, sessions, dashboards in rounds:
            bare = healthz_round(stack, count=len(sessions), concurrency=concurrency)
            log(f"  /healthz at {concurrency}: p50 {bare.p(50):.1f} ms, p95 {bare.p(95):.1f} ms")
            requeued = sweep_requeues(stack)
            boards = Dashboards(stack, dashboards).start() if dashboards else None
            try:
                row, ids = checkin_round(stack, sessions, concurrency=concurrency, bare=bare,
                                         dashboards=dashboards)
                waited = wait_outbox_empty(stack)
                truth = database_counts(stack) if boards else None
            finally:
                reports = boards.stop() if boards else None
            log(f"  check-in at {concurrency} ({dashboards} dashboards): p50 {row.p(50):.0f} ms,"
                f" p95 {row.p(95):.0f} ms, {row.errors} errors, {row.throughput}\n"
                f"    {row.notes[1]}\n  outbox empty {waited:.1f} s after the round")
            row.notes.append(f"outbox empty {waited:.1f} s after the round's last answer; "
                             + _requeued_note(requeued, sweep_requeues(stack)))
            rows += [bare, row]
            label = f"rush at {concurrency}" + (f", {dashboards} dashboards" if dashboards else "")
            answered.append((label, ids))
            checkins.append(row)
            if dashboards:
                watched.append((row, reports, truth))
            else:
                plain.setdefault(concurrency, (bare, row))
        time.sleep(1)  # the last frames' way from Redis through the gateway and nginx
    finally:
        heard = listener.stop()
    ratios = []
    for (label, ids), checkin in zip(answered, checkins):
        rows.append(broadcast(ids, heard["events"], label=label))
        if not label.startswith("quiet"):
            ratios.append(broadcast_ratio(rows[-1], checkin))
    rows += ratios
    if heard["closed"]:
        rows[-1].notes.append(f"admin socket closed early: {heard['closed']}")
    for row, reports, truth in watched:
        rows += dashboard_rows(row, reports, truth, plain.get(int(row.clients), (None, None))[1])
    if 100 in plain:
        rows.append(cpu_ratio(*plain[100]))
    return rows


def dashboard_rows(row, reports, truth, without):
    """The throughput with dashboards open against the same concurrency without them, and
    whether every dashboard's final counts equal the database's."""
    rows = []
    if without is not None and row.rate and without.rate:
        ratio, wanted = row.rate / without.rate, dashboard_throughput_target(len(reports))
        rows.append(Row(f"Throughput of check-ins with {len(reports)} dashboards ÷ without, "
                        f"{row.clients} clients", row.count, row.clients,
                        throughput=f"{ratio:.2f} ({row.rate:.0f} ÷ {without.rate:.0f} req/s)",
                        target=f"≥ {wanted}", passed=ratio >= wanted))
    wrong = [r for r in reports if r["summaries"] != truth or r["closed"]]
    requests = sum(r["requests"] for r in reports)
    check = Row(f"Dashboards' final counts = database counts ({len(reports)} dashboards)",
                len(reports), str(len(reports)), errors=len(wrong), target="always",
                throughput=f"{requests} HTTP requests", passed=not wrong)
    check.notes.append(
        "each dashboard (bench/dashboards.py, as dashboard.js) loads `/api/attendances/today` "
        "once per branch, then applies `attendances` events and versioned `summaries` frames; "
        "errors = dashboards whose counts differ from `webapp.attendance.today.summary` on "
        "the database after the round (or whose socket closed); HTTP requests = all of them, "
        "incl. the first load (4 per dashboard)")
    if wrong:
        check.notes.append(f"first mismatch: {wrong[0]['summaries']} vs database {truth}")
    rows.append(check)
    return rows


def dashboard_throughput_target(dashboards):
    """The least throughput ratio for *dashboards* open (the nearest count at or below it
    in :data:`DASHBOARD_THROUGHPUT_RATIOS`; fewer than the smallest: the strictest)."""
    counts = sorted(DASHBOARD_THROUGHPUT_RATIOS)
    at_or_below = [c for c in counts if c <= dashboards] or counts[:1]
    return DASHBOARD_THROUGHPUT_RATIOS[at_or_below[-1]]


def broadcast_ratio(broadcast_row, checkin):
    """The broadcast's p99 at the admin socket ÷ the same round's check-in p95."""
    row = Row(f"Broadcast p99 ÷ check-in p95, {broadcast_row.scenario.split(', ', 1)[1]}",
              broadcast_row.count, checkin.clients, target=f"≤ {BROADCAST_TO_CHECK_IN_RATIO}")
    if broadcast_row.samples and checkin.samples:
        ratio = broadcast_row.p(99) / checkin.p(95)
        row.throughput = f"{ratio:.2f} ({broadcast_row.p(99):.0f} ÷ {checkin.p(95):.0f} ms)"
        row.passed = broadcast_row.errors == 0 and ratio <= BROADCAST_TO_CHECK_IN_RATIO
    return row


def cpu_ratio(bare, checkin):
    """Servers' CPU per check-in against per ``GET /healthz`` in the same run."""
    row = Row(f"Servers' CPU per check-in ÷ per `GET /healthz`, {checkin.clients} clients",
              checkin.count, checkin.clients, target=f"≤ {CHECK_IN_CPU_RATIO}")
    if bare.server_cpu_ms and checkin.server_cpu_ms:
        ratio = checkin.server_cpu_ms / bare.server_cpu_ms
        row.throughput = (f"{ratio:.1f} ({checkin.server_cpu_ms:.1f} ÷ "
                          f"{bare.server_cpu_ms:.2f} CPU-ms)")
        row.passed = ratio <= CHECK_IN_CPU_RATIO
    row.notes.append("CPU-seconds of every server process (nginx, web nodes, worker, gateway, "
                     "scheduler, MariaDB, Redis; not the generators) during the round, per "
                     "answered request, from /proc")
    return row


def count_attendances(stack, user_ids):
    from sqlalchemy import func, select

    from webapp.attendance.models import Attendance

    with stack.session_factory() as session:
        rows = session.scalar(select(func.count()).select_from(Attendance)
                              .where(Attendance.user_id.in_(user_ids)))
        users = session.scalar(select(func.count(func.distinct(Attendance.user_id)))
                               .where(Attendance.user_id.in_(user_ids)))
    return rows, users


def _fake_attendance(attendance_id, user_id, now):
    stamp = now.isoformat()
    return {"id": attendance_id, "user": {"id": user_id, "name": "Bench"}, "branch": "JKT",
            "work_date": now.date().isoformat(), "check_in_at": stamp, "check_out_at": None,
            "status": "present", "check_in_node": "bench", "check_out_node": None,
            "duration_minutes": None, "note": None}


def fanout(stack, *, clients, log=print):
    """One gateway process of our own, *clients* subscribed sockets, one event."""
    import redis

    from realtime import streams

    process, port = stack.start_gateway()
    fan, finished = None, False
    try:
        time.sleep(1)
        before = rss_kib(process.pid)
        token = stack.realtime_token(stack.admin_headers())
        marker = random.randint(900_000_000, 999_999_999)
        fan = Fanout(url=f"ws://127.0.0.1:{port}/ws", token=token, clients=clients,
                     event_id=marker)
        ready = fan.connect(timeout=600)
        log(f"  {ready['ready']} sockets subscribed in {ready['connect_seconds']:.1f} s "
            f"({ready['failed']} failed)")
        time.sleep(1)
        after = rss_kib(process.pid)
        client = redis.Redis.from_url(stack.cluster.redis_url, decode_responses=True)
        now = dt.datetime.now(dt.timezone.utc)
        try:
            cpu_before = cpu.snapshot()
            began = time.monotonic()
            streams.publish(client, "attendances", event_id=marker,
                            event="attendance.created", node_id="bench", ts=now,
                            data=_fake_attendance(marker, 1, now),
                            retention_seconds=int(
                                stack.settings["realtime.history_retention_seconds"]))
        finally:
            client.close()
        result = fan.result(timeout=120)
        spent = cpu.describe(cpu.usage(cpu_before, cpu.snapshot()))
        spent = spent.replace("in the round", "from the publish to the last socket")
        finished = True
    finally:
        if fan is not None:
            fan.close(timeout=30 if finished else 0.1)
        stack.stop_gateway(process)
    samples = [(t - began) * 1000 for t in result["received"]]
    errors = ready["failed"] + result["missing"]
    last = max(samples) if samples else None
    row = Row(f"Fan-out: 1 gateway, {clients} sockets, 1 event", clients, str(clients), samples,
              errors=errors, target=f"last ≤ {FANOUT_LAST_MS / 1000:g} s")
    row.max = last
    per = (after - before) / max(ready["ready"], 1)
    row.throughput = (f"{len(samples) / (last / 1000):.0f} msg/s" if last else "-") + \
        f"; {per:.0f} KiB/socket"
    row.passed = errors == 0 and last is not None and last <= FANOUT_LAST_MS
    row.notes.append(
        f"from the publish call (Redis script) to each socket reading the frame, straight "
        f"to the gateway (no nginx); last socket after {last:.0f} ms; gateway RSS "
        f"{before / 1024:.1f} MiB idle -> {after / 1024:.1f} MiB with {ready['ready']} "
        f"subscribed sockets = **{per:.1f} KiB per connection**; connecting them took "
        f"{ready['connect_seconds']:.1f} s; errors = sockets that failed to connect or "
        f"never got the event" + (f" ({ready['errors']})" if ready["errors"] else ""))
    row.notes.append(spent)
    return row


def queue(stack, user_ids, *, events, log=print):
    """*events* unpublished outbox rows inserted, then enqueued; until all published."""
    from sqlalchemy import func, select

    from tasks.broker import make_broker
    from tasks.outbox import enqueuer
    from webapp.events.models import OutboxEvent

    now = dt.datetime.now(dt.timezone.utc)
    naive = now.replace(tzinfo=None, microsecond=0)
    with stack.session_factory.begin() as session:
        rows = [OutboxEvent(event_type="attendance.created", aggregate_id=800_000_000 + i,
                            user_id=user_ids[i % len(user_ids)], node_id="bench",
                            payload=_fake_attendance(800_000_000 + i,
                                                     user_ids[i % len(user_ids)], now),
                            created_at=naive, attempts=0)
                for i in range(events)]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    broker = make_broker(stack.settings)
    enqueue = enqueuer(broker)
    requeued = sweep_requeues(stack)
    before = cpu.snapshot()
    began = time.monotonic()
    for event_id in ids:
        enqueue(event_id)
    enqueued = time.monotonic() - began
    samples, done, deadline = [], 0, began + 120
    lo, hi = min(ids), max(ids)
    while done < len(ids) and time.monotonic() < deadline:
        time.sleep(0.02)
        with stack.session_factory() as session:
            now_done = session.scalar(
                select(func.count()).select_from(OutboxEvent)
                .where(OutboxEvent.id.between(lo, hi), OutboxEvent.published_at.is_not(None)))
        elapsed = (time.monotonic() - began) * 1000
        samples += [elapsed] * (now_done - done)
        done = now_done
    spent = cpu.describe(cpu.usage(before, cpu.snapshot()))
    spent = spent.replace("in the round", "while draining")
    broker.close()
    drained = samples[-1] if done == len(ids) else None
    row = Row(f"Queue: {events} outbox events enqueued -> published", events,
              f"{stack.workers}×{WORKER_PROCESSES}×4 thr", samples, errors=len(ids) - done,
              target=f"all ≤ {QUEUE_DRAIN_MS / 1000:g} s")
    row.max = drained
    row.throughput = f"{len(ids) / (drained / 1000):.0f} ev/s" if drained else "-"
    row.passed = drained is not None and drained <= QUEUE_DRAIN_MS
    row.notes.append(
        f"percentiles = time from the first enqueue until that share of the events had "
        f"`published_at` (polled every 20 ms); each event goes to 2 channels (`attendances`, "
        f"`user.{{id}}`); enqueueing the {events} messages took {enqueued * 1000:.0f} ms; "
        f"last event after {drained / 1000 if drained else float('nan'):.2f} s")
    row.notes.append(spent)
    time.sleep(float(stack.settings["outbox.sweep_interval_seconds"]))  # a sweep in flight
    row.notes.append(_requeued_note(requeued, sweep_requeues(stack)))
    log(f"  {done}/{len(ids)} published, drained in "
        f"{drained / 1000 if drained else float('nan'):.2f} s")
    return row

"""The publisher alone: N unpublished outbox events handed off as web nodes do after
commit, then the time until every row has ``published_at`` (events/s), and the CPU the
worker, Redis and MariaDB spent per event."""
import datetime as dt
import threading
import time

from cluster.topology import WORKER_PROCESSES
from bench import cpu
from bench.report import Row

PUBLISHER_EVENTS_PER_SECOND = 3000
#: processes handing off at once, as the cluster's four web nodes
HAND_OFF_NODES = 4
DRAIN_TIMEOUT_SECONDS = 120
_inserted = 0


def _attendance(attendance_id, user_id, branch, now, index):
    """An ``attendance.created`` payload as the check-in service writes it."""
    check_in = (now - dt.timedelta(seconds=index % 3600)).isoformat()
    return {"id": attendance_id, "user": {"id": user_id, "name": f"Pegawai {user_id:05d}"},
            "branch": branch, "work_date": now.date().isoformat(), "check_in_at": check_in,
            "check_out_at": None, "status": "late" if index % 7 == 0 else "present",
            "check_in_node": f"app-node-{index % 4 + 1}", "check_out_node": None,
            "duration_minutes": None, "note": None}


def insert_events(stack, user_ids, events):
    """*events* unpublished ``attendance.created`` rows (two channels each) over *user_ids*,
    in one transaction; returns their ids in order."""
    from sqlalchemy import insert, select

    from webapp.events.models import OutboxEvent
    from realtime import channels

    now = dt.datetime.now(dt.timezone.utc)
    naive = now.replace(tzinfo=None, microsecond=0)
    branches = ("JKT", "BDG", "SBY", "DPS")
    global _inserted
    base = 700_000_000 + _inserted  # each call's rows have aggregate ids of their own
    _inserted += events
    rows = []
    for i in range(events):
        user_id = user_ids[i % len(user_ids)]
        rows.append({
            "event_type": "attendance.created", "aggregate_id": base + i, "user_id": user_id,
            "node_id": f"app-node-{i % 4 + 1}", "created_at": naive, "attempts": 0,
            "channels": channels.channels_for_attendance_event(user_id),
            "payload": _attendance(base + i, user_id, branches[user_id % 4], now, i),
        })
    table = OutboxEvent.__table__
    with stack.session_factory.begin() as session:
        session.execute(insert(table), rows)
        return list(session.scalars(
            select(table.c.id).where(table.c.aggregate_id.between(base, base + events - 1))
            .order_by(table.c.id)))


def _node(settings, ids, go, done):
    """One "web node" process: hand *ids* off once *go* is set, as after each commit."""
    from tasks.broker import make_broker
    from tasks.outbox import enqueuer

    broker = make_broker(settings)
    enqueue = enqueuer(broker, coalesce=True)  # what tasks.includeme gives web nodes
    broker.client.ping()  # connected before the clock starts
    go.wait(60)
    errors = 0
    for event_id in ids:
        try:
            enqueue(event_id)
        except Exception:  # noqa: BLE001 - counted in the row
            errors += 1
    done.put((errors, time.monotonic()))  # CLOCK_MONOTONIC: the same in every process


def _hand_off(stack, ids):
    """HAND_OFF_NODES processes (the cluster's web nodes are separate processes, so
    they do not share one interpreter lock) hand the ids off, interleaved, exactly as
    ``webapp.events.services`` does after each commit. Returns ``(start, finish)``:
    ``start()`` sets them going, ``finish()`` waits and returns the hand-off errors."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    go, done = context.Event(), context.Queue()
    nodes = [context.Process(target=_node, args=(dict(stack.settings),
                                                 ids[n::HAND_OFF_NODES], go, done))
             for n in range(HAND_OFF_NODES)]
    for node in nodes:
        node.start()
    time.sleep(3)  # imports and connections, before the clock starts

    def finish(timeout=60):
        """``(errors, when the last node handed off its last id)``"""
        results = [done.get(timeout=timeout) for _ in nodes]
        for node in nodes:
            node.join(timeout=10)
        return sum(e for e, _ in results), max(t for _, t in results)

    return go.set, finish


def _published_count(stack, lo, hi):
    from sqlalchemy import func, select

    from webapp.events.models import OutboxEvent

    with stack.session_factory() as session:
        return session.scalar(
            select(func.count()).select_from(OutboxEvent)
            .where(OutboxEvent.id.between(lo, hi), OutboxEvent.published_at.is_not(None)))


def _redis_counts(stack):
    """Calls so far per Redis command (``INFO commandstats``), without the ``cmdstat_``."""
    import redis

    client = redis.Redis.from_url(stack.cluster.redis_url)
    try:
        return {name[len("cmdstat_"):]: stats["calls"]
                for name, stats in client.info("commandstats").items()}
    finally:
        client.close()


def _backlog_rate(stack, user_ids, events):
    """Events/s for *events* pending rows published after one message (no hand-off)."""
    from tasks.broker import make_broker
    from tasks.outbox import enqueuer

    ids = insert_events(stack, user_ids, events)
    broker = make_broker(stack.settings)
    try:
        began = time.monotonic()
        enqueuer(broker)(ids[-1])
        while time.monotonic() - began < DRAIN_TIMEOUT_SECONDS:
            if _published_count(stack, ids[0], ids[-1]) == len(ids):
                return len(ids) / (time.monotonic() - began)
            time.sleep(0.02)
        return 0.0
    finally:
        broker.close()


def publisher(stack, user_ids, *, events=5000, log=print):
    """Insert *events* unpublished events, hand them off, wait until all are published."""
    ids = insert_events(stack, user_ids, events)
    lo, hi = ids[0], ids[-1]
    log(f"  publisher: {len(ids)} unpublished events inserted")
    start, finish = _hand_off(stack, ids)
    counts_before = _redis_counts(stack)
    finished = []
    waiter = threading.Thread(target=lambda: finished.append(finish()))
    before = cpu.snapshot()
    began = time.monotonic()
    start()
    waiter.start()
    samples, done, deadline = [], 0, began + DRAIN_TIMEOUT_SECONDS
    while done < len(ids) and time.monotonic() < deadline:
        time.sleep(0.02)
        now_done = _published_count(stack, lo, hi)
        elapsed = (time.monotonic() - began) * 1000
        samples += [elapsed] * (now_done - done)
        done = now_done
    spent = cpu.usage(before, cpu.snapshot())
    waiter.join(timeout=60)
    counts = {k: v - counts_before.get(k, 0) for k, v in _redis_counts(stack).items()}
    errors, handed = finished[0] if finished else (len(ids), time.monotonic())
    handed -= began
    drained = samples[-1] if done == len(ids) else None
    rate = len(ids) / (drained / 1000) if drained else None
    row = Row(f"Publisher alone: {events} outbox events handed off -> published", events,
              f"{stack.workers}×{WORKER_PROCESSES}×4 thr", samples,
              errors=len(ids) - done + errors,
              target=f"≥ {PUBLISHER_EVENTS_PER_SECOND} ev/s")
    row.max = drained
    row.throughput = f"{rate:.0f} ev/s" if rate else "-"
    row.passed = rate is not None and rate >= PUBLISHER_EVENTS_PER_SECOND and not errors
    backlog = _backlog_rate(stack, user_ids, events)
    roles = spent["roles"]
    publishing = sum(roles.get(r, 0.0) for r in ("Dramatiq worker", "Redis", "MariaDB"))
    row.notes.append(
        f"percentiles = time from the first hand-off until that share of the events had "
        f"`published_at` (polled every 20 ms); each event goes to 2 channels (`attendances`, "
        f"`user.{{id}}`) over {len(set(user_ids))} users; {HAND_OFF_NODES} processes hand "
        f"them off as web nodes do after commit (one coalescing hand-off per commit), done after "
        f"{handed * 1000:.0f} ms; last event published after "
        f"{drained / 1000 if drained else float('nan'):.2f} s")
    row.notes.append(
        f"CPU per event: worker {1000 * roles.get('Dramatiq worker', 0) / events:.2f} ms, "
        f"Redis {1000 * roles.get('Redis', 0) / events:.2f} ms, MariaDB "
        f"{1000 * roles.get('MariaDB', 0) / events:.2f} ms = "
        f"{1000 * publishing / events:.2f} ms for the publishing path; the whole machine "
        f"{1000 * spent['busy'] / events:.2f} ms (the hand-off processes, counted as "
        f"\"bench\", and the polling included)")
    row.notes.append(
        f"the {events} hand-offs (one small script each) sent {counts.get('ltrim', 0)} publisher "
        f"messages (each rings the doorbell once); Redis ran {counts.get('evalsha', 0)} "
        f"scripts in all (the hand-offs, messages' enqueue/fetch/ack, drain lock, one "
        f"publish per batch of up to 500 events); a backlog of {events} more events "
        f"drained from one message at "
        f"{backlog:.0f} ev/s (the publisher's own pace, without the hand-off)")
    row.notes.append(cpu.describe(spent).replace("in the round", "while draining"))
    if errors:
        row.notes.append(f"{errors} hand-offs failed")
    log(f"  publisher: backlog drained from one message at {backlog:.0f} ev/s")
    log(f"  publisher: {done}/{len(ids)} published in "
        f"{drained / 1000 if drained else float('nan'):.2f} s ({row.throughput}); "
        f"{row.notes[1]}")
    return row

"""The growth scenario: what the admin's today board and the monthly recap cost per request
at two workforce sizes on the same stack (2,000 then 20,000 employees over 40 branches),
and the ratio between the two: no worse than linear (≤ 10 for ten times the employees).

Cost = the servers' CPU-seconds per request (every server process, from /proc, see
:mod:`bench.cpu`), not latency: on a shared machine CPU time moves much less than wall
time. Requests go one at a time through nginx. The today board is served from a
per-process cache keyed by the commit generation (:mod:`webapp.attendance.today_cache`);
before each *cold* request the generation is bumped in Redis, as a committed check-in
would, so that every measured request computes the board. A warm round (no bump) is
reported alongside.

The scenario creates the branches that are missing up to 40, and deletes them again,
with its employees and their attendances, when it is done: later scenarios find the
four branches and the database as they were.
"""
import datetime as dt
import http.client
import json
import random
import statistics
import time

from bench import cpu
from bench.recap import last_month
from bench.report import Row

#: cost at the large size ÷ at the small size, at most (ten times the employees: linear)
GROWTH_RATIO = 10
TODAY_REQUESTS = 20
RECAP_REQUESTS = 5
TODAY_PATH = "/api/attendances/today"
#: attendance rows per INSERT transaction while seeding the month
CHUNK = 5000
#: seconds of quiet before each size's rounds, to measure the cluster's idle CPU
IDLE_SECONDS = 5
#: after seeding: wait until the servers use at most this many CPU-s/s (or SETTLE_SECONDS)
SETTLED_CPU = 0.05
SETTLE_SECONDS = 60
#: unmeasured requests before each size's rounds: every web process has built its
#: statements (per-process caches) and MariaDB has the pages in its buffer pool
TODAY_WARMUP = 16


def growth_ratio(small, large, target=GROWTH_RATIO):
    """``(ratio, passed)`` of a cost at the large size to the same cost at the small one;
    ``(None, False)`` when either is missing or the small one is not positive."""
    if small is None or large is None or small <= 0:
        return None, False
    ratio = large / small
    return ratio, ratio <= target


def parse_sizes(text):
    """``"2000,20000"`` -> ``(2000, 20000)``: two increasing positive sizes."""
    sizes = tuple(int(part) for part in text.split(",") if part.strip())
    if len(sizes) != 2 or not 0 < sizes[0] < sizes[1]:
        raise ValueError(f"two increasing sizes, e.g. 2000,20000 (not {text!r})")
    return sizes


# -- data ------------------------------------------------------------------------------

def ensure_branches(stack, count):
    """The first *count* branches by id, creating the missing ones (through the model, with
    their default shift type as ``webapp.branches.services`` keeps it; the time zones of
    the existing ones in turn). Returns ``(branch ids, ids of the created ones)``."""
    from sqlalchemy import select

    from webapp.branches.models import Branch
    from webapp.branches.services import sync_default_shift

    with stack.session_factory.begin() as session:
        existing = list(session.scalars(select(Branch).order_by(Branch.id)))
        zones = [b.timezone for b in existing] or ["Asia/Jakarta"]
        created = []
        for number in range(len(existing) + 1, count + 1):
            branch = Branch(code=f"G{number:03d}", name=f"Cabang Bench {number:03d}",
                            timezone=zones[number % len(zones)], shift_start=dt.time(8, 0),
                            shift_end=dt.time(17, 0), grace_minutes=15)
            session.add(branch)
            sync_default_shift(session, branch)
            created.append(branch)
        session.flush()
        ids = [b.id for b in existing[:count]] + [b.id for b in created]
        created_ids = [b.id for b in created]
    _bump_branches(stack)
    return ids, created_ids


def _redis(stack):
    import redis

    return redis.Redis.from_url(stack.cluster.redis_url)


def _bump_branches(stack):
    """Every node reloads its branch cache (as after a branch change in the admin UI)."""
    from webapp.branches.cache import bump_branches_version

    client = _redis(stack)
    try:
        bump_branches_version(client)
    finally:
        client.close()


def seed_month(stack, user_ids, start, end):
    """A closed attendance on every day of ``start..end`` for each of *user_ids* (created
    a month before it), inserted with Core ``executemany`` in transactions of
    :data:`CHUNK` rows. Returns how many rows."""
    from sqlalchemy import select, update

    from webapp.accounts.models import User
    from webapp.attendance.models import Attendance

    table = Attendance.__table__
    with stack.engine.begin() as connection:
        connection.execute(update(User).where(User.id.in_(user_ids)).values(
            created_at=dt.datetime.combine(start, dt.time()) - dt.timedelta(days=31)))
        branches = dict(connection.execute(
            select(User.id, User.branch_id).where(User.id.in_(user_ids))).all())
    rng = random.Random(11)
    chunk, total = [], 0
    day = start
    while day <= end:
        for user_id in user_ids:
            # 07:40-08:30 WIB (the shift starts 08:00, grace 15 min): some late
            minutes = rng.randint(40, 90)
            check_in = dt.datetime.combine(day, dt.time(0)) + dt.timedelta(minutes=minutes)
            chunk.append({
                "user_id": user_id, "branch_id": branches[user_id], "work_date": day,
                "check_in_at": check_in, "check_out_at": check_in + dt.timedelta(hours=9),
                "status": "late" if minutes > 75 else "present", "check_in_node": "bench",
                "check_out_node": "bench", "auto_closed": False, "early_leave": False,
                "corrected": False})
            if len(chunk) >= CHUNK:
                with stack.engine.begin() as connection:
                    connection.execute(table.insert(), chunk)
                total, chunk = total + len(chunk), []
        day += dt.timedelta(days=1)
    if chunk:
        with stack.engine.begin() as connection:
            connection.execute(table.insert(), chunk)
        total += len(chunk)
    return total


def grow(stack, branch_ids, count, prefix, month):
    """*count* more employees over *branch_ids*, each with an attendance today (the
    mix of :func:`bench.today.seed_today`) and one on every day of *month*. Returns their
    ids and the seconds it took."""
    from bench.today import seed_today

    began = time.monotonic()
    users, _ = stack.insert_employees(count, prefix=prefix, branch_ids=branch_ids)
    ids = [user_id for user_id, _ in users]
    seed_today(stack, ids, len(ids))
    seed_month(stack, ids, *month)
    return ids, time.monotonic() - began


def remove(stack, user_ids, branch_ids):
    """Delete the scenario's attendances, employees and created branches (with their
    default shift types and sites); every node reloads its branches."""
    from sqlalchemy import delete

    from webapp.accounts.models import User
    from webapp.attendance.models import Attendance
    from webapp.branches.models import Branch, BranchSite, ShiftType

    for i in range(0, len(user_ids), 1000):
        part = user_ids[i:i + 1000]
        with stack.engine.begin() as connection:
            connection.execute(delete(Attendance).where(Attendance.user_id.in_(part)))
            connection.execute(delete(User).where(User.id.in_(part)))
    if branch_ids:
        with stack.engine.begin() as connection:
            connection.execute(delete(BranchSite).where(BranchSite.branch_id.in_(branch_ids)))
            connection.execute(delete(ShiftType).where(ShiftType.branch_id.in_(branch_ids)))
            connection.execute(delete(Branch).where(Branch.id.in_(branch_ids)))
    _bump_branches(stack)


def database_facts(stack, month):
    """``(today's attendances, the month's attendances, active employees)``."""
    from sqlalchemy import func, select

    from webapp.accounts.models import User
    from webapp.attendance.models import Attendance
    from webapp.branches.models import Branch

    now = dt.datetime.now(dt.timezone.utc)
    start, end = month
    with stack.session_factory() as session:
        days = {b.id: b.local_date(now) for b in session.scalars(select(Branch))}
        today = sum(session.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.branch_id == branch_id, Attendance.work_date == day))
            for branch_id, day in days.items())
        month_rows = session.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.work_date >= start, Attendance.work_date <= end))
        active = session.scalar(select(func.count()).select_from(User).where(
            User.active.is_(True), User.role == "employee"))
    return today, month_rows, active


# -- measurement -----------------------------------------------------------------------

def idle_cpu_rate(seconds=IDLE_SECONDS):
    """The servers' CPU-seconds per second while nothing is asked of them (scheduler,
    worker, gateway, heartbeats), and where it went."""
    before = cpu.snapshot()
    time.sleep(seconds)
    spent = cpu.usage(before, cpu.snapshot())
    return cpu.server_seconds(spent) / seconds, cpu.describe(spent)


def settle(limit=SETTLE_SECONDS):
    """After seeding, wait (up to *limit* s) until the servers idle below
    :data:`SETTLED_CPU` (MariaDB merges and flushes what it was given for a while).
    Returns the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if idle_cpu_rate(2)[0] <= SETTLED_CPU:
            break
    return time.monotonic() - began


def measure(stack, path, headers, *, requests, cold=False):
    """*requests* sequential GETs of *path* on one keep-alive connection through nginx;
    *cold*: bump the commit generation before each (a today-board cache miss). Returns a
    dict: latencies (ms), server CPU-seconds, wall seconds, the last body, errors, and the
    description of where the CPU went."""
    from webapp.events.handoff import COMMITTED_KEY

    host, port = stack.host_port()
    client = _redis(stack)
    connection = http.client.HTTPConnection(host, port, timeout=300)
    latencies, errors, body, last_error = [], 0, None, None
    try:
        connection.connect()
        before = cpu.snapshot()
        began = time.monotonic()
        for _ in range(requests):
            if cold:
                client.incr(COMMITTED_KEY)
            sent = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            elapsed = (time.perf_counter() - sent) * 1000
            if response.status == 200:
                latencies.append(elapsed)
                body = raw
            else:
                errors += 1
                last_error = f"HTTP {response.status}: {raw[:200]!r}"
        wall = time.monotonic() - began
        spent = cpu.usage(before, cpu.snapshot())
    finally:
        connection.close()
        client.close()
    if not latencies:
        raise RuntimeError(f"growth: no answer to GET {path} ({last_error})")
    return {"latencies": latencies, "server_seconds": cpu.server_seconds(spent),
            "wall": wall, "body": json.loads(body) if body else None, "errors": errors,
            "spent": cpu.describe(spent), "roles": spent["roles"]}


def _cpu_ms(result, idle_rate):
    """Server CPU-ms per answered request, less the cluster's idle CPU meanwhile."""
    answered = len(result["latencies"])
    if not answered:
        return None, None
    gross = 1000 * result["server_seconds"] / answered
    net = 1000 * max(0.0, result["server_seconds"] - idle_rate * result["wall"]) / answered
    return gross, net


def measure_size(stack, headers, month_text, *, recap_warmup, log=print):
    """The three rounds at the current size: today cold, today warm, recap (after
    unmeasured warm-up requests and the idle CPU)."""
    recap_path = f"/api/reports/monthly?month={month_text}"
    waited = settle()
    measure(stack, TODAY_PATH, headers, requests=TODAY_WARMUP, cold=True)
    measure(stack, recap_path, headers, requests=recap_warmup)
    idle, where = idle_cpu_rate()
    log(f"    settled after {waited:.0f} s; idle: {where}")
    out = {"idle": idle, "settled": waited}
    for name, path, requests, cold in (
            ("today_cold", TODAY_PATH, TODAY_REQUESTS, True),
            ("today_warm", TODAY_PATH, TODAY_REQUESTS, False),
            ("recap", recap_path, RECAP_REQUESTS, False)):
        if name == "today_warm":  # every web process has the board of this generation
            measure(stack, path, headers, requests=TODAY_WARMUP)
        result = measure(stack, path, headers, requests=requests, cold=cold)
        result["gross_ms"], result["net_ms"] = _cpu_ms(result, idle)
        result["p50"] = statistics.median(result["latencies"]) if result["latencies"] else None
        answered = len(result["latencies"])
        result["split"] = ", ".join(
            f"{role} {1000 * result['roles'].get(role, 0.0) / answered:.1f}"
            for role in ("web nodes", "MariaDB"))
        body = result.pop("body") or {}
        if path == TODAY_PATH:
            result["rows"] = (f"a page of {len(body.get('data', []))} rows, "
                              f"{len(body.get('absent_users', []))} absent users, "
                              f"summary {body.get('summary')}")
        else:
            result["rows"] = f"{len(body.get('data', []))} rows"
        log(f"    {name}: {result['net_ms'] or 0:.1f} CPU-ms/request net "
            f"({result['gross_ms'] or 0:.1f} gross), p50 {result['p50'] or 0:.0f} ms, "
            f"{result['errors']} errors; {result['rows'] if name != 'today_warm' else ''}")
        out[name] = result
    return out


# -- the scenario ----------------------------------------------------------------------

def _row(label, key, sizes, results, branches, *, requests):
    small, large = sizes
    a, b = results[small][key], results[large][key]
    row = Row(f"Cost growth, {label}, {large:,} ÷ {small:,} employees, {branches} branches",
              requests, "1", errors=a["errors"] + b["errors"], target=f"≤ {GROWTH_RATIO}")
    ratio, passed = growth_ratio(a["net_ms"], b["net_ms"])
    if ratio is not None:
        row.throughput = f"{ratio:.1f} ({b['net_ms']:.1f} ÷ {a['net_ms']:.1f} CPU-ms)"
    row.passed = passed and row.errors == 0
    row.server_cpu_ms = b["net_ms"]
    return row, a, b


def growth(stack, *, sizes=(2000, 20000), branches=40, log=print):
    """The two rows (today board cold, monthly recap)."""
    small, large = sizes
    month = last_month(dt.date.today())
    month_text = f"{month[0]:%Y-%m}"
    days = (month[1] - month[0]).days + 1
    branch_ids, created = ensure_branches(stack, branches)
    log(f"growth: {len(branch_ids)} branches ({len(created)} created)")
    user_ids, results, seeding, facts = [], {}, {}, {}
    for number, size in enumerate(sizes):
        ids, seconds = grow(stack, branch_ids, size - len(user_ids), f"growth{number}", month)
        user_ids += ids
        seeding[size] = (len(ids), seconds)
        facts[size] = database_facts(stack, month)
        log(f"  {len(ids)} employees more, today's and {days} days of {month_text} "
            f"attendances, seeded in {seconds:.0f} s; database: {facts[size][0]} "
            f"attendances today, {facts[size][1]} in {month_text}, {facts[size][2]} "
            f"active employees")
        headers = stack.admin_headers()
        # the first size warms every web process up (8 of them); later ones MariaDB only
        results[size] = measure_size(stack, headers, month_text,
                                     recap_warmup=8 if number == 0 else 2, log=log)
    # (only after a complete run: a failed one stops the whole stack anyway)
    began = time.monotonic()
    remove(stack, user_ids, created)
    deleted = time.monotonic() - began
    log(f"  growth data deleted in {deleted:.0f} s")

    today_row, a, b = _row("today board (cold)", "today_cold", sizes, results, branches,
                           requests=TODAY_REQUESTS)
    recap_row, c, d = _row("monthly recap", "recap", sizes, results, branches,
                           requests=RECAP_REQUESTS)
    basis = ("ratio of the servers' CPU-ms per request (every server process: nginx, web "
             "nodes, worker, gateway, scheduler, MariaDB, Redis; not this client) at "
             f"{large:,} employees to that at {small:,}, on the same stack in one run, "
             f"requests one at a time through nginx; net of the cluster's idle CPU (measured "
             f"for {IDLE_SECONDS} s before each size's rounds, after unmeasured warm-up "
             f"requests and once the servers had settled after the seeding: "
             f"{1000 * results[small]['idle']:.0f} and {1000 * results[large]['idle']:.0f} "
             f"CPU-ms/s) × the round's wall time; {branches} branches, employees spread "
             f"evenly, every one with an attendance today (present/late, 20 % checked out) and "
             f"one on each of the {days} days of {month_text}")
    seeded = (f"seeding (not measured): {seeding[small][0]:,} employees in "
              f"{seeding[small][1]:.0f} s, then {seeding[large][0]:,} more in "
              f"{seeding[large][1]:.0f} s ({seeding[large][0] * (days + 1):,} attendance rows, "
              f"Core executemany in transactions of {CHUNK:,} rows); the servers settled "
              f"{results[small]['settled']:.0f} and {results[large]['settled']:.0f} s after "
              f"it; the scenario's employees, attendances and {len(created)} created branches "
              f"were deleted afterwards in {deleted:.0f} s")
    today_row.notes += [
        basis,
        f"`GET {TODAY_PATH}` as admin (all branches), {TODAY_REQUESTS} requests per size, "
        f"each a cache miss: the commit generation (`absensi:outbox:committed`, "
        f"webapp.attendance.today_cache) is bumped in Redis before each, as a committed "
        f"check-in does; {small:,}: {a['net_ms']:.1f} CPU-ms ({a['gross_ms']:.1f} gross), "
        f"p50 {a['p50']:.0f} ms; {large:,}: {b['net_ms']:.1f} CPU-ms ({b['gross_ms']:.1f} "
        f"gross), p50 {b['p50']:.0f} ms (p50 ratio {b['p50'] / a['p50']:.1f}); of which "
        f"CPU-ms per request {small:,}: {a['split']}; {large:,}: {b['split']}; answer at "
        f"{large:,}: {b['rows']}",
        f"today board warm (served from the cache: no bump, after {TODAY_WARMUP} unmeasured "
        f"requests): {small:,}: "
        f"{results[small]['today_warm']['net_ms']:.1f} CPU-ms, p50 "
        f"{results[small]['today_warm']['p50']:.1f} ms; {large:,}: "
        f"{results[large]['today_warm']['net_ms']:.1f} CPU-ms, p50 "
        f"{results[large]['today_warm']['p50']:.1f} ms",
        seeded,
    ]
    recap_row.notes += [
        basis,
        f"`GET /api/reports/monthly?month={month_text}` as admin (all branches), "
        f"{RECAP_REQUESTS} requests per size; {small:,}: {c['net_ms']:.0f} CPU-ms "
        f"({c['gross_ms']:.0f} gross), p50 {c['p50']:.0f} ms, {c['rows']}; {large:,}: "
        f"{d['net_ms']:.0f} CPU-ms ({d['gross_ms']:.0f} gross), p50 {d['p50']:.0f} ms "
        f"(p50 ratio {d['p50'] / c['p50']:.1f}), {d['rows']}; of which CPU-ms per request "
        f"{small:,}: {c['split']}; {large:,}: {d['split']}",
        seeded,
    ]
    return [today_row, recap_row]

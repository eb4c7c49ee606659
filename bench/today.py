"""The today endpoint under ``ab``-style load: ``GET /api/attendances/today`` as admin, all
branches, with 2,000 attendances that day, N concurrent keep-alive clients through nginx,
compared with ``GET /healthz`` at the same concurrency in the same run.

``python -m bench.today`` runs it alone on a stack of its own (``--profile DIR`` records a
py-spy flame graph of one web node meanwhile).
"""
import datetime as dt
import json
import random
import urllib.request

from bench.report import Row

TODAY_P95_MS = 100
#: the board's p95 ÷ ``/healthz``'s p95 at the same concurrency in the same run, at most
TODAY_P95_RATIO = 2
PATH = "/api/attendances/today"


def seed_today(stack, user_ids, attendances):
    """Attendances on each branch's local today for up to *attendances* of *user_ids*
    that have none yet (a mix: late, checked out). Returns how many rows the day has."""
    from sqlalchemy import func, insert, select

    from webapp.accounts.models import User
    from webapp.attendance.models import Attendance
    from webapp.branches.models import Branch

    rng = random.Random(9)
    now = dt.datetime.now(dt.timezone.utc)
    with stack.session_factory.begin() as session:
        branches = {b.id: b for b in session.scalars(select(Branch))}
        days = {b.id: b.local_date(now) for b in branches.values()}
        taken = set(session.scalars(select(Attendance.user_id).where(
            Attendance.work_date.in_(set(days.values())))))
        members = dict(session.execute(
            select(User.id, User.branch_id).where(User.id.in_(list(user_ids)))).all())
        existing = len(taken & set(members))
        rows = []
        for user_id in user_ids:
            if existing + len(rows) >= attendances:
                break
            if user_id in taken or user_id not in members:
                continue
            branch_id = members[user_id]
            check_in = (now - dt.timedelta(minutes=rng.randint(1, 180))).replace(
                tzinfo=None, microsecond=0)
            rows.append({
                "user_id": user_id, "branch_id": branch_id, "work_date": days[branch_id],
                "check_in_at": check_in, "status": rng.choice(("present", "present", "late")),
                "check_out_at": check_in + dt.timedelta(hours=1) if rng.random() < 0.2 else None,
                "check_in_node": "bench", "auto_closed": False, "early_leave": False,
                "corrected": False,
            })
        if rows:
            session.execute(insert(Attendance), rows)
        total = sum(session.scalar(select(func.count()).select_from(Attendance).where(
            Attendance.branch_id == branch_id, Attendance.work_date == day))
            for branch_id, day in days.items())
    return total


def _round(stack, path, headers, *, concurrency, requests):
    from bench.scenarios import _errors, _latencies, _measured, _rate

    host, port = stack.host_port()
    result, spent = _measured(host, port, [["GET", path, headers, None]] * requests,
                              concurrency=concurrency)
    errors, kinds = _errors(result, {200})
    return _latencies(result, {200}), _rate(requests - errors, result), errors, kinds, spent


def _answer_size(stack, headers):
    host, port = stack.host_port()
    request = urllib.request.Request(f"http://{host}:{port}{PATH}", headers=headers)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        raw = response.read()
    body = json.loads(raw)
    return len(raw), len(body["data"]), len(body["absent_users"]), body["summary"]


def today(stack, user_ids, *, attendances=2000, concurrency=100, requests=2000, log=print):
    """Seed the day, then a ``/healthz`` round and the today round at *concurrency*."""
    day_rows = seed_today(stack, user_ids, attendances)
    log(f"today: {day_rows} attendances today over all branches")
    headers = stack.admin_headers()
    size, rows, absent, summary = _answer_size(stack, headers)
    log(f"  one answer: {size / 1024:.1f} KiB ({rows} rows, {absent} absent users), "
        f"summary {summary}")

    bare, _, bare_errors, _, bare_spent = _round(
        stack, "/healthz", {}, concurrency=concurrency, requests=requests)
    bare_row = Row("bare", requests, str(concurrency), bare)
    log(f"  /healthz at {concurrency}: p50 {bare_row.p(50):.1f} ms, p95 {bare_row.p(95):.1f} ms"
        f" ({bare_errors} errors)")
    samples, rate, errors, kinds, spent = _round(stack, PATH, headers, concurrency=concurrency,
                                                 requests=requests)
    row = Row(f"`GET {PATH}` as admin, {day_rows} attendances today, {concurrency} clients",
              requests, str(concurrency), samples, rate, errors,
              target=f"p95 ≤ {TODAY_P95_MS} ms and ≤ ×{TODAY_P95_RATIO} bare p95")
    row.passed = False
    if row.p(50) and bare_row.p(50) and bare_row.p(95):
        p95_ratio = row.p(95) / bare_row.p(95)
        row.ratio = f"×{row.p(50) / bare_row.p(50):.1f} / ×{p95_ratio:.1f}"
        row.passed = (errors == 0 and row.p(95) <= TODAY_P95_MS
                      and p95_ratio <= TODAY_P95_RATIO)
    row.notes.append(f"answer {size / 1024:.1f} KiB: a page of {rows} rows, the summary, "
                     f"{absent} absent users; × bare = this latency / `GET /healthz`'s at the "
                     f"same concurrency just before (p50 {bare_row.p(50):.1f} ms, "
                     f"p95 {bare_row.p(95):.1f} ms)")
    row.notes.append(spent)
    row.notes.append(f"/healthz round: {bare_spent}")
    if kinds:
        row.notes.append(f"errors: {dict(kinds)}")
    return row


def _web_pids(stack):
    """The gunicorn worker processes of the first web node (for py-spy)."""
    import pathlib

    pids = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if "gunicorn" in cmdline and str(stack.dir).encode() in environ \
                and b"app-node-1" in environ:
            pids.append(int(proc.name))
    return sorted(pids)


def main(argv=None):
    import argparse
    import pathlib
    import subprocess
    import sys

    from bench.stack import Stack

    parser = argparse.ArgumentParser(prog="python -m bench.today", description=__doc__)
    parser.add_argument("--employees", type=int, default=2000)
    parser.add_argument("--attendances", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", help="directory for py-spy flame graphs of app-node-1")
    args = parser.parse_args(argv)
    stack = Stack(gunicorn_workers=2, gunicorn_threads=8)
    spies = []
    try:
        stack.start()
        stack.create_admin()
        users, _ = stack.insert_employees(args.employees, prefix="today")
        ids = [user_id for user_id, _ in users]
        if args.profile:
            seed_today(stack, ids, args.attendances)
            for pid in _web_pids(stack):
                spies.append(subprocess.Popen(
                    [str(pathlib.Path(sys.executable).parent / "py-spy"), "record",
                     "--pid", str(pid), "--duration", "45", "--rate", "97", "--nonblocking",
                     "--output", f"{args.profile}/today-{pid}.svg"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        row = today(stack, ids, attendances=args.attendances, concurrency=args.concurrency,
                    requests=args.requests)
        print(f"{row.scenario}: p50 {row.p(50):.1f} ms, p95 {row.p(95):.1f} ms, "
              f"p99 {row.p(99):.1f} ms, {row.throughput}, errors {row.errors}, "
              f"ratio {row.ratio}, {'met' if row.passed else 'NOT met'} ({row.target})")
        for note in row.notes:
            print("  " + note)
    finally:
        for spy in spies:
            try:
                spy.wait(timeout=60)
            except subprocess.TimeoutExpired:
                spy.terminate()
        stack.stop()


if __name__ == "__main__":
    main()

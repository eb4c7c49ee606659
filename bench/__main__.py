"""``python -m bench`` (``make bench``; ``make bench BENCH_ARGS=--quick`` to try it out).

Starts MariaDB and the cluster, creates the users, runs the scenarios, prints one table
and writes it into BENCHMARKS.md (full runs only, unless --write). Stops every process
it started, also on Ctrl-C, SIGTERM or its own time limit (--max-seconds).
"""
import argparse
import os
import signal
import sys
import time

from cluster.topology import WORKER_PROCESSES
from bench import (REPO_ROOT, cpu, growth, publisher, recap, report, roster, scenarios,
                   sockets, today)
from bench.stack import CHEAP_ARGON2, Stack
from bench.wsclients import raise_fd_limit

FULL = {"employees": 2000, "concurrency": [100, 200], "dashboards": [20, 100],
        "quiet_checkins": 30, "fanout_clients": 5000, "queue_events": 1000,
        "recap_employees": 2000, "today_attendances": 2000, "nginx_sockets": 10000,
        "publisher_events": 5000, "roster_employees": 2000,
        "growth_employees": "2000,20000", "growth_branches": 40}
QUICK = {"employees": 200, "concurrency": [100, 200], "dashboards": [20], "quiet_checkins": 10,
         "fanout_clients": 500, "queue_events": 200, "recap_employees": 200,
         "today_attendances": 200, "nginx_sockets": 1000, "publisher_events": 500,
         "roster_employees": 200, "growth_employees": "200,2000", "growth_branches": 40}
SCENARIOS = ("growth", "recap", "roster", "today", "rush", "sockets", "publisher", "fanout",
             "queue")
#: the concurrency of the rush rounds with dashboards open (compared with the plain round)
DASHBOARD_CONCURRENCY = 100


class Interrupted(Exception):
    pass


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller numbers (200 employees per round, 500 sockets, 200 "
                             "events); does not write BENCHMARKS.md unless --write")
    parser.add_argument("--employees", type=int, help="employees per rush round (2000)")
    parser.add_argument("--concurrency", type=lambda s: [int(x) for x in s.split(",")],
                        help="rush rounds' concurrent clients, comma separated (100,200)")
    parser.add_argument("--dashboards", type=lambda s: [int(x) for x in s.split(",") if x],
                        help="rush rounds at 100 clients with this many admin dashboards "
                             "open, comma separated (20,100)")
    parser.add_argument("--today-attendances", type=int,
                        help="attendances today for the today-endpoint round (2000)")
    parser.add_argument("--nginx-sockets", type=int,
                        help="websockets through nginx to one gateway (10000)")
    parser.add_argument("--publisher-events", type=int,
                        help="outbox events for the publisher alone (5000)")
    parser.add_argument("--quiet-checkins", type=int,
                        help="check-ins one at a time with pauses, before the rush (30)")
    parser.add_argument("--fanout-clients", type=int, help="sockets on one gateway (5000)")
    parser.add_argument("--queue-events", type=int, help="outbox events to drain (1000)")
    parser.add_argument("--recap-employees", type=int,
                        help="employees in the monthly recap, a month of attendances each (2000)")
    parser.add_argument("--roster-employees", type=int,
                        help="employees in the roster of 31 days, half on rotas (2000)")
    parser.add_argument("--growth-employees",
                        help="the two workforce sizes of the cost-growth scenario, comma "
                             "separated (2000,20000)")
    parser.add_argument("--growth-branches", type=int,
                        help="branches the growth scenario's employees are spread over (40)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"scenarios to run, comma separated ({','.join(SCENARIOS)})")
    parser.add_argument("--gunicorn-workers", type=int, default=2,
                        help="processes per web node (2, as webapp/gunicorn_conf.py)")
    parser.add_argument("--gunicorn-threads", type=int, default=8,
                        help="threads per process (8, as webapp/gunicorn_conf.py)")
    parser.add_argument("--workers", type=int, default=1, help="Dramatiq worker entries (1)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for every cluster process, for experiments "
                             "(e.g. dramatiq_worker_timeout=100); shown in the settings line")
    parser.add_argument("--output", default=str(REPO_ROOT / "BENCHMARKS.md"))
    parser.add_argument("--write", action=argparse.BooleanOptionalAction, default=None,
                        help="write the table into --output (default: only for full runs)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    parser.add_argument("--max-seconds", type=int, default=1500,
                        help="stop everything after this long (1500)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    for key, value in base.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    try:
        args.env = dict(item.split("=", 1) for item in args.env)
    except ValueError:
        parser.error("--env takes KEY=VALUE")
    try:
        args.growth_employees = growth.parse_sizes(args.growth_employees)
    except ValueError as error:
        parser.error(f"--growth-employees: {error}")
    if args.write is None:
        args.write = not args.quick
    return args


def _interrupt(signum, _frame):
    raise Interrupted(signal.Signals(signum).name)


def log(message):
    print(message, flush=True)


def run(args, stack, notes):
    rows = []
    phase = time.monotonic()
    stack.start(log=log)
    stack.create_admin()
    versions = stack.versions()
    log(f"stack ready in {time.monotonic() - phase:.0f} s")

    # first: each needs a month (a day) with only its own employees and attendances; the
    # growth scenario deletes its employees, attendances and branches after it, the
    # recap's employees are deactivated after it
    if "growth" in args.only:
        small, large = args.growth_employees
        log(f"cost growth: {small} then {large} employees over {args.growth_branches} "
            f"branches ...")
        rows += growth.growth(stack, sizes=args.growth_employees,
                              branches=args.growth_branches, log=log)
    if "recap" in args.only:
        log(f"monthly recap of {args.recap_employees} employees ...")
        rows.append(recap.recap(stack, employees=args.recap_employees, log=log))
    if "roster" in args.only:  # (its employees are deactivated after it too)
        log(f"roster of {args.roster_employees} employees ...")
        rows.append(roster.roster(stack, employees=args.roster_employees, log=log))

    if "today" in args.only:
        log(f"today endpoint with {args.today_attendances} attendances ...")
        fresh = [user_id for user_id, _ in
                 stack.insert_employees(args.today_attendances, prefix="today")[0]]
        rows.append(today.today(stack, fresh, attendances=args.today_attendances, log=log))

    if "rush" in args.only:
        phase = time.monotonic()
        rounds, all_ids = [], []
        plan = ([(None, 0)] + [(c, 0) for c in args.concurrency]
                + [(DASHBOARD_CONCURRENCY, d) for d in args.dashboards])
        for number, (concurrency, dashboards) in enumerate(plan):
            count = args.quiet_checkins if concurrency is None else args.employees
            users, password = stack.insert_employees(count, prefix=f"r{number}")
            sessions = stack.log_in([(email, password) for _, email in users])
            rounds.append((concurrency, sessions, dashboards))
            all_ids += [user_id for user_id, _ in users]
        quiet = rounds.pop(0)[1]
        log(f"{len(all_ids)} employees inserted and logged in through nginx in "
            f"{time.monotonic() - phase:.0f} s")
        notes.append(
            f"Setup (not measured): {len(all_ids)} employees inserted in one transaction per "
            f"round, sharing one argon2id hash with cheap parameters ({CHEAP_ARGON2}) so "
            f"that logging each one in through `POST /api/login` (the real login code) "
            f"took {time.monotonic() - phase:.0f} s instead of minutes; the admin was "
            f"created with `absensi user create --password-stdin` (production hash).")
        log("morning rush ...")
        rows += scenarios.rush(stack, rounds, quiet=quiet, log=log)
        created, users = scenarios.count_attendances(stack, all_ids)
        ok = sum(r.count - r.errors for r in rows if r.scenario.startswith("Check-in"))
        # every employee checked in exactly once: one row each, none doubled
        notes.append(f"Integrity after the rush: {created} attendance rows for {users} "
                     f"distinct employees; {ok} check-ins answered 201.")
    else:
        all_ids = [user_id for user_id, _ in stack.insert_employees(10, prefix="queue")[0]]

    if "sockets" in args.only:
        log(f"{args.nginx_sockets} sockets through nginx ...")
        rows.append(sockets.sockets_through_nginx(stack, clients=args.nginx_sockets, log=log))

    if "publisher" in args.only:
        log(f"publisher alone: {args.publisher_events} events ...")
        rows.append(publisher.publisher(stack, all_ids, events=args.publisher_events, log=log))

    if "fanout" in args.only:
        log(f"fan-out to {args.fanout_clients} sockets ...")
        rows.append(scenarios.fanout(stack, clients=args.fanout_clients, log=log))

    if "queue" in args.only:
        log(f"queue: {args.queue_events} events ...")
        rows.append(scenarios.queue(stack, all_ids, events=args.queue_events, log=log))

    return rows, versions


def main(argv=None):
    args = parse_args(argv)
    fd_limit = raise_fd_limit(max(args.fanout_clients, args.nginx_sockets) * 2 + 1024)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(args.max_seconds)
    began = time.monotonic()
    stack = Stack(gunicorn_workers=args.gunicorn_workers, gunicorn_threads=args.gunicorn_threads,
                  workers=args.workers, extra_env=args.env, keep=args.keep)
    load_before, speed_before = os.getloadavg(), cpu.speed_check()
    notes, failed = [], True
    try:
        rows, versions = run(args, stack, notes)
        failed = False
    except (Interrupted, KeyboardInterrupt) as stop:
        print(f"bench: stopped ({stop or 'SIGINT'}); stopping every process", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        stack.stop(failed=failed)

    cores = report.machine()["cores"]
    settings = (
        f"4 web nodes (gunicorn gthread, {args.gunicorn_workers} processes × "
        f"{args.gunicorn_threads} threads each) behind nginx {versions['nginx']} "
        f"(worker_processes auto); {args.workers} Dramatiq worker "
        f"({WORKER_PROCESSES} processes × 4 threads); "
        f"1 gateway in the cluster + 1 of its own for the fan-out; scheduler; "
        f"MariaDB {versions['mariadb']} (innodb_flush_log_at_trx_commit=2, 128 MiB buffer "
        f"pool); Redis {versions['redis']} (no persistence); RLIMIT_NOFILE {fd_limit}."
    )
    if args.env:
        settings += " Experiment: " + ", ".join(f"`{k}={v}`" for k, v in args.env.items()) + "."
    notes[:0] = [
        f"Load generators are separate Python processes (threads with keep-alive "
        f"`http.client` connections; websocket-client / tornado websocket clients) on the "
        f"same {cores} cores as every server: they take CPU from the system under test, "
        f"so the servers never have the whole machine (their share is in each footnote).",
        "Latency = request sent to response read, in the generator; throughput = answered "
        "requests / wall time of the round (closed loop: each client sends its next "
        "request when the previous one is answered, no think time).",
    ]
    if args.quick:
        notes.insert(0, "**Quick run**: smaller numbers than the spec; targets are for "
                        "reference only.")
    notes.append(f"Whole run: {time.monotonic() - began:.0f} s; load average before it "
                 f"{load_before[0]:.2f} (1 min), {load_before[1]:.2f} (5 min); a fixed "
                 f"Python loop took {speed_before:.0f} ms before the run and "
                 f"{cpu.speed_check():.0f} ms after it (the host's CPU speed varies between "
                 f"runs; compare runs by this).")
    title = ("Quick run" if args.quick else "Results") + f" of {report.today()}"
    table = report.render(rows, machine_info=report.machine(), settings=settings, notes=notes,
                          title=title)
    print("\n" + table)
    if args.write:
        report.write_into(args.output, table)
        print(f"written into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

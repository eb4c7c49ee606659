"""``absensi`` subcommands of this package: worker, scheduler, dlq, outbox.

:func:`register` adds them to the ``absensi`` argparse CLI (``webapp/cli.py``); each handler
is called as ``handler(args, settings)`` and returns the exit code.
"""
import json
import os
from pathlib import Path

WORKER_SHUTDOWN_TIMEOUT_MS = 20_000
IDLE_POLL_MS = 50


def cmd_worker(args, settings):
    """Run ``dramatiq tasks.broker:setup tasks.actors`` in this process."""
    # A consumer holding messages polls with a backoff that grows up to the worker
    # timeout (1 s by default), which would delay refilling its prefetch in a rush. An
    # idle one blocks on the doorbell instead (tasks/doorbell.py), so 50 ms costs nothing
    # when quiet. Dramatiq reads it from the environment when `dramatiq.worker` is first
    # imported.
    os.environ.setdefault("dramatiq_worker_timeout", str(IDLE_POLL_MS))
    from webapp import process_logging

    _prepare_metrics(settings)
    process_logging.configure(settings, "worker")
    from dramatiq.cli import main as dramatiq_main, make_argument_parser

    if getattr(args, "config", None):
        # The worker processes load their settings themselves (load_settings() in
        # tasks.broker.setup); this is how they learn which ini file -c named.
        os.environ["ABSENSI_CONFIG"] = str(Path(args.config).resolve())
    argv = ["tasks.broker:setup", "tasks.actors",
            "--processes", str(args.processes), "--threads", str(args.threads),
            "--worker-shutdown-timeout", str(WORKER_SHUTDOWN_TIMEOUT_MS),
            # the processes inherit process_logging's handler; Dramatiq's own would add a second
            "--skip-logging"]
    return dramatiq_main(make_argument_parser().parse_args(argv))


def _prepare_metrics(settings):
    """One emptied directory of metric files per worker node, exported before Dramatiq and
    prometheus_client are imported (see webapp/multiproc.py); None with metrics off."""
    if int(settings["worker.metrics_port"]) == 0:
        return None
    from webapp import multiproc

    directory = multiproc.prepare(settings["worker.node_id"])
    os.environ["dramatiq_prom_db"] = str(directory)  # Dramatiq's Prometheus middleware
    return directory


def cmd_scheduler(args, settings):
    from tasks.scheduler import run
    from webapp import process_logging

    process_logging.configure(settings, "scheduler")
    return run(settings)


def cmd_dlq_list(args, settings):
    import sys

    from tasks.broker import make_broker
    from tasks.dlq import dead_letters, discard_published

    broker = make_broker(settings)
    # publisher messages whose events went out since (the sweep, a later batch) are no
    # loss; the listing must work even when the database does not (it may be why)
    try:
        discarded = discard_published(broker, _session_factory(settings))
    except Exception as error:  # noqa: BLE001
        print(f"could not check which dead letters' events were published since: "
              f"{type(error).__name__}: {error}", file=sys.stderr)
        discarded = []
    if discarded:
        print(f"removed {len(discarded)} dead-lettered publisher message(s) whose events "
              f"were published since", file=sys.stderr)
    rows = [
        {"message_id": d.message_id, "actor": d.actor,
         "args": json.dumps(list(d.args) + ([d.kwargs] if d.kwargs else [])),
         "failed_at": d.failed_at.isoformat(timespec="seconds"), "error": d.error}
        for d in dead_letters(broker)
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif rows:
        _print_table(rows, ["message_id", "actor", "args", "failed_at", "error"])
    else:
        print("dead-letter queue is empty")
    return 0


def cmd_dlq_requeue(args, settings):
    from tasks.broker import make_broker
    from tasks.dlq import requeue

    requeued = requeue(make_broker(settings), None if args.all else args.message_ids)
    for message_id in requeued:
        print(f"requeued {message_id}")
    missing = set() if args.all else set(args.message_ids) - set(requeued)
    for message_id in sorted(missing):
        print(f"not in the dead-letter queue: {message_id}")
    print(f"{len(requeued)} message(s) requeued")
    return 1 if missing else 0


def cmd_outbox_status(args, settings):
    from tasks.outbox import outbox_status

    status = outbox_status(_session_factory(settings))
    if args.json:
        print(json.dumps(status))
    else:
        age = status["oldest_unpublished_age_seconds"]
        print(f"unpublished: {status['unpublished']}")
        print(f"newest event: {status['newest_event_id'] or '-'}")
        print("oldest unpublished: " + (
            f"event {status['oldest_unpublished_id']}, {age} s old" if age is not None else "-"))
    return 0


def cmd_outbox_sweep(args, settings):
    from tasks.broker import make_broker
    from tasks.outbox import enqueuer, sweep_unpublished

    enqueued = sweep_unpublished(_session_factory(settings), enqueuer(make_broker(settings)),
                                 min_age_seconds=args.min_age)
    print(f"{len(enqueued)} unpublished event(s) enqueued")
    return 0


def _session_factory(settings):
    from webapp.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings))


def _print_table(rows, columns):
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in rows:
        print("  ".join(str(row[c]).ljust(w) for c, w in zip(columns, widths)).rstrip())


def register(subparsers):
    """Add ``worker``, ``scheduler``, ``dlq`` and ``outbox`` to the ``absensi`` CLI."""
    worker = subparsers.add_parser("worker", help="run the Dramatiq worker (outbox publisher)")
    worker.add_argument("--processes", "-p", type=int, default=1, help="worker processes")
    worker.add_argument("--threads", "-t", type=int, default=4, help="threads per process")
    worker.set_defaults(handler=cmd_worker)

    subparsers.add_parser(
        "scheduler", help="run the periodic jobs (relay sweep, servers monitor, end of day)",
    ).set_defaults(handler=cmd_scheduler)

    dlq = subparsers.add_parser("dlq", help="dead-letter queue").add_subparsers(
        dest="dlq_command", required=True)
    listing = dlq.add_parser("list", help="table of dead-lettered messages")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=cmd_dlq_list)
    again = dlq.add_parser("requeue", help="send dead-lettered messages back to their queue")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every dead-lettered message")
    which.add_argument("message_ids", nargs="*", default=[], metavar="MESSAGE_ID")
    again.set_defaults(handler=cmd_dlq_requeue)

    outbox = subparsers.add_parser("outbox", help="transactional outbox").add_subparsers(
        dest="outbox_command", required=True)
    status = outbox.add_parser("status", help="unpublished count, oldest pending, newest id")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_outbox_status)
    sweep = outbox.add_parser("sweep", help="enqueue every unpublished event now")
    sweep.add_argument("--min-age", type=float, default=0.0, metavar="SECONDS")
    sweep.set_defaults(handler=cmd_outbox_sweep)

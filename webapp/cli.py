"""``absensi``: operate a node from the shell. Every command calls the same services
as the web views; settings come from ``-c/--config`` (or ABSENSI_CONFIG) plus the environment.
"""
import argparse
import getpass
import json
import sys
from importlib.metadata import entry_points

from webapp import settings as settings_module


def _session_factory(settings):
    from webapp.db import make_engine, make_session_factory

    return make_session_factory(make_engine(settings))


def cmd_db_upgrade(args, settings):
    from webapp.migrations import current_revision, upgrade

    upgrade(settings)
    print(f"database at revision {current_revision(settings)}")
    return 0


def cmd_db_seed_demo(args, settings):
    from webapp import demo

    with _session_factory(settings).begin() as dbsession:
        created = demo.seed(dbsession)
    print(f"demo data: {created} users created (password: {demo.DEMO_PASSWORD!r})")
    return 0


def _read_password(args):
    if args.password_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Kata sandi: ")
    if getpass.getpass("Ulangi kata sandi: ") != first:
        raise SystemExit("kata sandi tidak sama")
    return first


def cmd_user_create(args, settings):
    from webapp.accounts.services import create_user, user_json
    from webapp.errors import ApiError

    password = _read_password(args)
    try:
        with _session_factory(settings).begin() as dbsession:
            user = create_user(dbsession, name=args.name, email=args.email, password=password,
                               role=args.role, branch=args.branch)
            print(json.dumps(user_json(user), ensure_ascii=False))
    except ApiError as error:
        print(f"error: {error.code}: {error.message} {error.fields or ''}", file=sys.stderr)
        return 2
    return 0


def _print_table(rows, columns):
    widths = [max(len(c), *(len(str(r.get(c) or "-")) for r in rows)) for c in columns]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)))
    for row in rows:
        print("  ".join(str(row.get(c) or "-").ljust(w) for c, w in zip(columns, widths)))


def cmd_servers(args, settings):
    from webapp.redis import make_redis
    from webapp.servers.heartbeats import live_nodes

    nodes = live_nodes(make_redis(settings))
    if args.json:
        print(json.dumps(nodes, indent=2))
    elif nodes:
        _print_table(nodes, ["node_id", "role", "city", "last_seen", "started_at", "version"])
    else:
        print("no live nodes")
    return 0


def cmd_health(args, settings):
    """Exit 0 only when the database and Redis answer and at least one web node is live."""
    from sqlalchemy import text

    from webapp.db import make_engine
    from webapp.redis import make_redis
    from webapp.servers.heartbeats import live_nodes

    report, healthy = {}, True
    try:
        engine = make_engine(settings)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        report["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - a health check reports, never raises
        report["database"], healthy = f"error: {error}", False
    try:
        nodes = live_nodes(make_redis(settings))
        report["redis"] = "ok"
        report["live_nodes"] = [n["node_id"] for n in nodes]
        if not any(n["role"] == "web" for n in nodes):
            report["web"], healthy = "no live web node", False
    except Exception as error:  # noqa: BLE001
        report["redis"], healthy = f"error: {error}", False
    report["status"] = "healthy" if healthy else "unhealthy"
    print(json.dumps(report, indent=2))
    return 0 if healthy else 1


def cmd_db_backup(args, settings):
    from pathlib import Path

    from webapp.backup import BackupError, backup, default_filename, prune

    output = Path(args.output) if args.output else Path(args.output_dir) / default_filename()
    try:
        written = backup(settings, output)
    except BackupError as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    print(f"backup written to {written}")
    if args.keep_days is not None:
        for removed in prune(written.parent, args.keep_days):
            print(f"removed old backup {removed}")
    return 0


def cmd_db_restore(args, settings):
    from webapp.backup import BackupError, restore

    try:
        restore(settings, args.file)
    except BackupError as error:
        print(f"restore failed: {error}", file=sys.stderr)
        return 1
    print(f"restored {args.file}")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="absensi", description="Absensi operations")
    parser.add_argument("-c", "--config", help="ini file (default: ABSENSI_CONFIG or development.ini)")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="run migrations to head").set_defaults(handler=cmd_db_upgrade)
    db.add_parser("seed-demo", help="insert demo users").set_defaults(handler=cmd_db_seed_demo)
    dump = db.add_parser("backup", help="consistent dump of the database (gzip if *.gz)")
    dump.add_argument("--output", help="file to write (default: a dated file in --output-dir)")
    dump.add_argument("--output-dir", default=".", help="directory for the dated file")
    dump.add_argument("--keep-days", type=int, help="then delete dated dumps older than this")
    dump.set_defaults(handler=cmd_db_backup)
    load = db.add_parser("restore", help="load a dump into an empty database")
    load.add_argument("file")
    load.set_defaults(handler=cmd_db_restore)

    user = commands.add_parser("user", help="users").add_subparsers(dest="user_command",
                                                                    required=True)
    create = user.add_parser("create", help="create a user; password read from a prompt/stdin")
    create.add_argument("--name", required=True)
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=["employee", "admin"], default="employee")
    create.add_argument("--branch", required=True, help="JKT, BDG, SBY or DPS")
    create.add_argument("--password-stdin", action="store_true", help="read password from stdin")
    create.set_defaults(handler=cmd_user_create)

    commands.add_parser("health", help="check DB, Redis, live nodes").set_defaults(
        handler=cmd_health)
    servers = commands.add_parser("servers", help="table of live nodes (heartbeats)")
    servers.add_argument("--json", action="store_true")
    servers.set_defaults(handler=cmd_servers)
    from webapp.holidays.cli import register as register_holidays

    register_holidays(commands)
    # The worker's and the gateway's commands come from their own packages, found through
    # the ``absensi.commands`` entry points (setup.cfg): this package imports neither.
    for plugin in sorted(entry_points(group="absensi.commands"), key=lambda p: p.name):
        plugin.load()(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        settings = settings_module.load_settings(args.config)
    except settings_module.ConfigurationError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    return args.handler(args, settings)


if __name__ == "__main__":
    sys.exit(main())

"""``absensi holidays import``: add the repository's (or a given file's) national holidays."""


def cmd_holidays_import(args, settings):
    from webapp.db import make_engine, make_session_factory
    from webapp.holidays.services import (DATA_FILE, JOINT_LEAVE, NATIONAL, import_national,
                                          read_data_file)

    kinds = (NATIONAL, JOINT_LEAVE) if args.with_cuti_bersama else (NATIONAL,)
    rows = read_data_file(args.file or DATA_FILE, kinds=kinds)
    engine = make_engine(settings)
    try:
        with make_session_factory(engine).begin() as dbsession:
            added = import_national(dbsession, rows)
    finally:
        engine.dispose()
    if added:
        _reload_node_caches(settings)
    print(f"{added} hari libur ditambahkan ({len(rows) - added} sudah ada)")
    return 0


def _reload_node_caches(settings):
    """Tell the web nodes to reload their holidays (webapp.holidays.cache); without Redis
    they do within a minute anyway."""
    import redis

    from webapp.holidays.cache import bump_holidays_version
    from webapp.redis import make_redis

    try:
        bump_holidays_version(make_redis(settings))
    except redis.RedisError as error:
        print(f"Redis tidak terjangkau ({error}): node memuat ulang hari libur dalam 1 menit")


def register(commands):
    holidays = commands.add_parser("holidays", help="hari libur").add_subparsers(
        dest="holidays_command", required=True)
    importer = holidays.add_parser(
        "import", help="add missing national holidays from a CSV (default: the repository's)")
    importer.add_argument("--file", help="CSV with columns tanggal,nama,jenis,status")
    importer.add_argument("--with-cuti-bersama", action="store_true",
                          help="also add the collective leave days (cuti bersama)")
    importer.set_defaults(handler=cmd_holidays_import)

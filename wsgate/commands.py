"""``absensi gateway`` (entry point ``absensi.commands``). Light on purpose: every
``absensi`` command builds its parser from every package's commands, so the gateway
itself (Tornado, its Prometheus counters) is imported only when this one runs."""


def cmd_gateway(args, settings):
    from wsgate.app import main

    return main(settings) or 0


def register(subparsers):
    """Add ``gateway`` to the ``absensi`` CLI."""
    subparsers.add_parser("gateway", help="run the websocket gateway").set_defaults(
        handler=cmd_gateway)

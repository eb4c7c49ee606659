"""``make run``: the whole Absensi topology on this machine, behind nginx.

    python -m cluster.run    # env: PORT, DATABASE_URL, REDIS_URL, ABSENSI_DEMO, SECRET_KEY

Writes its runtime files under ``var/cluster/`` (nginx.conf, Procfile, .env), migrates the
database, seeds the demo data, then runs every process under honcho: Redis, nginx, four web
nodes (gunicorn), a Dramatiq worker, the Tornado gateway and the scheduler. Ctrl-C (SIGINT)
or SIGTERM stops all of them.

:class:`Cluster` (``cluster/local_cluster.py``) is the same topology as a library: the cluster
tests and the benchmark start it under a supervisor that can kill and restart single nodes.
"""
import argparse
import os
import signal
import subprocess
import sys
import threading

from cluster.local_cluster import DEMO_LOGIN, Cluster, ClusterError

__all__ = ["Cluster", "ClusterError", "main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cluster.run", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prepare-only", action="store_true",
                        help="write var/cluster/ (nginx.conf, Procfile, .env) and exit")
    parser.add_argument("--timeout", type=float, default=180,
                        help="seconds to wait for every process to answer (default 180)")
    args = parser.parse_args(argv)

    cluster = Cluster.from_environ()
    try:
        cluster.prepare()
        if args.prepare_only:
            print(f"wrote {cluster.run_dir}/nginx.conf, Procfile, .env")
            return 0
        cluster.migrate()
    except (ClusterError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"cluster.run: {exc}", file=sys.stderr)
        return 1
    return _run_under_honcho(cluster, timeout=args.timeout)


def _run_under_honcho(cluster, *, timeout):
    from honcho.manager import Manager
    from honcho.printer import Printer

    manager = Manager(Printer(sys.stdout))
    env = cluster.process_env()
    for spec in cluster.specs:
        manager.add_process(spec.name, spec.command, env=env, cwd=str(cluster.root))

    finished = threading.Event()
    failed = threading.Event()

    def announce():
        try:
            cluster.wait_ready(timeout=timeout, abort=finished.is_set)
        except ClusterError as exc:
            if not finished.is_set():
                print(f"cluster.run: {exc}; stopping", file=sys.stderr, flush=True)
                failed.set()
                # honcho's SIGTERM handler (main thread) stops every process.
                os.kill(os.getpid(), signal.SIGTERM)
            return
        login = f"  ({DEMO_LOGIN})" if cluster.demo else ""
        print(f"\nAbsensi siap: {cluster.base_url}/{login}\n"
              f"  {', '.join(cluster.web_node_ids)} behind nginx, websocket {cluster.ws_url}\n"
              f"  access log {cluster.run_dir / 'logs' / 'access.log'}; Ctrl-C stops all\n",
              flush=True)

    threading.Thread(target=announce, name="announce", daemon=True).start()
    manager.loop()
    finished.set()
    if failed.is_set():
        return 1
    # Stopped on request (Ctrl-C / SIGTERM) is a clean exit; a crashed process is not.
    return 0 if manager.returncode in (130, 143) else (manager.returncode or 0)


if __name__ == "__main__":
    sys.exit(main())

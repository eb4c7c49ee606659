"""What runs in the local cluster: one Procfile entry per process, and the nginx config.

The same entries feed honcho (``make run``) and :class:`cluster.supervisor.Supervisor`
(the cluster tests), so both start exactly the commands written to ``var/cluster/Procfile``.
"""
import os
import pwd
import resource
import shlex
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from cluster.ports import require
from webapp.settings import NODE_CITIES

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "templates"
BIN = Path(sys.executable).parent


@dataclass
class ProcessSpec:
    """One Procfile line: a name, a shell command, and the port it serves (if any)."""

    name: str
    role: str
    argv: list
    env: dict = field(default_factory=dict)
    port: int | None = None
    #: path answered with 200 when ready (HTTP), else readiness is "port accepts"
    ready_path: str | None = None

    @property
    def command(self):
        # `exec` keeps the real server as the process-group leader, so stopping the
        # group's leader and waiting for it is enough (no shell left behind).
        env = [f"{key}={shlex.quote(str(value))}" for key, value in self.env.items()]
        prefix = ["exec", "env", *env] if env else ["exec"]
        return " ".join(prefix + [shlex.quote(str(arg)) for arg in self.argv])


def web_node_id(n):
    return f"app-node-{n}"


def web_spec(n, *, port, root, workers=None, threads=None):
    node_id = web_node_id(n)
    argv = [BIN / "gunicorn", "-c", root / "webapp" / "gunicorn_conf.py",
            "--name", node_id, "--bind", f"127.0.0.1:{port}"]
    if workers:
        argv += ["--workers", workers]
    if threads:
        argv += ["--threads", threads]
    argv.append("webapp.wsgi:application")
    env = {"APP_NODE_ID": node_id}
    if NODE_CITIES.get(node_id):
        env["APP_CITY"] = NODE_CITIES[node_id]
    return ProcessSpec(node_id, "web", argv, env, port=port, ready_path="/readyz")


# One worker process per core (up to 4): publishing is CPU-bound Python (GIL), and one
# process drained a 1,000-event backlog in ~6 s where two took ~2.5 s (BENCHMARKS.md).
WORKER_PROCESSES = min(os.cpu_count() or 1, 4)


def worker_spec(n):
    return ProcessSpec(f"worker-{n}", "worker",
                       [BIN / "absensi", "worker", "--processes", str(WORKER_PROCESSES)],
                       {"WORKER_ID": f"worker-{n}"})


def gateway_spec(n, *, port):
    return ProcessSpec(f"gateway-{n}", "gateway", [BIN / "absensi", "gateway"],
                       {"GATEWAY_ID": f"gateway-{n}", "GATEWAY_PORT": port}, port=port)


def scheduler_spec(n=1):
    return ProcessSpec(f"scheduler-{n}", "scheduler", [BIN / "absensi", "scheduler"],
                       {"SCHEDULER_ID": f"scheduler-{n}"})


def redis_spec(*, port, data_dir, appendonly=True):
    # Foreground, logging to stdout (honcho prefixes it), loopback only, no RDB snapshots;
    # the append-only file keeps sessions and event history across a restart of `make run`.
    argv = [require("redis-server"), "--port", port, "--bind", "127.0.0.1",
            "--dir", data_dir, "--save", "", "--appendonly", "yes" if appendonly else "no",
            "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "10000"]
    return ProcessSpec("redis", "redis", argv, port=port)


def nginx_spec(*, port, prefix, conf):
    argv = [require("nginx"), "-p", f"{prefix}/", "-c", conf, "-e", "stderr"]
    return ProcessSpec("nginx", "lb", argv, port=port, ready_path="/readyz")


#: nginx's limits per worker (the template's defaults, as in production): room for 10,000
#: websockets on one worker, two connections each, plus the HTTP traffic
NGINX_WORKER_CONNECTIONS = 32768
NGINX_WORKER_FILES = 65536
#: descriptors a worker needs besides its connections (logs, listening sockets)
NGINX_SPARE_FILES = 64


def nginx_file_limits():
    """``(worker_rlimit_nofile, worker_connections)`` for nginx started by this process.

    nginx's workers cannot go above the hard limit they inherit unless the kernel lets
    them raise it (root in the machine's own user namespace; not root in a container,
    where nginx only logs an alert and keeps the old limit). So this process raises its
    own hard limit if it may (its children inherit it), and otherwise sizes nginx's
    connections to the hard limit there is.
    """
    files = NGINX_WORKER_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < files:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, files))
        except (ValueError, OSError):
            files = hard
    return files, max(1024, min(NGINX_WORKER_CONNECTIONS, files - NGINX_SPARE_FILES))


def nginx_user(*paths):
    """The user nginx's workers run as when the master is root (else None: ourselves).

    ``www-data`` when it can reach every path the workers touch (static files, temp
    dirs); otherwise root, e.g. for a checkout under a private home or pytest's 0700 temp
    dir, where ``www-data`` would get 403 on /static/ and fail to buffer large responses.
    """
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("www-data")
    except KeyError:
        return "root root"
    if all(_reachable_by_others(Path(path)) for path in paths):
        return "www-data www-data"
    return "root root"


def _reachable_by_others(path):
    path = path.resolve()
    for directory in [path, *path.parents]:
        try:
            if not directory.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def render_nginx_conf(**context):
    """Render ``templates/nginx.conf.j2`` (every path and address comes from *context*)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    context.setdefault("managed_comment", "Generated by cluster/run.py: edits are overwritten.")
    # Tested with `if` in the template; everything else optional has a `default(...)` there.
    for optional in ("user", "tls_certificate", "foreground"):
        context.setdefault(optional, None)
    return env.get_template("nginx.conf.j2").render(**context)


def render_procfile(specs, *, env_file, root):
    lines = [
        "# Generated by cluster/run.py for `make run`; edits are overwritten at the next start.",
        "# Run it by hand with:",
        f"#   {BIN / 'honcho'} -d {root} -f <this file> -e {env_file} start",
    ]
    lines += [f"{spec.name}: {spec.command}" for spec in specs]
    return "\n".join(lines) + "\n"


def render_env_file(environ):
    lines = ["# Shared environment of every process (holds secrets: mode 0600)."]
    lines += [f"{key}={shlex.quote(str(value))}" for key, value in environ.items()]
    return "\n".join(lines) + "\n"

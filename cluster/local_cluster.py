"""The local cluster as a library: :class:`Cluster` writes the runtime files, migrates,
starts the Procfile entries under a :class:`~cluster.supervisor.Supervisor` and controls
single nodes (kill, restart) for the cluster tests and the benchmark.

``python -m cluster.run`` (``make run``) uses the same class but runs the entries under honcho.
"""
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from cluster import topology
from cluster.ports import free_ports, port_open
from cluster.supervisor import Supervisor

REPO_ROOT = topology.REPO_ROOT
DEMO_LOGIN = "admin@example.com / password"

#: per-process variables that must come from the Procfile entry, never from the caller
PER_PROCESS_VARIABLES = ("APP_NODE_ID", "APP_CITY", "WORKER_ID", "GATEWAY_ID", "GATEWAY_PORT",
                         "SCHEDULER_ID", "PORT", "PROMETHEUS_MULTIPROC_DIR",
                         "WORKER_METRICS_PORT")

# Loopback checks must never go through an HTTP proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ClusterError(RuntimeError):
    pass


class Cluster:
    """Nginx, ``web_nodes`` gunicorn nodes, workers, gateway(s), scheduler and Redis.

    ``start()``/``stop()`` (or ``with Cluster(...) as cluster:``) run it under a
    :class:`Supervisor`; ``cluster.run.main`` runs the same entries under honcho.
    Every address is loopback; ports other than ``port`` are picked free at construction.
    """

    def __init__(self, *, port=None, database_url=None, redis_url=None, demo=True,
                 secret_key=None, var_dir=None, run_dir=None, web_nodes=4, workers=1,
                 gateways=1, gunicorn_workers=None, gunicorn_threads=None, config_file=None,
                 redis_appendonly=True, static_dir=None, extra_env=None, root=REPO_ROOT):
        self.root = Path(root)
        self.static_dir = Path(static_dir or self.root / "webapp" / "static")
        self.var_dir = Path(var_dir or self.root / "var")
        self.run_dir = Path(run_dir or self.var_dir / "cluster")
        # every port the cluster listens on, chosen at once so that no two are the same
        ports = iter(free_ports(2 + web_nodes + gateways + workers))
        self.port = int(port or next(ports))
        self.database_url = database_url or f"sqlite:///{self.var_dir / 'absensi.sqlite'}"
        self.own_redis = not redis_url
        self.redis_port = next(ports) if self.own_redis else None
        self.redis_url = redis_url or f"redis://127.0.0.1:{self.redis_port}/0"
        self.demo = demo
        self._secret_key = secret_key
        self.config_file = Path(config_file or self.root / "production.ini")
        self.extra_env = dict(extra_env or {})
        self.web_ports = [next(ports) for _ in range(web_nodes)]
        self.gateway_ports = [next(ports) for _ in range(gateways)]
        self.worker_metrics_ports = [next(ports) for _ in range(workers)]
        self.specs = self._specs(workers, gunicorn_workers, gunicorn_threads, redis_appendonly)
        self.supervisor = None

    @classmethod
    def from_environ(cls, environ=None, **kwargs):
        """The cluster ``make run`` starts: PORT, DATABASE_URL, REDIS_URL, ABSENSI_DEMO,
        SECRET_KEY from the environment (defaults 8000, SQLite under var/, own Redis, demo)."""
        environ = os.environ if environ is None else environ
        kwargs.setdefault("port", int(environ.get("PORT") or 8000))
        kwargs.setdefault("database_url", environ.get("DATABASE_URL") or None)
        kwargs.setdefault("redis_url", environ.get("REDIS_URL") or None)
        kwargs.setdefault("demo", environ.get("ABSENSI_DEMO", "1").lower()
                          not in ("0", "false", "no", "off", ""))
        kwargs.setdefault("secret_key", environ.get("SECRET_KEY") or None)
        return cls(**kwargs)

    # -- addresses ---------------------------------------------------------------------

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self):
        return f"ws://127.0.0.1:{self.port}/ws"

    def websocket_sources(self):
        """CSP ``connect-src`` for the gateway: the addresses this cluster answers on."""
        return " ".join(f"ws://{host}:{self.port}" for host in ("127.0.0.1", "localhost"))

    @property
    def web_node_ids(self):
        return [topology.web_node_id(n) for n in range(1, len(self.web_ports) + 1)]

    def web_node_url(self, n):
        """A node's own address, bypassing nginx."""
        return f"http://127.0.0.1:{self.web_ports[n - 1]}"

    # -- setup -------------------------------------------------------------------------

    def _specs(self, workers, gunicorn_workers, gunicorn_threads, redis_appendonly):
        specs = []
        if self.own_redis:
            specs.append(topology.redis_spec(port=self.redis_port,
                                             data_dir=self.run_dir / "redis",
                                             appendonly=redis_appendonly))
        specs += [topology.web_spec(n, port=port, root=self.root, workers=gunicorn_workers,
                                    threads=gunicorn_threads)
                  for n, port in enumerate(self.web_ports, start=1)]
        specs += [topology.worker_spec(n) for n in range(1, workers + 1)]
        # Prometheus: one directory of metric files per multi-process node, and each
        # worker's /metrics on a loopback port of its own (see README "Observability").
        for spec in specs:
            if spec.role in ("web", "worker"):
                spec.env["PROMETHEUS_MULTIPROC_DIR"] = str(self.run_dir / "metrics" / spec.name)
        for spec, port in zip([s for s in specs if s.role == "worker"], self.worker_metrics_ports):
            spec.env["WORKER_METRICS_PORT"] = port
        specs += [topology.gateway_spec(n, port=port)
                  for n, port in enumerate(self.gateway_ports, start=1)]
        specs.append(topology.scheduler_spec(1))
        specs.append(topology.nginx_spec(port=self.port, prefix=self.run_dir / "nginx",
                                         conf=self.run_dir / "nginx.conf"))
        return specs

    @property
    def secret_key(self):
        """SECRET_KEY if given, else the one in ``var/secret_key`` (generated once)."""
        if self._secret_key:
            return self._secret_key
        path = self.var_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48) + "\n")
        self._secret_key = path.read_text().strip()
        return self._secret_key

    def shared_env(self):
        """Variables every process gets (also written to ``var/cluster/.env``)."""
        return {
            "ABSENSI_CONFIG": str(self.config_file),
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "SECRET_KEY": self.secret_key,
            # plain HTTP on loopback: a Secure cookie would never come back
            "SESSION_COOKIE_SECURE": "false",
            "ABSENSI_SITE_URL": self.base_url,
            "TRUSTED_PROXIES": "127.0.0.1 ::1",
            "ABSENSI_DEMO": "1" if self.demo else "0",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }

    def process_env(self):
        env = {k: v for k, v in os.environ.items() if k not in PER_PROCESS_VARIABLES}
        env.update(self.shared_env())
        env["PATH"] = f"{topology.BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
        return env

    def prepare(self):
        """Write nginx.conf, the Procfile and .env under ``run_dir``; check the port is free."""
        if _port_taken(self.port):
            raise ClusterError(f"port {self.port} is already in use: stop what uses it or "
                               f"choose another with PORT=...")
        for directory in (self.run_dir, self.run_dir / "nginx" / "tmp", self.run_dir / "logs",
                          self.run_dir / "redis"):
            directory.mkdir(parents=True, exist_ok=True)
        # sessions and event history live in Redis's files: nobody else may read them
        (self.run_dir / "redis").chmod(0o700)
        worker_files, worker_connections = topology.nginx_file_limits()
        (self.run_dir / "nginx.conf").write_text(topology.render_nginx_conf(
            foreground=True,
            worker_rlimit_nofile=worker_files,
            worker_connections=worker_connections,
            user=topology.nginx_user(self.static_dir, self.run_dir / "nginx" / "tmp"),
            pid_path=self.run_dir / "nginx" / "nginx.pid",
            error_log="stderr",
            access_log=self.run_dir / "logs" / "access.log",
            temp_dir=self.run_dir / "nginx" / "tmp",
            mime_types=_mime_types(self.run_dir),
            listen=[f"127.0.0.1:{self.port}"],
            web_upstreams=[f"127.0.0.1:{port}" for port in self.web_ports],
            gateway_upstreams=[f"127.0.0.1:{port}" for port in self.gateway_ports],
            static_dir=self.static_dir,
            hide_metrics=True,  # scrapers ask each node on its own port, never nginx
            websocket_sources=self.websocket_sources(),
        ))
        env_file = self.run_dir / ".env"
        fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(topology.render_env_file(self.shared_env()))
        (self.run_dir / "Procfile").write_text(
            topology.render_procfile(self.specs, env_file=env_file, root=self.root))

    def migrate(self, quiet=False, timeout=300):
        """``absensi db upgrade`` (once per start), then ``absensi db seed-demo`` in demo mode."""
        commands = [["db", "upgrade"]] + ([["db", "seed-demo"]] if self.demo else [])
        for args in commands:
            result = subprocess.run(
                [str(topology.BIN / "absensi"), *args], cwd=self.root, env=self.process_env(),
                stdin=subprocess.DEVNULL, timeout=timeout,
                capture_output=quiet, text=True,
            )
            if result.returncode != 0:
                output = (result.stdout or "") + (result.stderr or "") if quiet else ""
                raise ClusterError(f"`absensi {' '.join(args)}` failed "
                                   f"(exit {result.returncode})\n{output[-3000:]}")

    # -- running under the supervisor (tests, benchmarks) ------------------------------

    def start(self, timeout=120, migrate=True, names=None):
        """Prepare, migrate, start the entries (default: all) and wait until they answer."""
        self.prepare()
        if migrate:
            self.migrate(quiet=True)
        names = list(names or (spec.name for spec in self.specs))
        self.supervisor = Supervisor(self.specs, env=self.process_env(), cwd=self.root,
                                     log_dir=self.run_dir / "logs")
        try:
            if "redis" in names:
                # Redis first: everything else connects to it at start.
                self.supervisor.start("redis")
                self.wait_ready(timeout=15, names=["redis"])
            self.supervisor.start_all(names)
            self.wait_ready(timeout=timeout, names=names)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=20):
        if self.supervisor is not None:
            self.supervisor.stop_all(timeout=timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def spec(self, name):
        return next(spec for spec in self.specs if spec.name == name)

    def kill_process(self, name, sig=signal.SIGKILL):
        self.supervisor.kill(name, sig)

    def stop_process(self, name, timeout=20):
        self.supervisor.stop(name, timeout=timeout)

    def start_process(self, name, timeout=60):
        self.supervisor.start(name)
        self.wait_ready(timeout=timeout, names=[name])

    def restart_process(self, name, timeout=60):
        self.stop_process(name)
        self.start_process(name, timeout=timeout)

    def kill_web_node(self, n, sig=signal.SIGKILL):
        """Crash web node *n* (1-based): its gunicorn arbiter and workers die at once."""
        self.kill_process(topology.web_node_id(n), sig)

    def restart_web_node(self, n, timeout=60):
        """Bring web node *n* back on its port (stopping it first if it still runs)."""
        self.restart_process(topology.web_node_id(n), timeout=timeout)

    def restart_gateway(self, n=1, timeout=30):
        """Stop gateway *n* gracefully and start it again on the same port."""
        self.restart_process(f"gateway-{n}", timeout=timeout)

    def log_tail(self, name, lines=30):
        return self.supervisor.log_tail(name, lines) if self.supervisor else ""

    # -- readiness -------------------------------------------------------------------

    def is_ready(self, spec):
        if spec.port is None:
            return True  # worker, scheduler: no port; see wait_for_heartbeats()
        if spec.ready_path:
            return _http_ok(f"http://127.0.0.1:{spec.port}{spec.ready_path}")
        return port_open(spec.port)

    def wait_ready(self, timeout=120, names=None, abort=None):
        """Wait (bounded) until the named entries (default: all) answer.

        nginx is checked last: asking it while nodes are still starting would count
        failures against them (max_fails) and keep them out of rotation for a while.
        """
        pending = [spec for spec in self.specs if names is None or spec.name in names]
        pending.sort(key=lambda spec: spec.role == "lb")
        deadline = time.monotonic() + timeout
        while pending:
            self._check_abort(abort)
            if self.is_ready(pending[0]):
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise ClusterError(self._not_ready_message(pending, timeout))
            time.sleep(0.2)

    def wait_for_heartbeats(self, roles=("web", "worker", "gateway", "scheduler"), timeout=60):
        """Wait until every process of *roles* has a live heartbeat in Redis."""
        from webapp.servers.heartbeats import live_nodes
        import redis

        expected = {spec.name for spec in self.specs if spec.role in roles}
        client = redis.Redis.from_url(self.redis_url, decode_responses=True)
        deadline = time.monotonic() + timeout
        try:
            while True:
                seen = {node["node_id"] for node in live_nodes(client)}
                if expected <= seen:
                    return seen
                if time.monotonic() > deadline:
                    raise ClusterError(f"no heartbeat from {sorted(expected - seen)} "
                                       f"after {timeout} s")
                time.sleep(0.25)
        finally:
            client.close()

    def wait_balanced(self, timeout=30):
        """Wait until nginx sends requests to every web node again.

        After a node was down, nginx skips it for ``fail_timeout`` even once it is back;
        tests that count nodes behind the balancer call this after a fault.
        """
        expected = set(self.web_node_ids)
        deadline = time.monotonic() + timeout
        while True:
            seen = set()
            for _ in range(2 * len(expected)):
                try:
                    with _http.open(f"{self.base_url}/healthz", timeout=5) as response:
                        seen.add(response.headers.get("X-Node-Id"))
                except (urllib.error.URLError, OSError):
                    pass
            if expected <= seen:
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"nginx still skips {sorted(expected - seen)} after "
                                   f"{timeout} s")
            time.sleep(0.5)

    def _check_abort(self, abort):
        if abort is not None and abort():
            raise ClusterError("stopped while starting")
        if self.supervisor is not None:
            exited = self.supervisor.exited()
            if exited:
                name, code = next(iter(exited.items()))
                raise ClusterError(f"{name} exited with {code} while starting:\n"
                                   f"{self.log_tail(name)}")

    def _not_ready_message(self, pending, timeout):
        names = ", ".join(spec.name for spec in pending)
        message = f"not ready after {timeout} s: {names}"
        if self.supervisor is not None:
            message += "".join(f"\n--- {spec.name} ---\n{self.log_tail(spec.name)}"
                               for spec in pending)
        return message


def _http_ok(url):
    try:
        with _http.open(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_taken(port):
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _mime_types(run_dir):
    system = Path("/etc/nginx/mime.types")
    if system.exists():
        return system
    fallback = run_dir / "mime.types"
    fallback.write_text("types {\n text/html html; text/css css; application/javascript js;\n"
                        " application/json json; image/svg+xml svg; image/png png;\n"
                        " text/csv csv; font/woff2 woff2;\n}\n")
    return fallback

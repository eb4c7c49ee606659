"""The system under test: a private MariaDB and the local cluster against it, plus the
benchmark's users.

Everything runs on loopback in a temp dir and is stopped by :meth:`Stack.stop` (the
cluster's supervisor stops each process group it started; MariaDB is our own child).
"""
import datetime as dt
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from bench import REPO_ROOT, loadgen
from cluster.topology import BIN

#: the bench employees' password hash: argon2id with cheap parameters (see
#: :meth:`Stack.insert_employees`); verification reads the parameters from the hash
CHEAP_ARGON2 = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
SESSION_COOKIE = "absensi_session"


class Stack:
    """MariaDB + :class:`cluster.local_cluster.Cluster` (demo data off) + bench users."""

    def __init__(self, *, gunicorn_workers, gunicorn_threads, workers=1, extra_env=None,
                 keep=False):
        self.gunicorn_workers = gunicorn_workers
        self.gunicorn_threads = gunicorn_threads
        self.workers = workers
        self.extra_env = dict(extra_env or {})
        self.keep = keep
        self.dir = Path(tempfile.mkdtemp(prefix="absensi-bench-"))
        self.mariadb = self.cluster = self.engine = None
        self.settings = self.session_factory = None
        self.admin_password = secrets.token_urlsafe(18)
        self.admin_email = "bench-admin@example.com"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, log=print):
        from cluster.local_cluster import Cluster
        from tests.servers import MariaDBServer
        from webapp.db import make_engine, make_session_factory
        from webapp.settings import load_settings

        self.mariadb = MariaDBServer()  # its own temp dir, owned by mysql
        self.mariadb.start()
        log(f"  MariaDB on 127.0.0.1:{self.mariadb.port}")
        self.cluster = Cluster(
            var_dir=self.dir / "var", database_url=self.mariadb.url, demo=False,
            secret_key=secrets.token_urlsafe(48), web_nodes=4, workers=self.workers,
            gunicorn_workers=self.gunicorn_workers, gunicorn_threads=self.gunicorn_threads,
            redis_appendonly=False, extra_env=self.extra_env,
        )
        self.cluster.start(timeout=180)
        self.cluster.wait_for_heartbeats(timeout=60)
        self.cluster.wait_balanced(timeout=30)
        log(f"  cluster up: nginx {self.cluster.base_url}, logs in {self.cluster.run_dir}/logs")
        self.settings = load_settings(environ=self.cluster.process_env())
        self.engine = make_engine(self.settings)
        self.session_factory = make_session_factory(self.engine)
        return self

    def stop(self, failed=False):
        if self.engine is not None:
            self.engine.dispose()
        if self.cluster is not None:
            self.cluster.stop()
        if self.mariadb is not None:
            self.mariadb.stop()
        if failed or self.keep:
            print(f"bench: logs kept in {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- facts for the report ----------------------------------------------------------

    def versions(self):
        from sqlalchemy import text

        import redis

        with self.engine.connect() as connection:
            mariadb = connection.execute(text("SELECT VERSION()")).scalar()
        client = redis.Redis.from_url(self.cluster.redis_url)
        try:
            redis_version = client.info("server")["redis_version"]
        finally:
            client.close()
        nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
        return {"mariadb": mariadb.split("-")[0], "redis": redis_version,
                "nginx": nginx.split("/")[-1]}

    def host_port(self):
        return "127.0.0.1", self.cluster.port

    # -- users -------------------------------------------------------------------------

    def create_admin(self):
        """The admin, through the ``absensi user create --password-stdin`` CLI."""
        result = subprocess.run(
            [str(BIN / "absensi"), "user", "create",
             "--name", "Bench Admin", "--email", self.admin_email, "--role", "admin",
             "--branch", "JKT", "--password-stdin"],
            input=self.admin_password + "\n", text=True, capture_output=True,
            env=self.cluster.process_env(), cwd=REPO_ROOT, timeout=60,
        )
        if result.returncode != 0:
            raise RuntimeError(f"absensi user create failed: {result.stderr}")
        return json.loads(result.stdout)

    def insert_employees(self, count, *, prefix, branch_ids=None):
        """*count* employees over the four branches (or over *branch_ids*, round robin),
        inserted in one transaction.

        Straight into ``users`` with the models, not through ``create_user``: that hashes
        each password with the production argon2 parameters (tens of ms each, minutes
        for thousands). All of them share one argon2id hash with cheap parameters, so
        logging them in through the API (the real login code) takes seconds. Returns
        ``[(user_id, email), ...]`` and the password.
        """
        from argon2 import PasswordHasher
        from sqlalchemy import insert, select

        from webapp.accounts.models import User
        from webapp.branches.models import Branch

        password = secrets.token_urlsafe(12)
        if count <= 0:
            return [], password
        password_hash = PasswordHasher(**CHEAP_ARGON2).hash(password)
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        with self.session_factory.begin() as session:
            if branch_ids is None:
                branch_ids = session.scalars(select(Branch.id).order_by(Branch.id)).all()
            rows = [
                {"name": f"Pegawai {prefix.upper()} {i:05d}",
                 "email": f"{prefix}-{i:05d}@bench.example.com",
                 "password_hash": password_hash, "role": "employee", "active": True,
                 "branch_id": branch_ids[i % len(branch_ids)], "auth_version": 1,
                 "created_at": now}
                for i in range(count)
            ]
            session.execute(insert(User), rows)
            users = session.execute(
                select(User.id, User.email).where(User.email.like(f"{prefix}-%@bench.example.com"))
                .order_by(User.id)
            ).all()
        return [(row.id, row.email) for row in users], password

    def log_in(self, credentials, *, concurrency=16):
        """Log each ``(email, password)`` in through nginx; returns one dict per user
        with the request headers its later requests need (cookie, CSRF token)."""
        if not credentials:
            return []
        host, port = self.host_port()
        requests = [["POST", "/api/login", {"Content-Type": "application/json"},
                     json.dumps({"email": email, "password": password})]
                    for email, password in credentials]
        # one loopback address per login: nginx allows an address 5 logins/s (setup is
        # not what is measured, and real employees log in from many offices)
        result = loadgen.run(host, port, requests, concurrency=concurrency, capture="login",
                             spread_sources=True)
        sessions = []
        for (email, _), (_, _, status, error, data) in zip(credentials, result["results"]):
            if status != 200 or not data or SESSION_COOKIE not in data["cookies"]:
                raise RuntimeError(f"login of {email} failed: {status} {error} {data}")
            sessions.append({"Cookie": f"{SESSION_COOKIE}={data['cookies'][SESSION_COOKIE]}",
                             "X-CSRF-Token": data["csrf_token"]})
        return sessions

    def admin_headers(self):
        return self.log_in([(self.admin_email, self.admin_password)], concurrency=1)[0]

    def realtime_token(self, headers):
        host, port = self.host_port()
        request = urllib.request.Request(
            f"http://{host}:{port}/api/realtime/token", data=b"", method="POST",
            headers=headers)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())["token"]

    # -- a gateway of our own (fan-out) ------------------------------------------------

    def start_gateway(self, node_id="gateway-bench"):
        """``python -m wsgate`` on a free port with the cluster's settings; returns
        ``(process, port)`` once its /healthz answers. Stop it with :meth:`stop_gateway`."""
        from cluster.ports import free_port, wait_until

        port = free_port()
        env = dict(self.cluster.process_env(), GATEWAY_ID=node_id, GATEWAY_PORT=str(port))
        log = open(self.dir / f"{node_id}.log", "ab")
        process = subprocess.Popen(
            [sys.executable, "-m", "wsgate"],
            cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

        def healthy():
            if process.poll() is not None:
                raise RuntimeError(f"{node_id} exited with {process.returncode}")
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    return answer.status == 200
            except OSError:
                return False

        wait_until(healthy, timeout=30, interval=0.1, what=node_id)
        return process, port

    @staticmethod
    def stop_gateway(process, timeout=20):
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def rss_kib(pid):
    """Resident set size of *pid* in KiB (from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")

"""The production stack's topology as containers of the image on this machine.

MariaDB and Redis are the test's own servers (TLS only, password-protected, on loopback),
nginx is the machine's nginx running ``docker/nginx.conf``; every role of the stack that
the test needs runs as a container of the image with the stack's environment, command and
secrets (mounted as files at ``/run/secrets/...``). :meth:`Deployment.stop` removes
everything it started, whatever state it is in.
"""
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from cluster import topology
from cluster.ports import free_port, port_open, require, wait_until
from tests.servers import RedisServer
from tests.image import wiring
from tests.tls_helpers import TlsMariaDB, make_server_certificate

#: the stack's services that the test runs as containers (besides the migrate job)
SERVICES = ("app-node-1", "app-node-2", "worker", "gateway", "scheduler")


class Deployment:
    def __init__(self, podman, image, workdir):
        self.podman, self.image = podman, image
        self.workdir = Path(workdir)
        self.admin = {"email": "ops@example.com", "password": "Rahasia-ops-2026"}
        self.web_ports = {name: free_port() for name in ("app-node-1", "app-node-2")}
        self.gateway_port = free_port()
        self.https_port, self.http_port = free_port(), free_port()
        self.site_url = f"https://127.0.0.1:{self.https_port}"
        self.servers, self.nginx, self.timings = [], None, {}

    # -- the pieces ----------------------------------------------------------------

    def _pki(self):
        # mysql must read its certificate and key: a directory everyone may enter
        directory = Path(tempfile.mkdtemp(prefix="absensi-image-pki-"))
        directory.chmod(0o755)
        self._pki_dir = directory
        return make_server_certificate(directory, hosts=("127.0.0.1", "localhost"))

    def _start_servers(self):
        self.tls = self._pki()
        self.redis_password = secrets.token_urlsafe(24)
        self.mariadb = TlsMariaDB(tls=self.tls, password=secrets.token_urlsafe(24))
        self.servers.append(self.mariadb)
        self.mariadb.start()
        self.redis = RedisServer(tls=tuple(self.tls), password=self.redis_password)
        self.servers.append(self.redis)
        self.redis.start()
        self.secrets_dir = wiring.write_secrets(self.workdir / "secrets", {
            "secret_key": secrets.token_urlsafe(48),
            "database_password": self.mariadb.password,
            "redis_password": self.redis_password,
            "sentinel_password": secrets.token_urlsafe(24),
            "ca": self.tls.ca.read_bytes(),
        })

    def environment(self, service):
        env = wiring.service_environment(service, **{
            "@mariadb:3306/": f"@127.0.0.1:{self.mariadb.port}/",
            "//redis-1:6379/": f"//127.0.0.1:{self.redis.port}/",
            "10.231.0.0/24": "127.0.0.1",
        })
        # One Redis here, without Sentinels or replicas: the app talks to it directly and
        # publishes without waiting for a replica.
        for variable in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER",
                         "REDIS_SENTINEL_PASSWORD_FILE"):
            env.pop(variable, None)
        if "OUTBOX_PUBLISH_REPLICAS" in env:
            env["OUTBOX_PUBLISH_REPLICAS"] = "0"
        env["ABSENSI_SITE_URL"] = self.site_url
        # what Swarm makes of the service templates for the first task
        env = {key: value.replace("{{.Task.Slot}}", "1") for key, value in env.items()}
        if service in self.web_ports:
            env["PORT"] = str(self.web_ports[service])
            # two cores: one gunicorn process per node keeps the test quick
            env["GUNICORN_CMD_ARGS"] = "--workers 1 --threads 4"
        if service == "gateway":
            env["GATEWAY_PORT"] = str(self.gateway_port)
        if service == "worker":
            # the host's network here: loopback and a free port instead of 0.0.0.0:9191
            env.update(WORKER_METRICS_HOST="127.0.0.1", WORKER_METRICS_PORT=str(free_port()))
        return env

    def command(self, service):
        command = list(wiring.stack()["services"][service]["command"])
        if service == "worker":
            command = ["worker", "--processes", "1"]  # the stack's two, on two shared cores
        return command

    def run_job(self, service, args=None, stdin=None):
        return self.podman.run_once(
            self.image, args or self.command(service), env=self.environment(service),
            mounts=wiring.secret_mounts(service, self.secrets_dir), stdin=stdin)

    def _start_nginx(self):
        run_dir = self.workdir / "nginx"
        tls_dir = run_dir / "tls"
        tls_dir.mkdir(parents=True)
        shutil.copy(self.tls.cert, tls_dir / "tls_cert.pem")
        shutil.copy(self.tls.key, tls_dir / "tls_key.pem")
        conf = run_dir / "nginx.conf"
        conf.write_text(wiring.nginx_conf(
            run_dir=run_dir, https_port=self.https_port, http_port=self.http_port,
            web_ports=self.web_ports, gateway_port=self.gateway_port, tls_dir=tls_dir))
        user = topology.nginx_user(run_dir)
        directives = "daemon off;" + (f" user {user};" if user else "")
        self.nginx_log = run_dir / "nginx.out"
        with open(self.nginx_log, "ab") as log:
            self.nginx = subprocess.Popen(
                [require("nginx"), "-p", f"{run_dir}/", "-c", str(conf), "-e", "stderr",
                 "-g", directives], stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: port_open(self.https_port) or self.nginx.poll() is not None,
                   timeout=15, what="nginx")
        assert self.nginx.poll() is None, self.nginx_log.read_text()

    # -- whole deployment -------------------------------------------------------------

    def start(self):
        started = time.monotonic()
        self._start_servers()
        migrated = self.run_job("migrate")
        self.migrate_result = migrated
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        created = self.run_job("app-node-1", [
            "absensi", "user", "create", "--name", "Ops Admin", "--email", self.admin["email"],
            "--role", "admin", "--branch", "JKT", "--password-stdin",
        ], stdin=self.admin["password"] + "\n")
        assert created.returncode == 0, created.stdout + created.stderr
        for service in SERVICES:
            self.podman.start(service, self.image, self.command(service),
                              env=self.environment(service),
                              mounts=wiring.secret_mounts(service, self.secrets_dir))
        self._start_nginx()
        for service in SERVICES:
            self.podman.wait_healthy(self.podman.name(service), timeout=120)
        self.timings["deployment up (servers, migrate, 5 containers healthy), s"] = round(
            time.monotonic() - started)
        return self

    def stop(self):
        if self.nginx is not None and self.nginx.poll() is None:
            os.killpg(self.nginx.pid, 15)
            try:
                self.nginx.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.nginx.pid, 9)
                self.nginx.wait(timeout=10)
        for name in reversed(self.podman.containers):
            self.podman("rm", "--force", "--time", "10", name, check=False, timeout=60)
        self.podman.containers.clear()
        for server in reversed(self.servers):
            server.stop()
        shutil.rmtree(getattr(self, "_pki_dir", ""), ignore_errors=True)

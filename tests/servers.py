"""Real Redis and MariaDB servers for the tests (and the benchmarks), on free loopback
ports in private data dirs. Each server is a context manager that waits (bounded) until
the server answers and stops it (and only it) on exit. Not part of the product: the
MariaDB server grants its test user everything."""
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from cluster.ports import ServerError, free_port, port_open, require, wait_until


class _Process:
    """A child server process in its own process group, stopped on exit."""

    name = "server"
    process = None

    def __init__(self, data_dir=None, port=None):
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"absensi-{self.name}-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the server's data is nobody else's to read
        self.port = port or free_port()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, argv):
        self.log_path = self.data_dir / f"{self.name}.out"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def alive(self):
        return self.process is not None and self.process.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """Hard stop (for fault tests); :meth:`start` brings it back on the same port."""
        if self.alive():
            self.process.send_signal(sig)
            self.process.wait(timeout=30)

    def stop(self, timeout=20):
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class RedisServer(_Process):
    name = "redis"

    def __init__(self, data_dir=None, port=None, appendonly=False, tls=None, password=None,
                 replica_of=None):
        super().__init__(data_dir, port)
        self.appendonly = appendonly
        #: ``(cert_file, key_file, ca_file)``: listen with TLS only, on :attr:`port`
        self.tls = tls
        self.password = password
        #: the port of the primary this server starts as a replica of
        self.replica_of = replica_of

    @property
    def url(self):
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def start(self, timeout=15):
        listen = ["--port", str(self.port)]
        if self.tls:
            cert, key, ca = self.tls
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
                      "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca),
                      "--tls-auth-clients", "no"]
        if self.password:
            listen += ["--requirepass", self.password, "--masterauth", self.password]
        if self.replica_of:
            listen += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        self._spawn([
            require("redis-server"), *listen, "--bind", "127.0.0.1",
            "--dir", str(self.data_dir), "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "20000",
        ])
        wait_until(lambda: port_open(self.port) or not self.alive(), timeout=timeout, what="redis")
        if not self.alive():
            raise ServerError(f"redis exited:\n{self.log_tail()}")


class SentinelServer(_Process):
    """A Redis Sentinel watching the primary on *primary_port* as *master* (quorum 2,
    down after 1 s: failovers in a few seconds, for tests). Its config file is its own and
    writable: a Sentinel rewrites it."""

    name = "sentinel"

    def __init__(self, primary_port, *, master="absensi", password=None, data_dir=None,
                 port=None):
        super().__init__(data_dir, port)
        self.primary_port, self.master, self.password = primary_port, master, password

    def start(self, timeout=15):
        conf = self.data_dir / "sentinel.conf"
        if not conf.exists():
            lines = [f"port {self.port}", "bind 127.0.0.1", f"dir {self.data_dir}",
                     f"sentinel monitor {self.master} 127.0.0.1 {self.primary_port} 2",
                     f"sentinel down-after-milliseconds {self.master} 1000",
                     f"sentinel failover-timeout {self.master} 10000",
                     f"sentinel parallel-syncs {self.master} 1"]
            if self.password:
                lines.append(f"sentinel auth-pass {self.master} {self.password}")
            conf.write_text("\n".join(lines) + "\n")
        self._spawn([require("redis-server"), str(conf), "--sentinel"])
        wait_until(lambda: port_open(self.port) or not self.alive(), timeout=timeout,
                   what="sentinel")
        if not self.alive():
            raise ServerError(f"sentinel exited:\n{self.log_tail()}")


class MariaDBServer(_Process):
    """A private MariaDB with a database and a password-protected application user."""

    name = "mariadb"
    database = "absensi"
    user = "absensi"

    def __init__(self, data_dir=None, port=None, password="absensi-test-pw"):
        super().__init__(data_dir, port)
        self.password = password
        self.socket = self.data_dir / "mysqld.sock"

    @property
    def url(self):
        return self.url_for(self.database)

    def url_for(self, database):
        return (f"mysql+pymysql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}")

    def _initialise(self):
        datadir = self.data_dir / "data"
        if datadir.exists():
            return False
        subprocess.run(["chown", "-R", "mysql:", str(self.data_dir)], check=False)
        subprocess.run(
            [require("mariadb-install-db"), "--user=mysql", f"--datadir={datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120,
        )
        return True

    def start(self, timeout=60):
        fresh = self._initialise()
        self._spawn([
            require("mariadbd"), "--no-defaults", "--user=mysql",
            f"--datadir={self.data_dir / 'data'}", f"--socket={self.socket}",
            f"--pid-file={self.data_dir / 'mysqld.pid'}", f"--port={self.port}",
            "--bind-address=127.0.0.1", f"--log-error={self.data_dir / 'error.log'}",
            "--skip-name-resolve", "--innodb-buffer-pool-size=128M",
            "--innodb-flush-log-at-trx-commit=2", "--max-connections=1000",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_unicode_ci",
        ])
        wait_until(self._pings, timeout=timeout, interval=0.1, what="mariadb")
        if fresh:
            self.sql(
                f"CREATE DATABASE IF NOT EXISTS {self.database};"
                f"CREATE USER IF NOT EXISTS '{self.user}'@'127.0.0.1' "
                f"IDENTIFIED BY '{self.password}';"
                f"GRANT ALL ON *.* TO '{self.user}'@'127.0.0.1';"
            )

    def _pings(self):
        if not self.alive():
            raise ServerError(f"mariadb exited:\n{self._error_log()}")
        return subprocess.run(
            [require("mariadb-admin"), "--no-defaults", f"--socket={self.socket}", "-uroot",
             "ping"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10,
        ).returncode == 0

    def _error_log(self):
        try:
            return (self.data_dir / "error.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def sql(self, statements):
        subprocess.run(
            [require("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot",
             "-e", statements],
            check=True, timeout=60, capture_output=True,
        )

    def stop(self, timeout=30):
        super().stop(timeout)

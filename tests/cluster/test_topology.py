"""The files ``make run`` writes: Procfile, .env, nginx.conf, and the start-up checks."""
import os
import shutil
import socket
import stat
import subprocess

import pytest
from honcho.environ import parse_procfile

from cluster.run import Cluster, ClusterError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture()
def cluster(tmp_path):
    return Cluster(var_dir=tmp_path / "var", port=None, demo=True)


def test_procfile_lists_every_process_of_the_topology(cluster):
    # Given a cluster that starts its own Redis
    # When its runtime files are written
    cluster.prepare()

    # Then honcho reads one entry per process: Redis, four city nodes, worker, gateway,
    # scheduler and nginx, each a foreground `exec` with its node id in its environment
    procfile = parse_procfile((cluster.run_dir / "Procfile").read_text()).processes
    assert list(procfile) == ["redis", "app-node-1", "app-node-2", "app-node-3", "app-node-4",
                              "worker-1", "gateway-1", "scheduler-1", "nginx"]
    assert all(command.startswith("exec ") for command in procfile.values())
    assert "APP_NODE_ID=app-node-4 APP_CITY=Bali " in procfile["app-node-4"]
    assert "gunicorn_conf.py" in procfile["app-node-1"]
    assert f"127.0.0.1:{cluster.web_ports[2]}" in procfile["app-node-3"]
    assert f"GATEWAY_PORT={cluster.gateway_ports[0]}" in procfile["gateway-1"]
    assert "--daemonize no" in procfile["redis"] and "--bind 127.0.0.1" in procfile["redis"]
    # and Redis keeps its files (sessions, history) where only its owner may read them
    assert (cluster.run_dir / "redis").stat().st_mode & 0o777 == 0o700


def test_external_redis_is_used_instead_of_starting_one(tmp_path):
    # Given REDIS_URL names a Redis somebody else runs
    cluster = Cluster.from_environ({"REDIS_URL": "redis://127.0.0.1:6390/3", "PORT": "18123"},
                                   var_dir=tmp_path)

    # Then no Redis entry is started and every process gets that URL
    assert "redis" not in [spec.name for spec in cluster.specs]
    assert cluster.shared_env()["REDIS_URL"] == "redis://127.0.0.1:6390/3"
    assert cluster.base_url == "http://127.0.0.1:18123"


def test_environment_defaults_are_sqlite_demo_and_port_8000(tmp_path):
    cluster = Cluster.from_environ({}, var_dir=tmp_path)

    assert cluster.port == 8000
    assert cluster.demo is True
    assert cluster.database_url == f"sqlite:///{tmp_path / 'absensi.sqlite'}"
    assert Cluster.from_environ({"ABSENSI_DEMO": "0"}, var_dir=tmp_path).demo is False


def test_secret_key_is_generated_once_and_kept_private(cluster, tmp_path):
    # Given no SECRET_KEY in the environment
    # When the cluster prepares twice (two runs of `make run`)
    cluster.prepare()
    again = Cluster(var_dir=tmp_path / "var")

    # Then both runs use the same long random key, stored and written with mode 0600
    assert len(cluster.secret_key) >= 32
    assert again.secret_key == cluster.secret_key
    for path in (tmp_path / "var" / "secret_key", cluster.run_dir / ".env"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert f"SECRET_KEY={cluster.secret_key}" in (cluster.run_dir / ".env").read_text()


def test_every_process_runs_production_config_over_plain_http(cluster):
    env = cluster.process_env()

    assert env["ABSENSI_CONFIG"].endswith("production.ini")
    assert env["SESSION_COOKIE_SECURE"] == "false"
    assert env["ABSENSI_DEMO"] == "1"
    assert env["PATH"].split(os.pathsep)[0].endswith("bin")


def test_caller_node_identity_does_not_leak_into_processes(cluster, monkeypatch):
    # Given the shell that runs `make run` exported a node id of its own
    monkeypatch.setenv("APP_NODE_ID", "app-node-9")
    monkeypatch.setenv("GATEWAY_PORT", "1")

    # Then only the Procfile entries say which node a process is
    env = cluster.process_env()
    assert "APP_NODE_ID" not in env and "GATEWAY_PORT" not in env


def test_busy_port_is_refused_before_anything_starts(tmp_path):
    # Given something already listens on the load balancer's port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        cluster = Cluster(var_dir=tmp_path, port=sock.getsockname()[1])

        # When the cluster prepares, Then it says which port and how to pick another
        with pytest.raises(ClusterError, match="PORT="):
            cluster.prepare()


@pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                    reason="nginx not installed (make system-deps)")
def test_rendered_nginx_conf_is_valid(cluster):
    # Given the rendered nginx.conf
    cluster.prepare()
    conf = (cluster.run_dir / "nginx.conf").read_text()

    # Then nginx accepts it, and it proxies every node with passive health checks
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run(
        [nginx, "-t", "-p", f"{cluster.run_dir}/nginx/", "-c", str(cluster.run_dir / "nginx.conf"),
         "-e", "stderr"], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    for port in cluster.web_ports:
        assert f"server 127.0.0.1:{port} max_fails=" in conf
    assert "proxy_next_upstream error timeout non_idempotent;" in conf
    assert "daemon off;" in conf

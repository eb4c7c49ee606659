"""The Swarm data tier's Galera scripts, run here with stand-ins for the image's tools.

docker/galera/health.sh against a stand-in `mariadb` client: HAProxy's writer is a node that
answers 200, i.e. Synced and ready; the container's healthcheck also lets a donor be (it must
not be killed mid-SST). docker/galera/start.sh: which start bootstraps a new cluster.
"""
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cluster.ports import free_port
from webapp.settings import REPO_ROOT

HEALTH = REPO_ROOT / "docker" / "galera" / "health.sh"


def run_health(tmp_path, status_rows, *args, request="GET / HTTP/1.0\r\n\r\n"):
    """health.sh with a `mariadb` on PATH that prints *status_rows* (None: no answer)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "mariadb"
    if status_rows is None:
        fake.write_text("#!/bin/sh\necho \"ERROR 2002: Can't connect\" >&2\nexit 1\n")
    else:
        rows = "".join(f"{name}\t{value}\n" for name, value in status_rows)
        fake.write_text(f"#!/bin/sh\nprintf '%s' '{rows}'\n")
    fake.chmod(0o755)
    result = subprocess.run(["bash", str(HEALTH), *args], input=request.encode(),
                            capture_output=True, timeout=30,
                            env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    # bytes: the answer's CRLFs must stay as they are
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode(), result.stderr.decode())


def status(state, ready, comment):
    return [("wsrep_local_state", state), ("wsrep_local_state_comment", comment),
            ("wsrep_ready", ready)]


def test_a_synced_ready_node_answers_200(tmp_path):
    result = run_health(tmp_path, status("4", "ON", "Synced"))
    assert result.returncode == 0
    assert result.stdout.startswith("HTTP/1.0 200 OK\r\n")
    assert result.stdout.endswith("\r\n\r\nSynced\n")
    assert "Content-Length: 7\r\n" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("rows", [
    status("2", "ON", "Donor/Desynced"),      # giving a copy: no writes meanwhile
    status("1", "OFF", "Joining"),            # not a member yet
    status("4", "OFF", "Synced"),             # outside the Primary component
    None,                                     # the server does not answer
])
def test_any_other_state_answers_503(tmp_path, rows):
    result = run_health(tmp_path, rows)
    assert result.returncode == 1
    assert result.stdout.startswith("HTTP/1.0 503 Service Unavailable\r\n")


def test_the_containers_healthcheck_lets_a_donor_be_but_not_a_joiner(tmp_path):
    assert run_health(tmp_path, status("2", "ON", "Donor/Desynced"), "--allow-donor",
                      request="").returncode == 0
    assert run_health(tmp_path, status("1", "OFF", "Joining"), "--allow-donor",
                      request="").returncode == 1


# --- docker/galera/start.sh: which node starts a new cluster --------------------------

START = REPO_ROOT / "docker" / "galera" / "start.sh"


class SyncedPeer:
    """A peer's health port answering like health.sh on a Synced node."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"Synced\n")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def run_start(tmp_path, *, grastate=None, fresh=True, port=None, **env):
    """start.sh with stand-ins for chown, gosu and the image's entrypoint (which prints the
    arguments it gets); *grastate*: the saved state's safe_to_bootstrap (None: no file)."""
    bin_dir, datadir, secrets = tmp_path / "bin", tmp_path / "data", tmp_path / "secrets"
    for directory in (bin_dir, datadir, secrets):
        directory.mkdir(exist_ok=True)
    for name, body in (("chown", "exit 0"), ("gosu", "exit 0"),
                       ("docker-entrypoint.sh", 'echo "ENTRYPOINT $*"')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (secrets / "mariadb_root_password").write_text("rootpw\n")
    if not fresh:
        (datadir / "mysql").mkdir(exist_ok=True)
    if grastate is not None:
        (datadir / "grastate.dat").write_text(
            f"# GALERA saved state\nversion: 2.1\nseqno:   -1\nsafe_to_bootstrap: {grastate}\n")
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GALERA_NODE_NAME": "mariadb-1",
                   "GALERA_PEERS": "127.0.0.1", "GALERA_HEALTH_PORT": str(port or free_port()),
                   "GALERA_DATADIR": str(datadir), "GALERA_SECRETS_DIR": str(secrets),
                   "GALERA_SST_CNF": str(tmp_path / "sst.cnf"), **env}
    result = subprocess.run(["bash", str(START), "mariadbd", "--max-connections=500"],
                            capture_output=True, text=True, timeout=60, env=environment)
    assert result.returncode == 0, result.stderr
    entrypoint = next(line for line in result.stdout.splitlines()
                      if line.startswith("ENTRYPOINT "))
    return entrypoint.split()[1:], result.stderr


def test_the_first_node_starts_a_new_cluster_on_the_first_deploy_only(tmp_path):
    args, _ = run_start(tmp_path, GALERA_BOOTSTRAP="yes")
    assert args == ["mariadbd", "--max-connections=500", "--wsrep-new-cluster",
                    "--wsrep-node-name=mariadb-1"]
    # the donor's SST account: root, its password in a file only mysql reads
    cnf = tmp_path / "sst.cnf"
    assert cnf.read_text() == "[mariadb]\nwsrep_sst_auth = root:rootpw\n"
    assert cnf.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("case", [
    dict(GALERA_BOOTSTRAP="no"),                       # another node's first start
    dict(GALERA_BOOTSTRAP="yes", fresh=False, grastate="0"),  # the first node, later
    dict(grastate="0", fresh=False),                   # crashed: waits for a Synced node
])
def test_every_other_start_joins(tmp_path, case):
    args, _ = run_start(tmp_path, **case)
    assert "--wsrep-new-cluster" not in args


def test_the_node_that_stopped_last_restarts_the_cluster(tmp_path):
    args, _ = run_start(tmp_path, grastate="1", fresh=False)
    assert "--wsrep-new-cluster" in args


def test_a_synced_peer_always_wins_over_bootstrapping(tmp_path):
    peer = SyncedPeer()
    try:
        for case in (dict(GALERA_BOOTSTRAP="yes"), dict(grastate="1", fresh=False),
                     dict(grastate="0", fresh=False, GALERA_FORCE_BOOTSTRAP="yes")):
            args, stderr = run_start(tmp_path, port=peer.port, **case)
            assert "--wsrep-new-cluster" not in args, case
            assert "is Synced: joining" in stderr
    finally:
        peer.close()


def test_the_operator_forces_a_bootstrap_after_all_three_crashed(tmp_path):
    args, stderr = run_start(tmp_path, grastate="0", fresh=False, GALERA_FORCE_BOOTSTRAP="yes")
    assert "--wsrep-new-cluster" in args
    assert "safe_to_bootstrap: 1" in (tmp_path / "data" / "grastate.dat").read_text()


# --- docker/redis/start.sh and sentinel.sh: who is the primary at start -----------------

REDIS_START = REPO_ROOT / "docker" / "redis" / "start.sh"
SENTINEL_START = REPO_ROOT / "docker" / "redis" / "sentinel.sh"


def run_redis_script(tmp_path, script, answers, **env):
    """*script* with stand-ins: `redis-cli` answers SENTINEL get-master-addr-by-name from
    *answers* ({sentinel host: primary}; absent: no answer), `redis-server` prints the
    configuration it is given and its arguments, `getent` resolves everything."""
    bin_dir, secrets = tmp_path / "bin", tmp_path / "secrets"
    for directory in (bin_dir, secrets):
        directory.mkdir(exist_ok=True)
    cases = "".join(f'    {host}) printf "%s\\n6379\\n" "{primary}"; exit 0 ;;\n'
                    for host, primary in answers.items())
    fakes = {
        # the host follows -h among the arguments
        "redis-cli": 'while [ "$1" != "-h" ]; do shift; done\ncase "$2" in\n'
                     f'{cases}    *) exit 1 ;;\nesac',
        "redis-server": 'cat "$1"; shift; echo "ARGS $*"',
        "getent": "exit 0",
    }
    for name, body in fakes.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    for name in ("redis_password", "sentinel_password"):
        (secrets / name).write_text(f"{name}-value\n")
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", "REDIS_SECRETS_DIR": str(secrets),
                   "REDIS_CONF": str(tmp_path / "redis.conf"),
                   "SENTINEL_CONF": str(tmp_path / "sentinel.conf"), **env}
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60,
                            env=environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_on_the_first_deploy_redis_1_is_the_primary_and_the_others_follow_it(tmp_path):
    # no Sentinel answers yet
    first = run_redis_script(tmp_path, REDIS_START, {}, REDIS_NODE_NAME="redis-1")
    second = run_redis_script(tmp_path, REDIS_START, {}, REDIS_NODE_NAME="redis-2")
    assert not [line for line in first if line.startswith("replicaof")]
    assert "replicaof redis-1 6379" in second
    for config in (first, second):
        assert {"port 0", "tls-port 6379", "tls-replication yes"} <= set(config)
        assert 'requirepass "redis_password-value"' in config
        assert 'masterauth "redis_password-value"' in config


def test_a_former_primary_comes_back_as_a_replica_of_the_one_the_sentinels_name(tmp_path):
    config = run_redis_script(tmp_path, REDIS_START, {"sentinel-2": "redis-2"},
                              REDIS_NODE_NAME="redis-1")
    assert "replicaof redis-2 6379" in config
    assert "replica-announce-ip redis-1" in config
    # the new primary itself stays the primary
    config = run_redis_script(tmp_path, REDIS_START, {"sentinel-1": "redis-2"},
                              REDIS_NODE_NAME="redis-2")
    assert not [line for line in config if line.startswith("replicaof")]


def test_an_error_reply_is_no_answer(tmp_path):
    config = run_redis_script(tmp_path, REDIS_START, {"sentinel-1": "NOAUTH Authentication"},
                              REDIS_NODE_NAME="redis-3")
    assert "replicaof redis-1 6379" in config


def test_a_sentinel_watches_the_current_primary_with_quorum_2(tmp_path):
    # Given the other Sentinels name redis-3 (after failovers)
    config = run_redis_script(tmp_path, SENTINEL_START, {"sentinel-2": "redis-3"},
                              SENTINEL_NODE_NAME="sentinel-1", SENTINEL_QUORUM="2")
    assert "sentinel monitor absensi redis-3 6379 2" in config
    assert 'sentinel auth-pass absensi "redis_password-value"' in config
    assert 'requirepass "sentinel_password-value"' in config
    assert "sentinel announce-ip sentinel-1" in config
    assert config[-1] == "ARGS --sentinel"
    # and with none answering (the first deploy), redis-1
    config = run_redis_script(tmp_path, SENTINEL_START, {}, SENTINEL_NODE_NAME="sentinel-1")
    assert "sentinel monitor absensi redis-1 6379 2" in config


# --- docker/backup.sh: the nightly backup loop ------------------------------------------

BACKUP = REPO_ROOT / "docker" / "backup.sh"


def run_backup(tmp_path, *, succeed=True, recent_dump=False, sleeps=1):
    """backup.sh with a stand-in `absensi` (logs its arguments, fails unless *succeed*) and a
    `sleep` that logs how long it was asked to wait and ends the loop after *sleeps* calls."""
    bin_dir, dumps = tmp_path / "bin", tmp_path / "dumps"
    for directory in (bin_dir, dumps):
        directory.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    (bin_dir / "absensi").write_text(
        f'#!/bin/sh\necho "absensi $*" >>{log}\nexit {0 if succeed else 1}\n')
    (bin_dir / "sleep").write_text(
        f'#!/bin/sh\necho "sleep $1" >>{log}\n'
        f'[ "$(grep -c ^sleep {log})" -ge {sleeps} ] && kill -TERM $PPID\nexit 0\n')
    for name in ("absensi", "sleep"):
        (bin_dir / name).chmod(0o755)
    if recent_dump:
        (dumps / "absensi-20261205T190000Z.sql.gz").write_bytes(b"")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "BACKUP_DIR": str(dumps), "BACKUP_AT": "19:00",
           "BACKUP_KEEP_DAYS": "14", "BACKUP_FAILED_MARK": str(tmp_path / "failed")}
    subprocess.run(["bash", str(BACKUP)], capture_output=True, text=True, timeout=60, env=env)
    return log.read_text().splitlines() if log.exists() else []


def test_a_task_without_a_recent_dump_backs_up_at_once_then_waits_for_the_night(tmp_path):
    calls = run_backup(tmp_path)
    assert calls[0] == f"absensi db backup --output-dir {tmp_path / 'dumps'} --keep-days 14"
    # then sleeps until the next 19:00 UTC: at most a day
    assert calls[1].startswith("sleep ") and 0 < int(calls[1].split()[1]) <= 86400
    assert not (tmp_path / "failed").exists()


def test_a_task_with_last_nights_dump_only_waits(tmp_path):
    calls = run_backup(tmp_path, recent_dump=True)
    assert [call.split()[0] for call in calls] == ["sleep"]


def test_a_failed_backup_marks_the_task_unhealthy_and_is_retried_in_15_minutes(tmp_path):
    calls = run_backup(tmp_path, succeed=False, sleeps=2)
    assert [call.split()[0] for call in calls] == ["absensi", "sleep", "absensi", "sleep"]
    assert calls[1] == "sleep 900"
    assert (tmp_path / "failed").exists()

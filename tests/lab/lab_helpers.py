"""Helpers for the lab tests: run a command inside a lab host, talk HTTPS/WSS to the front.

Everything here sends traffic only to the lab's own addresses (lab/lab.conf).
"""
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

from tests.http_client import HttpClient
from webapp.settings import REPO_ROOT

LAB_DIR = REPO_ROOT / "var" / "lab"
INVENTORY = REPO_ROOT / "inventory" / "lab"
VAULT_PASSWORD = REPO_ROOT / "lab" / "vault-password"
WEB_HOSTS = ["web-jkt", "web-bdg", "web-sby", "web-dps"]
CITIES = {"app-node-1", "app-node-2", "app-node-3", "app-node-4"}


def read_lab_env():
    values = {}
    for line in (LAB_DIR / "lab.env").read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def on_host(host, command, *, timeout=120, check=True):
    """Run *command* (a shell line) as root inside lab host *host*."""
    wrapper = LAB_DIR / "bin" / f"chroot-{host}"
    root = LAB_DIR / "hosts" / host / "root"
    result = subprocess.run([str(wrapper), str(root), "/bin/sh", "-c", command],
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {command!r} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def python_on_host(host, script, *, check=True, timeout=60):
    """Run a Python *script* with the current release's interpreter inside lab host *host*."""
    name = f"/tmp/lab-test-{os.getpid()}.py"
    Path(LAB_DIR / "hosts" / host / "root" / name.lstrip("/")).write_text(script)
    try:
        return on_host(host, f"/opt/absensi/current/bin/python {name}", check=check,
                       timeout=timeout)
    finally:
        Path(LAB_DIR / "hosts" / host / "root" / name.lstrip("/")).unlink(missing_ok=True)


def host_pids(host, needle):
    """Pids of the lab host's processes whose command line (its words joined by spaces, as
    ``ps`` shows it) contains *needle*."""
    root = str(LAB_DIR / "hosts" / host / "root")
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and os.readlink(entry / "root") == root
                    and needle.encode() in (entry / "cmdline").read_bytes().replace(b"\0", b" ")):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def host_processes(host):
    """(user name, argv) of every process whose root directory is that lab host."""
    import pwd

    root = str(LAB_DIR / "hosts" / host / "root")
    names = {}
    passwd = Path(root, "etc", "passwd").read_text().splitlines()
    for line in passwd:
        fields = line.split(":")
        names[int(fields[2])] = fields[0]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != root:
                continue
            uid = entry.stat().st_uid
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found.append((names.get(uid, pwd.getpwuid(uid).pw_name if uid == 0 else str(uid)),
                      [a.decode(errors="replace") for a in argv if a]))
    return found


def run_playbook(playbook, *extra, timeout=1500):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible" / "ansible.cfg"),
               PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(REPO_ROOT / "ansible" / playbook),
         "--vault-password-file", str(VAULT_PASSWORD), *extra],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)


def play_recap(output):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from ansible-playbook's PLAY RECAP."""
    recap = {}
    section = output.rsplit("PLAY RECAP", 1)[-1]
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", section, re.M):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    return recap


class Client(HttpClient):
    """:class:`tests.http_client.HttpClient` on the lab's HTTPS front, verified against
    the lab's CA."""

    def __init__(self, base_url, ca_file):
        super().__init__(base_url, ca_file=ca_file)


# --- The data tier (Galera, Redis under Sentinel) and faults (lab/hosts.sh stop/start) ---

DATA_HOSTS = ["data-1", "data-2", "data-3"]
SENTINEL_MASTER = "absensi"
SENTINEL_PORT = 26379


def host_address(host):
    """The private address of lab host *host* (inventory/lab/hosts.yml)."""
    import yaml

    def walk(group):
        for name, values in (group.get("hosts") or {}).items():
            if name == host and values and "private_address" in values:
                return values["private_address"]
        for child in (group.get("children") or {}).values():
            found = walk(child or {})
            if found:
                return found
        return None

    address = walk(yaml.safe_load((INVENTORY / "hosts.yml").read_text())["all"])
    assert address, f"no address for {host}"
    return address


def lab_hosts(action, host):
    """``lab/hosts.sh stop|start HOST``: returns at once."""
    result = subprocess.run(["bash", "lab/hosts.sh", action, host, str(LAB_DIR)], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def cut_network(host, cut):
    """Take lab host *host*'s link down (*cut*) or up again; its processes keep running."""
    conf = (REPO_ROOT / "lab" / "lab.conf").read_text()
    prefix = re.search(r"^LAB_VETH_PREFIX=(\S+)", conf, re.M)
    subprocess.run(["ip", "link", "set", f"{prefix.group(1)}{host}", "down" if cut else "up"],
                   check=True, timeout=30)


def galera_status(host):
    """``{wsrep_cluster_size: '3', ...}`` of one Galera node ({} when it does not answer)."""
    result = on_host(host, "mariadb --connect-timeout=3 -N -B -e "
                           "\"SHOW GLOBAL STATUS LIKE 'wsrep_%'\"", check=False, timeout=30)
    return dict(line.split("\t", 1) for line in result.stdout.splitlines() if "\t" in line)


def sentinel(lab, host):
    """A client of the Sentinel on data host *host* (TLS verified, the Sentinels' password)."""
    import redis

    secret = LAB_DIR / "hosts" / "web-jkt" / "root" / "etc/absensi/secrets/redis_sentinel_password"
    return redis.Redis(host=host_address(host), port=SENTINEL_PORT, ssl=True,
                       ssl_ca_certs=lab["LAB_CA"], ssl_cert_reqs="required",
                       password=secret.read_text().strip(), socket_timeout=5,
                       socket_connect_timeout=5, decode_responses=True)


def redis_primary(lab, hosts=DATA_HOSTS):
    """The data host the reachable Sentinels name as the Redis primary (None: no answer)."""
    import redis

    by_address = {host_address(host): host for host in DATA_HOSTS}
    for host in hosts:
        try:
            address = sentinel(lab, host).execute_command(
                "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
        except (redis.RedisError, OSError):
            continue
        if address:
            return by_address.get(address[0])
    return None


def make_redis_primary(lab, host, *, attempts=10):
    """Fail the Redis primary over (SENTINEL FAILOVER) until *host* holds it, bounded, and
    return once both other servers replicate from it."""
    import redis

    for _ in range(attempts):
        if redis_primary(lab) == host:
            break
        before = redis_primary(lab)
        try:
            sentinel(lab, DATA_HOSTS[0] if host != DATA_HOSTS[0] else DATA_HOSTS[1]
                     ).execute_command("SENTINEL", "failover", SENTINEL_MASTER)
        except redis.ResponseError as error:   # INPROG: the last one is still finishing
            assert "INPROG" in str(error), error
            time.sleep(3)
            continue
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and redis_primary(lab) in (before, None):
            time.sleep(1)
    assert redis_primary(lab) == host, f"Redis primary is {redis_primary(lab)}, not {host}"
    wait_for_redis_replicas(lab, host, len(DATA_HOSTS) - 1)


def redis_replication(lab, host):
    """``INFO replication`` of the Redis server on data host *host* ({} when it does not
    answer), asked directly: a Sentinel's view of its replicas lags by up to 10 s."""
    import redis

    secret = LAB_DIR / "hosts" / "web-jkt" / "root" / "etc/absensi/secrets/redis_password"
    try:
        return redis.Redis(host=host_address(host), port=6379, ssl=True, username="absensi",
                           ssl_ca_certs=lab["LAB_CA"], ssl_cert_reqs="required",
                           password=secret.read_text().strip(), socket_timeout=5,
                           socket_connect_timeout=5, decode_responses=True).info("replication")
    except (redis.RedisError, OSError):
        return {}


def wait_for_redis_replicas(lab, primary, count, seconds=90):
    """Wait until *count* Redis servers replicate from *primary*, with their link up, as the
    servers themselves say. After a SENTINEL FAILOVER the old primary stays a primary until
    a Sentinel's next look at it (up to 10 s later): writes it takes meanwhile vanish when
    it turns into a replica and resynchronises."""
    address = host_address(primary)
    deadline = time.monotonic() + seconds
    replicas = {}
    while time.monotonic() < deadline:
        replicas = {host: redis_replication(lab, host) for host in DATA_HOSTS if host != primary}
        in_sync = [host for host, info in replicas.items() if info.get("role") == "slave"
                   and info.get("master_host") == address
                   and info.get("master_link_status") == "up"]
        if len(in_sync) >= count and redis_replication(lab, primary).get("role") == "master":
            return
        time.sleep(1)
    raise AssertionError(f"Redis replicas of {primary} not in sync: {replicas}")


def data_tier_settled(lab, seconds):
    """Wait (bounded) until every data host is back in service: three Synced Galera members,
    every Sentinel naming the same Redis primary, and two replicas in sync with it. Returns
    what is still missing ("" when nothing is), so a test can wait for it in a ``finally``
    without hiding its own failure, and the next test starts from a whole data tier."""
    import redis

    deadline = time.monotonic() + seconds
    missing = "not checked"
    while time.monotonic() < deadline:
        states = {host: galera_status(host) for host in DATA_HOSTS}
        unsynced = [host for host, status in states.items()
                    if status.get("wsrep_cluster_size") != str(len(DATA_HOSTS))
                    or status.get("wsrep_local_state_comment") != "Synced"]
        primaries = set()
        for host in DATA_HOSTS:
            try:
                address = sentinel(lab, host).execute_command(
                    "SENTINEL", "get-master-addr-by-name", SENTINEL_MASTER)
                primaries.add(address[0] if address else None)
            except (redis.RedisError, OSError):
                primaries.add(None)
        in_sync = []
        if len(primaries) == 1 and None not in primaries:
            address = next(iter(primaries))
            infos = [redis_replication(lab, host) for host in DATA_HOSTS]
            in_sync = [info for info in infos if info.get("master_host") == address
                       and info.get("master_link_status") == "up"]
        missing = "; ".join(part for part in (
            f"Galera not Synced on {unsynced}" if unsynced else "",
            f"Sentinels name {sorted(map(str, primaries))}" if len(primaries) != 1 else "",
            f"{len(in_sync)} Redis replicas in sync" if len(in_sync) < len(DATA_HOSTS) - 1
            else "") if part)
        if not missing:
            return ""
        time.sleep(2)
    return missing


def database_writer(host="web-jkt"):
    """The Galera node a host's HAProxy sends the app's connections to (wsrep_node_name)."""
    result = python_on_host(host, WRITER_QUERY)
    return result.stdout.strip()


WRITER_QUERY = """
import pymysql
password = open("/etc/absensi/secrets/database_password").read().strip()
connection = pymysql.connect(host="127.0.0.1", user="absensi", password=password,
                             database="absensi", ssl_ca="/etc/absensi/pki/ca.crt",
                             ssl_verify_cert=True, connect_timeout=5)
with connection.cursor() as cursor:
    cursor.execute("SELECT @@wsrep_node_name")
    print(cursor.fetchone()[0])
connection.close()
"""


class RetryingClient(Client):
    """A client that retries as the pages do (webapp/static/js/app.js): the same
    ``Idempotency-Key`` again on 502, 503, 504 and network errors, backing off (0.4 s
    doubling to 4 s, or ``Retry-After``), while a retry would still start within 30 s of the
    first attempt. Like a browser's fetch it sets no short timeout of its own: nginx's
    (30 s for the API) decides how long one attempt may take."""

    RETRY_STATUSES = (502, 503, 504)
    PATIENCE = 30
    ATTEMPT_TIMEOUT = 65

    def write(self, method, path, body=None):
        """``(status, body, seconds, attempts)`` of the last attempt; ``self.history`` keeps
        ``(sent at (monotonic), status, seconds, X-Node-Id)`` of each attempt of the last
        write."""
        key = uuid.uuid4().hex
        started = time.monotonic()
        attempt = 0
        self.history = []
        while True:
            sent = time.monotonic()
            try:
                status, headers, answer = self.request(
                    method, path, body, headers={"Idempotency-Key": key},
                    timeout=self.ATTEMPT_TIMEOUT)
            except OSError as error:
                status, headers, answer = None, {}, repr(error)
            self.history.append((sent, status, round(time.monotonic() - sent, 1),
                                 (headers or {}).get("X-Node-Id")))
            attempt += 1
            if status not in (None, *self.RETRY_STATUSES):
                return status, answer, time.monotonic() - started, attempt
            delay = min(0.4 * 2 ** (attempt - 1), 4.0)
            retry_after = (headers or {}).get("Retry-After")
            if retry_after and retry_after.isdigit():
                delay = max(delay, float(retry_after))
            if time.monotonic() + delay >= started + self.PATIENCE:
                return status, answer, time.monotonic() - started, attempt
            time.sleep(delay)


def firing_alerts(lab):
    """Names of the alerts Prometheus on the monitor host says are firing."""
    import json
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{lab['LAB_PROMETHEUS']}/api/v1/alerts", timeout=10) as response:
        alerts = json.load(response)["data"]["alerts"]
    return {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}


def wait_for_alert(lab, name, firing, seconds):
    """Wait until alert *name* is firing (or no longer firing); True when it happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if (name in firing_alerts(lab)) == firing:
                return True
        except OSError:
            pass
        time.sleep(5)
    return False

"""Slow lab tests (``make test-lab``): a rolling update under load, a web node killed under
load, backup and restore. Each keeps the lab as it found it (same nodes in rotation)."""
import re
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from tests.lab.lab_helpers import (CITIES, LAB_DIR, REPO_ROOT, WEB_HOSTS, Client, host_pids,
                                   on_host, run_playbook)

pytestmark = [pytest.mark.lab, pytest.mark.timeout(2400)]


class CheckInLoad:
    """Employees checking in and out through the front, all the time, counting failures.

    A failure is any transport error or 5xx: during a rolling update or a dead node the
    client must never notice. 409s cannot happen (each employee checks in once, out once).
    """

    def __init__(self, lab, admin, count=24):
        self.lab, self.failures, self.requests = lab, [], 0
        self.nodes = set()
        self.employees = []
        suffix = uuid.uuid4().hex[:8]
        for n in range(count):
            email = f"load-{n}-{suffix}@example.com"
            status, _, body = admin.request("POST", "/api/users", {
                "name": f"Load {n}", "email": email, "password": "load-password-123",
                "role": "employee", "branch": ["JKT", "BDG", "SBY", "DPS"][n % 4]})
            assert status == 201, body
            client = Client(lab["LAB_URL"], lab["LAB_CA"])
            client.login(email, "load-password-123")  # honours nginx's Retry-After
            self.employees.append(client)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _call(self, client, method, path, expected):
        self.requests += 1
        try:
            status, headers, body = client.request(
                method, path, headers={"Idempotency-Key": uuid.uuid4().hex}, timeout=20)
        except OSError as error:
            self.failures.append(f"{method} {path}: {error!r}")
            return
        self.nodes.add(headers.get("X-Node-Id"))
        if status != expected:
            self.failures.append(f"{method} {path}: {status} {body}")

    def _run(self):
        pending = list(self.employees)
        checked_in = []
        while not self.stop.is_set():
            if pending:
                client = pending.pop()
                self._call(client, "POST", "/api/attendance/check-in", 201)
                checked_in.append(client)
            elif checked_in:
                self._call(checked_in.pop(), "POST", "/api/attendance/check-out", 200)
            else:
                self._call(self.employees[0], "GET", "/api/me/attendances", 200)
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=60)


def _new_build(tmp_path, version):
    """A copy of the working tree whose package says *version* (what a release would be)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    source = tmp_path / "source"
    for name in files:
        path = REPO_ROOT / name
        if path.is_file() and not name.startswith(("var/", "tests/")):
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, source / name)
    setup = source / "setup.cfg"
    # the heartbeat reports the package's metadata version
    setup.write_text(re.sub(r"(?m)^version = .*$", f"version = {version}", setup.read_text()))
    return source


def _web_versions(admin):
    status, _, body = admin.request("GET", "/api/servers")
    assert status == 200, body
    return {n["node_id"]: n.get("version") for n in body["nodes"] if n["role"] == "web"}


def test_rolling_update_under_load_fails_no_request(full_lab, tmp_path):
    # Given employees checking in through the front the whole time
    admin = Client(full_lab["LAB_URL"], full_lab["LAB_CA"])
    admin.login("admin@example.com", "password")
    version = f"0.1.1.dev{int(time.time())}"
    source = _new_build(tmp_path, version)
    with CheckInLoad(full_lab, admin) as load:
        # When rolling.yml deploys a new build, one city at a time
        result = run_playbook("rolling.yml", "-e", f"absensi_app_source_dir={source}")
        time.sleep(2)
    # Then no request failed, every node is back in rotation and runs the new version
    assert result.returncode == 0, result.stdout[-6000:]
    assert load.requests > 50 and load.failures == [], load.failures[:20]
    nginx_conf = (LAB_DIR / "hosts" / "lb" / "root" / "etc/nginx/nginx.conf").read_text()
    assert not re.search(r"server \S+:\d+ down", nginx_conf)
    # (the last node restarted seconds ago: its first heartbeat may still be on its way)
    expected = {node: version for node in CITIES}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _web_versions(admin) != expected:
        time.sleep(2)
    assert _web_versions(admin) == expected
    nodes = {admin.request("GET", "/healthz")[1]["X-Node-Id"] for _ in range(16)}
    assert nodes == CITIES


def test_killed_web_node_costs_no_client_error(full_lab):
    # Given employees checking in through the front
    admin = Client(full_lab["LAB_URL"], full_lab["LAB_CA"])
    admin.login("admin@example.com", "password")
    victim = WEB_HOSTS[2]
    with CheckInLoad(full_lab, admin, count=16) as load:
        time.sleep(2)
        # When every process of one web node is killed with SIGKILL
        pids = host_pids(victim, "gunicorn")
        assert pids
        subprocess.run(["kill", "-9", *map(str, pids)], check=True)
        time.sleep(8)
    try:
        # Then the clients saw no error: nginx routed around the dead node
        assert load.requests > 30 and load.failures == [], load.failures[:20]
    finally:
        # (the lab's systemctl shim does not restart on failure: start it again)
        on_host(victim, "systemctl stop absensi-web; systemctl start absensi-web", timeout=120)


COUNT_ROWS = ("mariadb -N -e \"SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', id, user_id, "
              "work_date, check_in_at, COALESCE(check_out_at, '')))), 0) FROM {db}.attendances\"")


def test_backup_then_restore_into_an_empty_database_keeps_every_attendance(full_lab):
    # Given attendance rows in the live database
    before = on_host("data-1", COUNT_ROWS.format(db="absensi")).stdout.split()
    assert int(before[0]) > 0
    # When the backup service runs, and its dump is restored into an empty database
    on_host("data-1", "rm -f /var/backups/absensi/absensi-*.sql.gz && "
                      "systemctl restart absensi-backup", timeout=180)
    dump = on_host("data-1", "ls /var/backups/absensi/absensi-*.sql.gz").stdout.split()[-1]
    on_host("data-1", "mariadb -e \"DROP DATABASE IF EXISTS absensi_restore; "
                      "CREATE DATABASE absensi_restore; "
                      "GRANT ALL ON absensi_restore.* TO 'absensi'@'10.234.18.31'\"")
    try:
        on_host("data-1", "set -a; . /etc/absensi/absensi.env; set +a; "
                          "DATABASE_URL=${DATABASE_URL%/*}/absensi_restore "
                          f"/opt/absensi/current/bin/absensi db restore {dump}", timeout=300)
        # Then the restored attendance rows are exactly the live ones
        after = on_host("data-1", COUNT_ROWS.format(db="absensi_restore")).stdout.split()
        assert after == before
    finally:
        on_host("data-1", "mariadb -e 'DROP DATABASE IF EXISTS absensi_restore'", check=False)

"""Inside the lab's hosts: TLS-only data services, one unprivileged user per service,
a second site.yml run that changes nothing and logs no secret, runs that stop before any
change (an empty secret, an nginx configuration nginx refuses), clean lint."""
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.lab.lab_helpers import (INVENTORY, LAB_DIR, REPO_ROOT, VAULT_PASSWORD, WEB_HOSTS,
                                   Client, host_pids, host_processes, play_recap,
                                   python_on_host, run_playbook)

pytestmark = [pytest.mark.lab, pytest.mark.timeout(2400)]

DB_HOST = "10.234.18.31"   # data-1: a Galera node, the first Redis primary
DATA_HOSTS = ["data-1", "data-2", "data-3"]
VERIFIED = 'ssl_ca="/etc/absensi/pki/ca.crt", ssl_verify_cert=True'


MARIADB_CONNECT = """
import pymysql
password = open("/etc/absensi/secrets/database_password").read().strip()
pymysql.connect(host="%s", user="absensi", password=password, database="absensi", %s).close()
print("connected")
"""
REDIS_PLAINTEXT = """
import socket
s = socket.create_connection(("%s", 6379), 5)
s.settimeout(5)
s.sendall(b"PING\\r\\n")
try:
    print(repr(s.recv(100)))
except OSError as error:
    print("error", error)
"""
REDIS_TLS = """
import redis
password = open("/etc/absensi/secrets/redis_password").read().strip()
client = redis.Redis(host="%s", port=6379, username="absensi", password=password, ssl=True,
                     ssl_ca_certs="/etc/absensi/pki/ca.crt", ssl_cert_reqs="required")
print(client.ping())
"""


def test_mariadb_refuses_plaintext_from_web_hosts(lab):
    for host in WEB_HOSTS:
        # Given the app user's real password, When a web host connects without TLS
        plain = python_on_host(host, MARIADB_CONNECT % (DB_HOST, "ssl_disabled=True"),
                               check=False)
        # Then MariaDB refuses it (the REQUIRE SSL account is denied, or the server's
        # require_secure_transport speaks first); with TLS and the CA verified, it accepts
        assert plain.returncode != 0, plain
        assert "(1045," in plain.stderr or "insecure transport" in plain.stderr.lower(), plain
        verified = python_on_host(host, MARIADB_CONNECT % (DB_HOST, VERIFIED))
        assert "connected" in verified.stdout
        # and through the host's own HAProxy (what the app uses) TLS is verified end to end
        proxied = python_on_host(host, MARIADB_CONNECT % ("127.0.0.1", VERIFIED))
        assert "connected" in proxied.stdout


def test_redis_refuses_plaintext_from_web_hosts(lab):
    for host in WEB_HOSTS:
        # Given Redis's only port, When a web host speaks plain RESP to it
        plain = python_on_host(host, REDIS_PLAINTEXT % DB_HOST, check=False)
        # Then it gets no answer (TLS only); over TLS with the CA and the password it works
        assert "PONG" not in plain.stdout + plain.stderr, plain
        assert python_on_host(host, REDIS_TLS % DB_HOST).stdout.strip() == "True"


@pytest.mark.parametrize("host, program, user", [
    *[(web, "gunicorn", "absensi-web") for web in WEB_HOSTS],
    # HAProxy's master process stays root (it only re-executes workers on a reload); the
    # worker that carries the connections is unprivileged
    *[(web, "haproxy", "root+haproxy") for web in WEB_HOSTS],
    *[(host, program, f"absensi-{service}") for host in ("realtime-1", "realtime-2")
      for program, service in (("absensi worker", "worker"), ("absensi gateway", "gateway"),
                               ("absensi scheduler", "scheduler"))],
    *[(data, "mariadbd", "mysql") for data in DATA_HOSTS],
    *[(data, "redis-server", "redis") for data in DATA_HOSTS],
    *[(data, "redis-sentinel", "redis") for data in DATA_HOSTS],
    *[(data, "absensi-galera-health", "galera-health") for data in DATA_HOSTS],
    ("lb", "nginx: worker", "www-data"),
])
def test_each_service_runs_as_its_own_unprivileged_user(lab, host, program, user):
    # Given a provisioned host, When we list its processes, Then the service's run as its user
    users = {name for name, argv in host_processes(host) if program in " ".join(argv)}
    assert users == set(user.split("+"))


@pytest.mark.parametrize("host, program", [
    *[(web, "gunicorn") for web in WEB_HOSTS],
    ("realtime-1", "absensi worker"),
])
def test_the_services_talk_to_mariadb_through_the_c_driver(lab, host, program):
    # Given a provisioned host (the release installed offline from the controller's
    # wheelhouse), When we look at what its running Absensi processes have loaded
    pids = set(host_pids(host, program))
    # the ones that serve: the arbiter's children (the app is built after the fork)
    serving = {pid for pid in pids if _parent(pid) in pids} or pids
    maps = []
    for pid in serving:
        try:
            maps.append(Path(f"/proc/{pid}/maps").read_text())
        except OSError:  # exited meanwhile
            continue
    # Then every one has mysqlclient's C library mapped (make run's driver), not PyMySQL
    assert maps and all("libmariadb.so" in one for one in maps), (host, len(maps))
    driver = python_on_host(host, "from webapp.db import mysql_driver; print(mysql_driver())")
    assert driver.stdout.strip() == "mysqldb"


def _parent(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _vault_values():
    env = dict(os.environ, PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    view = subprocess.run(["ansible-vault", "view", "--vault-password-file", str(VAULT_PASSWORD),
                           str(INVENTORY / "group_vars" / "all" / "vault.yml")],
                          capture_output=True, text=True, timeout=60, env=env, check=True)
    return [value for value in yaml.safe_load(view.stdout).values() if value]


def test_second_site_run_changes_nothing(lab):
    # Given a provisioned lab, When site.yml runs again
    result = run_playbook("site.yml")
    # Then every host reports changed=0 (and nothing failed)
    assert result.returncode == 0, result.stdout[-4000:]
    recap = play_recap(result.stdout)
    assert len(recap) == 11, recap
    changed = {host: counts["changed"] for host, counts in recap.items() if counts["changed"]}
    assert changed == {}, result.stdout[-8000:]
    # and no secret of the vault shows in its output (no_log wherever one is rendered)
    for value in _vault_values():
        assert value not in result.stdout + result.stderr


def test_an_empty_secret_stops_the_run_before_it_changes_anything(lab):
    # Given an environment whose vault has no Redis password for the app hosts
    # When site.yml runs on a realtime host
    result = run_playbook("site.yml", "--limit", "realtime-1", "-e",
                          "absensi_app_redis_password=")
    # Then it stops on the assertion, says which vault value to set, and changed nothing
    assert result.returncode != 0
    assert "vault_redis_app_password" in result.stdout, result.stdout[-4000:]
    recap = play_recap(result.stdout)
    assert recap["realtime-1"]["failed"] == 1 and recap["realtime-1"]["changed"] == 0, recap


def test_a_configuration_nginx_refuses_never_replaces_the_running_one(lab):
    # Given the lb's current configuration
    conf = LAB_DIR / "hosts" / "lb" / "root" / "etc" / "nginx" / "nginx.conf"
    before = conf.read_text()
    # When site.yml renders one nginx refuses (a listen backlog that is not a number)
    result = run_playbook("site.yml", "--limit", "lb", "-e", "nginx_lb_listen_backlog=many")
    # Then the run fails with nginx's own words, the file in place is the old one, and the
    # front still answers
    assert result.returncode != 0
    assert "invalid backlog" in result.stdout, result.stdout[-4000:]
    assert conf.read_text() == before
    assert play_recap(result.stdout)["lb"]["changed"] == 0
    assert Client(lab["LAB_URL"], lab["LAB_CA"]).request("GET", "/healthz")[0] == 200


def test_ansible_lint_and_yamllint_are_clean():
    # Given the playbooks, roles and inventories, When the linters run, Then they find nothing
    env = dict(os.environ, PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
               ANSIBLE_CONFIG=str(REPO_ROOT / "ansible" / "ansible.cfg"), NO_COLOR="1")
    lint = subprocess.run(["ansible-lint", "--offline", "--profile", "production", "ansible"],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO_ROOT)
    assert lint.returncode == 0, lint.stdout[-6000:] + lint.stderr[-3000:]
    yaml = subprocess.run(["yamllint", "--strict", "ansible", "inventory"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=REPO_ROOT)
    assert yaml.returncode == 0, yaml.stdout

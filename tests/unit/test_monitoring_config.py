"""The monitoring play's configuration files, rendered by Ansible from the lab's inventory
(what the lab's monitor host gets) and checked with promtool: Prometheus scrapes every
service of every host, and Alertmanager routes to the operators."""
import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

from webapp.settings import REPO_ROOT

ROLES = REPO_ROOT / "ansible" / "roles"
LAB = REPO_ROOT / "inventory" / "lab"
PRODUCTION = REPO_ROOT / "inventory" / "production"
VENV_BIN = REPO_ROOT / ".venv" / "bin"

pytestmark = pytest.mark.skipif(
    not shutil.which("ansible", path=f"{VENV_BIN}:{os.environ['PATH']}"),
    reason="ansible is not installed (make venv)")


def render(role, template, host="monitor", inventory=LAB, **extra_vars):
    """*role*'s *template* as Ansible renders it for *host* of *inventory* (role defaults,
    the inventory, then *extra_vars*)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible" / "ansible.cfg"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json",
               NO_COLOR="1",
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    path = ROLES / role / "templates" / template
    vault = ["--vault-password-file", str(REPO_ROOT / "lab" / "vault-password")] \
        if inventory == LAB else []
    args = ["ansible", host, "-i", str(inventory), *vault, "-m", "ansible.builtin.debug",
            "-a", f"msg={{{{ lookup('ansible.builtin.template', '{path}') }}}}",
            # rendered on this machine: the lab's hosts (chroots) need not exist
            "-e", json.dumps({**role_defaults(role), **extra_vars,
                              "ansible_connection": "local",
                              "ansible_python_interpreter": sys.executable})]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env,
                            cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    # the JSON report, between profile_tasks's timing lines
    answer, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{"):])
    return answer["plays"][0]["tasks"][0]["hosts"][host]["msg"]


def role_defaults(role):
    """*role*'s defaults, except those the inventory sets: given with -e they would win over
    it, where a play's role defaults lose."""
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    inventory = "".join(path.read_text() for path in (LAB / "group_vars").rglob("*.yml")
                        if path.name != "vault.yml")
    return {name: value for name, value in defaults.items() if f"\n{name}:" not in inventory}


def lab_hosts(group):
    inventory = yaml.safe_load((LAB / "hosts.yml").read_text())

    def walk(node, name):
        for child_name, child in (node.get("children") or {}).items():
            if child_name == group or name == group:
                yield from (child or {}).get("hosts") or {}
                yield from walk(child or {}, group)
            else:
                yield from walk(child or {}, name)
        if name == group:
            yield from node.get("hosts") or {}

    return set(walk(inventory["all"], "all"))


@pytest.fixture(scope="module")
def prometheus_config(tmp_path_factory):
    text = render("prometheus", "prometheus.yml.j2")
    path = tmp_path_factory.mktemp("prometheus") / "prometheus.yml"
    path.write_text(text)
    return path


def scrape_targets(config):
    return {job["job_name"]: {target["labels"]["host"]: target["targets"]
                              for target in job["static_configs"]}
            for job in config["scrape_configs"]}


def test_prometheus_scrapes_every_service_of_the_lab(prometheus_config):
    jobs = scrape_targets(yaml.safe_load(prometheus_config.read_text()))
    # every web node on its private port, gateways, workers' metrics port
    assert set(jobs["web"]) == lab_hosts("web") and len(jobs["web"]) == 4
    assert jobs["web"]["web-jkt"] == ["10.234.18.11:6543"]
    assert set(jobs["gateway"]) == {"realtime-1", "realtime-2"}
    assert jobs["worker"]["realtime-2"] == ["10.234.18.21:9191"]
    # the node exporter on every host, the MariaDB and Redis exporters on the data hosts
    assert set(jobs["node"]) == lab_hosts("all") and "monitor" in jobs["node"]
    assert set(jobs["mysqld"]) == set(jobs["redis"]) == {"data-1", "data-2", "data-3"}
    assert jobs["redis"]["data-3"] == ["10.234.18.33:9121"]


def test_prometheus_alerts_through_the_monitors_alertmanager_with_the_rules(prometheus_config):
    config = yaml.safe_load(prometheus_config.read_text())
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "10.234.18.40:9093"]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # an alert fires within 2 minutes of a host's loss only with scrapes this frequent
    assert config["global"]["scrape_interval"] == "15s"
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/system-deps.sh --lab"
    result = subprocess.run([promtool, "check", "config", str(prometheus_config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_services_listen_on_the_private_address_only():
    defaults = render("prometheus", "prometheus.default.j2")
    assert "--web.listen-address=10.234.18.40:9090" in defaults
    node = render("node_exporter", "prometheus-node-exporter.j2", host="web-jkt")
    assert 'ARGS="--web.listen-address=10.234.18.11:9100"' in node


def test_the_exporters_log_in_with_their_vault_passwords():
    mysqld = render("mysqld_exporter", "prometheus-mysqld-exporter.j2", host="data-1")
    assert "@unix(/run/mysqld/mysqld.sock)/" in mysqld
    assert 'DATA_SOURCE_NAME="exporter:' in mysqld and 'exporter:@' not in mysqld
    redis = render("redis_exporter", "prometheus-redis-exporter.j2", host="data-2")
    assert "-redis.addr=rediss://10.234.18.32:6379" in redis
    assert "-tls-ca-cert-file=/etc/absensi/pki/ca.crt" in redis
    assert 'REDIS_PASSWORD=""' not in redis


def test_alertmanager_routes_every_alert_to_the_operators_and_can_mail_them():
    quiet = yaml.safe_load(render("alertmanager", "alertmanager.yml.j2"))
    assert quiet["route"]["receiver"] == "operators"
    assert quiet["receivers"] == [{"name": "operators"}]
    loud = yaml.safe_load(render(
        "alertmanager", "alertmanager.yml.j2", alertmanager_webhook_url="https://hook.example",
        alertmanager_email_to="ops@example.com", alertmanager_smtp_smarthost="smtp:587",
        alertmanager_smtp_from="am@example.com"))
    receiver = loud["receivers"][0]
    assert receiver["webhook_configs"][0]["url"] == "https://hook.example"
    assert receiver["email_configs"][0]["to"] == "ops@example.com"
    assert loud["global"]["smtp_smarthost"] == "smtp:587"


def test_production_prometheus_scrapes_its_inventory_too(tmp_path):
    # production has no vault here: rendering the scrape targets needs no secret
    text = render("prometheus", "prometheus.yml.j2", host="monitor-1", inventory=PRODUCTION)
    jobs = scrape_targets(yaml.safe_load(text))
    assert {"web", "gateway", "worker", "node", "mysqld", "redis", "alertmanager"} <= set(jobs)
    assert len(jobs["web"]) == 4 and len(jobs["mysqld"]) == 3 and len(jobs["redis"]) == 3
    assert "monitor-1" in jobs["node"]
    (tmp_path / "prometheus.yml").write_text(text)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/system-deps.sh --lab"
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

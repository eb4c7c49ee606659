"""docker-stack-production.yml: Swarm accepts it, and it has the properties ops rely on.

`docker stack config` needs no daemon: it validates the file against the stack schema
(unknown keys, wrong types) and prints it merged and interpolated; the assertions below
read that output, i.e. what Swarm would get.
"""
import hashlib
import re
import shutil
import subprocess
from urllib.parse import urlsplit

import pytest
import yaml

from tests.image import wiring
from tests.image.wiring import NGINX_CONF, STACK_FILE
from webapp.settings import REPO_ROOT, SECRET_VARIABLES

APP_ROLES = {"app-node-1": "web", "app-node-2": "web", "app-node-3": "web",
             "app-node-4": "web", "gateway": "gateway", "worker": "worker",
             "scheduler": "scheduler", "migrate": "migrate"}
LONG_RUNNING = {"nginx", "mariadb", "redis", *APP_ROLES} - {"migrate"}
CITIES = {"app-node-1": "jakarta", "app-node-2": "bandung", "app-node-3": "surabaya",
          "app-node-4": "bali"}
# Every docker/nginx.conf the stack has shipped, by its Docker config name (sha256 of the
# file). A Swarm config is immutable: a new content needs a new name, so a change to the
# file (docker/render_nginx_conf.py) adds a line here and points the stack's `name:` at it.
NGINX_CONF_VERSIONS = {
    "absensi_nginx_conf_v1": "a1ee698565dd5fcb2bc716dcc92978801fc603f1826cffaa76fc4593b0e1c4f5",
    "absensi_nginx_conf_v2": "d63e48e8c92706e54bdbe0470ca2c8fdadef2b44af4a55d88936e71bf468ca2c",
    "absensi_nginx_conf_v3": "f89e6204869012ffc4487eb83792bb91097d9fea2f6ce2600b67573de3c4588f",
}


def duration(text):
    """Seconds of a Go duration as `docker stack config` prints it (``1m0s``, ``30s``)."""
    seconds, number = 0.0, ""
    for char in text.replace("ms", "u"):
        if char.isdigit() or char == ".":
            number += char
            continue
        seconds += float(number) * {"h": 3600, "m": 60, "s": 1, "u": 0.001}[char]
        number = ""
    return seconds


@pytest.fixture(scope="module")
def stack():
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "stack", "config", "--help"],
                                    capture_output=True, timeout=30).returncode != 0:
        pytest.skip("needs a docker CLI with `docker stack config` (Docker 24 or later; "
                    "Debian 12's docker.io 20.10 has no such command)")
    # Given the variables a release sets
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "ABSENSI_IMAGE": "absensi:0.1.0",
           "ABSENSI_SITE_URL": "https://absensi.example.com"}
    # When the docker CLI reads the stack file
    result = subprocess.run([docker, "stack", "config", "-c", str(STACK_FILE)], cwd=REPO_ROOT,
                            env=env, capture_output=True, text=True, timeout=60)
    # Then it accepts it
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_stack_config_refuses_a_release_without_an_image(tmp_path):
    docker = shutil.which("docker")
    if not docker:
        pytest.skip("no docker CLI")
    result = subprocess.run([docker, "stack", "config", "-c", str(STACK_FILE)], cwd=REPO_ROOT,
                            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "set ABSENSI_IMAGE" in result.stderr


def test_every_role_is_a_service_of_the_one_image_with_its_command(stack):
    services = stack["services"]
    assert set(services) == {"nginx", "mariadb", "redis", *APP_ROLES}
    for name, role in APP_ROLES.items():
        assert services[name]["image"] == "absensi:0.1.0", name
        assert services[name]["command"][0] == role, name
    for name, city in CITIES.items():
        assert services[name]["environment"]["APP_NODE_ID"] == name
        assert services[name]["deploy"]["placement"]["constraints"] == [
            f"node.labels.absensi.city == {city}"]
    for name in ("mariadb", "redis"):
        assert services[name]["deploy"]["placement"]["constraints"] == [
            "node.labels.absensi.data == true"]


def test_replicas_and_the_one_shot_migration_job(stack):
    services = stack["services"]
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert services["worker"]["deploy"]["replicas"] == 2
    assert services["scheduler"]["deploy"]["replicas"] == 1
    for name in CITIES:
        assert services[name]["deploy"]["replicas"] == 1
    migrate = services["migrate"]["deploy"]
    assert migrate["mode"] == "replicated-job"
    assert migrate["restart_policy"]["condition"] == "on-failure"
    # several gateway tasks: nginx must see each (DNS round robin), not one virtual IP
    assert services["gateway"]["deploy"]["endpoint_mode"] == "dnsrr"
    # every gateway and worker task gets its own node id
    assert services["gateway"]["environment"]["GATEWAY_ID"] == "gateway-{{.Task.Slot}}"
    assert services["worker"]["environment"]["WORKER_ID"] == "worker-{{.Task.Slot}}"


def test_updates_roll_one_at_a_time_and_roll_back_on_failure(stack):
    for name in LONG_RUNNING:
        deploy = stack["services"][name]["deploy"]
        update = deploy["update_config"]
        assert update["parallelism"] == 1, name
        assert update["failure_action"] == "rollback", name
        assert duration(update["monitor"]) >= 30, name
        assert deploy["rollback_config"]["parallelism"] == 1, name
        # start-first except where two tasks cannot coexist: nginx's host ports, and one
        # data directory each for MariaDB and Redis
        expected = "stop-first" if name in ("nginx", "mariadb", "redis") else "start-first"
        assert update["order"] == expected, name
        restart = deploy["restart_policy"]
        assert restart["condition"] == "on-failure" and 0 < restart["max_attempts"] <= 10, name


def test_every_service_has_limits_reservations_and_a_grace_period(stack):
    for name, service in stack["services"].items():
        resources = service["deploy"]["resources"]
        assert resources["limits"]["cpus"] and resources["limits"]["memory"], name
        assert resources["reservations"]["cpus"] and resources["reservations"]["memory"], name
        assert service.get("stop_grace_period"), name
    grace = {name: duration(s["stop_grace_period"]) for name, s in stack["services"].items()}
    # longer than each process's own drain: gunicorn 20 s, Dramatiq 20 s, gateway 3 s
    assert all(grace[name] > 20 for name in CITIES)
    assert grace["worker"] > 20
    assert grace["gateway"] > 3


def test_every_long_running_service_has_a_healthcheck(stack):
    for name in LONG_RUNNING:
        healthcheck = stack["services"][name]["healthcheck"]
        assert healthcheck["test"] and not healthcheck.get("disable"), name
    for name in set(APP_ROLES) - {"migrate"}:
        assert stack["services"][name]["healthcheck"]["test"] == [
            "CMD", "/opt/absensi/healthcheck"]
    # MariaDB's own image ships its healthcheck script
    assert stack["services"]["mariadb"]["healthcheck"]["test"][:2] == ["CMD", "healthcheck.sh"]


def test_secrets_come_as_versioned_files_and_never_through_the_environment(stack):
    # every secret is a Docker secret with a version in its name, created by the operator
    for key, secret in stack["secrets"].items():
        assert secret["external"] is True, key
        assert secret["name"].startswith("absensi_") and secret["name"].endswith("_v1"), key
    for name, service in stack["services"].items():
        environment = service.get("environment") or {}
        # the URLs may stay in the environment because they hold no password (checked below)
        for variable in set(SECRET_VARIABLES) - {"DATABASE_URL", "REDIS_URL"}:
            assert variable not in environment, f"{name} has {variable} in plain environment"
        for variable, value in environment.items():
            if "PASSWORD" in variable or "SECRET" in variable:
                assert variable.endswith("_FILE"), f"{name}: {variable}"
            if variable.endswith("_FILE"):
                target = value.removeprefix("/run/secrets/")
                assert value.startswith("/run/secrets/"), f"{name}: {variable}"
                assert target in {s["target"] for s in service["secrets"]}, f"{name}: {value}"
        # URLs carry no password: it comes from the *_PASSWORD_FILE
        for variable in ("DATABASE_URL", "REDIS_URL"):
            if variable in environment:
                assert urlsplit(environment[variable]).password is None, f"{name}: {variable}"
    app = stack["services"]["app-node-1"]["environment"]
    assert app["REDIS_URL"].startswith("rediss://") and app["REDIS_CA"].startswith("/run/secrets/")
    assert app["DATABASE_CA"].startswith("/run/secrets/")


def test_only_nginx_publishes_ports_443_and_80_on_an_encrypted_overlay(stack):
    published = {name: service.get("ports") for name, service in stack["services"].items()
                 if service.get("ports")}
    assert set(published) == {"nginx"}
    assert {(p["target"], p["published"]) for p in published["nginx"]} == {(443, 443), (80, 80)}
    network = stack["networks"]["absensi"]
    assert network["driver"] == "overlay"
    assert network["driver_opts"]["encrypted"] == "true"
    for name, service in stack["services"].items():
        assert list(service["networks"]) == ["absensi"], name
    # nginx's config and certificate come as a Docker config and secrets
    nginx = stack["services"]["nginx"]
    assert nginx["configs"][0]["target"] == "/etc/nginx/nginx.conf"
    assert re.search(r"_v\d+$", stack["configs"]["nginx_conf"]["name"])
    assert {s["source"] for s in nginx["secrets"]} == {"tls_cert", "tls_key"}


def test_mariadb_and_redis_keep_their_data_and_speak_tls_only(stack):
    services = stack["services"]
    assert "mariadb-data:/var/lib/mysql" in str(services["mariadb"]["volumes"]) \
        or services["mariadb"]["volumes"][0]["target"] == "/var/lib/mysql"
    assert services["redis"]["volumes"][0]["target"] == "/data"
    assert "--require-secure-transport=ON" in services["mariadb"]["command"]
    redis_command = " ".join(services["redis"]["command"])
    assert "--port 0 --tls-port 6379" in redis_command
    assert "requirepass" in redis_command and "/run/secrets/redis_password" in redis_command


def test_the_data_servers_secrets_are_readable_by_their_user_only(stack):
    # written 256 (= 0o400) in the file: decimal, which YAML 1.1 and 1.2 read alike
    owned = [secret for service in stack["services"].values()
             for secret in service.get("secrets", [])
             if isinstance(secret, dict) and secret.get("uid") == "999"]
    assert len(owned) == 3 and all(secret.get("mode") == 0o400 for secret in owned), owned


def test_a_changed_nginx_conf_gets_a_new_config_name():
    # Given the stack file as Swarm reads it (no docker CLI needed) and docker/nginx.conf
    name = wiring.stack()["configs"]["nginx_conf"]["name"]
    digest = hashlib.sha256(NGINX_CONF.read_bytes()).hexdigest()
    # Then the config's name is the one recorded for exactly this content: a Swarm keeps a
    # config under its name forever, so new content under an old name would not deploy
    assert len(set(NGINX_CONF_VERSIONS.values())) == len(NGINX_CONF_VERSIONS)
    assert name == max(NGINX_CONF_VERSIONS, key=lambda n: int(n.rsplit("_v", 1)[1]))
    assert NGINX_CONF_VERSIONS[name] == digest, (
        f"docker/nginx.conf changed (sha256 {digest}): record it under the next "
        f"absensi_nginx_conf_vN here and in docker-stack-production.yml")

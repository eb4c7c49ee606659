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
GALERA = {"mariadb-1": 1, "mariadb-2": 2, "mariadb-3": 3}
REDIS = {"redis-1": 1, "redis-2": 2, "redis-3": 3}
SENTINELS = {"sentinel-1": 1, "sentinel-2": 2, "sentinel-3": 3}
#: one data directory each: the old task stops before the new one starts
DATA = {*GALERA, *REDIS, *SENTINELS}
LONG_RUNNING = {"nginx", "haproxy", "backup", *DATA, *APP_ROLES} - {"migrate"}
CITIES = {"app-node-1": "jakarta", "app-node-2": "bandung", "app-node-3": "surabaya",
          "app-node-4": "bali"}
# Every docker/nginx.conf the stack has shipped, by its Docker config name (sha256 of the
# file). A Swarm config is immutable: a new content needs a new name, so a change to the
# file (docker/render_nginx_conf.py) adds a line here and points the stack's `name:` at it.
NGINX_CONF_VERSIONS = {
    "absensi_nginx_conf_v1": "a1ee698565dd5fcb2bc716dcc92978801fc603f1826cffaa76fc4593b0e1c4f5",
    "absensi_nginx_conf_v2": "d63e48e8c92706e54bdbe0470ca2c8fdadef2b44af4a55d88936e71bf468ca2c",
    "absensi_nginx_conf_v3": "f89e6204869012ffc4487eb83792bb91097d9fea2f6ce2600b67573de3c4588f",
    "absensi_nginx_conf_v4": "39a9dcd616e8c4b83908df66ffbda68a345b5fa71c62fc8f5618f0d45143d298",
}
# The same for the data tier's files and the backup loop (name: sha256 of the file).
CONFIG_VERSIONS = {
    "absensi_galera_cnf_v1": "ede4047968396168d8fe5551f427ab04c994a7f0e9398caa47478206415c0e63",
    "absensi_galera_start_v1": "749e7a4ba7e0611a608efd9a5f2c7baf064eda6e72714e5dc324d754dea37502",
    "absensi_galera_health_v1": "03791af358b2fc68837f47f3d40f2b04664aea69dbff2adef0ab48ebc1bc6211",
    "absensi_haproxy_cfg_v1": "2c8df67ba14ca42736ea04ceddc26045a01ba28c9a17763d1d88dcea057561a3",
    "absensi_redis_start_v1": "a60aba77e2c510b31fad683027ac71568796d0b2a13f0eaff158d0f59463af3d",
    "absensi_sentinel_start_v1": "7316eb272e80721686c5395c0b8ae857e9c92ed87ca4eebc25c19ab50a1fb99b",
    "absensi_backup_sh_v1": "ba0393c704678254a92f6d809d20eca7014d8aab4338d16b5c4d11fab48ed0d6",
}
DOCKER = REPO_ROOT / "docker"


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
    assert set(services) == {"nginx", "haproxy", "backup", *DATA, *APP_ROLES}
    for name, role in APP_ROLES.items():
        assert services[name]["image"] == "absensi:0.1.0", name
        assert services[name]["command"][0] == role, name
    for name, city in CITIES.items():
        assert services[name]["environment"]["APP_NODE_ID"] == name
        assert services[name]["deploy"]["placement"]["constraints"] == [
            f"node.labels.absensi.city == {city}"]
    # each data server on its own labelled node: mariadb-N on absensi.db=N, redis-N and
    # sentinel-N on absensi.redis=N
    for names, label in ((GALERA, "db"), (REDIS, "redis"), (SENTINELS, "redis")):
        for name, n in names.items():
            assert services[name]["deploy"]["placement"]["constraints"] == [
                f"node.labels.absensi.{label} == {n}"], name


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
        # data directory each for the MariaDB, Redis and Sentinel nodes
        expected = "stop-first" if name in {"nginx", *DATA} else "start-first"
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
    # a Galera node is healthy while Synced (or donating a copy to a joining node)
    for name in GALERA:
        assert stack["services"][name]["healthcheck"]["test"] == [
            "CMD", "/usr/local/bin/galera-health", "--allow-donor"]


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
    # one volume per data server
    volumes = {name: [(v["source"], v["target"]) for v in services[name]["volumes"]]
               for name in DATA}
    for name in GALERA:
        assert volumes[name] == [(f"{name}-data", "/var/lib/mysql")]
        assert "--require-secure-transport=ON" in services[name]["command"]
    for name in {*REDIS, *SENTINELS}:
        assert volumes[name] == [(f"{name}-data", "/data")]
    # Galera replicates and copies over TLS; Redis and the Sentinels have no plaintext port
    galera = (DOCKER / "galera" / "galera.cnf").read_text()
    assert "socket.ssl=yes" in galera and "ssl-mode = VERIFY_CA" in galera
    for script in ("start.sh", "sentinel.sh"):
        text = (DOCKER / "redis" / script).read_text()
        assert 'echo "port 0"' in text and "tls-replication yes" in text, script
        assert "requirepass" in text and "REDIS_SECRETS_DIR:-/run/secrets}" in text, script


def test_the_data_servers_secrets_are_readable_by_their_user_only(stack):
    # written 256 (= 0o400) in the file: decimal, which YAML 1.1 and 1.2 read alike
    owned = [secret for service in stack["services"].values()
             for secret in service.get("secrets", [])
             if isinstance(secret, dict) and secret.get("uid") == "999"]
    assert owned and all(secret.get("mode") == 0o400 for secret in owned), owned
    # every data server's key is its own
    for name in DATA:
        keys = [s for s in stack["services"][name]["secrets"] if s["source"].endswith("_key")]
        assert [(s["uid"], s["mode"]) for s in keys] == [("999", 0o400)], name


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


def test_galera_nodes_are_pinned_and_find_each_other(stack):
    services = stack["services"]
    for name in GALERA:
        node = services[name]
        assert node["image"].startswith("mariadb:10.11"), name
        assert node["entrypoint"] == ["/usr/local/bin/galera-start"], name
        assert node["environment"]["GALERA_NODE_NAME"] == name
        # the task's own address (no virtual IP) for the peers and HAProxy's checks
        assert node["deploy"]["endpoint_mode"] == "dnsrr", name
        assert node["deploy"]["replicas"] == 1, name
        assert {c["target"] for c in node["configs"]} == {
            "/etc/mysql/conf.d/galera.cnf", "/usr/local/bin/galera-start",
            "/usr/local/bin/galera-health"}, name
    # only the first node may start a new cluster on the first deploy
    assert [n for n in GALERA if services[n]["environment"].get("GALERA_BOOTSTRAP")] == [
        "mariadb-1"]
    galera = (DOCKER / "galera" / "galera.cnf").read_text()
    assert "wsrep_cluster_address = gcomm://tasks.mariadb-1,tasks.mariadb-2,tasks.mariadb-3" \
        in galera
    assert "wsrep_sst_method = mariabackup" in galera


def haproxy_listen(section):
    """The lines of *section* (``listen mariadb``) of docker/haproxy/haproxy.cfg."""
    lines, inside = [], False
    for line in (DOCKER / "haproxy" / "haproxy.cfg").read_text().splitlines():
        if line and not line[0].isspace():
            inside = line.strip() == section
            continue
        if inside and line.strip() and not line.strip().startswith("#"):
            lines.append(line.split())
    return lines


def test_writes_go_through_haproxy_to_one_synced_galera_node(stack):
    services = stack["services"]
    # the apps name `mariadb`: HAProxy's alias on the network
    assert services["haproxy"]["networks"]["absensi"]["aliases"] == ["mariadb"]
    assert "@mariadb:3306/" in services["app-node-1"]["environment"]["DATABASE_URL"]
    assert not set(GALERA) & {"mariadb"}
    assert [c["target"] for c in services["haproxy"]["configs"]] == [
        "/usr/local/etc/haproxy/haproxy.cfg"]
    lines = haproxy_listen("listen mariadb")
    servers = [line for line in lines if line[0] == "server"]
    # every node once, in order; one active writer, the others backups
    assert [line[1] for line in servers] == list(GALERA)
    assert [line[2] for line in servers] == [f"tasks.{n}:3306" for n in GALERA]
    assert [line for line in servers if "backup" not in line] == [servers[0]]
    assert all("check" in line for line in servers)
    # the check: an HTTP GET on each node's health port, healthy only on 200
    assert ["option", "httpchk"] in lines
    assert ["http-check", "expect", "status", "200"] in lines
    default_server = next(line for line in lines if line[0] == "default-server")
    assert default_server[1:3] == ["port", "9200"]
    for option in ("on-marked-down", "on-marked-up"):
        assert option in default_server
    # which answers 200 only while the node is Synced (state 4) and ready
    health = (DOCKER / "galera" / "health.sh").read_text()
    assert 'allowed="4"' in health and "wsrep_ready" in health
    assert "socat" in (DOCKER / "galera" / "start.sh").read_text()


def test_three_redis_servers_under_three_sentinels_with_quorum_2(stack):
    services = stack["services"]
    for name in {*REDIS, *SENTINELS}:
        assert services[name]["deploy"]["endpoint_mode"] == "dnsrr", name
        assert services[name]["environment"]["REDIS_INITIAL_PRIMARY"] == "redis-1", name
    for name in REDIS:
        assert services[name]["environment"]["REDIS_NODE_NAME"] == name
        assert services[name]["command"] == ["/usr/local/bin/redis-start"]
    for name in SENTINELS:
        assert services[name]["environment"]["SENTINEL_NODE_NAME"] == name
        assert services[name]["environment"]["SENTINEL_QUORUM"] == "2"
        assert services[name]["command"] == ["/usr/local/bin/sentinel-start"]
    sentinel = (DOCKER / "redis" / "sentinel.sh").read_text()
    assert 'echo "sentinel monitor $master $primary 6379 $quorum"' in sentinel
    # every app process finds the primary through the three Sentinels and publishes an
    # event only once a replica has it
    for name in {*APP_ROLES, "backup"}:
        environment = services[name]["environment"]
        assert environment["REDIS_SENTINELS"] == ",".join(f"{s}:26379" for s in SENTINELS)
        assert environment["REDIS_SENTINEL_MASTER"] == "absensi"
        assert environment["REDIS_SENTINEL_PASSWORD_FILE"] == "/run/secrets/sentinel_password"
        assert environment["OUTBOX_PUBLISH_REPLICAS"] == "1"


def test_a_backup_job_dumps_the_database_every_night_into_a_volume(stack):
    backup = stack["services"]["backup"]
    assert backup["image"] == "absensi:0.1.0"
    assert backup["command"] == ["shell", "/opt/absensi/backup"]
    assert [c["target"] for c in backup["configs"]] == ["/opt/absensi/backup"]
    assert [(v["source"], v["target"]) for v in backup["volumes"]] == [
        ("backups", "/var/backups/absensi")]
    assert backup["deploy"]["placement"]["constraints"] == ["node.labels.absensi.backup == true"]
    assert backup["environment"]["BACKUP_DIR"] == "/var/backups/absensi"
    script = (DOCKER / "backup.sh").read_text()
    assert 'absensi db backup --output-dir "$dir" --keep-days "$keep"' in script
    # the image has the client tools it runs, and the directory the volume mounts on
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "mariadb-client" in dockerfile and "/var/backups/absensi" in dockerfile


def test_a_changed_data_tier_file_gets_a_new_config_name():
    configs = wiring.stack()["configs"]
    for key, config in configs.items():
        if key == "nginx_conf":
            continue
        digest = hashlib.sha256((REPO_ROOT / config["file"]).read_bytes()).hexdigest()
        assert CONFIG_VERSIONS.get(config["name"]) == digest, (
            f"{config['file']} changed (sha256 {digest}): give {key} the next _vN name "
            f"here and in docker-stack-production.yml")


@pytest.mark.parametrize("script", ["galera/start.sh", "galera/health.sh", "backup.sh"])
def test_the_data_tier_bash_scripts_parse(script):
    result = subprocess.run(["bash", "-n", str(DOCKER / script)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", ["redis/start.sh", "redis/sentinel.sh"])
def test_the_redis_scripts_parse_as_posix_sh(script):
    # the redis image runs them with its /bin/sh (dash)
    sh = shutil.which("dash") or "sh"
    result = subprocess.run([sh, "-n", str(DOCKER / script)], capture_output=True, text=True,
                            timeout=30)
    assert result.returncode == 0, result.stderr

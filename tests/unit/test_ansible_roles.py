"""The Ansible roles and inventories, read as files: what the lab cannot show by running them.

Roles use each other's variables only through meta/main.yml dependencies, secrets stay in
the vault and reach only the groups that use them, every task that renders a secret hides
it from the log, and every template says it is managed. The lab (tests/lab) runs them.
"""
import os
import re
import shutil
import subprocess

import pytest
import yaml

from webapp.settings import REPO_ROOT

ANSIBLE = REPO_ROOT / "ansible"
ROLES = ANSIBLE / "roles"
INVENTORIES = {"lab": REPO_ROOT / "inventory" / "lab",
               "production": REPO_ROOT / "inventory" / "production"}
ROLE_NAMES = sorted(path.name for path in ROLES.iterdir() if path.is_dir())

#: Which vault values each group's plain variables take (inventory/<env>/group_vars/<group>).
SECRETS_BY_GROUP = {
    "all": {"vault_pki_ca_passphrase"},  # every host's certificate is signed with the CA
    "app": {"vault_absensi_secret_key", "vault_mariadb_app_password",
            "vault_redis_app_password", "vault_redis_sentinel_password"},
    "db": {"vault_mariadb_app_password", "vault_mariadb_exporter_password"},
    "redis": {"vault_redis_app_password", "vault_redis_replication_password",
              "vault_redis_sentinel_monitor_password"},
    # the Sentinels' own password (which the app's clients use too) and their Redis user
    "sentinel": {"vault_redis_sentinel_password", "vault_redis_sentinel_monitor_password"},
    "lb": set(),
}
#: The role variables that hold a secret.
SECRET_VARIABLES = ("absensi_app_secret_key", "absensi_app_database_password",
                    "absensi_app_redis_password", "absensi_app_redis_sentinel_password",
                    "mariadb_app_password", "redis_app_password", "redis_replication_password",
                    "redis_monitor_password", "redis_sentinel_password",
                    "redis_sentinel_auth_password",
                    "mysqld_exporter_password", "redis_exporter_password",
                    "pki_ca_passphrase")


CONDITIONS = ("when", "that", "until", "changed_when", "failed_when")


def _conditions(node):
    """The bare Jinja expressions of a tasks file (when:, that:, ...), however nested."""
    if isinstance(node, list):
        for item in node:
            yield from _conditions(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in CONDITIONS:
                yield from (value if isinstance(value, list) else [value])
            else:
                yield from _conditions(value)


def role_expressions(role):
    """Every Jinja expression in *role*'s files ({{ }}, {% %}, conditions), literals removed."""
    expressions = []
    for path in sorted((ROLES / role).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)
        expressions += re.findall(r"\{\{(.*?)\}\}|\{%(.*?)%\}", text, flags=re.S)
        if path.suffix == ".yml":
            expressions += [(str(c),) for c in _conditions(yaml.safe_load(text))]
    text = "\n".join("".join(groups) for groups in expressions)
    return re.sub(r"'[^']*'|\"[^\"]*\"", "''", text)


def dependencies(role):
    meta = yaml.safe_load((ROLES / role / "meta" / "main.yml").read_text()) or {}
    return [dep["role"] if isinstance(dep, dict) else dep
            for dep in meta.get("dependencies") or []]


def all_dependencies(role):
    found, pending = set(), list(dependencies(role))
    while pending:
        dep = pending.pop()
        if dep not in found:
            found.add(dep)
            pending.extend(dependencies(dep))
    return found


def other_roles_variables(role):
    """{other role: its variables *role* uses} (names start with the other role's name)."""
    text = role_expressions(role)
    used = {}
    for other in ROLE_NAMES:
        if other == role:
            continue
        names = set(re.findall(rf"(?<![\w.]){other}_[a-z0-9_]+", text))
        # a longer role name sharing the prefix owns its own variables
        names = {n for n in names
                 if not any(n.startswith(f"{longer}_") for longer in ROLE_NAMES
                            if longer != other and longer.startswith(f"{other}_"))}
        if names:
            used[other] = names
    return used


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_a_role_uses_another_roles_variables_only_through_a_dependency(role):
    # Given the variables of other roles that this role's files use
    used = other_roles_variables(role)
    # Then each of those roles is a dependency of this one (meta/main.yml, directly or not)
    missing = {other: names for other, names in used.items()
               if other not in all_dependencies(role)}
    assert missing == {}, f"{role} uses {missing} without depending on those roles"
    # and none is guessed with default(): the dependency defines it
    text = role_expressions(role)
    for other, names in used.items():
        for name in names:
            assert not re.search(rf"{name}\s*\|\s*default\(", text), f"{role}: {name} | default"


def test_the_services_are_one_role_that_depends_on_the_release():
    assert "absensi_service" in ROLE_NAMES
    for old in ("absensi_web", "absensi_worker", "absensi_gateway", "absensi_scheduler"):
        assert old not in ROLE_NAMES
    assert dependencies("absensi_service") == ["absensi_app"]
    assert dependencies("absensi_backup") == ["absensi_app"]
    for role in ("absensi_app", "mariadb", "redis", "nginx_lb"):
        assert "pki" in dependencies(role), role
    # rolling.yml runs lb_rotation delegated to the lb for a web host: a dependency's tasks
    # would run there with the web host's variables
    assert dependencies("lb_rotation") == []


def test_site_applies_each_role_once_without_flags():
    plays = yaml.safe_load((ANSIBLE / "site.yml").read_text())
    roles = [entry for play in plays for entry in play.get("roles", [])]
    names = [entry["role"] for entry in roles]
    assert len(names) == len(set(names)), names
    assert all(set(entry) == {"role"} for entry in roles), roles
    assert "absensi_app" not in names  # it comes as absensi_service's dependency


def test_the_web_unit_runs_gunicorn_with_the_apps_settings_module():
    units = yaml.safe_load((ROLES / "absensi_service" / "vars" / "main.yml").read_text())
    command = units["absensi_service_units"]["web"]["command"]
    assert command.startswith("gunicorn -c python:webapp.gunicorn_conf ")
    assert command.endswith("webapp.wsgi:application")


def test_every_role_template_says_it_is_managed():
    for template in sorted(ROLES.rglob("templates/*.j2")):
        if template.is_symlink():
            continue  # the nginx template is shared with `make run` and the stack
        lines = template.read_text().splitlines()
        if lines and lines[0].startswith("#!"):
            lines = lines[1:]
        assert lines and lines[0] == "{{ ansible_managed | comment }}", template


@pytest.mark.parametrize("env", sorted(INVENTORIES))
def test_each_group_takes_only_the_secrets_it_uses_from_the_one_vault(env):
    group_vars = INVENTORIES[env] / "group_vars"
    # Given every plain variables file of the inventory
    taken = {}
    for path in sorted(group_vars.glob("*/*.yml")):
        if path.name == "vault.yml":
            continue
        text = path.read_text()
        taken.setdefault(path.parent.name, set()).update(re.findall(r"vault_[a-z0-9_]+", text))
        # no plain file holds a vault value itself
        assert not re.search(r"^\s*vault_\w+\s*:", text, re.M), path
    # Then each group takes exactly the secrets its roles use, nothing more
    assert {group: names for group, names in taken.items() if names} == {
        group: names for group, names in SECRETS_BY_GROUP.items() if names}
    # and the values live only in the encrypted group_vars/all/vault.yml
    vault = group_vars / "all" / "vault.yml"
    if vault.exists():
        assert vault.read_text().startswith("$ANSIBLE_VAULT;"), vault
    assert not [p for p in group_vars.glob("*/vault.yml") if p.parent.name != "all"]
    example = group_vars / "all" / "vault.yml.example"
    if example.exists():
        values = yaml.safe_load(example.read_text())
        assert set(values) == set().union(*SECRETS_BY_GROUP.values())
        assert all(value == "" for value in values.values()), "no secret in the example"


def tasks_of(path):
    for task in yaml.safe_load(path.read_text()) or []:
        for key in ("block", "rescue", "always"):
            if key in task:
                yield from (t for t in task[key])
        yield task


def test_every_task_that_renders_a_secret_keeps_it_out_of_the_log():
    secret = re.compile("|".join(SECRET_VARIABLES))
    for path in sorted(ROLES.glob("*/tasks/*.yml")) + sorted(ROLES.glob("*/handlers/*.yml")):
        for task in tasks_of(path):
            module = next((k for k in task if "." in k), None)
            if module is None or module == "ansible.builtin.assert":
                continue  # an assertion only tests the value, it never prints it
            args = str(task[module]) + str(task.get("loop", "")) + str(task.get("vars", ""))
            if module == "ansible.builtin.template":
                source = path.parent.parent / "templates" / task[module]["src"]
                if source.exists():
                    args += source.read_text()
            if secret.search(args):
                assert task.get("no_log") is True, f"{path}: {task['name']}"


def test_the_lb_validates_nginx_before_a_new_configuration_goes_live():
    config = yaml.safe_load((ROLES / "nginx_lb" / "tasks" / "config.yml").read_text())[0]
    assert config["ansible.builtin.template"]["validate"] == "nginx -t -q -c %s"
    handlers = yaml.safe_load((ROLES / "nginx_lb" / "handlers" / "main.yml").read_text())
    # check, stop with nginx's words, then reload: in this order, on one topic
    assert [next(k for k in h if "." in k) for h in handlers] == [
        "ansible.builtin.command", "ansible.builtin.fail", "ansible.builtin.systemd_service"]
    assert len({h["listen"] for h in handlers}) == 1


@pytest.mark.skipif(not shutil.which("ansible-playbook",
                                     path=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"),
                    reason="ansible is not installed (make venv)")
@pytest.mark.parametrize("env", sorted(INVENTORIES))
def test_the_playbooks_pass_ansibles_syntax_check(env):
    env_vars = dict(os.environ, ANSIBLE_CONFIG=str(ANSIBLE / "ansible.cfg"), NO_COLOR="1",
                    PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    vault = ["--vault-password-file", str(REPO_ROOT / "lab" / "vault-password")] \
        if env == "lab" else []
    playbooks = [str(ANSIBLE / name) for name in ("site.yml", "rolling.yml")]
    result = subprocess.run(["ansible-playbook", "-i", str(INVENTORIES[env]), "--syntax-check",
                             *vault, *playbooks], capture_output=True, text=True, timeout=120,
                            env=env_vars, cwd=REPO_ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def _inventory_hosts(group, found=None, groups=None, path=()):
    """({host: private_address}, {group: {hosts}}) of an inventory's hosts.yml tree."""
    found = {} if found is None else found
    groups = {} if groups is None else groups
    for name, values in (group.get("hosts") or {}).items():
        if values and "private_address" in values:
            found[name] = values["private_address"]
        for parent in path:
            groups.setdefault(parent, set()).add(name)
    for child, body in (group.get("children") or {}).items():
        groups.setdefault(child, set())
        _inventory_hosts(body or {}, found, groups, (*path, child))
    return found, groups


def test_the_lab_hosts_and_addresses_agree_with_the_lab_inventory():
    # Given lab/lab.conf (what lab/hosts.sh makes) and inventory/lab/hosts.yml
    conf = (REPO_ROOT / "lab" / "lab.conf").read_text()
    prefix = re.search(r"^LAB_SUBNET_PREFIX=(\S+)", conf, re.M).group(1)
    entries = re.search(r"^LAB_HOSTS=\(([^)]*)\)", conf, re.M | re.S).group(1).split()
    made = {name: f"{prefix}.{octet}" for name, octet in (e.split(":") for e in entries)}
    inventory = yaml.safe_load((INVENTORIES["lab"] / "hosts.yml").read_text())["all"]
    # Then they name the same hosts at the same addresses (CONTRACT §5 names eleven)
    assert _inventory_hosts(inventory)[0] == made
    assert len(made) == 11


def test_production_has_the_labs_groups_and_the_data_tier_on_three_hosts():
    lab, production = (
        _inventory_hosts(yaml.safe_load((INVENTORIES[env] / "hosts.yml").read_text())["all"])[1]
        for env in ("lab", "production"))
    assert set(production) == set(lab)
    for groups in (lab, production):
        assert len(groups["db"]) == len(groups["redis"]) == len(groups["sentinel"]) == 3
        assert groups["db"] == groups["redis"] == groups["sentinel"]
        assert len(groups["gateway"]) == len(groups["worker"]) == 2 and len(groups["monitor"]) == 1


def test_rolling_puts_a_node_back_only_once_nginx_serves_it_then_rolls_the_realtime_hosts():
    plays = yaml.safe_load((ANSIBLE / "rolling.yml").read_text())
    web = next(play for play in plays if play.get("hosts") == "web" and "serial" in play)
    back = web["post_tasks"][-1]
    # the web node's way back names its X-Node-Id, which lb_rotation waits to see through
    # the balancer (a node nginx still counts as failed gets no request)
    assert back["vars"]["lb_rotation_state"] == "in"
    assert back["vars"]["lb_rotation_node_id"] == "{{ app_node_id }}"
    probe = [task for task in tasks_of(ROLES / "lb_rotation" / "tasks" / "main.yml")
             if "ansible.builtin.uri" in task]
    assert probe and "x_node_id" in probe[0]["until"]
    # then the gateways and workers, one realtime host at a time
    realtime = plays.index(web) + 1
    assert "gateway" in plays[realtime]["hosts"] and plays[realtime]["serial"] == 1


def test_haproxy_sends_writes_to_one_galera_node_at_a_time():
    template = (ROLES / "haproxy" / "templates" / "haproxy.cfg.j2").read_text()
    assert "option httpchk" in template
    assert "\n    option allbackups" not in template
    assert "on-marked-down shutdown-sessions" in template
    # every node after the first is a backup
    assert "' backup' if not loop.first" in template

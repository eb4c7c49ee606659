"""The alert rules shipped to Prometheus (ansible/roles/prometheus/files/alerts), checked and
unit-tested with promtool (Debian's `prometheus` package; scripts/system-deps.sh --lab
installs it, and `make test` runs that): a missing promtool fails here, it never skips."""
import shutil
import subprocess

import pytest
import yaml

from webapp.settings import REPO_ROOT

ALERTS = REPO_ROOT / "ansible" / "roles" / "prometheus" / "files" / "alerts"
RULES = ALERTS / "absensi.rules.yml"
RULE_TESTS = ALERTS / "absensi.rules.test.yml"
#: CONTRACT §7's list: a target down, a Galera cluster smaller than 3 or not primary, a Redis
#: failover and a missing replica, an outbox backlog older than 60 s, dead letters waiting,
#: 5xx above 1 % for 5 minutes, a heartbeat missing.
CONTRACT_ALERTS = {"TargetDown", "GaleraClusterTooSmall", "GaleraNodeNotPrimary",
                   "RedisFailover", "RedisReplicaMissing", "OutboxBacklog",
                   "DeadLettersWaiting", "HighErrorRate", "HeartbeatMissing"}


def promtool(*args):
    path = shutil.which("promtool")
    assert path, "promtool is missing: run scripts/system-deps.sh --lab (Debian's prometheus)"
    return subprocess.run([path, *args], capture_output=True, text=True, timeout=120,
                          cwd=ALERTS)


def rules():
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def test_promtool_accepts_the_rules():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rules_unit_tests_pass():
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_expectation_makes_promtool_fail(tmp_path):
    # The rule tests would be worthless if promtool passed whatever they expect.
    (tmp_path / RULES.name).write_text(RULES.read_text())
    broken = RULE_TESTS.read_text().replace("summary: \"2 dead letters in queue outbox\"",
                                            "summary: \"3 dead letters in queue outbox\"")
    assert broken != RULE_TESTS.read_text()
    (tmp_path / RULE_TESTS.name).write_text(broken)
    path = shutil.which("promtool")
    assert path, "promtool is missing: run scripts/system-deps.sh --lab (Debian's prometheus)"
    result = subprocess.run([path, "test", "rules", RULE_TESTS.name], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert result.returncode != 0


def test_the_rules_are_exactly_the_contracts_alerts():
    assert {rule["alert"] for rule in rules()} == CONTRACT_ALERTS


@pytest.mark.parametrize("alert", sorted(CONTRACT_ALERTS))
def test_each_alert_says_how_bad_it_is_and_what_to_do(alert):
    rule = next(rule for rule in rules() if rule["alert"] == alert)
    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert rule["annotations"]["summary"]
    # the operator guide has a section for it, and the description points there
    assert f"docs/alerts.md#{alert.lower()}" in rule["annotations"]["description"]
    guide = (REPO_ROOT / "docs" / "alerts.md").read_text()
    assert f"## {alert}\n" in guide


@pytest.mark.parametrize("alert", sorted(CONTRACT_ALERTS))
def test_each_alert_has_a_firing_and_a_quiet_test_case(alert):
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in test.get("alert_rule_test", []) if case["alertname"] == alert]
    assert any(case["exp_alerts"] for case in cases), f"{alert} never fires in a test"
    assert any(not case["exp_alerts"] for case in cases), f"{alert} is never quiet in a test"

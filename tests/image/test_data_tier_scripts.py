"""The Swarm data tier's Galera health script (docker/galera/health.sh), run here against a
stand-in `mariadb` client: HAProxy's writer is a node that answers 200, i.e. Synced and
ready; the container's healthcheck also lets a donor be (it must not be killed mid-SST)."""
import subprocess

import pytest

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

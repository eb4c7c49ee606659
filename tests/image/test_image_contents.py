"""The image itself: what it holds, who it runs as, and how its entrypoint starts a role."""
import json
import secrets

import pytest

# the first test of a session also waits for the image build (minutes on a busy machine)
pytestmark = [pytest.mark.image, pytest.mark.timeout(900)]


def inspect(podman, image):
    return json.loads(podman("image", "inspect", image).stdout)[0]


def sh(podman, image, script):
    result = podman.run_once(image, ["shell", "-c", script])
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_image_runs_every_role_as_a_non_root_user_under_tini(podman, image):
    # Given the built image
    config = inspect(podman, image)
    # Then it names a non-root user, tini as PID 1 in front of the one entrypoint, and a
    # healthcheck
    assert config["Config"]["User"] == "10001:10001"
    assert config["Config"]["Entrypoint"] == ["/usr/bin/tini", "--", "/opt/absensi/entrypoint"]
    assert config["Healthcheck"]["Test"] == ["CMD", "/opt/absensi/healthcheck"]
    # and a process started in it really runs as that user, with tini as PID 1
    out = sh(podman, image, "id -u; id -g; tr '\\0' ' ' </proc/1/cmdline")
    uid, gid, pid1 = out.splitlines()[:3]
    assert (uid, gid) == ("10001", "10001")
    assert pid1.startswith("/usr/bin/tini -- /opt/absensi/entrypoint shell")


def test_the_image_holds_no_tests_no_build_tools_and_no_git(podman, image):
    # When we look for what must not ship
    found = sh(podman, image, r"""
        find /opt/absensi -path /opt/absensi/venv -prune -o \( -name tests -o -name 'test_*.py' \
            -o -name conftest.py -o -name testing.py -o -name .git \) -print
        ls -d /src /dist /opt/absensi/app/bin 2>/dev/null
        for tool in gcc cc make git pip pip3; do command -v $tool; done
        /opt/absensi/venv/bin/python -c 'import importlib.util as u; [print(m) for m in
            ("tests", "pytest", "webtest", "playwright", "ansible", "pip") if u.find_spec(m)]'
        true""")
    # Then there is none of it: no test code or test-only packages, no compiler, no pip
    assert found.strip() == ""
    # and what runs is there: the wheel's packages with the migrations, the ini, the CLI,
    # and nothing of a checkout (the local cluster's package stays out)
    listing = sh(podman, image, r"""
        ls /opt/absensi/app; command -v absensi gunicorn
        /opt/absensi/venv/bin/python -c 'import importlib.util as u; [print(m) for m in
            ("webapp", "wsgate", "tasks", "realtime", "absensi_migrations", "cluster")
            if u.find_spec(m)]'
        true""")
    assert listing.split()[0] == "production.ini"
    for expected in ("webapp", "wsgate", "tasks", "realtime", "absensi_migrations"):
        assert expected in listing.split()
    assert "cluster" not in listing.split()
    assert "/opt/absensi/venv/bin/absensi" in listing


def test_the_image_talks_to_mariadb_through_the_c_driver(podman, image):
    # mysqlclient, built in the build stage, loads libmariadb3 of the runtime stage
    out = sh(podman, image, "/opt/absensi/venv/bin/python -c "
             "'from webapp.db import mysql_driver; print(mysql_driver())'")
    assert out.strip() == "mysqldb"


def test_an_unknown_role_is_refused_with_the_list_of_roles(podman, image):
    result = podman.run_once(image, ["frontend"])
    assert result.returncode == 64
    assert "unknown role 'frontend'" in result.stderr
    assert "web, worker, gateway, scheduler, migrate" in result.stderr


def test_a_role_waits_for_its_database_a_bounded_time_and_says_why(podman, image, tmp_path):
    # Given a web node whose MariaDB does not answer (nothing listens on that port)
    secret = tmp_path / "secret_key"
    secret.write_text(secrets.token_urlsafe(48) + "\n")
    secret.chmod(0o444)
    env = {"ABSENSI_ENV": "production", "APP_NODE_ID": "app-node-1",
           "SECRET_KEY_FILE": "/run/secrets/secret_key",
           "DATABASE_URL": "mysql+pymysql://absensi:pw@127.0.0.1:9/absensi",
           "ABSENSI_WAIT_SECONDS": "3"}
    # When it starts
    result = podman.run_once(image, ["web"], env=env,
                             mounts={str(secret): "/run/secrets/secret_key"}, timeout=60)
    # Then it retried, said what it waits for, gave up after the bound with EX_UNAVAILABLE,
    # and never started gunicorn
    assert result.returncode == 69, result.stderr
    assert "waiting for MariaDB at 127.0.0.1:9" in result.stderr
    assert "giving up: MariaDB at 127.0.0.1:9 did not answer within 3 s" in result.stderr
    assert "starting web" not in result.stderr
    assert ":pw@" not in result.stderr


def test_a_secret_and_its_file_form_together_are_refused(podman, image, tmp_path):
    # Given SECRET_KEY both in the environment and as a file
    secret = tmp_path / "secret_key"
    secret.write_text("x" * 48)
    secret.chmod(0o444)
    env = {"SECRET_KEY": "y" * 48, "SECRET_KEY_FILE": "/run/secrets/secret_key",
           "ABSENSI_WAIT_SECONDS": "1"}
    # When a scheduler starts
    result = podman.run_once(image, ["scheduler"], env=env,
                             mounts={str(secret): "/run/secrets/secret_key"}, timeout=60)
    # Then it stops at once with a configuration error naming both
    assert result.returncode == 78, result.stderr
    assert "set SECRET_KEY or SECRET_KEY_FILE, not both" in result.stderr

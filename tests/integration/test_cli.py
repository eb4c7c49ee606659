"""The ``absensi`` console script, run as a real process against real servers."""
import json
import os
import subprocess
import sys

import pytest

from cluster.ports import free_port
from webapp.servers import heartbeats

pytestmark = pytest.mark.integration


def absensi(*args, env, stdin=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "webapp.cli", *args], input=stdin, capture_output=True,
        text=True, timeout=timeout, env={**os.environ, **env},
    )


@pytest.fixture()
def cli_env(tmp_path, redis_server, redis_client):
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite", "REDIS_URL": redis_server.url,
            "ABSENSI_CONFIG": "", "SECRET_KEY": "x" * 40}


def test_upgrade_seed_and_create_user(cli_env):
    assert absensi("db", "upgrade", env=cli_env).returncode == 0
    seeded = absensi("db", "seed-demo", env=cli_env)
    assert seeded.returncode == 0 and "13 users created" in seeded.stdout
    assert "0 users created" in absensi("db", "seed-demo", env=cli_env).stdout  # idempotent
    created = absensi("user", "create", "--name", "Ops Admin", "--email", "OPS@example.com",
                      "--role", "admin", "--branch", "dps", "--password-stdin",
                      env=cli_env, stdin="a-long-password\n")
    assert created.returncode == 0, created.stderr
    user = json.loads(created.stdout)
    assert (user["email"], user["role"], user["branch"]["code"]) == \
        ("ops@example.com", "admin", "DPS")
    again = absensi("user", "create", "--name", "X", "--email", "ops@example.com",
                    "--branch", "JKT", "--password-stdin", env=cli_env, stdin="another-pass\n")
    assert again.returncode == 2 and "email_taken" in again.stderr


def test_password_is_never_an_argument(cli_env):
    result = absensi("user", "create", "--name", "X", "--email", "x@example.com",
                     "--branch", "JKT", "--password", "secret123", env=cli_env)
    assert result.returncode != 0 and "unrecognized arguments" in result.stderr


def test_health_and_servers(cli_env, redis_client):
    absensi("db", "upgrade", env=cli_env)
    # No web node alive yet: unhealthy
    unhealthy = absensi("health", env=cli_env)
    assert unhealthy.returncode == 1 and json.loads(unhealthy.stdout)["web"] == "no live web node"
    heartbeats.beat(redis_client, node_id="app-node-2", role="web", city="Bandung",
                    started_at=heartbeats.utc_now_iso(), ttl_seconds=30)
    healthy = absensi("health", env=cli_env)
    assert healthy.returncode == 0 and json.loads(healthy.stdout)["live_nodes"] == ["app-node-2"]
    table = absensi("servers", env=cli_env).stdout.splitlines()
    assert table[0].split()[:3] == ["NODE_ID", "ROLE", "CITY"]
    assert table[1].split()[:3] == ["app-node-2", "web", "Bandung"]
    # Redis gone: unhealthy, non-zero
    down = absensi("health", env=dict(cli_env, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert down.returncode == 1 and json.loads(down.stdout)["redis"].startswith("error")


def test_production_refuses_default_secret(cli_env):
    result = absensi("health", env=dict(cli_env, ABSENSI_ENV="production", SECRET_KEY="change-me"))
    assert result.returncode == 2 and "SECRET_KEY" in result.stderr

"""The release is the wheel: it must carry the app's data and the migrations, and nothing of
the checkout beside them (the lab and the image install it alone)."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(ROOT)], check=True, timeout=300, capture_output=True)
    [wheel] = out.glob("absensi-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


@pytest.mark.parametrize("name", [
    "webapp/holidays/data/indonesia.csv", "webapp/openapi.yaml", "webapp/static/js/app.js",
    "webapp/templates/login.jinja2", "absensi_migrations/env.py",
    "absensi_migrations/script.py.mako", "absensi_migrations/versions/0001_initial.py",
    "realtime/streams.py", "wsgate/commands.py", "tasks/outbox/draining.py",
])
def test_the_wheel_carries_what_a_release_runs(wheel_names, name):
    assert name in wheel_names


def test_the_wheel_carries_no_tests_and_no_local_cluster(wheel_names):
    assert not [n for n in wheel_names if n.startswith(("tests/", "cluster/", "bench/"))]

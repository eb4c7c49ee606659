"""The lab: eleven Debian hosts made by `make lab`, once per test session, always torn down.

``LAB_REUSE=1`` uses a lab that is already up (var/lab/lab.env) and leaves it running;
``LAB_FULL=1`` (``make test-lab``) also runs the slow tests CI skips (rolling update under
load, a killed node, backup and restore).
"""
import os
import shutil
import subprocess
import time

import pytest

from tests.lab.lab_helpers import LAB_DIR, REPO_ROOT, read_lab_env

LAB_UP_TIMEOUT = 1800


@pytest.fixture(scope="session")
def lab():
    """LAB_URL and LAB_CA of a provisioned lab (made here unless LAB_REUSE=1)."""
    if os.geteuid() != 0 or not shutil.which("debootstrap") or not shutil.which("nsenter"):
        pytest.skip("the lab needs root, debootstrap and nsenter (make system-deps-test)")
    reuse = os.environ.get("LAB_REUSE") == "1" and (LAB_DIR / "lab.env").exists()
    try:
        if not reuse:
            started = time.monotonic()
            result = subprocess.run(["bash", "lab/up.sh"], cwd=REPO_ROOT, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    timeout=LAB_UP_TIMEOUT)
            (LAB_DIR / "lab-up.log").write_text(result.stdout)
            print(f"\nmake lab took {time.monotonic() - started:.0f} s")
            assert result.returncode == 0, f"make lab failed:\n{result.stdout[-6000:]}"
        env = read_lab_env()
        yield env
    finally:
        if not reuse:
            down = subprocess.run(["bash", "lab/hosts.sh", "destroy", str(LAB_DIR)],
                                  cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
            assert down.returncode == 0, down.stderr


@pytest.fixture()
def full_lab(lab):
    if os.environ.get("LAB_FULL") != "1":
        pytest.skip("slow lab test: make test-lab (LAB_FULL=1) runs it")
    return lab

"""Fixtures of the container image tests (marker ``image``).

- ``podman``: podman with a private store in a temp dir; every container, image and mount
  in it is removed at the end of the session, and the machine's ip_forward and iptables
  are checked (and set back) after it.
- ``image``: the image built once per session by ``make image``'s own script.

``ABSENSI_PODMAN_STORE=DIR`` keeps the store (images, build cache) in DIR across runs, so a
developer's second run rebuilds only what changed; CI always starts from an empty store.
"""
import os
import warnings

import pytest

from tests.image.podman import TIMINGS, HostNetworkGuard, Podman, available

IMAGE = "localhost/absensi:test"


@pytest.fixture(scope="session")
def podman():
    if not available():
        pytest.skip("podman/debootstrap missing: `bash scripts/system-deps.sh --image`")
    with HostNetworkGuard() as guard:
        store = os.environ.get("ABSENSI_PODMAN_STORE")
        engine = Podman(store, keep_store=bool(store))
        try:
            yield engine
        finally:
            engine.cleanup()
    if guard.changes:
        warnings.warn("podman changed the machine's network: " + "; ".join(guard.changes))


@pytest.fixture(scope="session")
def image(podman):
    seconds, _ = podman.build(IMAGE)
    TIMINGS["image build (base included), s"] = round(seconds)
    return IMAGE


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line(
            "image tests: " + ", ".join(f"{key} {value}" for key, value in TIMINGS.items()))

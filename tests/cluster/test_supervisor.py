"""Supervisor: one Procfile entry at a time, the way honcho runs them (process groups)."""
import os
import signal
import sys
import time

import pytest

from cluster.ports import free_port, port_open, wait_until
from cluster.supervisor import Supervisor, group_alive
from cluster.topology import ProcessSpec

pytestmark = pytest.mark.timeout(60)

# A "server" that forks a child (like a gunicorn arbiter and its worker) and listens.
SERVER = (
    "import os, socket, sys, time\n"
    "port = int(sys.argv[1])\n"
    "if os.fork() == 0:\n"
    "    time.sleep(600)\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', port)); s.listen(); print('listening', os.environ['NODE'], flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture()
def supervisor(tmp_path):
    ports = {"one": free_port(), "two": free_port()}
    specs = [ProcessSpec(name, "web", [sys.executable, "-c", SERVER, port], {"NODE": name},
                         port=port) for name, port in ports.items()]
    sup = Supervisor(specs, env=dict(os.environ), cwd=tmp_path, log_dir=tmp_path / "logs")
    yield sup, ports
    sup.stop_all(timeout=5)


def test_kill_takes_down_the_whole_group_and_leaves_the_others(supervisor):
    sup, ports = supervisor
    # Given two entries running, each a leader with a forked child
    sup.start_all()
    wait_until(lambda: port_open(ports["one"]) and port_open(ports["two"]), timeout=10)
    pgid = sup.pid("one")

    # When one is killed
    sup.kill("one")

    # Then its leader and its child are gone, the other entry still serves,
    # and a deliberate kill is not reported as a crash
    assert not sup.alive("one") and not group_alive(pgid)
    assert not port_open(ports["one"]) and port_open(ports["two"])
    assert sup.exited() == {}


def test_restart_brings_an_entry_back_on_its_port(supervisor):
    sup, ports = supervisor
    sup.start_all()
    wait_until(lambda: port_open(ports["one"]), timeout=10)
    first = sup.pid("one")

    sup.restart("one", timeout=5)
    wait_until(lambda: port_open(ports["one"]), timeout=10)

    assert sup.pid("one") != first
    assert sup.log_tail("one").count("listening one") == 2


def test_an_entry_that_dies_by_itself_is_reported(supervisor):
    sup, ports = supervisor
    sup.start_all()
    wait_until(lambda: port_open(ports["two"]), timeout=10)

    # When a process dies on its own (not through the supervisor)
    os.kill(sup.pid("two"), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while sup.alive("two") and time.monotonic() < deadline:
        time.sleep(0.05)

    assert sup.exited() == {"two": -signal.SIGKILL}


def test_stop_all_stops_every_group(supervisor):
    sup, ports = supervisor
    sup.start_all()
    wait_until(lambda: port_open(ports["one"]) and port_open(ports["two"]), timeout=10)
    groups = [sup.pid("one"), sup.pid("two")]

    sup.stop_all(timeout=5)

    assert not any(group_alive(pgid) for pgid in groups)

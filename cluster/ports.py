"""Ports and programs of the local cluster: a free loopback port, a bounded wait, a
Debian binary found where Debian puts it (the tests' servers use them too)."""
import os
import shutil
import socket
import time


class ServerError(RuntimeError):
    pass


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout, interval=0.05, what="server"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise ServerError(f"{what} not ready after {timeout} s")


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def require(binary):
    path = shutil.which(binary) or next(
        (p for p in (f"/usr/sbin/{binary}", f"/usr/bin/{binary}") if os.path.exists(p)), None
    )
    if not path:
        raise ServerError(f"{binary} not found: run `make system-deps` (apt-get install)")
    return path

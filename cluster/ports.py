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


def free_ports(count, host="127.0.0.1"):
    """*count* distinct free ports. Each stays bound until all are chosen: asked one after
    another, the kernel may hand out a port it just gave (a worker's /metrics port once
    turned out to be a web node's)."""
    sockets = []
    try:
        for _ in range(count):
            sockets.append(socket.socket())
            sockets[-1].bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


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

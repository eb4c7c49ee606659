"""The image deployed the way docker-stack-production.yml wires it, used through nginx.

migrate (a one-shot container), two web nodes, a worker, a gateway and the scheduler run
as containers of the image with the stack's environment and its secrets as files; MariaDB
and Redis speak TLS only; nginx runs the stack's own config. See tests/image/deployment.py.
"""
import os
import time
import urllib.error
import urllib.request
import uuid

import pytest
import websocket

from tests.http_client import HttpClient
from tests.image.deployment import SERVICES, Deployment
from tests.image.podman import TIMINGS
from tests.realtime_helpers import RECV_TIMEOUT, Closed, Socket

pytestmark = [
    pytest.mark.image, pytest.mark.timeout(900),
    # ~2-3 more minutes on two cores after the build: `make test-image` runs it, CI does not
    pytest.mark.skipif(os.environ.get("ABSENSI_IMAGE_FULL") != "1",
                       reason="the full container deployment runs in `make test-image`"),
]


@pytest.fixture(scope="module")
def deployment(podman, image, tmp_path_factory):
    deployment = Deployment(podman, image, tmp_path_factory.mktemp("deployment"))
    try:
        deployment.start()
        TIMINGS.update(deployment.timings)
        yield deployment
    finally:
        deployment.stop()


def HttpsClient(deployment):
    """A :class:`tests.http_client.HttpClient` on the deployment's HTTPS front."""
    return HttpClient(deployment.site_url, ca_file=deployment.tls.ca)


class TlsSocket(Socket):
    """:class:`Socket` over wss://, verified against the test's CA, from the site's origin."""

    def __init__(self, deployment):
        self.ws = websocket.create_connection(
            deployment.site_url.replace("https://", "wss://") + "/ws", timeout=RECV_TIMEOUT,
            sslopt={"ca_certs": str(deployment.tls.ca)}, origin=deployment.site_url)
        self.events = []


def admin_socket(deployment, client):
    status, _, body = client.request("POST", "/api/realtime/token")
    assert status == 200, body
    socket = TlsSocket(deployment)
    socket.auth(body["token"])
    socket.subscribe("attendances")
    return socket


def test_migrate_runs_alembic_to_head_and_exits_zero(deployment):
    # Given the one-shot migrate container the fixture ran first
    result = deployment.migrate_result
    # Then it waited for MariaDB, migrated and exited 0
    assert result.returncode == 0
    assert "MariaDB at 127.0.0.1" in result.stderr and "answers" in result.stderr
    assert "database at revision" in result.stdout


def test_every_container_reports_healthy_through_the_images_healthcheck(deployment):
    podman = deployment.podman
    for service in SERVICES:
        name = podman.name(service)
        # When the engine runs the image's HEALTHCHECK
        healthy, output = podman.health(name)
        # Then every role answers with its own signal, and the engine records "healthy"
        assert healthy, f"{service}: {output}\n{podman.logs(name)}"
        assert podman.inspect_health_status(name) == "healthy", service


def test_login_check_in_and_the_event_on_an_admin_websocket_through_nginx(deployment):
    client = HttpsClient(deployment)
    # Given port 80, which only redirects to HTTPS
    plain = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                        _NoRedirect()).open
    with pytest.raises(urllib.error.HTTPError) as redirect:
        plain(f"http://127.0.0.1:{deployment.http_port}/login", timeout=10)
    assert redirect.value.code == 301
    assert redirect.value.headers["Location"].startswith("https://")
    # and nginx balancing over both web nodes
    nodes = {client.request("GET", "/healthz")[1]["X-Node-Id"] for _ in range(6)}
    assert nodes == {"app-node-1", "app-node-2"}
    # When the admin logs in, opens the admin websocket and checks in
    client.login(deployment.admin["email"], deployment.admin["password"])
    socket = admin_socket(deployment, client)
    try:
        status, headers, body = client.request(
            "POST", "/api/attendance/check-in", {"note": "from the container test"},
            headers={"Idempotency-Key": str(uuid.uuid4())})
        assert status == 201, body
        attendance = body["attendance"]
        # Then the worker publishes it and the gateway delivers it on the socket
        event = _next_attendance_event(socket, attendance["id"])
        assert event["event"] == "attendance.created"
        assert event["node_id"] == headers["X-Node-Id"] == attendance["check_in_node"]
        assert event["data"]["user"]["id"] == attendance["user"]["id"]
    finally:
        socket.close()


def test_sigterm_to_the_gateway_closes_its_clients_with_1001_within_the_grace(deployment):
    podman = deployment.podman
    client = HttpsClient(deployment)
    client.login(deployment.admin["email"], deployment.admin["password"])
    socket = admin_socket(deployment, client)
    grace = 15  # the stack's stop_grace_period for the gateway
    try:
        # When the engine stops the gateway container (SIGTERM, then SIGKILL after the grace)
        started = time.monotonic()
        podman("stop", "--time", str(grace), podman.name("gateway"), timeout=grace + 30)
        stopped_after = time.monotonic() - started
        # Then the client got a 1001 close, and the gateway exited on its own, in time
        with pytest.raises(Closed) as closed:
            socket.drain(5)
        assert closed.value.code == 1001
        assert stopped_after < grace
        exit_code = podman("inspect", "--format", "{{.State.ExitCode}}",
                           podman.name("gateway")).stdout.strip()
        assert exit_code == "0", podman.logs(podman.name("gateway"))
    finally:
        socket.close()


def _next_attendance_event(socket, attendance_id, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            frame = socket.recv(timeout=max(deadline - time.monotonic(), 0.1))
        except websocket.WebSocketTimeoutException:
            break
        if frame.get("op") == "event" and frame["data"]["id"] == attendance_id:
            return frame
    raise AssertionError(f"no event for attendance {attendance_id} in {timeout} s; "
                         f"got {socket.events}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None

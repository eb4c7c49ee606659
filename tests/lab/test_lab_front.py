"""Through the lab's HTTPS front, with the lab CA verified: the contract's API and websocket
basics on four cities, TLS 1.2+ only, HTTP redirected, metrics hidden, Secure cookies."""
import http.client
import json
import ssl
import time
import uuid
from urllib.parse import urlsplit

import pytest
import websocket

from tests.lab.lab_helpers import CITIES, Client

pytestmark = [pytest.mark.lab, pytest.mark.timeout(2400)]

BRANCHES = ["JKT", "BDG", "SBY", "DPS"]


def test_api_and_websocket_work_on_all_four_cities(lab):
    # Given an admin logged in through the front, and a wss:// socket subscribed to attendances
    admin = Client(lab["LAB_URL"], lab["LAB_CA"])
    admin.login("admin@example.com", "password")
    assert "secure" in admin.login_headers["Set-Cookie"].lower()
    status, _, token = admin.request("POST", "/api/realtime/token")
    assert status == 200, token
    host = urlsplit(lab["LAB_URL"]).hostname
    socket = websocket.create_connection(f"wss://{host}/ws", timeout=15,
                                         sslopt={"ca_certs": lab["LAB_CA"]},
                                         origin=lab["LAB_URL"])
    try:
        socket.send(json.dumps({"op": "auth", "token": token["token"]}))
        assert json.loads(socket.recv())["op"] == "ready"
        socket.send(json.dumps({"op": "subscribe", "channel": "attendances"}))
        assert json.loads(socket.recv())["op"] == "subscribed"

        # When one new employee per branch is created and checks in
        suffix = uuid.uuid4().hex[:8]
        user_ids, check_in_nodes = set(), set()
        for branch in BRANCHES:
            email = f"lab-{branch.lower()}-{suffix}@example.com"
            status, _, user = admin.request("POST", "/api/users", {
                "name": f"Lab {branch}", "email": email, "password": "lab-password-123",
                "role": "employee", "branch": branch})
            assert status == 201, user
            user_ids.add(user["id"])
            employee = Client(lab["LAB_URL"], lab["LAB_CA"])
            employee.login(email, "lab-password-123")
            status, response_headers, body = employee.request(
                "POST", "/api/attendance/check-in", headers={"Idempotency-Key": uuid.uuid4().hex})
            assert status == 201, body
            assert body["attendance"]["branch"] == branch
            check_in_nodes.add(response_headers["X-Node-Id"])

        # Then the admin's socket receives every one of those events
        seen, deadline = set(), time.monotonic() + 30
        while seen != user_ids and time.monotonic() < deadline:
            frame = json.loads(socket.recv())
            if frame.get("op") == "event":
                seen.add(frame["data"]["user"]["id"])
        assert seen == user_ids
    finally:
        socket.close()

    # And the round robin reaches every city's node
    nodes = set(check_in_nodes)
    for _ in range(16):
        nodes.add(admin.request("GET", "/healthz")[1]["X-Node-Id"])
    assert nodes == CITIES


def _handshake(lab, version):
    host = urlsplit(lab["LAB_URL"]).hostname
    context = ssl.create_default_context(cafile=lab["LAB_CA"])
    # Let the client offer old protocols at all (OpenSSL's default level forbids them),
    # so a refusal comes from the server.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = version
    context.maximum_version = version
    connection = http.client.HTTPSConnection(host, 443, context=context, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_tls_before_1_2_is_refused(lab, version):
    # Given the front, When a client offers only TLS 1.0 or 1.1, Then the server refuses
    with pytest.raises(ssl.SSLError) as refused:
        _handshake(lab, version)
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value)  # refused by nginx, not by us


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_1_2_and_1_3_work(lab, version):
    assert _handshake(lab, version) == 200


def test_http_redirects_to_https_and_metrics_are_hidden(lab):
    # Given the front's address
    host = urlsplit(lab["LAB_URL"]).hostname
    # When a client asks over plain HTTP, Then it is sent to the same path over HTTPS
    connection = http.client.HTTPConnection(host, 80, timeout=10)
    try:
        connection.request("GET", "/api/me?x=1")
        response = connection.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == f"https://{host}/api/me?x=1"
    finally:
        connection.close()
    # And HTTPS answers with HSTS, but 404 for /metrics
    client = Client(lab["LAB_URL"], lab["LAB_CA"])
    status, headers, _ = client.request("GET", "/healthz")
    assert status == 200 and "max-age" in headers["Strict-Transport-Security"]
    assert client.request("GET", "/metrics")[0] == 404

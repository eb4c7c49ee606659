"""The load balancer of ``make run`` (its real Procfile entry and nginx.conf) in front of
stand-in nodes: round robin, retries, passive health checks, headers, websocket, static."""
import http.client
import json
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cluster.run import Cluster
from cluster.ports import wait_until

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not (shutil.which("nginx") or os.path.exists("/usr/sbin/nginx")),
                       reason="nginx not installed (make system-deps)"),
]


class StubNode:
    """A web node stand-in on a fixed loopback port that answers with its node id.

    ``drop = True`` makes it read each request and close the connection without an
    answer: a node dying mid-request, after it may have done the work.
    """

    def __init__(self, node_id, port, extra_headers=None):
        self.node_id = node_id
        self.requests = []
        self.drop = False
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.requests.append((self.command, self.path, dict(self.headers), body))
                if stub.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload = json.dumps({"node_id": stub.node_id, "path": self.path}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Node-Id", stub.node_id)
                for key, value in (extra_headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self):
                self._answer(200)

            def do_POST(self):
                self._answer(201)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def lb(tmp_path):
    """nginx from the cluster's own Procfile entry, with stand-ins on the node ports."""
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "app.css").write_text("body { color: teal }\n")
    cluster = Cluster(var_dir=tmp_path / "var", static_dir=static)
    nodes = [StubNode(node_id, port) for node_id, port in
             zip(cluster.web_node_ids, cluster.web_ports)]
    gateway = StubNode("gateway-1", cluster.gateway_ports[0])
    try:
        cluster.start(migrate=False, names=["nginx"], timeout=30)
        yield cluster, nodes, gateway
    finally:
        cluster.stop()
        for stub in nodes + [gateway]:
            stub.close()


def request(cluster, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", cluster.port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_consecutive_requests_are_spread_over_all_four_nodes(lb):
    cluster, nodes, _ = lb

    # When eight requests go through the load balancer
    served = [request(cluster, "GET", "/api/me")[1]["X-Node-Id"] for _ in range(8)]

    # Then every city node served two of them, in turn
    assert sorted(served) == sorted(cluster.web_node_ids * 2)
    assert len(set(served[:4])) == 4


def test_post_is_retried_on_another_node_when_a_node_dies_mid_request(lb):
    cluster, nodes, _ = lb
    # Given node 2 reads each request and then drops the connection without answering
    nodes[1].drop = True

    # When check-ins are posted through the load balancer
    results = [request(cluster, "POST", "/api/attendance/check-in", body=b"{}",
                       headers={"Content-Type": "application/json",
                                "Idempotency-Key": f"key-{i}"}) for i in range(8)]

    # Then every one is answered by a live node with the same idempotency key
    assert [status for status, _, _ in results] == [201] * 8
    assert "app-node-2" not in {headers["X-Node-Id"] for _, headers, _ in results}
    retried = [r for r in nodes[1].requests if r[0] == "POST"]
    assert retried, "node 2 should have received (and dropped) at least one POST"
    key = retried[0][2]["Idempotency-Key"]
    assert any(r[2].get("Idempotency-Key") == key for n in nodes if n is not nodes[1]
               for r in n.requests)


def test_a_dead_node_is_taken_out_of_rotation(lb):
    cluster, nodes, _ = lb
    # Given node 3 is gone (connection refused)
    nodes[2].close()

    # When requests keep coming
    statuses = [request(cluster, "GET", "/healthz") for _ in range(12)]

    # Then none fails, and after its failures (max_fails) it gets no more attempts
    assert {status for status, _, _ in statuses} == {200}
    assert {headers["X-Node-Id"] for _, headers, _ in statuses} == {
        "app-node-1", "app-node-2", "app-node-4"}


def test_proxy_headers_request_id_and_security_headers(lb):
    cluster, nodes, _ = lb

    status, headers, _ = request(cluster, "GET", "/api/branches",
                                 headers={"X-Forwarded-For": "203.0.113.9"})

    # Then the node learns the client address and the request id nginx logged
    assert status == 200
    served = next(n for n in nodes if n.node_id == headers["X-Node-Id"])
    upstream = served.requests[-1][2]
    assert upstream["X-Request-Id"] == headers["X-Request-Id"]
    assert len(headers["X-Request-Id"]) == 32
    assert upstream["X-Real-IP"] == "127.0.0.1"
    assert upstream["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert upstream["Host"] == f"127.0.0.1:{cluster.port}"
    assert upstream["X-Forwarded-Proto"] == "http"
    # And the browser gets the security headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    # the employee page asks for the location of geofenced branches: only the site may
    assert "geolocation=(self)" in headers["Permissions-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert f"ws://127.0.0.1:{cluster.port}" in headers["Content-Security-Policy"]
    assert "Server" not in headers or "nginx/" not in headers["Server"]
    # And the access log ties the request id to the node that served it
    # (nginx writes the line once the request is finalised, just after the answer)
    log = cluster.run_dir / "logs" / "access.log"
    wait_until(lambda: headers["X-Request-Id"] in log.read_text(), timeout=5, what="log")
    line = next(line for line in log.read_text().splitlines() if headers["X-Request-Id"] in line)
    assert f"upstream=127.0.0.1:{cluster.web_ports[nodes.index(served)]}" in line


def test_app_security_headers_win_over_the_defaults(tmp_path):
    # Given nodes that send their own Content-Security-Policy
    cluster = Cluster(var_dir=tmp_path / "var")
    nodes = [StubNode(node_id, port, {"Content-Security-Policy": "default-src 'none'"})
             for node_id, port in zip(cluster.web_node_ids, cluster.web_ports)]
    try:
        cluster.start(migrate=False, names=["nginx"], timeout=30)
        _, headers, _ = request(cluster, "GET", "/")
    finally:
        cluster.stop()
        for stub in nodes:
            stub.close()

    # Then the browser sees exactly one policy: the app's
    assert headers.get_all("Content-Security-Policy") == ["default-src 'none'"]


def test_websocket_upgrade_goes_to_the_gateway(lb):
    cluster, nodes, gateway = lb

    request(cluster, "GET", "/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                            "Sec-WebSocket-Version": "13",
                                            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})

    # Then the gateway, not a web node, got the handshake with the upgrade headers intact
    assert not any(r[1] == "/ws" for n in nodes for r in n.requests)
    method, path, headers, _ = gateway.requests[-1]
    assert (method, path) == ("GET", "/ws")
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"].lower() == "upgrade"
    assert headers["Sec-WebSocket-Key"] == "dGhlIHNhbXBsZSBub25jZQ=="


def test_static_files_are_served_by_nginx(lb):
    cluster, nodes, _ = lb

    status, headers, body = request(cluster, "GET", "/static/css/app.css")

    assert status == 200
    assert body == b"body { color: teal }\n"
    assert "max-age=3600" in headers["Cache-Control"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert not any(path.startswith("/static/") for n in nodes for _, path, _, _ in n.requests)


def test_the_csp_comes_from_configuration_not_from_the_host_header(lb):
    cluster, _, _ = lb
    _, headers, _ = request(cluster, "GET", "/", headers={"Host": "evil.example"})
    policy = headers["Content-Security-Policy"]
    assert "evil.example" not in policy
    assert f"ws://127.0.0.1:{cluster.port}" in policy
    # and a Host that tries to inject a directive is refused outright
    status, headers, _ = request(cluster, "GET", "/", headers={"Host": "a;script-src *"})
    assert status == 400 and headers["X-Node-Id"] == "lb"


def test_nginx_s_own_errors_are_json_naming_the_load_balancer(lb):
    # Given every web node gone
    cluster, nodes, _ = lb
    for node in nodes:
        node.close()

    # When a request finds no node (502), or a body is over the limit (413)
    down = request(cluster, "GET", "/api/me")
    too_big = request(cluster, "POST", "/api/users", body=b"x" * (2 * 1024 * 1024),
                      headers={"Content-Type": "application/json"})

    # Then both answer in the API's shape, from "lb", with a hint to retry where it helps
    for (status, headers, body), expected in ((down, 502), (too_big, 413)):
        assert status == expected
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Node-Id"] == "lb"
        assert json.loads(body)["error"]
    assert json.loads(down[2])["error"] == "service_unavailable"
    assert down[1]["Retry-After"] == "2"


def test_a_method_nginx_refuses_itself_answers_a_json_405_with_allow(lb):
    cluster, nodes, _ = lb
    # When a client sends TRACE (nginx refuses it before any location), or POSTs a static
    # file nginx serves itself
    trace = request(cluster, "TRACE", "/api/me")
    static = request(cluster, "POST", "/static/css/app.css", body=b"{}",
                     headers={"Content-Type": "application/json"})

    # Then nginx answers 405 in the API's JSON shape, from "lb", saying what is allowed
    for status, headers, body in (trace, static):
        assert status == 405
        assert headers["Content-Type"].startswith("application/json")
        assert headers["X-Node-Id"] == "lb"
        assert headers["Allow"] == "GET, HEAD, POST, PATCH, DELETE"
        assert json.loads(body) == {"error": "method_not_allowed",
                                    "message": "Metode tidak didukung."}
    # and no node saw either request
    assert not [r for node in nodes for r in node.requests if r[0] in ("TRACE", "POST")]


def test_login_is_rate_limited_per_address_with_a_json_429(lb):
    cluster, nodes, _ = lb
    # When one address posts logins from 20 connections at once until nginx refuses one
    # (5/s with a burst of 20: it must, unless every login took 4 s; bounded at 400)
    statuses, refused_seen = [], threading.Event()

    def post_logins():
        for _ in range(20):
            if refused_seen.is_set():
                return
            answer = request(cluster, "POST", "/api/login", body=b"{}",
                             headers={"Content-Type": "application/json"})
            statuses.append(answer)
            if answer[0] == 429:
                refused_seen.set()

    threads = [threading.Thread(target=post_logins) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then the burst gets through, the rest is refused by nginx in JSON with Retry-After
    refused = [(headers, body) for status, headers, body in statuses if status == 429]
    assert refused
    assert sum(status == 201 for status, _, _ in statuses) >= 20
    headers, body = refused[0]
    assert json.loads(body)["error"] == "too_many_requests"
    assert headers["Retry-After"] == "1" and headers["X-Node-Id"] == "lb"
    # and other paths are not limited
    assert all(request(cluster, "GET", "/healthz")[0] == 200 for _ in range(10))


def test_metrics_are_not_served_through_the_load_balancer(lb):
    cluster, nodes, _ = lb
    # When /metrics is asked through nginx, in the spellings nginx normalises
    answers = [request(cluster, "GET", path) for path in
               ("/metrics", "/metrics?format=text", "//metrics", "/%6Detrics")]

    # Then nginx answers 404 itself: no node ever sees the request
    assert [status for status, _, _ in answers] == [404] * 4
    assert not [r for node in nodes for r in node.requests if "etrics" in r[1]]
    # while the nodes' other paths still go through
    assert request(cluster, "GET", "/healthz")[0] == 200


def test_nginx_file_limits_follow_what_the_kernel_allows(monkeypatch):
    import resource

    from cluster import topology

    calls = []

    def refuse(which, value):
        calls.append(value)
        raise ValueError("not allowed to raise the maximum limit")

    # Given a hard limit of 20,000 that may not be raised (unprivileged, or a container)
    monkeypatch.setattr(topology.resource, "getrlimit", lambda which: (1024, 20000))
    monkeypatch.setattr(topology.resource, "setrlimit", refuse)
    # Then nginx is sized to it, not promised descriptors it cannot get
    assert topology.nginx_file_limits() == (20000, 20000 - topology.NGINX_SPARE_FILES)
    assert calls == [(1024, topology.NGINX_WORKER_FILES)]

    # Given one that may be raised, each worker gets room for 10,000 websockets alone
    monkeypatch.setattr(topology.resource, "setrlimit", lambda which, value: None)
    assert topology.nginx_file_limits() == (65536, 32768)
    monkeypatch.setattr(topology.resource, "getrlimit",
                        lambda which: (1024, resource.RLIM_INFINITY))
    assert topology.nginx_file_limits() == (65536, 32768)
    assert 32768 >= 2 * 10000 + 1000  # client + gateway connection per socket, plus HTTP

"""``make run``'s topology, started for real: nginx, four nodes, worker, gateway, scheduler."""
import collections
import json

import pytest
import websocket

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def test_requests_are_spread_round_robin_over_the_four_city_nodes(cluster, client):
    # When eight requests go through nginx
    served = [client.get("/healthz")[1]["X-Node-Id"] for _ in range(8)]

    # Then each of the four nodes answered twice
    assert collections.Counter(served) == {node: 2 for node in cluster.web_node_ids}


def test_cluster_is_ready_and_every_process_reports_a_heartbeat(cluster, admin):
    # Given the cluster started, When /readyz and /api/servers are asked through nginx
    cluster.wait_for_heartbeats(timeout=60)
    status, _, _ = admin.get("/readyz")
    _, _, body = admin.get("/api/servers")

    # Then it is ready and every process of the topology is live, each node with its city
    assert status == 200
    by_id = {node["node_id"]: node for node in body["nodes"]}
    assert {"app-node-1", "app-node-2", "app-node-3", "app-node-4", "worker-1", "gateway-1",
            "scheduler-1"} <= set(by_id)
    assert by_id["app-node-4"]["city"] == "Bali"


def test_a_session_made_on_one_node_works_on_every_node(cluster, admin):
    # Given an admin logged in (on whichever node nginx chose)
    # When the next requests land on the other nodes
    answers = [admin.get("/api/me") for _ in range(4)]

    # Then every node knows the session
    assert [status for status, _, _ in answers] == [200] * 4
    assert {headers["X-Node-Id"] for _, headers, _ in answers} == set(cluster.web_node_ids)


def test_websocket_through_nginx_reaches_the_gateway(cluster, admin):
    # Given a realtime token from a web node
    _, _, body = admin.post("/api/realtime/token")

    # When a websocket client authenticates at /ws on the load balancer
    ws = websocket.create_connection(cluster.ws_url, timeout=10, origin=cluster.base_url)
    try:
        ws.send(json.dumps({"op": "auth", "token": body["token"]}))
        ready = json.loads(ws.recv())
    finally:
        ws.close()

    # Then the gateway behind it answers
    assert ready["op"] == "ready"
    assert "attendances" in ready["channels"]


def test_static_files_come_from_nginx(cluster, client):
    status, headers, _ = client.get("/static/vendor/alpine.min.js")

    assert status == 200
    assert "X-Node-Id" not in headers


def test_a_crashed_node_costs_no_request_and_rejoins_after_restart(cluster, admin):
    # Given node 2 crashes (its gunicorn arbiter and workers are SIGKILLed)
    cluster.kill_web_node(2)

    # When requests keep coming through nginx
    answers = [admin.get("/api/me") for _ in range(8)]

    # Then every one is answered, by the three other nodes
    assert [status for status, _, _ in answers] == [200] * 8
    assert "app-node-2" not in {headers["X-Node-Id"] for _, headers, _ in answers}

    # And once restarted, node 2 is back in the rotation
    cluster.restart_web_node(2)
    cluster.wait_balanced(timeout=30)

"""Every web node, the gateway and the worker of the running cluster answer ``/metrics`` on
their own loopback port; nginx does not."""
import pytest

from cluster.ports import wait_until
from tests.metrics_helpers import metric_value, scrape

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(300)]


def test_each_process_serves_its_metrics_directly_and_nginx_refuses(cluster, client):
    # Given some traffic through nginx
    for _ in range(8):
        assert client.get("/healthz")[0] == 200

    # When each web node is scraped on its own port
    for n, node_id in enumerate(cluster.web_node_ids, start=1):
        status, _, text = scrape(f"{cluster.web_node_url(n)}/metrics")
        # Then it counts the requests it served (gunicorn's processes summed)
        assert status == 200, node_id
        assert metric_value(text, "absensi_http_requests_total", route="healthz",
                            method="GET", status="200") >= 1, node_id

    # When the gateway and the worker are scraped, then they answer too
    gateway_port = cluster.spec("gateway-1").port
    status, _, text = scrape(f"http://127.0.0.1:{gateway_port}/metrics")
    assert status == 200 and metric_value(text, "absensi_gateway_redis_subscribed") == 1
    worker_url = f"http://127.0.0.1:{cluster.worker_metrics_ports[0]}/metrics"
    wait_until(lambda: scrape(worker_url)[0] == 200, timeout=30, what="worker /metrics")
    text = scrape(worker_url)[2]
    assert metric_value(text, "absensi_outbox_up") == 1
    assert metric_value(text, "absensi_queue_messages", queue="outbox") is not None

    # When /metrics is asked through nginx, then it is not there
    assert scrape(f"{cluster.base_url}/metrics")[0] == 404

"""The local cluster's ports are distinct even where the kernel hands a just-freed port out
again (a worker's /metrics port once turned out to be a web node's)."""
from cluster import local_cluster, ports


class ReusingKernel:
    """``bind(0)`` gives the lowest port not bound right now, as a kernel may."""

    def __init__(self):
        self.bound = set()
        kernel = self

        class Socket:
            def bind(self, address):
                self.port = min(set(range(40000, 41000)) - kernel.bound)
                kernel.bound.add(self.port)

            def getsockname(self):
                return ("127.0.0.1", self.port)

            def close(self):
                kernel.bound.discard(getattr(self, "port", None))

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.close()

        self.socket = Socket


def test_every_port_of_a_cluster_is_its_own(monkeypatch, tmp_path):
    monkeypatch.setattr(ports.socket, "socket", ReusingKernel().socket)
    cluster = local_cluster.Cluster(var_dir=tmp_path, web_nodes=4, workers=2, gateways=2)
    chosen = [cluster.port, cluster.redis_port, *cluster.web_ports, *cluster.gateway_ports,
              *cluster.worker_metrics_ports]
    assert len(chosen) == 10
    assert len(set(chosen)) == len(chosen), chosen

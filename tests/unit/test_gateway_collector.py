"""The gateway keeps full garbage collections out of connection storms: it freezes what
is alive as sockets grow, and collects once when enough of them closed."""
from wsgate.collector import CollectorPolicy


class FakeGc:
    def __init__(self):
        self.calls = []

    def freeze(self):
        self.calls.append("freeze")

    def unfreeze(self):
        self.calls.append("unfreeze")

    def collect(self):
        self.calls.append("collect")
        return 0


class FakeHub:
    def __init__(self):
        self.clients, self.detached = set(), 0

    def open(self, n):
        self.clients |= {object() for _ in range(n)}

    def close(self, n):
        for _ in range(n):
            self.clients.pop()
        self.detached += n


def test_growth_freezes_and_churn_collects_once():
    # Given a gateway whose policy freezes every 1,000 new sockets
    hub, collector = FakeHub(), FakeGc()
    policy = CollectorPolicy(hub, collector=collector, freeze_after=1000)

    # When sockets connect, a few at first, then a storm
    hub.open(999)
    assert policy.step() is None
    hub.open(9001)
    assert policy.step() == "frozen"
    assert policy.step() is None  # nothing new since

    # Then a few closes cost nothing; half of them closing is one full collection
    hub.close(1000)
    hub.open(1000)
    assert policy.step() is None
    hub.close(4000)
    assert policy.step() == "collected"
    assert collector.calls == ["freeze", "unfreeze", "collect", "freeze"]
    assert policy.frozen_sockets == 6000


def test_a_hub_counts_the_sockets_it_detached_once():
    from wsgate.hub import Hub

    class Client:
        subscriptions = {}

    hub = Hub(redis=None)
    client = Client()
    hub.clients.add(client)
    hub.detach(client)
    hub.detach(client)
    assert hub.detached == 1

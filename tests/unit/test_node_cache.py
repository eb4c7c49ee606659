"""webapp.node_cache: a node's copy of rarely changing rows, reloaded when the version read
with the session moved or after a minute, once however many threads ask."""
import threading
import time

from webapp import node_cache


class Counting(node_cache.VersionedNodeCache):
    def __init__(self):
        super().__init__(engine=None)
        self.loads = 0

    def load(self):
        self.loads += 1
        time.sleep(0.05)  # a slow read: the other threads must wait for it, not repeat it
        return {"load": self.loads}


def test_loaded_once_then_again_when_the_version_moves(monkeypatch):
    cache = Counting()
    assert cache.current("1") == {"load": 1}
    assert cache.current("1") == {"load": 1}
    assert cache.current("2") == {"load": 2}


def test_loaded_at_first_use_even_on_a_machine_up_for_less_than_a_minute(monkeypatch):
    # (no version in Redis yet, and a monotonic clock that started seconds ago)
    monkeypatch.setattr(node_cache.time, "monotonic", lambda: 5.0)
    assert Counting().current(None) == {"load": 1}


def test_reloaded_after_a_minute_whatever_the_version(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(node_cache.time, "monotonic", lambda: now[0])
    cache = Counting()
    cache.current("1")
    now[0] += node_cache.MAX_AGE_SECONDS - 1
    assert cache.current("1") == {"load": 1}
    now[0] += 2
    assert cache.current("1") == {"load": 2}


def test_threads_asking_at_once_share_one_load():
    cache = Counting()
    threads = [threading.Thread(target=cache.current, args=("1",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert cache.loads == 1

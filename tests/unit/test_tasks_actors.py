"""The publisher actor and the broker setup, with Dramatiq's StubBroker (its testing guide)."""
import importlib
import json
import sys
import time

import dramatiq
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker

from cluster.ports import free_port
from tasks import outbox
from tasks.broker import make_broker, make_middleware, make_redis_client
from tasks.middleware.heartbeat import process_node_id
from tasks.middleware.resources import AppResources
from tests.tasks_helpers import add_outbox_event
from webapp.events.models import OutboxEvent
from realtime import streams
from webapp.servers import heartbeats
from webapp.settings import apply_environment


@pytest.fixture()
def settings(db_url, redis_server):
    return apply_environment({"database.url": db_url, "redis.url": redis_server.url,
                              "worker.node_id": "worker-7"}, environ={})


def stub_broker(settings, **resources):
    """A StubBroker with our middleware, set as the global broker, actors declared on it."""
    middleware = [
        AppResources(settings, **resources) if isinstance(m, AppResources) else m
        for m in make_middleware(settings)
    ]
    broker = StubBroker(middleware=middleware)
    broker.emit_after("process_boot")
    dramatiq.set_broker(broker)
    # Actors bind to the global broker when their module runs: (re)run it for this one.
    if "tasks.actors" in sys.modules:
        return broker, importlib.reload(sys.modules["tasks.actors"])
    return broker, importlib.import_module("tasks.actors")


@pytest.fixture(autouse=True)
def _restore_global_broker():
    previous = dramatiq.broker.global_broker
    yield
    dramatiq.set_broker(previous)


@pytest.fixture()
def run_worker():
    workers = []

    def start(broker):
        worker = Worker(broker, worker_timeout=50, worker_threads=2)
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def published(session_factory, event_id):
    with session_factory() as session:
        return session.get(OutboxEvent, event_id)


def test_actor_publishes_an_outbox_event(settings, session_factory, redis_client, run_worker):
    # Given a committed outbox event and a worker
    broker, actors = stub_broker(settings)
    event_id = add_outbox_event(session_factory, user_id=5)
    worker = run_worker(broker)

    # When the web node's enqueue function sends it
    outbox.enqueuer(broker)(event_id)
    broker.join(outbox.QUEUE)
    worker.join()

    # Then the event is in the history of its channels and the row is published
    entries = streams.read_history(redis_client, "user.5", "0-0").entries
    assert [json.loads(e.frame)["event_id"] for e in entries] == [event_id]
    assert published(session_factory, event_id).published_at is not None


def test_actor_carries_retries_time_and_age_limits(settings):
    _, actors = stub_broker(settings)
    options = actors.publish_outbox_event.options
    assert options["max_retries"] == 3
    assert options["time_limit"] > 0 and options["max_age"] > 0
    assert actors.publish_outbox_event.queue_name == outbox.QUEUE


def test_failing_actor_is_retried_then_dead_lettered_and_the_sweep_republishes(
        settings, session_factory, redis_client, run_worker):
    # Given Redis unreachable for the publisher
    dead = make_redis_client({"redis.url": f"redis://127.0.0.1:{free_port()}/0"})
    broker, actors = stub_broker(settings, redis=dead)
    event_id = add_outbox_event(session_factory)
    worker = run_worker(broker)

    # When its message fails every time (backoff shortened for the test)
    actors.publish_outbox_event.send_with_options(args=(event_id,), min_backoff=10,
                                                  max_backoff=20)
    broker.join(outbox.QUEUE, fail_fast=False)
    worker.join()

    # Then it was tried 1 + 3 times, ended in the dead-letter queue, and the row waits
    [dead_letter] = broker.dead_letters
    assert dead_letter.options["retries"] == 4
    row = published(session_factory, event_id)
    assert row.published_at is None and row.attempts == 4

    # When Redis is back and the relay sweep runs
    _, actors = stub_broker(settings)
    broker = dramatiq.get_broker()
    worker = run_worker(broker)
    outbox.sweep_unpublished(session_factory, outbox.enqueuer(broker), min_age_seconds=0)
    broker.join(outbox.QUEUE)
    worker.join()

    # Then the event goes out after all
    assert published(session_factory, event_id).published_at is not None
    assert len(streams.read_history(redis_client, "attendances", "0-0").entries) == 1


def test_worker_heartbeat_appears_at_boot_and_goes_at_shutdown(settings, redis_client):
    # Given a worker booting on a broker with our middleware
    broker, _ = stub_broker(settings)
    worker = Worker(broker, worker_timeout=50, worker_threads=1)

    # When it starts, then it is a live node with role worker
    worker.start()
    try:
        deadline = time.monotonic() + 5
        while not heartbeats.live_nodes(redis_client) and time.monotonic() < deadline:
            time.sleep(0.05)
        [node] = heartbeats.live_nodes(redis_client)
        assert (node["node_id"], node["role"]) == ("worker-7", "worker")
    finally:
        worker.stop()

    # When it stops, then its heartbeat is gone at once
    assert heartbeats.live_nodes(redis_client) == []


def test_process_node_ids_are_unique_per_worker_process(monkeypatch):
    import multiprocessing

    process = multiprocessing.current_process()
    for identity, expected in [((), "worker-1"), ((1,), "worker-1"), ((3,), "worker-1.p2")]:
        monkeypatch.setattr(process, "_identity", identity)
        assert process_node_id("worker-1") == expected


def test_includeme_registers_the_enqueue_function(settings, session_factory, redis_client):
    # Given the web app including the publisher queue's enqueue side
    from pyramid.config import Configurator

    config = Configurator(settings=settings)
    config.include("webapp.events.handoff")
    event_id = add_outbox_event(session_factory)

    # When the after-commit hook calls the registered function
    config.registry["enqueue_outbox_event"](event_id)

    # Then the publisher actor's message waits in the Redis queue
    [body] = redis_client.hvals(f"dramatiq:{outbox.QUEUE}.msgs")
    message = json.loads(body)
    assert (message["actor_name"], message["args"]) == (outbox.PUBLISH_ACTOR, [event_id])


def test_enqueue_fails_fast_when_redis_is_down(settings):
    # Given a broker whose Redis is not running
    down = dict(settings, **{"redis.url": f"redis://127.0.0.1:{free_port()}/0"})
    enqueue = outbox.enqueuer(make_broker(down))

    # When the web node enqueues, then it fails at once instead of retrying for long
    started = time.monotonic()
    with pytest.raises(Exception):
        enqueue(1)
    assert time.monotonic() - started < 2

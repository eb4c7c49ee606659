"""The dead-letter queue on the real Redis broker: what lands there, listing, requeueing."""
import argparse
import json
import time

import dramatiq
import pytest
from dramatiq import Message, Worker

from tasks import dlq
from tasks.broker import make_broker
from tasks.cli import cmd_dlq_list, cmd_dlq_requeue
from webapp.settings import apply_environment

QUEUE = "dlq-test"


@pytest.fixture()
def settings(redis_server, db_url):
    return apply_environment({"database.url": db_url, "redis.url": redis_server.url},
                             environ={})


@pytest.fixture()
def broker(settings, redis_client):
    broker = make_broker(settings)

    @dramatiq.actor(broker=broker, queue_name=QUEUE, max_retries=1, min_backoff=10,
                    max_backoff=20)
    def always_fails(n):
        raise RuntimeError(f"boom {n}")

    yield broker
    broker.client.close()


@pytest.fixture()
def worker(broker):
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()
    yield worker
    worker.stop()


def wait_for_dead_letters(broker, count, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if broker.client.zcard(f"dramatiq:{QUEUE}.XQ") >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} dead letters after {timeout} s")


def test_failed_and_unroutable_messages_are_listed_with_their_error(broker, worker):
    # Given a message that fails on every try, and one for an actor nobody declares
    failing = broker.actors["always_fails"].send(41)
    ghost = broker.enqueue(Message(queue_name=QUEUE, actor_name="ghost", args=(1,), kwargs={},
                                   options={}))

    # When the worker has given up on both
    wait_for_dead_letters(broker, 2)

    # Then both are listed with their actor, arguments, failure time and error
    letters = {d.message_id: d for d in dlq.dead_letters(broker)}
    assert set(letters) == {failing.message_id, ghost.message_id}
    failed = letters[failing.message_id]
    assert (failed.actor, failed.args, failed.error) == ("always_fails", (41,),
                                                         "RuntimeError: boom 41")
    assert abs(failed.failed_at.timestamp() - time.time()) < 30
    assert letters[ghost.message_id].error == "unknown actor 'ghost'"


def test_requeue_sends_a_fresh_copy_back_to_its_queue(broker, worker, redis_client):
    # Given two dead letters
    first = broker.actors["always_fails"].send(1)
    second = broker.actors["always_fails"].send(2)
    wait_for_dead_letters(broker, 2)
    worker.stop()

    # When one of them is requeued by its message id
    requeued = dlq.requeue(broker, [first.message_id])

    # Then it left the dead-letter queue and waits in its queue with a clean slate
    assert requeued == [first.message_id]
    assert [d.message_id for d in dlq.dead_letters(broker)] == [second.message_id]
    [body] = redis_client.hvals(f"dramatiq:{QUEUE}.msgs")
    message = json.loads(body)
    assert message["message_id"] == first.message_id and message["args"] == [1]
    assert "retries" not in message["options"] and "traceback" not in message["options"]
    assert message["message_timestamp"] > first.message_timestamp

    # When the rest are requeued, then the dead-letter queue is empty
    assert dlq.requeue(broker) == [second.message_id]
    assert dlq.dead_letters(broker) == []


def test_cli_lists_and_requeues(settings, broker, worker, capsys):
    # Given a dead letter
    message = broker.actors["always_fails"].send(7)
    wait_for_dead_letters(broker, 1)
    worker.stop()

    # When `absensi dlq list` runs
    assert cmd_dlq_list(argparse.Namespace(json=False), settings) == 0

    # Then the table shows it
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["MESSAGE_ID", "ACTOR", "ARGS", "FAILED_AT", "ERROR"]
    assert row.startswith(message.message_id) and "always_fails" in row and "boom 7" in row

    # When `absensi dlq requeue` names it and an unknown id
    code = cmd_dlq_requeue(argparse.Namespace(all=False, message_ids=[message.message_id, "x"]),
                           settings)

    # Then it is requeued and the unknown id is reported with a failing exit code
    out = capsys.readouterr().out
    assert f"requeued {message.message_id}" in out and "not in the dead-letter queue: x" in out
    assert code == 1
    assert cmd_dlq_list(argparse.Namespace(json=True), settings) == 0
    assert json.loads(capsys.readouterr().out) == []

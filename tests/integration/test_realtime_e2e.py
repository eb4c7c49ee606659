"""End to end: a check-in over HTTP reaches websocket clients through the whole pipeline.

Web app (WebTest, in-process) -> outbox row -> Dramatiq (real ``absensi worker``) ->
Redis streams + pub/sub -> real gateway processes (``python -m wsgate``) -> websocket
clients, with the faults the pipeline promises to survive: Redis dying at commit time,
a worker killed mid-way, a client that was away.
"""
import datetime as dt
import sqlite3
import time

import pytest
from sqlalchemy import create_engine, event as sa_event, select, text

from cluster.ports import wait_until
from tests.servers import RedisServer
from tests.factories import Factory, login
from tests.realtime_helpers import realtime_token
from webapp.events.models import OutboxEvent
from webapp.events.services import PENDING
from realtime import streams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FRAME_KEYS = {"op", "channel", "offset", "event_id", "event", "node_id", "ts", "data"}
OUTBOX_QUEUE = "dramatiq:outbox"


# -- fixtures and small helpers -------------------------------------------------------

def web_node(make_app, user, node_id="app-node-2", **settings):
    """A web node (its own TestApp) with *user* logged in."""
    web = make_app(app__node_id=node_id, **settings)
    login(web, user)
    return web


def check_in(web, note=None):
    body = {"note": note} if note else {}
    return web.post_json("/api/attendance/check-in", body, status=201).json["attendance"]


def check_out(web):
    return web.post_json("/api/attendance/check-out", {}, status=200).json["attendance"]


def outbox_row(session_factory, attendance, event_type="attendance.created"):
    with session_factory() as session:
        return session.scalars(select(OutboxEvent).where(
            OutboxEvent.aggregate_id == attendance["id"], OutboxEvent.event_type == event_type,
        )).one()


def is_published(session_factory, event_id):
    with session_factory() as session:
        return session.get(OutboxEvent, event_id).published_at is not None


def wait_published(session_factory, event_id, *processes, timeout=30):
    try:
        wait_until(lambda: is_published(session_factory, event_id), timeout=timeout,
                   what=f"outbox event {event_id} published")
    except Exception:
        raise AssertionError("\n\n".join(p.output() for p in processes)) from None


def history(redis, channel, since="0-0"):
    return streams.read_history(redis, channel, since).entries


def assert_event_frame(frame, *, channel, event_id, event, node_id, data):
    """The frame is exactly contract §4's event frame."""
    assert set(frame) == FRAME_KEYS, frame
    assert frame["op"] == "event"
    assert frame["channel"] == channel
    assert isinstance(frame["offset"], str) and streams.parse_offset(frame["offset"])
    assert frame["event_id"] == event_id and isinstance(frame["event_id"], int)
    assert frame["event"] == event
    assert frame["node_id"] == node_id
    ts = dt.datetime.fromisoformat(frame["ts"])
    assert ts.tzinfo is not None
    assert abs(dt.datetime.now(dt.timezone.utc) - ts) < dt.timedelta(minutes=2)
    assert frame["data"] == data


def times_received(sock, event_id):
    return [f["event_id"] for f in sock.events].count(event_id)


# -- 1. the happy path ----------------------------------------------------------------

def test_check_in_and_check_out_reach_the_admin_and_the_employee_live(
        app, make_app, factory, stack):
    # Given a gateway and a worker; an admin subscribed to `attendances` and an employee to
    # their own `user.{id}`, each with a token from their own web session
    gateway = stack.gateway()
    stack.worker()
    login(app, factory.admin())
    employee = factory.user(name="Sari", branch="BDG")
    web = web_node(make_app, employee, node_id="app-node-2")
    own = f"user.{employee['id']}"
    admin_ws = stack.connect(gateway, realtime_token(app), "attendances")
    employee_ws = stack.connect(gateway, realtime_token(web), own)
    session_factory = web.app.registry["dbsession_factory"]

    # When the employee checks in through web node 2
    attendance = check_in(web, note="lewat e2e")

    # Then both sockets get the contract's frame carrying what the HTTP response returned
    created = outbox_row(session_factory, attendance).id
    admin_created, employee_created = admin_ws.next_event(), employee_ws.next_event()
    for frame, channel in ((admin_created, "attendances"), (employee_created, own)):
        assert_event_frame(frame, channel=channel, event_id=created, event="attendance.created",
                           node_id="app-node-2", data=attendance)
    assert admin_created["ts"] == employee_created["ts"]

    # When the employee checks out
    closed = check_out(web)

    # Then the change arrives as `attendance.updated`, after the check-in on each channel
    updated = outbox_row(session_factory, closed, "attendance.updated").id
    assert updated != created
    for sock, channel, before in ((admin_ws, "attendances", admin_created),
                                  (employee_ws, own, employee_created)):
        frame = sock.next_event()
        assert_event_frame(frame, channel=channel, event_id=updated,
                           event="attendance.updated", node_id="app-node-2", data=closed)
        assert streams.parse_offset(frame["offset"]) > streams.parse_offset(before["offset"])
    assert closed["check_out_at"] and closed["check_out_node"] == "app-node-2"


# -- 2. Redis dies at commit time ----------------------------------------------------

def test_a_check_in_committed_while_redis_dies_reaches_the_client_once_redis_is_back(
        make_app, factory, make_stack, tmp_path):
    with RedisServer(data_dir=tmp_path / "redis", appendonly=True) as redis_server:
        stack = make_stack(redis_url=redis_server.url)
        try:
            # Given everything on a private Redis with persistence: a gateway with a
            # subscribed admin, a worker and a scheduler (relay sweep every 0.5 s)
            gateway = stack.gateway()
            stack.worker()
            stack.scheduler()
            admin_web = web_node(make_app, factory.admin(), node_id="app-node-1",
                                 redis__url=redis_server.url)
            admin_ws = stack.connect(gateway, realtime_token(admin_web), "attendances")
            web = web_node(make_app, factory.user(branch="SBY"), node_id="app-node-3",
                           redis__url=redis_server.url)
            session_factory = web.app.registry["dbsession_factory"]

            # and Redis killed during the check-in: after the request loaded its session
            # from Redis, just before the database commit
            killed = []

            @sa_event.listens_for(session_factory, "before_commit")
            def kill_redis_before_commit(session):
                if session.info.get(PENDING) and not killed:
                    redis_server.kill()
                    killed.append(time.monotonic())

            # When the employee checks in
            started = time.monotonic()
            attendance = check_in(web)
            elapsed = time.monotonic() - started

            # Then the check-in (authenticated by the session read before the kill) is
            # committed and answered promptly, its event unpublished
            assert killed, "Redis was not killed during the request"
            assert elapsed < 5
            event_id = outbox_row(session_factory, attendance).id
            time.sleep(1)  # a couple of relay sweeps fail meanwhile
            assert not is_published(session_factory, event_id)

            # When Redis comes back (with its data: sessions, queues, history)
            redis_server.start()

            # Then the sweep re-enqueues the event, the worker publishes it, and the gateway,
            # which reconnected to Redis on its own, delivers it on the client's open socket.
            # The client does nothing (no resubscribe): the frame comes live over pub/sub,
            # or, if the publish beat the gateway's resubscription, from the gateway's own
            # gap fill out of the history; either way the same frame, once.
            frame = admin_ws.wait_for(event_id, timeout=30)
            assert_event_frame(frame, channel="attendances", event_id=event_id,
                               event="attendance.created", node_id="app-node-3",
                               data=attendance)
            wait_published(session_factory, event_id, *stack.processes)
            # (the resubscription may still be under way when a gap fill delivered it)
            wait_until(lambda: gateway.subscribed_count() >= 2, timeout=30,
                       what="the gateway's resubscription to Redis")
            admin_ws.drain(0.5)
            assert times_received(admin_ws, event_id) == 1
        finally:
            stack.close()  # before its Redis goes


# -- 3. a worker killed mid-way --------------------------------------------------------

def test_a_worker_killed_holding_the_event_is_replaced_and_the_event_arrives_once(
        app, make_app, factory, stack, db_url, redis_client):
    # Given a gateway, a subscribed admin and a worker
    gateway = stack.gateway()
    worker = stack.worker()
    login(app, factory.admin())
    admin_ws = stack.connect(gateway, realtime_token(app), "attendances")
    web = web_node(make_app, factory.user(branch="JKT"))
    session_factory = web.app.registry["dbsession_factory"]

    # and the database write-locked right after the check-in commits (before the app hands
    # the event to the queue), so the worker that takes the message stalls on its first query
    locker = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
    locked = []

    def lock_database_after_commit(session):
        if session.info.get(PENDING) and not locked:
            locker.execute("BEGIN IMMEDIATE")
            locked.append(True)

    sa_event.listen(session_factory, "after_commit", lock_database_after_commit, insert=True)
    try:
        attendance = check_in(web)
        assert locked
        wait_until(lambda: redis_client.llen(OUTBOX_QUEUE) == 0
                   and redis_client.hlen(f"{OUTBOX_QUEUE}.msgs") == 1,
                   timeout=20, what="message taken by the worker")
        assert admin_ws.drain(0.3) == []

        # When that worker is killed -9 with the message in hand
        worker.kill()
    finally:
        if locker.in_transaction:
            locker.execute("ROLLBACK")
        locker.close()
    event_id = outbox_row(session_factory, attendance).id
    assert not is_published(session_factory, event_id)

    # and a worker and a scheduler start (the message is stranded among the dead worker's
    # unacknowledged ones: the relay sweep re-enqueues the event)
    stack.worker(node_id="worker-e2e-2")
    stack.scheduler()

    # Then the client receives the event, once
    frame = admin_ws.wait_for(event_id, timeout=30)
    assert_event_frame(frame, channel="attendances", event_id=event_id,
                       event="attendance.created", node_id="app-node-2", data=attendance)
    wait_published(session_factory, event_id, *stack.processes)
    admin_ws.drain(1)
    assert times_received(admin_ws, event_id) == 1
    assert [e.offset for e in history(redis_client, "attendances")] == [frame["offset"]]


def test_a_worker_killed_between_publishing_and_marking_does_not_deliver_twice(
        make_app, make_stack, mysql_db_url, redis_client):
    # Given MariaDB, a gateway, a subscribed admin and a worker
    stack = make_stack(database_url=mysql_db_url)
    gateway = stack.gateway()
    worker = stack.worker()
    admin_web = make_app(database_url=mysql_db_url)
    factory = Factory(admin_web.app.registry["dbsession_factory"])
    login(admin_web, factory.admin())
    admin_ws = stack.connect(gateway, realtime_token(admin_web), "attendances")
    web = web_node(make_app, factory.user(branch="DPS"), node_id="app-node-4",
                   database_url=mysql_db_url)
    session_factory = web.app.registry["dbsession_factory"]

    # and the new outbox row locked by another transaction right after the check-in
    # commits: the worker reads it and publishes it, then waits to mark it published
    engine = create_engine(mysql_db_url)
    locker = engine.connect()
    locked = []

    def lock_outbox_row_after_commit(session):
        ids = session.info.get(PENDING)
        if ids and not locked:
            locker.execute(text("SELECT id FROM outbox_events WHERE id = :id FOR UPDATE"),
                           {"id": ids[0]})
            locked.append(ids[0])

    def worker_waits_for_the_lock():
        with engine.connect() as connection:
            return connection.scalar(text(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                "WHERE trx_state = 'LOCK WAIT'"))

    sa_event.listen(session_factory, "after_commit", lock_outbox_row_after_commit, insert=True)
    try:
        attendance = check_in(web)
        [event_id] = locked
        first = admin_ws.wait_for(event_id)
        wait_until(worker_waits_for_the_lock, timeout=20, what="worker blocked on the row")

        # When that worker is killed -9 before it could mark the event published
        worker.kill()
    finally:
        locker.rollback()
        locker.close()
        engine.dispose()
    assert not is_published(session_factory, event_id)

    # and a worker and a scheduler start (the relay sweep re-enqueues the event, and the
    # worker publishes it again)
    stack.worker(node_id="worker-e2e-2")
    stack.scheduler()
    wait_published(session_factory, event_id, *stack.processes)

    # Then the client got it once: the second publish reused the first one's offset and
    # sent nothing live
    admin_ws.drain(1)
    assert times_received(admin_ws, event_id) == 1
    assert_event_frame(first, channel="attendances", event_id=event_id,
                       event="attendance.created", node_id="app-node-4", data=attendance)
    assert [e.offset for e in history(redis_client, "attendances")] == [first["offset"]]


# -- 4. two gateways ----------------------------------------------------------------------

def test_a_client_on_each_of_two_gateways_both_receive_the_check_in(
        app, make_app, factory, stack):
    # Given two gateways, an admin client on each, and a worker
    gateways = [stack.gateway("gateway-e2e-1"), stack.gateway("gateway-e2e-2")]
    stack.worker()
    login(app, factory.admin())
    token = realtime_token(app)
    sockets = [stack.connect(gateway, token, "attendances") for gateway in gateways]
    web = web_node(make_app, factory.user(branch="BDG"))

    # When an employee checks in
    attendance = check_in(web)

    # Then both clients get the same event frame
    event_id = outbox_row(web.app.registry["dbsession_factory"], attendance).id
    first, second = (sock.next_event() for sock in sockets)
    assert first == second
    assert_event_frame(first, channel="attendances", event_id=event_id,
                       event="attendance.created", node_id="app-node-2", data=attendance)


# -- 5. a client that was away ----------------------------------------------------------

def test_a_client_back_with_since_recovers_the_two_check_ins_it_missed_in_order(
        app, make_app, factory, stack, redis_client):
    # Given an admin client that saw a first check-in and then disconnected
    gateway = stack.gateway()
    stack.worker()
    login(app, factory.admin())
    ani, budi, citra = (web_node(make_app, factory.user(name=name)) for name in
                        ("Ani", "Budi", "Citra"))
    sock = stack.connect(gateway, realtime_token(app), "attendances")
    check_in(ani)
    seen = sock.next_event()
    sock.close()

    # When two more employees check in while it is away (one after the other is published)
    missed = []
    for web in (budi, citra):
        missed.append(check_in(web))
        wait_until(lambda: len(history(redis_client, "attendances", seen["offset"]))
                   == len(missed), timeout=20, what="event published")
    # and it comes back with a new token, asking for what followed its last offset
    sock = stack.connect(gateway, realtime_token(app))
    reply = sock.subscribe("attendances", since=seen["offset"])

    # Then it gets both, in order, before anything live, and then live events again
    assert reply == {"op": "subscribed", "channel": "attendances", "recovered": True}
    replayed = [sock.next_event(), sock.next_event()]
    assert [frame["data"] for frame in replayed] == missed
    assert [frame["event"] for frame in replayed] == ["attendance.created"] * 2
    offsets = [streams.parse_offset(f["offset"]) for f in [seen, *replayed]]
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    assert replayed[0]["event_id"] < replayed[1]["event_id"]
    left = check_out(citra)
    live = sock.next_event()
    assert (live["event"], live["data"]) == ("attendance.updated", left)

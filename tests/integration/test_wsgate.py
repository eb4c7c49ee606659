"""The websocket gateway (``python -m wsgate``) as a real process on a real Redis."""
import json
import signal
import socket
import threading
import time

import pytest
import websocket

from cluster.ports import wait_until
from tests.servers import RedisServer
from realtime import streams, tokens
from tests.realtime_helpers import Gateway, close_of, parse_frame, write_config
from webapp.servers import heartbeats

pytestmark = pytest.mark.integration

SECRET = "gateway-test-secret-that-is-long-enough-for-checks"
RETENTION = 3600
EMPLOYEE_ID, OTHER_ID, ADMIN_ID = 7, 8, 1
RECV_TIMEOUT = 5


@pytest.fixture()
def start_gateway(redis_server, tmp_path):
    """``start_gateway(redis_url=None, node_id=..., **settings)`` -> a running
    :class:`Gateway` (settings as ``gateway__max_connections="1"``)."""
    gateways = []

    def start(redis_url=None, node_id="gateway-test", **settings):
        # a short auth timeout and heartbeat, so the tests about them are quick
        config = write_config(tmp_path / f"{node_id}.ini", gateway__auth_timeout_seconds="1",
                              heartbeat__interval_seconds="1", **settings)
        gateway = Gateway(redis_url=redis_url or redis_server.url, secret=SECRET, config=config,
                          workdir=tmp_path, node_id=node_id)
        gateways.append(gateway)
        return gateway.start()

    yield start
    for gateway in gateways:
        gateway.stop()


@pytest.fixture()
def gateway(start_gateway, redis_client):
    return start_gateway()


@pytest.fixture()
def sockets():
    """``connect(url, **options)`` -> a websocket-client connection closed after the test."""
    opened = []

    def connect(url, **options):
        # a non-browser client sends no Origin unless the test gives one
        options.setdefault("suppress_origin", "origin" not in options)
        ws = websocket.create_connection(url, timeout=RECV_TIMEOUT, **options)
        opened.append(ws)
        return ws

    yield connect
    for ws in opened:
        ws.close(timeout=1)


def token(user_id=ADMIN_ID, role="admin", ttl=60, secret=SECRET):
    return tokens.issue(secret, user_id=user_id, role=role, ttl_seconds=ttl)[0]


def send(ws, **frame):
    ws.send(json.dumps(frame))


def recv(ws):
    return parse_frame(*ws.recv_data())


def authenticated(connect, gateway, **claims):
    ws = connect(gateway.url)
    send(ws, op="auth", token=token(**claims))
    assert recv(ws)["op"] == "ready"
    return ws


def subscribe(ws, channel, since=None):
    send(ws, op="subscribe", channel=channel, **({"since": since} if since else {}))
    reply = recv(ws)
    assert reply["op"] == "subscribed" and reply["channel"] == channel, reply
    return reply


def close_code(ws, deadline_seconds=RECV_TIMEOUT):
    """Read (and discard) frames until the server's close frame; return its code."""
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        opcode, frame = ws.recv_data_frame(True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return close_of(frame.data)[0]
    raise AssertionError("no close frame in time")


def publish(client, event_id, channel="attendances", retention=RETENTION, size=0):
    data = {"id": event_id, "user": {"id": EMPLOYEE_ID, "name": "Budi"}, "branch": "JKT",
            "note": "x" * size or None}
    return streams.publish(
        client, channel, event_id=event_id, event="attendance.created",
        node_id="app-node-2", ts="2026-01-05T08:01:00+07:00", data=data,
        retention_seconds=retention,
    )


def event_ids(frames):
    return [frame["event_id"] for frame in frames]


# -- authentication ------------------------------------------------------------------

@pytest.mark.parametrize("bad_token", [
    "not-a-token", token(ttl=-5), token(secret="another-secret"), None,
], ids=["malformed", "expired", "wrong-secret", "missing"])
def test_a_bad_token_is_refused_and_the_socket_closed(gateway, sockets, bad_token):
    # Given
    ws = sockets(gateway.url)

    # When
    send(ws, op="auth", token=bad_token)

    # Then
    reply = recv(ws)
    assert (reply["op"], reply["code"]) == ("error", "unauthenticated")
    assert close_code(ws) == 4001


def test_anything_before_auth_is_refused_and_closes(gateway, sockets):
    # Given
    ws = sockets(gateway.url)

    # When a client subscribes without authenticating first
    send(ws, op="subscribe", channel="attendances")

    # Then
    assert recv(ws)["code"] == "unauthenticated"
    assert close_code(ws) == 4001


def test_a_silent_client_is_closed_after_the_auth_timeout(gateway, sockets):
    # Given
    ws = sockets(gateway.url)
    started = time.monotonic()

    # When nothing is sent / Then
    assert recv(ws)["code"] == "unauthenticated"
    assert close_code(ws) == 4001
    assert 0.8 < time.monotonic() - started < 4


def test_auth_answers_ready_with_the_default_channels(gateway, sockets):
    # Given
    admin, employee = sockets(gateway.url), sockets(gateway.url)

    # When
    send(admin, op="auth", token=token())
    send(employee, op="auth", token=token(EMPLOYEE_ID, "employee"))

    # Then
    assert recv(admin) == {"op": "ready", "channels": ["attendances", "servers", "leave",
                                                 "requests", "user.1"]}
    assert recv(employee) == {"op": "ready", "channels": ["user.7"]}


@pytest.mark.parametrize("origin", [
    "http://evil.example", "https://localhost:8000", "http://localhost:8001",
    "http://localhost", "null",
])
def test_only_the_configured_site_origin_is_accepted(gateway, sockets, origin):
    # Given the site is http://localhost:8000: another scheme, port or host is refused,
    # and so is the gateway's own address (the Host header proves nothing)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        sockets(gateway.url, origin=origin)
    assert refused.value.status_code == 403


def test_the_site_origin_and_clients_without_one_are_accepted(gateway, sockets):
    assert sockets(gateway.url, origin="http://localhost:8000").connected
    assert sockets(gateway.url, origin="HTTP://LOCALHOST:8000").connected
    assert sockets(gateway.url).connected  # no Origin: not a browser
    with pytest.raises(websocket.WebSocketBadStatusException):
        sockets(gateway.url, origin=f"http://127.0.0.1:{gateway.port}")


# -- authorisation and bad requests --------------------------------------------------

def test_an_employee_may_not_subscribe_to_others_channels(gateway, sockets, redis_client):
    # Given
    ws = authenticated(sockets, gateway, user_id=EMPLOYEE_ID, role="employee")

    # When / Then
    for channel in ("attendances", "servers", f"user.{OTHER_ID}"):
        send(ws, op="subscribe", channel=channel)
        assert recv(ws)["code"] == "forbidden"
    # and the socket stays usable
    assert subscribe(ws, f"user.{EMPLOYEE_ID}") == {
        "op": "subscribed", "channel": "user.7", "recovered": False}
    publish(redis_client, 1, channel=f"user.{OTHER_ID}")
    offset = publish(redis_client, 2, channel=f"user.{EMPLOYEE_ID}")
    assert recv(ws)["offset"] == offset


@pytest.mark.parametrize("frame", [
    "not json", "[1, 2]", '{"channel": "attendances"}', '{"op": "dance"}',
    '{"op": "auth", "token": "again"}',
    '{"op": "subscribe", "channel": "everyone"}', '{"op": "subscribe"}',
    '{"op": "subscribe", "channel": "user.0"}',
    '{"op": "subscribe", "channel": "attendances", "since": "yesterday"}',
    '{"op": "subscribe", "channel": "attendances", "since": 12}',
    '{"op": "unsubscribe", "channel": 5}',
])
def test_a_bad_request_is_answered_and_the_socket_stays_open(gateway, sockets, frame):
    # Given
    ws = authenticated(sockets, gateway)

    # When
    ws.send(frame)

    # Then
    reply = recv(ws)
    assert reply["op"] == "error" and reply["code"] == "bad_request", reply
    assert reply["message"]
    assert subscribe(ws, "attendances")["recovered"] is False


# -- live events and recovery --------------------------------------------------------

def test_a_published_event_reaches_subscribers_of_its_channel(gateway, sockets, redis_client):
    # Given
    admin = authenticated(sockets, gateway)
    subscribe(admin, "attendances")

    # When
    offset = publish(redis_client, 41)

    # Then the frame is exactly the contract's
    assert recv(admin) == {
        "op": "event", "channel": "attendances", "offset": offset, "event_id": 41,
        "event": "attendance.created", "node_id": "app-node-2",
        "ts": "2026-01-05T08:01:00+07:00",
        "data": {"id": 41, "user": {"id": 7, "name": "Budi"}, "branch": "JKT", "note": None},
    }


def test_unsubscribe_stops_the_events_of_that_channel(gateway, sockets, redis_client):
    # Given
    admin = authenticated(sockets, gateway)
    subscribe(admin, "attendances")
    subscribe(admin, "user.7")

    # When (the gateway handles a client's frames in order, and unsubscribe has no
    # reply: the answer to a later frame proves it was handled)
    send(admin, op="unsubscribe", channel="attendances")
    send(admin, op="nonsense")
    assert recv(admin)["code"] == "bad_request"
    publish(redis_client, 1, channel="attendances")
    publish(redis_client, 2, channel="user.7")

    # Then
    assert recv(admin)["event_id"] == 2


def test_a_client_coming_back_recovers_what_it_missed_in_order(
        gateway, sockets, redis_client):
    # Given a client that saw event 1 and then lost its connection
    ws = authenticated(sockets, gateway)
    subscribe(ws, "attendances")
    publish(redis_client, 1)
    seen = recv(ws)["offset"]
    ws.close()

    # When events 2..5 are published while it is away, and it comes back
    missed = [publish(redis_client, event_id) for event_id in range(2, 6)]
    ws = authenticated(sockets, gateway)
    reply = subscribe(ws, "attendances", since=seen)
    replayed = [recv(ws) for _ in missed]
    live = publish(redis_client, 6)

    # Then
    assert reply["recovered"] is True
    assert [frame["offset"] for frame in replayed] == missed
    assert event_ids(replayed) == [2, 3, 4, 5]
    assert recv(ws)["offset"] == live


def test_recovery_while_events_keep_coming_has_no_gap_and_no_duplicate(
        gateway, sockets, redis_client, redis_server):
    # Given a publisher that is busy while the client resubscribes
    seen = publish(redis_client, 1)
    done = threading.Event()

    def keep_publishing():
        import redis as redis_py
        client = redis_py.Redis.from_url(redis_server.url, decode_responses=True)
        for event_id in range(2, 302):
            publish(client, event_id)
        client.close()
        done.set()

    ws = authenticated(sockets, gateway)
    publisher = threading.Thread(target=keep_publishing, daemon=True)
    publisher.start()

    # When
    time.sleep(0.02)
    reply = subscribe(ws, "attendances", since=seen)
    frames = [recv(ws) for _ in range(300)]
    publisher.join(timeout=30)

    # Then every event after the offset arrives once, in order
    assert done.is_set()
    assert reply["recovered"] is True
    assert event_ids(frames) == list(range(2, 302))


def test_beyond_the_retention_recovered_is_false(gateway, sockets, redis_client):
    # Given a client that saw event 1; event 2 expires before it comes back
    seen, _ = publish(redis_client, 1, retention=1), publish(redis_client, 2, retention=1)
    time.sleep(1.1)
    kept = publish(redis_client, 3, retention=1)

    # When
    ws = authenticated(sockets, gateway)
    reply = subscribe(ws, "attendances", since=seen)

    # Then it must reload over HTTP (what is still retained follows anyway)
    assert reply["recovered"] is False
    assert recv(ws)["offset"] == kept


def test_two_gateways_both_deliver_one_publish(start_gateway, redis_client, sockets):
    # Given a client on each of two gateways
    first, second = start_gateway(node_id="gateway-1"), start_gateway(node_id="gateway-2")
    clients = [authenticated(sockets, gw) for gw in (first, second)]
    for ws in clients:
        subscribe(ws, "attendances")

    # When
    offset = publish(redis_client, 9)

    # Then
    assert [recv(ws)["offset"] for ws in clients] == [offset, offset]


def test_events_published_while_the_redis_subscription_is_down_are_not_lost(
        gateway, sockets, redis_client):
    # Given a subscribed client
    ws = authenticated(sockets, gateway)
    subscribe(ws, "attendances")
    publish(redis_client, 1)
    assert recv(ws)["event_id"] == 1

    # When Redis drops the gateway's pub/sub connection and, before it is back,
    # three events go out live to nobody (one transaction, so nothing slips in between)
    pipe = redis_client.pipeline(transaction=True)
    pipe.client_kill_filter(_type="pubsub")
    for event_id in (2, 3, 4):
        publish(pipe, event_id)
    pipe.execute()

    # Then the gateway reconnects and fills the gap from the history, in order, once
    assert event_ids([recv(ws) for _ in range(3)]) == [2, 3, 4]
    publish(redis_client, 5)
    assert recv(ws)["event_id"] == 5
    wait_until(lambda: gateway.subscribed_count() >= 2, timeout=5, what="resubscribe")


def test_clients_resync_when_redis_lost_the_history(start_gateway, sockets, tmp_path):
    # Given a gateway on a Redis without persistence, and a client that saw an event
    with RedisServer(data_dir=tmp_path / "redis") as server:
        import redis as redis_py
        client = redis_py.Redis.from_url(server.url, decode_responses=True)
        gateway = start_gateway(redis_url=server.url)
        ws = authenticated(sockets, gateway)
        subscribe(ws, "attendances")
        publish(client, 1)
        seen = recv(ws)["offset"]

        # When Redis restarts empty
        server.kill()
        server.start()

        # Then the client is asked to resubscribe, and then learns it must reload
        assert close_code(ws, deadline_seconds=20) == 1012
        ws = authenticated(sockets, gateway)
        assert subscribe(ws, "attendances", since=seen)["recovered"] is False
        client.close()
        gateway.stop()


@pytest.mark.parametrize("seen_before", [True, False], ids=["stream-existed", "stream-new"])
def test_clients_keep_their_socket_when_redis_restarts_with_its_data(
        start_gateway, sockets, tmp_path, seen_before):
    # Given a gateway on a Redis with persistence, and a subscribed client that saw an
    # event (or none yet: the channel's stream is created only after the restart)
    with RedisServer(data_dir=tmp_path / "redis", appendonly=True) as server:
        import redis as redis_py
        client = redis_py.Redis.from_url(server.url, decode_responses=True)
        gateway = start_gateway(redis_url=server.url)
        ws = authenticated(sockets, gateway)
        subscribe(ws, "attendances")
        if seen_before:
            publish(client, 1)
            assert recv(ws)["event_id"] == 1

        # When Redis is killed and comes back with its data, and an event goes out at
        # once (before or after the gateway resubscribed: both must work)
        server.kill()
        server.start()
        publish(client, 2)

        # Then the client gets it on the same socket, nothing closes it, and later
        # events keep coming live
        assert recv(ws)["event_id"] == 2
        wait_until(lambda: gateway.subscribed_count() >= 2, timeout=15, what="resubscribe")
        publish(client, 3)
        assert recv(ws)["event_id"] == 3
        ws.settimeout(1.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            recv(ws)
        client.close()
        gateway.stop()


# -- flow control, health and shutdown -----------------------------------------------

def test_a_client_that_never_reads_does_not_delay_the_others(gateway, sockets, redis_client):
    # Given a client that stops reading (tiny receive buffer) and one that reads
    slow = sockets(gateway.url, sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    send(slow, op="auth", token=token())
    assert recv(slow)["op"] == "ready"
    subscribe(slow, "attendances")
    fast = authenticated(sockets, gateway)
    subscribe(fast, "attendances")
    received = []

    def read_fast():
        while len(received) < total:
            received.append(recv(fast)["event_id"])

    # When far more is published than the slow client's buffers hold
    total = 800
    reader = threading.Thread(target=read_fast, daemon=True)
    reader.start()
    started = time.monotonic()
    for event_id in range(1, total + 1):
        publish(redis_client, event_id, size=16 * 1024)
    reader.join(timeout=30)

    # Then the fast client got everything promptly, and the slow one was dropped
    assert received == list(range(1, total + 1))
    assert time.monotonic() - started < 30
    wait_until(lambda: "dropping a client that is" in gateway.output(),
               timeout=5, what="slow client dropped")
    # (its close frame, 4008, waits behind megabytes it never reads; Tornado then aborts)
    wait_until(lambda: gateway.health()[1]["connections"] == 1, timeout=10,
               what="slow client dropped")


def test_a_frame_beyond_64_kib_arrives_whole(gateway, sockets, redis_client):
    # Given a subscriber (frames are built by the gateway itself: 8-byte length past 64 KiB)
    ws = authenticated(sockets, gateway)
    subscribe(ws, "attendances")
    # When an event of ~70 kB and a small one follow each other
    publish(redis_client, 1, size=70_000)
    publish(redis_client, 2)
    # Then both arrive intact, in order
    big, small = recv(ws), recv(ws)
    assert (big["event_id"], len(big["data"]["note"])) == (1, 70_000)
    assert small["event_id"] == 2


def test_a_full_gateway_answers_503_and_takes_sockets_again_when_one_leaves(
        start_gateway, sockets):
    # Given a gateway for one socket, holding one
    gateway = start_gateway(gateway__max_connections="1")
    first = authenticated(sockets, gateway)
    # When another one connects, it is refused with 503 before the upgrade
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        sockets(gateway.url)
    assert refused.value.status_code == 503
    # Then once the first leaves, a new one gets in
    first.close()
    wait_until(lambda: gateway.health()[1]["connections"] == 0, timeout=5, what="socket gone")
    authenticated(sockets, gateway)


def test_the_gateway_logs_its_open_files_limit_at_start(gateway):
    assert "open files limit" in gateway.output()
    assert "sockets need" in gateway.output()


def test_healthz_reports_node_and_connections(gateway, sockets):
    # Given
    sockets(gateway.url)
    authenticated(sockets, gateway)

    # When
    status, body = gateway.health()

    # Then
    assert status == 200
    assert body == {"status": "ok", "node_id": "gateway-test", "connections": 2,
                    "subscription": "ok"}


def test_a_frozen_redis_is_noticed_within_seconds_and_recovered_from(
        start_gateway, sockets, tmp_path):
    # Given a gateway and a subscribed client on a private Redis
    with RedisServer(data_dir=tmp_path / "redis", appendonly=True) as server:
        import redis as redis_py
        client = redis_py.Redis.from_url(server.url, decode_responses=True)
        gateway = start_gateway(redis_url=server.url)
        ws = authenticated(sockets, gateway)
        subscribe(ws, "attendances")
        publish(client, 1)
        assert recv(ws)["event_id"] == 1
        assert gateway.health()[0] == 200

        # When Redis freezes (a half-open connection: nothing answers, nothing closes)
        server.process.send_signal(signal.SIGSTOP)
        try:
            # Then the gateway says it is unhealthy within seconds, in /healthz and its beat
            wait_until(lambda: gateway.health() == (503, {
                "status": "unavailable", "node_id": "gateway-test", "connections": 1,
                "subscription": "down"}), timeout=12, what="unhealthy gateway")
        finally:
            server.process.send_signal(signal.SIGCONT)

        # And once Redis answers again it resubscribes and delivers on the same socket
        wait_until(lambda: gateway.health()[0] == 200, timeout=20, what="healthy again")
        publish(client, 2)
        assert recv(ws)["event_id"] == 2
        client.close()
        gateway.stop()


def test_the_gateway_beats_with_its_connection_count(gateway, sockets, redis_client):
    # Given
    authenticated(sockets, gateway)

    # When / Then
    def beating_with_one():
        nodes = {n["node_id"]: n for n in heartbeats.live_nodes(redis_client)}
        return nodes.get("gateway-test", {}).get("connections") == 1
    wait_until(beating_with_one, timeout=5, what="heartbeat")
    assert {"role": "gateway", "status": "up"}.items() <= {
        n["node_id"]: n for n in heartbeats.live_nodes(redis_client)}["gateway-test"].items()


def test_sigterm_closes_clients_with_going_away_and_exits(gateway, sockets, redis_client):
    # Given a connected client and a live heartbeat
    ws = authenticated(sockets, gateway)
    subscribe(ws, "attendances")
    wait_until(lambda: heartbeats.is_beating(redis_client, "gateway-test"),
               timeout=5, what="heartbeat")

    # When
    started = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)

    # Then
    assert close_code(ws) == 1001
    assert gateway.process.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
    assert not heartbeats.is_beating(redis_client, "gateway-test")

"""Realtime access ends when the user's does (contract §4): deactivated, demoted, password
changed or logged out -> every socket closed with 4003 within 5 s, tokens refused."""
import time

import pytest

from tests.factories import login
from tests.realtime_helpers import Closed, Socket, realtime_token
from realtime import revocation

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture()
def gateway(make_stack):
    return make_stack().gateway()


def close_code_within(sock, seconds):
    """The close code the server sends within *seconds* (frames before it are skipped)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.recv(timeout=max(deadline - time.monotonic(), 0.05))
        except Closed as closed:
            return closed.code
        except Exception:  # noqa: BLE001 - a timeout: keep waiting until the deadline
            continue
    raise AssertionError(f"socket still open after {seconds} s")


def refused_code(gateway, token):
    sock = Socket(gateway.url)
    try:
        sock.send(op="auth", token=token)
        return close_code_within(sock, 5)
    finally:
        sock.close()


@pytest.mark.parametrize("change", [{"active": False}, {"role": "employee"},
                                    {"password": "an-entirely-new-one"}],
                         ids=["deactivated", "demoted", "password-changed"])
def test_a_user_losing_access_loses_every_socket_within_5_seconds(
        make_app, factory, gateway, change):
    # Given an admin (to be changed) with two open sockets on the admin channels
    target = factory.admin()
    target_web = make_app()
    login(target_web, target)
    token = realtime_token(target_web)
    sockets = [Socket(gateway.url) for _ in range(2)]
    for sock in sockets:
        sock.auth(token)
        sock.subscribe("attendances")
    # and another admin who makes the change
    boss = make_app()
    login(boss, factory.admin())

    # When the change commits
    started = time.monotonic()
    boss.patch_json(f"/api/users/{target['id']}", change, status=200)

    # Then both sockets are closed with 4003 within 5 s
    assert [close_code_within(sock, 5) for sock in sockets] == [revocation.REVOKED] * 2
    assert time.monotonic() - started < 5.5
    # and the token they had is refused for new sockets
    assert refused_code(gateway, token) == revocation.REVOKED


def test_an_unrelated_change_keeps_the_socket(make_app, factory, gateway):
    target = factory.admin()
    target_web = make_app()
    login(target_web, target)
    sock = Socket(gateway.url)
    sock.auth(realtime_token(target_web))
    sock.subscribe("attendances")
    boss = make_app()
    login(boss, factory.admin())
    boss.patch_json(f"/api/users/{target['id']}", {"name": "Nama Baru"}, status=200)
    with pytest.raises(Exception) as waited:
        close_code_within(sock, 2)
    assert "still open" in str(waited.value)


def test_logging_out_ends_the_session_s_sockets_and_tokens(make_app, factory, gateway):
    # Given an employee with a socket, and the same employee logged in elsewhere
    employee = factory.user()
    web, phone = make_app(), make_app()
    login(web, employee)
    login(phone, employee)
    token = realtime_token(web)
    sock = Socket(gateway.url)
    sock.auth(token)
    sock.subscribe(f"user.{employee['id']}")
    other = Socket(gateway.url)
    other.auth(realtime_token(phone))

    # When they log out on the first browser
    web.post("/api/logout", status=204)

    # Then that session's socket closes and its token is refused; the other session stays
    assert close_code_within(sock, 5) == revocation.REVOKED
    assert refused_code(gateway, token) == revocation.REVOKED
    other.send(op="subscribe", channel=f"user.{employee['id']}")
    assert other.recv()["op"] == "subscribed"


def test_a_missed_announcement_is_caught_by_the_periodic_check(make_stack, make_app, factory,
                                                               redis_client, tmp_path):
    # Given a gateway re-checking every second
    from tests.realtime_helpers import Gateway, write_config

    stack = make_stack()
    config = write_config(tmp_path / "fast-recheck.ini", gateway__access_recheck_seconds="1")
    gateway = Gateway(redis_url=stack.redis_url, secret=stack.secret, config=config,
                      workdir=tmp_path, node_id="gateway-recheck").start()
    try:
        target = factory.admin()
        web = make_app()
        login(web, target)
        sock = Socket(gateway.url)
        sock.auth(realtime_token(web))
        # When the user's state changes in Redis without an announcement reaching anyone
        redis_client.set(revocation.AUTH_STATE_PREFIX + str(target["id"]), "99:admin:1")
        # Then the socket is closed all the same, within a check or two
        assert close_code_within(sock, 5) == revocation.REVOKED
    finally:
        gateway.stop()

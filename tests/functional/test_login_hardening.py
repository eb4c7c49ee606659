"""Login abuse: atomic throttling that cannot be weaponised, no hashing of huge passwords
or inside a transaction, no sessions for anonymous visitors, sessions that last a workday."""
import threading
import time

from sqlalchemy import text

from tests.factories import PASSWORD, login
from webapp.accounts import passwords
from webapp.sessions import KEY_PREFIX


def attempt(app, email, password, address):
    return app.post_json("/api/login", {"email": email, "password": password},
                         extra_environ={"REMOTE_ADDR": address}, expect_errors=True)


def test_parallel_guesses_through_four_nodes_cannot_pass_the_limit(make_app, factory):
    # Given four nodes on one Redis, and a guesser with 40 wrong passwords at once
    nodes = [make_app(app__node_id=f"app-node-{n}") for n in range(1, 5)]
    victim = factory.user()
    statuses, lock = [], threading.Lock()

    def guess(n):
        response = attempt(nodes[n % 4], victim["email"], f"wrong-{n}-pw", "198.51.100.7")
        with lock:
            statuses.append(response.status_int)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then exactly the limit (5) reached the password check; the rest were refused
    assert sorted(statuses) == [401] * 5 + [429] * 35


def test_knowing_an_email_is_not_enough_to_lock_its_owner_out(make_app, factory):
    # Given an attacker far past every per-account threshold, from many addresses
    app = make_app(throttle__account_slowdown_after="10", throttle__account_spacing_seconds="1")
    victim = factory.user()
    for n in range(30):
        attempt(app, victim["email"], "not-the-password", f"203.0.113.{n}")

    # When the employee logs in from the office at 08:00
    response = attempt(app, victim["email"], PASSWORD, "192.0.2.50")
    if response.status_int == 429:
        # the account is only slowed down: one attempt per spacing, then they are in
        wait = int(response.headers["Retry-After"])
        assert wait <= 1
        time.sleep(wait + 0.1)
        response = attempt(app, victim["email"], PASSWORD, "192.0.2.50")

    # Then they get in
    assert response.status_int == 200


def test_the_account_slowdown_spaces_attempts_from_anywhere(make_app, factory):
    app = make_app(throttle__account_slowdown_after="3", throttle__account_spacing_seconds="30")
    victim = factory.user()
    for n in range(3):
        assert attempt(app, victim["email"], "nope-nope", f"203.0.113.{n}").status_int == 401
    # past the threshold one attempt goes through, the next must wait its turn
    assert attempt(app, victim["email"], "nope-nope", "203.0.113.50").status_int == 401
    slowed = attempt(app, victim["email"], "nope-nope", "203.0.113.51")
    assert slowed.status_int == 429 and 0 < int(slowed.headers["Retry-After"]) <= 30


def test_a_huge_password_is_refused_without_hashing(app, factory, monkeypatch):
    user = factory.user()
    calls = []
    monkeypatch.setattr(passwords, "verify_password",
                        lambda *a: calls.append(a) or False)
    response = attempt(app, user["email"], "x" * 900_000, "198.51.100.1")
    assert response.status_int == 401 and calls == []


def test_the_password_is_verified_outside_any_database_transaction(app, factory, monkeypatch):
    # Given the verification checks that nobody holds SQLite's write lock meanwhile
    user = factory.user()
    engine = app.app.registry["db_engine"]
    original = passwords.verify_password
    free = []

    def verify(password_hash, password):
        with engine.connect() as connection:  # BEGIN IMMEDIATE: waits if a lock is held
            connection.execute(text("PRAGMA busy_timeout=100"))
            connection.execute(text("UPDATE users SET name = name WHERE id = -1"))
            connection.rollback()
        free.append(True)
        return original(password_hash, password)

    monkeypatch.setattr("webapp.accounts.services.verify_password", verify)

    # When the user logs in
    login(app, user)

    # Then the check ran, without waiting on a lock the login itself held
    assert free == [True]


def test_anonymous_visitors_get_no_session(app, redis_client):
    page = app.get("/login")
    assert page.status_int == 200
    assert "absensi_session" not in app.cookies
    assert list(redis_client.scan_iter(KEY_PREFIX + "*")) == []


def test_a_session_slides_while_used_but_ends_at_its_lifetime(make_app, factory, redis_client):
    # Given a short idle timeout and lifetime
    app = make_app(session__idle_timeout_seconds="60", session__lifetime_seconds="3")
    login(app, factory.user())
    [key] = redis_client.scan_iter(KEY_PREFIX + "*")
    assert 0 < redis_client.ttl(key) <= 3  # never beyond the lifetime

    # When the page keeps using it past the lifetime
    app.get("/api/me", status=200)
    time.sleep(3.2)

    # Then it has ended: log in again
    app.get("/api/me", status=401)


def test_an_open_page_keeps_its_session_alive(make_app, factory, redis_client):
    app = make_app(session__idle_timeout_seconds="2")
    login(app, factory.user())
    for _ in range(3):  # the page's keep-alive ping, more often than the idle timeout
        time.sleep(1)
        app.get("/api/me", status=200)
    time.sleep(2.2)
    app.get("/api/me", status=401)

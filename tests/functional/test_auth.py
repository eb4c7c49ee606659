"""Login, sessions, CSRF and throttling through the whole app (WebTest, real Redis)."""
from tests.factories import PASSWORD, login


def test_login_returns_user_csrf_token_and_cookie(app, factory):
    # Given an employee
    user = factory.user(email="Budi@Example.com", branch="BDG")
    # When they log in with a differently-cased, padded email
    response = app.post_json("/api/login", {"email": "  BUDI@example.com ", "password": PASSWORD})
    # Then they get their user, a CSRF token and a session cookie
    assert response.status_int == 200
    assert response.json["user"]["email"] == "budi@example.com"
    assert response.json["user"]["branch"]["code"] == "BDG"
    assert set(response.json["user"]) == {"id", "name", "email", "role", "active", "branch",
                                          "employee_number"}
    assert len(response.json["csrf_token"]) >= 32
    assert "absensi_session" in app.cookies
    assert "HttpOnly" in response.headers["Set-Cookie"]
    assert app.get("/api/me").json["id"] == user["id"]


def test_wrong_password_and_unknown_email_look_the_same(app, factory):
    factory.user(email="a@example.com")
    wrong = app.post_json("/api/login", {"email": "a@example.com", "password": "nope-nope"},
                          status=401)
    unknown = app.post_json("/api/login", {"email": "b@example.com", "password": "nope-nope"},
                            status=401)
    assert wrong.json["error"] == unknown.json["error"] == "invalid_credentials"
    assert wrong.json["message"] == unknown.json["message"]


def test_malformed_login_bodies(app):
    assert app.post("/api/login", "{not json", content_type="application/json",
                    status=400).json["error"] == "invalid_json"
    assert app.post_json("/api/login", ["a"], status=422).json["error"] == "invalid"
    assert app.post_json("/api/login", {"email": 5, "password": None},
                         status=401).json["error"] == "invalid_credentials"


def test_session_id_rotates_at_login(app, factory):
    user = factory.user()
    app.get("/login")  # an anonymous session with a CSRF token
    before = app.cookies.get("absensi_session")
    login(app, user)
    assert app.cookies["absensi_session"] != before


def test_me_requires_login(app):
    response = app.get("/api/me", status=401)
    assert response.json == {"error": "unauthenticated", "message": response.json["message"]}


def test_logout_ends_the_session(app, factory):
    login(app, factory.user())
    app.post("/api/logout", status=204)
    app.get("/api/me", status=401)


def test_unsafe_request_with_session_needs_csrf_token(app, factory):
    token = login(app, factory.user())
    app.extra_environ.pop("HTTP_X_CSRF_TOKEN")
    # Missing token
    missing = app.post_json("/api/attendance/check-in", {}, status=403)
    assert missing.json["error"] == "csrf_failed"
    # Wrong token
    app.post_json("/api/attendance/check-in", {}, headers={"X-CSRF-Token": "x" * 43}, status=403)
    # Nothing was written by the refused requests
    assert app.get("/api/me/attendances").json["total"] == 0
    # The right token works
    app.post_json("/api/attendance/check-in", {}, headers={"X-CSRF-Token": token}, status=201)


def test_expired_session_is_unauthenticated(app, factory, redis_client):
    login(app, factory.user())
    # When the session expires in Redis
    for key in redis_client.scan_iter("absensi:session:*"):
        redis_client.delete(key)
    # Then the API says so instead of a CSRF failure
    assert app.post_json("/api/attendance/check-in", {}, status=401).json["error"] == \
        "unauthenticated"


def test_deactivation_and_password_reset_end_sessions(make_app, factory):
    admin_app, employee_app = make_app(), make_app()
    admin = factory.admin()
    employee = factory.user()
    login(admin_app, admin)
    login(employee_app, employee)
    admin_app.patch_json(f"/api/users/{employee['id']}", {"password": "a-new-password"})
    employee_app.get("/api/me", status=401)
    employee_app.post_json("/api/login", {"email": employee["email"], "password": PASSWORD},
                           status=401)
    employee["password"] = "a-new-password"
    login(employee_app, employee)
    admin_app.patch_json(f"/api/users/{employee['id']}", {"active": False})
    employee_app.get("/api/me", status=401)
    employee_app.post_json("/api/login", {"email": employee["email"],
                                          "password": "a-new-password"}, status=401)


def test_account_throttling_returns_429_with_retry_after(app, factory):
    user = factory.user()
    for _ in range(5):
        app.post_json("/api/login", {"email": user["email"], "password": "wrong-pw!"}, status=401)
    # Even the right password is refused while throttled
    response = app.post_json("/api/login", {"email": user["email"], "password": PASSWORD},
                             status=429)
    assert response.json["error"] == "too_many_attempts"
    assert 0 < int(response.headers["Retry-After"]) <= 900
    # Another account from another address is unaffected
    other = factory.user()
    app.extra_environ = dict(app.extra_environ, REMOTE_ADDR="198.51.100.9")
    login(app, other)


def test_address_throttling_across_accounts(make_app, factory):
    app = make_app(throttle__address_attempts="3")
    for n in range(3):
        app.post_json("/api/login", {"email": f"nobody{n}@example.com", "password": "x" * 9},
                      status=401)
    user = factory.user()
    app.post_json("/api/login", {"email": user["email"], "password": PASSWORD}, status=429)


def test_success_resets_the_account_counter(app, factory):
    user = factory.user()
    for _ in range(4):
        app.post_json("/api/login", {"email": user["email"], "password": "wrong-pw!"}, status=401)
    login(app, user)
    for _ in range(4):
        app.post_json("/api/login", {"email": user["email"], "password": "wrong-pw!"}, status=401)
    login(app, user)


def test_client_address_comes_from_trusted_proxy_only(make_app, factory):
    app = make_app(throttle__address_attempts="2")
    # A spoofed X-Real-IP from an untrusted peer is ignored: both count against the peer
    for n in range(2):
        app.post_json("/api/login", {"email": f"n{n}@example.com", "password": "x" * 9},
                      headers={"X-Real-IP": f"10.0.0.{n}"}, status=401)
    app.post_json("/api/login", {"email": "n9@example.com", "password": "x" * 9},
                  headers={"X-Real-IP": "10.0.0.9"}, status=429)
    # Through nginx (loopback peer), X-Real-IP is the client
    proxied = make_app(throttle__address_attempts="2")
    proxied.extra_environ = {"REMOTE_ADDR": "127.0.0.1"}
    for n in range(2):
        proxied.post_json("/api/login", {"email": f"m{n}@example.com", "password": "x" * 9},
                          headers={"X-Real-IP": f"10.1.0.{n}"}, status=401)


def test_every_response_names_its_node(make_app):
    app = make_app(app__node_id="app-node-3")
    for path, status in [("/healthz", 200), ("/api/me", 401), ("/api/nope", 404),
                         ("/login", 200), ("/static/css/app.css", 200)]:
        assert app.get(path, status=status).headers["X-Node-Id"] == "app-node-3"
    assert app.get("/api/login", status=405).json["error"] == "method_not_allowed"

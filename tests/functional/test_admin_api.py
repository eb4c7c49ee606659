"""Admin API: roles, today/summary, history filters, CSV export, users, branches, servers."""
import csv
import datetime as dt
import io

import pytest

from tests.factories import at, check_in_as, login
from realtime import tokens
from webapp.servers import heartbeats

ADMIN_ROUTES = [
    ("GET", "/api/attendances/today"), ("GET", "/api/attendances"),
    ("GET", "/api/attendances/export.csv"), ("GET", "/api/users"), ("POST", "/api/users"),
    ("PATCH", "/api/users/1"), ("GET", "/api/servers"),
]


@pytest.mark.parametrize("method, path", ADMIN_ROUTES)
def test_employees_get_403_on_every_admin_route(app, factory, method, path):
    login(app, factory.user())
    response = app.request(path, method=method, status=403, body=b"{}",
                           content_type="application/json")
    assert response.json["error"] == "forbidden"


@pytest.mark.parametrize("method, path", ADMIN_ROUTES + [("GET", "/api/branches"),
                                                         ("POST", "/api/realtime/token")])
def test_anonymous_gets_401(app, method, path):
    response = app.request(path, method=method, status=401, body=b"{}",
                           content_type="application/json")
    assert response.json["error"] == "unauthenticated"


def test_today_lists_each_branch_local_today_with_summary(make_app, factory, admin_app):
    now = "2026-11-20T16:30:00+00:00"  # 23:30 in Java, 00:30 on 21 Nov in Bali
    # Yesterday-in-Bali check-in and today-in-Java check-ins
    check_in_as(make_app, factory, "2026-11-20T08:30:00+08:00", branch="DPS")
    _, late = check_in_as(make_app, factory, "2026-11-20T09:00:00+07:00", branch="JKT")
    check_in_as(make_app, factory, "2026-11-20T07:50:00+07:00", branch="BDG",
                check_out="2026-11-20T17:00:00+07:00")
    at(admin_app, now)
    body = admin_app.get("/api/attendances/today").json
    assert {a["branch"] for a in body["data"]} == {"JKT", "BDG"}
    # admin (JKT) + three employees are the active people
    assert body["summary"] == {"employees": 4, "checked_in": 2, "late": 1, "checked_out": 1,
                               "not_checked_in": 2, "on_leave": 0}
    assert [(u["branch"], u["leave"]) for u in body["absent_users"]] == [
        ("JKT", None), ("DPS", None)]
    jkt = admin_app.get("/api/attendances/today?branch=jkt").json
    assert [a["id"] for a in jkt["data"]] == [late["id"]]
    assert jkt["summary"] == {"employees": 2, "checked_in": 1, "late": 1, "checked_out": 0,
                              "not_checked_in": 1, "on_leave": 0}
    assert admin_app.get("/api/attendances/today?branch=XYZ", status=422).json["fields"] == {
        "branch": "Kode cabang tidak dikenal."}


def test_history_filters_and_pagination(make_app, factory, admin_app):
    budi, a1 = check_in_as(make_app, factory, "2026-11-02T08:00:00+07:00", name="Budi")
    _, a2 = check_in_as(make_app, factory, "2026-11-03T09:00:00+07:00", branch="SBY")
    _, a3 = check_in_as(make_app, factory, "2026-11-04T09:00:00+08:00", branch="DPS")

    def ids(query):
        return [a["id"] for a in admin_app.get("/api/attendances" + query).json["data"]]

    assert ids("") == [a3["id"], a2["id"], a1["id"]]
    assert ids("?from=2026-11-03") == [a3["id"], a2["id"]]
    assert ids("?from=2026-11-02&to=2026-11-03") == [a2["id"], a1["id"]]
    assert ids("?branch=SBY") == [a2["id"]]
    assert ids(f"?user_id={budi.user['id']}") == [a1["id"]]
    assert ids("?status=late") == [a3["id"], a2["id"]]
    page = admin_app.get("/api/attendances?per_page=1&page=3").json
    assert (page["total"], page["page"], page["per_page"], len(page["data"])) == (3, 3, 1, 1)


@pytest.mark.parametrize("query, field", [
    ("from=2026-13-01", "from"), ("to=yesterday", "to"), ("from=2026-11-05&to=2026-11-01", "to"),
    ("branch=XX", "branch"), ("user_id=abc", "user_id"), ("status=absent", "status"),
    ("per_page=1000", "per_page"), ("page=-1", "page"), ("from=2026-1-1", "from"),
])
def test_history_rejects_bad_filters(admin_app, query, field):
    body = admin_app.get(f"/api/attendances?{query}", status=422).json
    assert body["error"] == "invalid" and field in body["fields"]
    # The export takes the same filters (and ignores pagination)
    admin_app.get(f"/api/attendances/export.csv?{query}",
                  status=200 if field in ("per_page", "page") else 422)


def test_csv_export_is_streamed_with_the_same_filters(make_app, factory, admin_app):
    check_in_as(make_app, factory, "2026-11-02T08:00:00+07:00", name="=HYPERLINK(1)")
    check_in_as(make_app, factory, "2026-11-03T08:00:00+07:00", branch="BDG")
    response = admin_app.get("/api/attendances/export.csv?branch=JKT")
    assert response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0][:3] == ["id", "tanggal", "cabang"]
    assert len(rows) == 2 and rows[1][2] == "JKT"
    assert rows[1][4] == "'=HYPERLINK(1)"  # formula injection neutralised
    # what HR reads: Indonesian labels and zoned times, the machine code kept beside them
    row = dict(zip(rows[0], rows[1]))
    assert row["jam_masuk"] == "08:00:00 WIB" and row["jam_pulang"] == ""
    assert (row["status"], row["status_kode"]) == ("Tepat waktu", "present")
    assert row["ditutup_otomatis"] == row["dikoreksi"] == row["pulang_cepat"] == "tidak"
    assert "False" not in response.text and "late" not in rows[1]


def test_csv_export_walks_many_rows_in_chunks(make_app, factory, admin_app, monkeypatch):
    from webapp.attendance import export

    monkeypatch.setattr(export, "CHUNK", 2)
    for day in range(1, 6):
        check_in_as(make_app, factory, f"2026-11-0{day}T08:00:00+07:00")
    rows = list(csv.reader(io.StringIO(admin_app.get("/api/attendances/export.csv").text)))
    assert len(rows) == 6 and len({r[0] for r in rows[1:]}) == 5


def test_create_user_and_its_errors(admin_app):
    body = {"name": "Siti", "email": " Siti@Example.COM", "password": "rahasia-123",
            "role": "employee", "branch": "sby"}
    created = admin_app.post_json("/api/users", body, status=201).json
    assert created["email"] == "siti@example.com" and created["branch"]["code"] == "SBY"
    assert created["active"] is True and "password" not in str(created)
    taken = admin_app.post_json("/api/users", dict(body, email="SITI@example.com"), status=409)
    assert taken.json["error"] == "email_taken"
    bad = admin_app.post_json("/api/users", {"name": "x" * 101, "email": "nope",
                                             "password": "short", "role": "boss",
                                             "branch": "XX"}, status=422).json
    assert set(bad["fields"]) == {"name", "email", "password", "role", "branch"}
    assert admin_app.post_json("/api/users", {}, status=422).json["fields"]
    assert admin_app.post_json("/api/users", dict(body, email="x@example.com", admin=True),
                               status=422).json["fields"] == {"admin": "Kolom tidak dikenal."}
    assert admin_app.get("/api/users?per_page=100").json["total"] == 2


def test_list_users_by_branch(admin_app, factory):
    factory.user(branch="BDG")
    factory.user(branch="BDG")
    page = admin_app.get("/api/users?branch=BDG&per_page=1").json
    assert page["total"] == 2 and len(page["data"]) == 1 and page["per_page"] == 1
    admin_app.get("/api/users?branch=NOPE", status=422)


def test_patch_user(admin_app, factory):
    user = factory.user(branch="JKT")
    updated = admin_app.patch_json(f"/api/users/{user['id']}",
                                   {"name": "Nama Baru", "branch": "DPS", "role": "admin"}).json
    assert (updated["name"], updated["branch"]["code"], updated["role"]) == \
        ("Nama Baru", "DPS", "admin")
    assert admin_app.patch_json(f"/api/users/{user['id']}", {"active": False}).json["active"] \
        is False
    admin_app.patch_json("/api/users/999999", {"name": "x"}, status=404)
    admin_app.patch_json("/api/users/abc", {"name": "x"}, status=404)
    errors = admin_app.patch_json(f"/api/users/{user['id']}",
                                  {"active": "no", "password": "123", "branch": "X"},
                                  status=422).json["fields"]
    assert set(errors) == {"active", "password", "branch"}
    admin_app.patch_json(f"/api/users/{user['id']}", {"email": "x@y.z"}, status=422)
    admin_app.patch_json(f"/api/users/{user['id']}", {}, status=422)
    # Nothing half-written by the refused patches
    assert admin_app.get(f"/api/users/{user['id']}").json["branch"]["code"] == "DPS"


def test_admin_cannot_lock_themselves_out(admin_app):
    me = admin_app.get("/api/me").json
    admin_app.patch_json(f"/api/users/{me['id']}", {"active": False}, status=422)
    admin_app.patch_json(f"/api/users/{me['id']}", {"role": "employee"}, status=422)


def test_branches(app, factory):
    login(app, factory.user())
    data = app.get("/api/branches").json["data"]
    assert [b["code"] for b in data] == ["JKT", "BDG", "SBY", "DPS"]
    assert data[3] == {"code": "DPS", "name": "Bali (Denpasar)", "timezone": "Asia/Makassar",
                       "shift_start": "08:00", "shift_end": "17:00", "grace_minutes": 15,
                       "work_days": [1, 2, 3, 4, 5], "geofence": None, "sites": []}


def test_servers_lists_live_heartbeats(admin_app, redis_client):
    started = heartbeats.utc_now_iso()
    heartbeats.beat(redis_client, node_id="app-node-2", role="web", city="Bandung",
                    started_at=started, ttl_seconds=30)
    heartbeats.beat(redis_client, node_id="gateway-1", role="gateway", started_at=started,
                    ttl_seconds=30, extra={"connections": 3})
    heartbeats.beat(redis_client, node_id="worker-9", role="worker", started_at=started,
                    ttl_seconds=1)
    heartbeats.stop(redis_client, "worker-9")  # gone
    nodes = admin_app.get("/api/servers").json["nodes"]
    assert [(n["node_id"], n["role"], n["city"], n["status"]) for n in nodes] == [
        ("gateway-1", "gateway", None, "up"), ("app-node-2", "web", "Bandung", "up")]
    assert dt.datetime.fromisoformat(nodes[0]["last_seen"]).tzinfo is not None


def test_web_node_beats_on_its_own(make_app, redis_client):
    # Both gunicorn workers of a node share the master's start time (NODE_STARTED_AT)
    app = make_app(heartbeat__enabled="true", app__node_id="app-node-4",
                   app__started_at="2026-11-20T01:02:03+00:00")
    app.get("/healthz")
    import time

    for _ in range(50):
        nodes = heartbeats.live_nodes(redis_client)
        if nodes:
            break
        time.sleep(0.05)
    assert [(n["node_id"], n["city"], n["role"], n["started_at"]) for n in nodes] == [
        ("app-node-4", "Bali", "web", "2026-11-20T01:02:03+00:00")]
    app.app.registry["heartbeat"].stop()


def test_realtime_token_is_signed_and_short_lived(app, factory):
    user = factory.user()
    login(app, user)
    body = app.post("/api/realtime/token").json
    claims = tokens.verify(app.app.registry.settings["app.secret_key"], body["token"])
    assert claims["uid"] == user["id"] and claims["role"] == "employee"
    assert body["channels"] == [f"user.{user['id']}"]
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(0) < expires - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(minutes=5)
    with pytest.raises(tokens.InvalidToken):
        tokens.verify("another-secret", body["token"])


def test_create_user_replays_by_idempotency_key(admin_app):
    body = {"name": "Rina", "email": "rina@example.com", "password": "rahasia-123",
            "branch": "BDG"}
    headers = {"Idempotency-Key": "create-rina"}
    first = admin_app.post_json("/api/users", body, headers=headers, status=201)
    again = admin_app.post_json("/api/users", body, headers=headers, status=201)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    # Without the key, the same body is a conflict
    admin_app.post_json("/api/users", body, status=409)

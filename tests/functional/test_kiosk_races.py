"""Kiosk races across four nodes on a real MariaDB: one enrollment code enrolls one device,
and one employee's code is spent once, however the requests interleave."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import webtest

from tests.factories import Factory, login
from tests.functional.shift_helpers import at
from webapp.kiosks import codes

pytestmark = pytest.mark.integration
NODES = ["app-node-1", "app-node-2", "app-node-3", "app-node-4"]
NOW = "2026-11-23T07:55:00+07:00"


@pytest.fixture()
def nodes(make_app, mysql_db_url):
    apps = [make_app(database_url=mysql_db_url, app__node_id=node) for node in NODES]
    for app in apps:
        at(app, NOW)
    return apps


def _all_at_once(calls):
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls, timeout=120))


def _client(app, **environ):
    return webtest.TestApp(app.app, extra_environ={"REMOTE_ADDR": "203.0.113.7", **environ})


def test_one_enrollment_code_enrolls_one_device_of_many(nodes):
    factory = Factory(nodes[0].app.registry["dbsession_factory"])
    admin = nodes[0]
    login(admin, factory.admin())
    code = admin.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios"}).json[
        "enrollment_code"]
    devices = [_client(nodes[i % 4]) for i in range(8)]
    answers = _all_at_once([lambda d=d: d.post_json(
        "/api/kiosk/enroll", {"enrollment_code": code}, status="*") for d in devices])
    assert sorted(a.status_int for a in answers) == [200] + [401] * 7


def test_one_code_is_spent_once_by_concurrent_check_ins(nodes):
    factory = Factory(nodes[0].app.registry["dbsession_factory"])
    admin = nodes[0]
    login(admin, factory.admin())
    code = admin.post_json("/api/kiosks", {"branch": "JKT", "name": "Kios"}).json[
        "enrollment_code"]
    device = nodes[1].post_json("/api/kiosk/enroll", {"enrollment_code": code}).json
    kiosk_code = codes.make_code(device["device_secret"], device["kiosk"]["id"],
                                 codes.slot_of(nodes[0].app.registry["clock"]()))
    employee = nodes[2]
    token = login(employee, factory.user())
    cookie = employee.cookies["absensi_session"]
    clients = []
    for i in range(8):
        client = _client(nodes[i % 4], HTTP_X_CSRF_TOKEN=token)
        client.set_cookie("absensi_session", cookie)
        clients.append(client)
    answers = _all_at_once([lambda c=c: c.post_json(
        "/api/attendance/check-in", {"kiosk_code": kiosk_code}, status="*") for c in clients])
    assert sorted(a.status_int for a in answers) == [201] + [409] * 7
    assert employee.get("/api/me/attendances").json["total"] == 1

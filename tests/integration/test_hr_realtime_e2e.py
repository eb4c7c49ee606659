"""Leave events and corrections travel the one event path: web commit -> outbox row (with
the channels the domain chose) -> real worker -> Redis streams -> real gateway -> sockets."""
import pytest

from tests.factories import login
from tests.integration.test_realtime_e2e import (assert_event_frame, check_in, outbox_row,
                                                 web_node)
from tests.realtime_helpers import realtime_token

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_leave_request_and_its_approval_reach_the_inbox_and_the_owner_live(
        app, make_app, factory, stack):
    # Given a gateway and a worker; an admin subscribed to `leave`, an employee to their own
    gateway = stack.gateway()
    stack.worker()
    login(app, factory.admin())
    employee = factory.user(name="Wayan", branch="DPS")
    web = web_node(make_app, employee, node_id="app-node-4")
    own = f"user.{employee['id']}"
    inbox = stack.connect(gateway, realtime_token(app), "leave")
    mine = stack.connect(gateway, realtime_token(web), own)

    # When the employee asks for a day of izin on web node 4
    leave = web.post_json("/api/leave", {"kind": "izin", "date_from": "2027-02-01",
                                         "date_to": "2027-02-01", "reason": "upacara adat"},
                          status=201).json

    # Then both get leave.created with the Leave the HTTP answer returned
    session_factory = web.app.registry["dbsession_factory"]
    created = outbox_row(session_factory, leave, "leave.created").id
    for sock, channel in ((inbox, "leave"), (mine, own)):
        assert_event_frame(sock.next_event(), channel=channel, event_id=created,
                           event="leave.created", node_id="app-node-4", data=leave)

    # When the admin approves it (node app-node-1)
    approved = app.post(f"/api/leave/{leave['id']}/approve", status=200).json

    # Then both get leave.updated, after the creation
    updated = outbox_row(session_factory, leave, "leave.updated").id
    for sock, channel in ((inbox, "leave"), (mine, own)):
        assert_event_frame(sock.next_event(), channel=channel, event_id=updated,
                           event="leave.updated", node_id="app-node-1", data=approved)


def test_a_correction_reaches_the_attendances_channel_and_the_owner(
        app, make_app, factory, stack):
    gateway = stack.gateway()
    stack.worker()
    login(app, factory.admin())
    employee = factory.user(branch="JKT")
    web = web_node(make_app, employee, node_id="app-node-3")
    admin_ws = stack.connect(gateway, realtime_token(app), "attendances")
    employee_ws = stack.connect(gateway, realtime_token(web), f"user.{employee['id']}")
    attendance = check_in(web)
    for sock in (admin_ws, employee_ws):
        assert sock.next_event()["event"] == "attendance.created"

    # When an admin adds a note as a correction
    corrected = app.patch_json(f"/api/attendances/{attendance['id']}", {
        "note": "dinas luar", "reason": "konfirmasi atasan"}, status=200).json["attendance"]

    # Then it is an attendance.updated like any other change, marked corrected
    event_id = outbox_row(web.app.registry["dbsession_factory"], corrected,
                          "attendance.updated").id
    for sock, channel in ((admin_ws, "attendances"), (employee_ws, f"user.{employee['id']}")):
        frame = sock.next_event()
        assert_event_frame(frame, channel=channel, event_id=event_id,
                           event="attendance.updated", node_id="app-node-1", data=corrected)
        assert frame["data"]["corrected"] is True

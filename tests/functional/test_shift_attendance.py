"""Attendances follow the shift (contract §3.1): night shifts across midnight in WIB and
WITA, the 3-hour early window, day-off check-ins, lateness, early leave and overtime
against the shift, overtime decisions, and the auto-close at the shift's end."""
import datetime as dt

import pytest

from tests.functional.shift_helpers import at, check_in, check_out, events, person

MONDAY, TUESDAY = "2026-11-23", "2026-11-24"


@pytest.fixture()
def admin(make_app, factory):
    app = person(make_app, factory, "admin", now="2026-11-20T07:00:00+07:00")
    app.post_json("/api/shift-types", {"code": "MALAM", "name": "Malam", "start": "22:00",
                                       "end": "06:00"}, status=201)
    app.post_json("/api/shift-types", {"code": "DINI", "name": "Dini hari", "start": "01:00",
                                       "end": "09:00"}, status=201)
    return app


def _guard(make_app, factory, admin, branch="JKT", shift="MALAM", day=MONDAY):
    """An employee of *branch* scheduled for *shift* on *day*."""
    app = person(make_app, factory, branch=branch)
    admin.post_json("/api/schedules", {"user_ids": [app.user["id"]], "date_from": day,
                                       "date_to": day, "shift_type": shift}, status=201)
    return app


@pytest.mark.parametrize("branch, offset", [("JKT", "+07:00"), ("DPS", "+08:00")])
def test_a_night_shift_is_one_attendance_dated_the_day_it_starts(make_app, factory, admin,
                                                                 branch, offset):
    # Given a guard on the 22:00–06:00 shift on Monday, in Jakarta (WIB) or Bali (WITA)
    guard = _guard(make_app, factory, admin, branch)
    # When he checks in at 21:50 on Monday and out at 06:05 on Tuesday
    opened = check_in(guard, f"{MONDAY}T21:50:00{offset}")["attendance"]
    closed = check_out(guard, f"{TUESDAY}T06:05:00{offset}")["attendance"]
    # Then it is one attendance of Monday, on time, with no overtime (5 min ≤ 30)
    assert closed["id"] == opened["id"]
    assert (closed["work_date"], closed["status"], closed["early_leave"]) == \
        (MONDAY, "present", False)
    assert closed["shift"] == {"code": "MALAM", "start": "22:00", "end": "06:00"}
    assert (closed["check_in_at"], closed["check_out_at"]) == \
        (f"{MONDAY}T21:50:00{offset}", f"{TUESDAY}T06:05:00{offset}")
    assert (closed["duration_minutes"], closed["overtime_minutes"],
            closed["overtime_status"]) == (495, 0, "none")


def test_overtime_counts_only_beyond_the_threshold_and_waits_for_an_admin(make_app, factory,
                                                                          admin):
    # Given a guard who stays until 07:00 after his night shift (60 minutes > 30)
    guard = _guard(make_app, factory, admin)
    check_in(guard, f"{MONDAY}T21:55:00+07:00")
    closed = check_out(guard, f"{TUESDAY}T07:00:00+07:00")["attendance"]
    # Then the hour is pending overtime
    assert (closed["overtime_minutes"], closed["overtime_status"]) == (60, "pending")
    # When an admin approves it
    at(admin, f"{TUESDAY}T09:00:00+07:00")
    approved = admin.post_json(f"/api/attendances/{closed['id']}/overtime/approve",
                               {"note": "Serah terima"}).json["attendance"]
    # Then it is approved, audited with the admin and the note, and published
    assert approved["overtime_status"] == "approved"
    entry = admin.get(f"/api/attendances/{closed['id']}/audit").json["data"][-1]
    assert (entry["action"], entry["actor"]["id"], entry["reason"], entry["changes"]) == \
        ("correct", admin.user["id"], "Serah terima",
         {"overtime_status": ["pending", "approved"]})
    assert events(admin, "attendance.")[-1][2]["overtime_status"] == "approved"
    # And an admin may change their mind
    rejected = admin.post(f"/api/attendances/{closed['id']}/overtime/reject").json
    assert rejected["attendance"]["overtime_status"] == "rejected"


def test_overtime_decisions_need_overtime_an_attendance_and_an_admin(make_app, factory, admin):
    guard = _guard(make_app, factory, admin)
    check_in(guard, f"{MONDAY}T21:55:00+07:00")
    closed = check_out(guard, f"{TUESDAY}T06:10:00+07:00")["attendance"]
    error = admin.post(f"/api/attendances/{closed['id']}/overtime/approve", status=409).json
    assert error["error"] == "no_overtime"
    admin.post("/api/attendances/999999/overtime/reject", status=404)
    guard.post(f"/api/attendances/{closed['id']}/overtime/approve", status=403)


def test_a_check_in_up_to_3_hours_before_a_shift_counts_for_it(make_app, factory, admin):
    # Given an employee on the 01:00–09:00 shift on Tuesday (Monday is a normal work day)
    early = _guard(make_app, factory, admin, shift="DINI", day=TUESDAY)
    # When he checks in at 22:00 on Monday, three hours before
    attendance = check_in(early, f"{MONDAY}T22:00:00+07:00")["attendance"]
    # Then it is Tuesday's attendance of that shift, on time
    assert (attendance["work_date"], attendance["shift"]["code"], attendance["status"]) == \
        (TUESDAY, "DINI", "present")
    # And a second employee on the same shift checking in at 21:59 gets Monday's (late)
    other = _guard(make_app, factory, admin, shift="DINI", day=TUESDAY)
    monday = check_in(other, f"{MONDAY}T21:59:00+07:00")["attendance"]
    assert (monday["work_date"], monday["shift"]["code"], monday["status"]) == \
        (MONDAY, "JKT-REG", "late")


def test_a_day_off_check_in_is_allowed_and_all_overtime(make_app, factory):
    # Given an employee of Jakarta on a Saturday (not a work day)
    app = person(make_app, factory)
    # When she works from 10:00 to 14:30
    opened = check_in(app, "2026-11-28T10:00:00+07:00")["attendance"]
    assert (opened["shift"], opened["status"], opened["overtime_minutes"]) == \
        (None, "present", 0)
    closed = check_out(app, "2026-11-28T14:30:00+07:00")["attendance"]
    # Then every minute is overtime, waiting for an admin
    assert (closed["overtime_minutes"], closed["overtime_status"], closed["early_leave"]) == \
        (270, "pending", False)


def test_lateness_and_early_leave_follow_the_shift_and_its_graces(make_app, factory, admin):
    # Given the night shift with 10 minutes' grace and 15 minutes' early-leave grace
    shift_id = next(s["id"] for s in admin.get("/api/shift-types").json["data"]
                    if s["code"] == "MALAM")
    admin.patch_json(f"/api/shift-types/{shift_id}", {"grace_minutes": 10,
                                                      "early_leave_grace_minutes": 15})
    on_time, late = (_guard(make_app, factory, admin) for _ in range(2))
    # When one checks in at 22:10:00 and another at 22:10:01
    assert check_in(on_time, f"{MONDAY}T22:10:00+07:00")["attendance"]["status"] == "present"
    assert check_in(late, f"{MONDAY}T22:10:01+07:00")["attendance"]["status"] == "late"
    # Then leaving at 05:45 is not early, 05:44:59 is
    assert check_out(on_time, f"{TUESDAY}T05:45:00+07:00")["attendance"]["early_leave"] is False
    assert check_out(late, f"{TUESDAY}T05:44:59+07:00")["attendance"]["early_leave"] is True


def test_one_attendance_per_shift_whatever_is_retried(make_app, factory, admin):
    guard = _guard(make_app, factory, admin)
    first = check_in(guard, f"{MONDAY}T21:50:00+07:00")["attendance"]
    # a second check-in after midnight still belongs to Monday's shift
    again = check_in(guard, f"{TUESDAY}T00:30:00+07:00", status=409)
    assert again["error"] == "already_checked_in" and again["attendance"]["id"] == first["id"]


def _end_of_day(app, iso):
    from webapp.attendance.services import flag_open_attendances

    now = dt.datetime.fromisoformat(iso)
    with app.app.registry["dbsession_factory"].begin() as dbsession:
        return flag_open_attendances(dbsession, node_id="scheduler-1", now=now)


def test_a_forgotten_check_out_is_closed_at_the_shift_end_4_hours_later(make_app, factory):
    # Given an employee who checked in on Monday at 08:00 and forgot to check out
    app = person(make_app, factory)
    opened = check_in(app, f"{MONDAY}T08:00:00+07:00")["attendance"]
    # When the job runs before 21:00 (the 17:00 end + 4 hours) nothing happens
    assert _end_of_day(app, f"{MONDAY}T20:59:59+07:00") == []
    # When it runs at 21:00
    assert len(_end_of_day(app, f"{MONDAY}T21:00:00+07:00")) == 1
    # Then the attendance is closed at the shift's end, audited without an actor
    closed = app.get("/api/me/attendances").json["data"][0]
    assert (closed["id"], closed["check_out_at"], closed["auto_closed"],
            closed["duration_minutes"], closed["overtime_minutes"]) == \
        (opened["id"], f"{MONDAY}T17:00:00+07:00", True, 540, 0)
    assert _end_of_day(app, f"{MONDAY}T23:00:00+07:00") == []  # once
    # And Tuesday's check-in is a new attendance, and its check-out closes it
    tuesday = check_in(app, f"{TUESDAY}T07:55:00+07:00")["attendance"]
    assert tuesday["work_date"] == TUESDAY and tuesday["id"] != opened["id"]
    assert check_out(app, f"{TUESDAY}T17:01:00+07:00")["attendance"]["id"] == tuesday["id"]


def test_a_night_shift_left_open_is_not_closed_by_the_next_evenings_check_out(make_app, factory,
                                                                              admin):
    # Given a guard who checked in for Monday's night shift and never checked out
    guard = _guard(make_app, factory, admin)
    check_in(guard, f"{MONDAY}T21:50:00+07:00")
    # When he tries to check out at 10:01 on Tuesday (06:00 + 4 hours have passed)
    error = check_out(guard, f"{TUESDAY}T10:01:00+07:00", status=409)
    # Then there is nothing open to close any more
    assert error["error"] == "not_checked_in"
    # And the job closes Monday's at 06:00
    assert len(_end_of_day(guard, f"{TUESDAY}T10:01:00+07:00")) == 1
    closed = guard.get("/api/me/attendances").json["data"][0]
    assert (closed["check_out_at"], closed["auto_closed"]) == \
        (f"{TUESDAY}T06:00:00+07:00", True)

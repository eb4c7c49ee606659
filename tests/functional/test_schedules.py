"""Schedules and the roster (contract §3.1): assignments, later ones replacing earlier ones,
days off, holidays, the branch default, and a fixed number of queries."""
import pytest
from sqlalchemy import event

from tests.functional.shift_helpers import person

WEEK = {"from": "2026-11-23", "to": "2026-11-29"}  # Monday to Sunday


@pytest.fixture()
def admin(make_app, factory):
    app = person(make_app, factory, "admin", now="2026-11-20T07:00:00+07:00")
    app.post_json("/api/shift-types", {"code": "MALAM", "name": "Malam", "start": "22:00",
                                       "end": "06:00"}, status=201)
    return app


@pytest.fixture()
def employee(make_app, factory):
    return person(make_app, factory, now="2026-11-20T07:00:00+07:00", name="Budi")


def _days(app, path="/api/me/schedule", **params):
    data = app.get(path, params=params or WEEK).json["data"]
    return [(r["date"], r["shift_type"]["code"] if r["shift_type"] else None, r["source"])
            for r in data]


def test_an_employee_without_assignments_works_the_branch_default(employee):
    # When Budi reads his week
    days = _days(employee)
    # Then Monday–Friday are Jakarta's default shift, the weekend is off
    assert days == [("2026-11-23", "JKT-REG", "branch_default"),
                    ("2026-11-24", "JKT-REG", "branch_default"),
                    ("2026-11-25", "JKT-REG", "branch_default"),
                    ("2026-11-26", "JKT-REG", "branch_default"),
                    ("2026-11-27", "JKT-REG", "branch_default"),
                    ("2026-11-28", None, "off"), ("2026-11-29", None, "off")]
    row = employee.get("/api/me/schedule", params=WEEK).json["data"][0]
    assert row["user"] == {"id": employee.user["id"], "name": "Budi"}
    assert row["shift_type"]["start"] == "08:00" and row["shift_type"]["overnight"] is False


def test_assignments_on_weekdays_and_later_ones_replace_earlier_ones(
        admin, employee, factory):
    other = factory.user()
    # When an admin puts Budi and another on nights on Monday, Wednesday and Friday
    written = admin.post_json("/api/schedules", {
        "user_ids": [employee.user["id"], other["id"]], "date_from": "2026-11-23",
        "date_to": "2026-11-29", "weekdays": [1, 3, 5], "shift_type": "malam"},
        status=201).json
    # Then 3 days × 2 employees were written
    assert written == {"days": 6}
    # When later Budi gets Wednesday and Thursday off
    assert admin.post_json("/api/schedules", {
        "user_ids": [employee.user["id"]], "date_from": "2026-11-25", "date_to": "2026-11-26",
        "shift_type": None}, status=201).json == {"days": 2}
    # Then the later assignment wins on the days they share, the rest stays
    assert _days(employee) == [("2026-11-23", "MALAM", "assignment"),
                               ("2026-11-24", "JKT-REG", "branch_default"),
                               ("2026-11-25", None, "off"), ("2026-11-26", None, "off"),
                               ("2026-11-27", "MALAM", "assignment"),
                               ("2026-11-28", None, "off"), ("2026-11-29", None, "off")]
    # And the admin's roster of the branch shows both, one row per user per day
    rows = admin.get("/api/schedules", params={**WEEK, "branch": "JKT"}).json["data"]
    mine = [r for r in rows if r["user"]["id"] in (employee.user["id"], other["id"])]
    assert len(mine) == 14
    theirs = _days(admin, "/api/schedules", **WEEK, user_id=str(other["id"]))
    assert [code for _, code, _ in theirs] == \
        ["MALAM", "JKT-REG", "MALAM", "JKT-REG", "MALAM", None, None]


def test_holidays_are_days_off_unless_a_shift_is_assigned(admin, employee):
    # Given Christmas (a national holiday, a Friday) and a branch holiday on Thursday
    admin.post_json("/api/holidays", {"date": "2026-12-24", "name": "Libur kantor",
                                      "branch": "JKT"}, status=201)
    days = _days(employee, **{"from": "2026-12-23", "to": "2026-12-25"})
    assert days == [("2026-12-23", "JKT-REG", "branch_default"),
                    ("2026-12-24", None, "holiday"), ("2026-12-25", None, "holiday")]
    # When a guard is put on Christmas explicitly / Then he works it
    admin.post_json("/api/schedules", {"user_ids": [employee.user["id"]],
                                       "date_from": "2026-12-25", "date_to": "2026-12-25",
                                       "shift_type": "MALAM"}, status=201)
    assert _days(employee, **{"from": "2026-12-25", "to": "2026-12-25"}) == \
        [("2026-12-25", "MALAM", "assignment")]


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-11-01", "to": "2027-01-02"}, "to"),  # 62 days at most
    ({"from": "2026-11-10", "to": "2026-11-01"}, "to"),
    ({"from": "2026-13-01"}, "from"),
])
def test_a_roster_is_at_most_62_days(employee, admin, params, field):
    assert set(employee.get("/api/me/schedule", params=params, status=422)
               .json["fields"]) == {field}
    assert set(admin.get("/api/schedules", params=params, status=422).json["fields"]) == \
        {field}


def test_62_days_are_allowed(employee):
    params = {"from": "2026-11-01", "to": "2027-01-01"}
    data = employee.get("/api/me/schedule", params=params).json["data"]
    assert len(data) == 62


@pytest.mark.parametrize("body, fields", [
    ({"user_ids": [], "date_from": "2026-11-23", "date_to": "2026-11-23", "shift_type": None},
     {"user_ids"}),
    ({"user_ids": [1], "date_from": "2026-11-23", "date_to": "2026-11-22", "shift_type": None},
     {"date_to"}),
    ({"user_ids": [1], "date_from": "2026-11-23", "date_to": "2026-11-23"}, {"shift_type"}),
    ({"user_ids": [1], "date_from": "2026-11-23", "date_to": "2026-11-23",
      "shift_type": "NOPE", "weekdays": [0]}, {"shift_type", "weekdays"}),
])
def test_invalid_schedules_name_every_bad_field(admin, body, fields):
    assert set(admin.post_json("/api/schedules", body, status=422).json["fields"]) == fields


def test_unknown_users_are_404_and_employees_may_not_assign(admin, employee):
    body = {"user_ids": [employee.user["id"], 999999], "date_from": "2026-11-23",
            "date_to": "2026-11-23", "shift_type": None}
    assert admin.post_json("/api/schedules", body, status=404).json["error"] == "not_found"
    employee.post_json("/api/schedules", body, status=403)
    employee.get("/api/schedules", params=WEEK, status=403)
    # nothing was written by the refused request
    assert _days(employee)[0] == ("2026-11-23", "JKT-REG", "branch_default")


def test_the_roster_takes_the_same_queries_for_3_or_30_employees(admin, factory):
    # Given 3 employees in Surabaya and 30 in Bandung, each with an assignment
    few_ids = [factory.user(branch="SBY")["id"] for _ in range(3)]
    ids = [factory.user(branch="BDG")["id"] for _ in range(30)]
    for user_id in few_ids + ids:
        admin.post_json("/api/schedules", {"user_ids": [user_id], "date_from": "2026-11-01",
                                           "date_to": "2026-11-30", "weekdays": [6],
                                           "shift_type": "MALAM"}, status=201)
    statements = []
    event.listen(admin.app.registry["db_engine"], "before_cursor_execute",
                 lambda conn, cursor, sql, *args: statements.append(sql))

    def count(**params):
        statements.clear()
        data = admin.get("/api/schedules", params={"from": "2026-11-01", "to": "2026-11-30",
                                                   **params}).json["data"]
        return len(data), len(statements)

    # When the roster of 3 and of 30 of them is read
    few = count(branch="SBY")
    many = count(branch="BDG")
    # Then it is one row per user and day, with the same number of statements
    assert few[0] == 3 * 30 and many[0] == 30 * 30
    assert many[1] == few[1]


def test_an_assignment_announces_itself_to_the_admins_week_grids(admin, employee):
    # When an admin assigns night shifts on two weekdays of a week
    from tests.functional.shift_helpers import events

    admin.post_json("/api/schedules", {"user_ids": [employee.user["id"]], "weekdays": [1, 3],
                                       "date_from": "2026-11-23", "date_to": "2026-11-29",
                                       "shift_type": "MALAM"}, status=201)

    # Then one schedule.updated event goes out with the same commit, on the admins'
    # `schedules` channel only, saying who and which dates (the grid reloads what it shows)
    assert events(admin, "schedule.") == [(
        "schedule.updated", ["schedules"],
        {"user_ids": [employee.user["id"]], "date_from": "2026-11-23",
         "date_to": "2026-11-29", "weekdays": [1, 3], "shift_type": "MALAM"})]

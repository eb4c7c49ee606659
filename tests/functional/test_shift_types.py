"""Shift types (contract §3.1): CRUD, each branch's default kept in step with the branch,
and migration 0003 carrying existing data over."""
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import _settings
from tests.functional.shift_helpers import person

NIGHT = {"code": "malam", "name": "Shift Malam", "start": "22:00", "end": "06:00"}


@pytest.fixture()
def admin(make_app, factory):
    return person(make_app, factory, "admin", now="2026-11-20T07:00:00+07:00")


@pytest.fixture()
def employee(make_app, factory):
    return person(make_app, factory, now="2026-11-20T07:00:00+07:00")


def test_every_branch_has_a_default_shift_type_made_from_its_rules(employee):
    # When anyone lists the shift types of a fresh install
    data = employee.get("/api/shift-types").json["data"]
    # Then each seeded branch has its default, as its shift_start/shift_end/grace describe
    assert [s["code"] for s in data] == ["BDG-REG", "DPS-REG", "JKT-REG", "SBY-REG"]
    jakarta = next(s for s in data if s["code"] == "JKT-REG")
    assert jakarta == {"id": jakarta["id"], "code": "JKT-REG", "name": "Reguler Jakarta",
                       "start": "08:00", "end": "17:00", "overnight": False,
                       "grace_minutes": 15, "early_leave_grace_minutes": 0,
                       "overtime_after_minutes": 30}


def test_an_admin_creates_a_night_shift_type(admin, employee):
    # When an admin creates a 22:00–06:00 shift type (code in any case)
    created = admin.post_json("/api/shift-types", {**NIGHT, "grace_minutes": 10,
                                                   "overtime_after_minutes": 60}, status=201).json
    # Then it is overnight, its code upper-cased, the other rules defaulted
    assert created == {"id": created["id"], "code": "MALAM", "name": "Shift Malam",
                       "start": "22:00", "end": "06:00", "overnight": True,
                       "grace_minutes": 10, "early_leave_grace_minutes": 0,
                       "overtime_after_minutes": 60}
    assert created in employee.get("/api/shift-types").json["data"]
    # And the same code again is a conflict
    again = admin.post_json("/api/shift-types", {**NIGHT, "code": "MALAM"}, status=409).json
    assert again["error"] == "shift_type_exists"


@pytest.mark.parametrize("body, fields", [
    ({"code": "PAGI", "name": "Pagi", "start": "7:00", "end": "15:00"}, {"start"}),
    ({"code": "PAGI", "name": "", "start": "07:00", "end": "24:00"}, {"name", "end"}),
    ({"code": "bad code!", "name": "x", "start": "07:00", "end": "15:00"}, {"code"}),
    ({"name": "x", "start": "07:00", "end": "15:00", "grace_minutes": -1},
     {"code", "grace_minutes"}),
    ({**NIGHT, "overtime_after_minutes": True}, {"overtime_after_minutes"}),
    ({**NIGHT, "colour": "red"}, {"colour"}),
])
def test_invalid_shift_types_name_every_bad_field(admin, body, fields):
    error = admin.post_json("/api/shift-types", body, status=422).json
    assert error["error"] == "invalid"
    assert set(error["fields"]) == fields


def test_only_admins_create_or_change_shift_types(employee):
    employee.post_json("/api/shift-types", NIGHT, status=403)
    employee.patch_json("/api/shift-types/1", {"name": "x"}, status=403)


def test_patch_changes_any_field_but_the_code(admin):
    # Given a shift type
    created = admin.post_json("/api/shift-types", NIGHT, status=201).json
    # When an admin changes its times and thresholds
    changed = admin.patch_json(f"/api/shift-types/{created['id']}", {
        "name": "Malam", "start": "21:00", "end": "05:00", "early_leave_grace_minutes": 5,
    }).json
    # Then they change, and the code may not
    assert (changed["name"], changed["start"], changed["end"], changed["overnight"],
            changed["early_leave_grace_minutes"]) == ("Malam", "21:00", "05:00", True, 5)
    error = admin.patch_json(f"/api/shift-types/{created['id']}", {"code": "X"},
                             status=422).json
    assert set(error["fields"]) == {"code"}
    admin.patch_json("/api/shift-types/999999", {"name": "x"}, status=404)
    admin.patch_json(f"/api/shift-types/{created['id']}", {}, status=422)


def _default(app, code):
    return next(s for s in app.get("/api/shift-types").json["data"]
                if s["code"] == f"{code}-REG")


def _branch(app, code):
    return next(b for b in app.get("/api/branches").json["data"] if b["code"] == code)


def test_a_branch_and_its_default_shift_type_change_together(admin):
    # When an admin changes Bandung's rules through PATCH /api/branches (as before)
    admin.patch_json("/api/branches/BDG", {"shift_start": "07:30", "shift_end": "16:30",
                                           "grace_minutes": 5}, status=200)
    # Then Bandung's default shift type says the same
    default = _default(admin, "BDG")
    assert (default["start"], default["end"], default["grace_minutes"]) == \
        ("07:30", "16:30", 5)

    # When an admin changes the default shift type instead (even to a night shift)
    admin.patch_json(f"/api/shift-types/{default['id']}", {
        "start": "22:00", "end": "06:00", "grace_minutes": 0}, status=200)
    # Then the branch shows it
    branch = _branch(admin, "BDG")
    assert (branch["shift_start"], branch["shift_end"], branch["grace_minutes"]) == \
        ("22:00", "06:00", 0)
    # And PATCH of its other rules keeps working
    admin.patch_json("/api/branches/BDG", {"work_days": [1, 2, 3, 4, 5, 6]}, status=200)


def test_migration_0003_carries_existing_data_over(tmp_path):
    # Given a database at revision 0002 with a fenced branch and attendances in two zones
    from webapp.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    settings = _settings(url, "redis://127.0.0.1:1/0")
    upgrade(settings, "0002")
    engine = create_engine(url)
    with engine.begin() as db:
        db.execute(text("UPDATE branches SET shift_start='07:00:00.000000', grace_minutes=10, "
                        "geofence_lat=-6.2, geofence_lon=106.8, geofence_radius_m=150 "
                        "WHERE code='JKT'"))
        for user_id, branch_id in ((1, 1), (2, 4)):
            db.execute(text(
                "INSERT INTO users (id, name, email, password_hash, role, active, branch_id, "
                "auth_version, created_at) VALUES (:id, 'x', :email, 'x', 'employee', 1, :b, 1, "
                "'2026-11-01 00:00:00')"), {"id": user_id, "email": f"u{user_id}@x.id",
                                            "b": branch_id})
            db.execute(text(
                "INSERT INTO attendances (user_id, branch_id, work_date, check_in_at, status, "
                "check_in_node, auto_closed, early_leave, corrected) VALUES (:u, :b, "
                "'2026-11-20', '2026-11-20 01:00:00', 'present', 'app-node-1', 0, 0, 0)"),
                {"u": user_id, "b": branch_id})

    # When it is upgraded to head
    upgrade(settings)

    # Then each branch has its default shift type from its own columns
    with engine.connect() as db:
        types = {row.code: row for row in db.execute(text("SELECT * FROM shift_types"))}
        assert (str(types["JKT-REG"].start_time)[:5], types["JKT-REG"].grace_minutes) == \
            ("07:00", 10)
        # the fence became Jakarta's one site
        sites = db.execute(text("SELECT name, lat, lon, radius_m FROM branch_sites")).all()
        assert [tuple(s) for s in sites] == [("Jakarta", -6.2, 106.8, 150)]
        # and every attendance has its branch's shift of its work date, in its zone
        rows = {row.user_id: row for row in db.execute(text(
            "SELECT user_id, shift_code, shift_start_at, shift_end_at, overtime_minutes, "
            "overtime_status FROM attendances"))}
    assert (rows[1].shift_code, str(rows[1].shift_start_at)[:16], str(rows[1].shift_end_at)[:16],
            rows[1].overtime_minutes, rows[1].overtime_status) == \
        ("JKT-REG", "2026-11-20 00:00", "2026-11-20 10:00", 0, "none")
    assert (rows[2].shift_code, str(rows[2].shift_start_at)[:16]) == \
        ("DPS-REG", "2026-11-20 00:00")  # 08:00 WITA
    engine.dispose()

"""The audit trail is append-only: no code path updates or deletes an audit row, and the
database refuses it to anyone who tries (triggers from migration 0002; MariaDB: see
tests/integration/test_mariadb_hr.py)."""
import datetime as dt
import pathlib
import re

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError

from tests.factories import at, login
from webapp.attendance.services import flag_open_attendances

REPO = pathlib.Path(__file__).resolve().parents[2]
WRITES_TO_AUDIT = re.compile(r"^\s*(UPDATE|DELETE\s+FROM|REPLACE|INSERT\s+.*ON\s+DUPLICATE)"
                             r"\s+.*attendance_audit", re.IGNORECASE | re.DOTALL)


def test_every_change_path_only_inserts_audit_rows(make_app, factory):
    # Given every statement the two apps' engines send is recorded
    admin, employee = make_app(), make_app()
    statements = []
    for app in (admin, employee):
        event.listen(app.app.registry["db_engine"], "before_cursor_execute",
                     lambda conn, cursor, sql, *args: statements.append(sql))
    login(admin, factory.admin())
    user = factory.user()
    login(employee, user)

    # When an attendance goes through every kind of change the API and the jobs make
    at(employee, "2026-11-19T08:30:00+07:00")
    yesterday = employee.post("/api/attendance/check-in").json["attendance"]
    at(employee, "2026-11-20T08:00:00+07:00")
    today = employee.post("/api/attendance/check-in").json["attendance"]
    at(employee, "2026-11-20T17:00:00+07:00")
    employee.post("/api/attendance/check-out")
    at(admin, "2026-11-20T18:00:00+07:00")
    admin.patch_json(f"/api/attendances/{today['id']}", {"note": "x", "reason": "cek"})
    admin.post_json("/api/attendances", {"user_id": user["id"], "reason": "lupa",
                                         "check_in_at": "2026-11-18T08:00:00+07:00"})
    with admin.app.registry["dbsession_factory"].begin() as dbsession:
        flag_open_attendances(dbsession, node_id="scheduler-1",
                              now=dt.datetime(2026, 11, 21, 1, tzinfo=dt.timezone.utc))
    admin.get(f"/api/attendances/{yesterday['id']}/audit")

    # Then audit rows were inserted, and never updated or deleted
    audit_sql = [s for s in statements if "attendance_audit" in s]
    inserts = [s for s in audit_sql if s.lstrip().upper().startswith("INSERT")]
    # 2 check-ins, a check-out, a correction, a creation, 2 end-of-day flags
    assert len(inserts) == 7
    assert not [s for s in audit_sql if WRITES_TO_AUDIT.match(s)]


def test_no_source_file_writes_to_the_audit_table_except_by_adding():
    # The ORM model is only ever constructed and added; no bulk update/delete names it
    offenders = []
    for path in [*REPO.glob("webapp/**/*.py"), *REPO.glob("tasks/**/*.py"),
                 *REPO.glob("wsgate/**/*.py")]:
        source = path.read_text()
        if re.search(r"(update|delete)\(\s*AttendanceAudit", source) or \
                re.search(r"(UPDATE|DELETE FROM)\s+attendance_audit", source, re.IGNORECASE):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


@pytest.mark.parametrize("sql", [
    "UPDATE attendance_audit SET reason = 'diubah'",
    "DELETE FROM attendance_audit",
])
def test_sqlite_refuses_changing_audit_rows(make_app, factory, sql):
    app = make_app()
    login(app, factory.user())
    app.post("/api/attendance/check-in", status=201)
    engine = app.app.registry["db_engine"]
    with pytest.raises(DatabaseError, match="append-only"):
        with engine.begin() as connection:
            connection.execute(text(sql))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM attendance_audit")).scalar() == 1

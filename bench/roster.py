"""The roster scenario: ``GET /api/schedules`` for 31 days through nginx for N employees,
half of them on rotas of their own (nights on weekdays, then a week off in the middle),
the others on their branch's default (MariaDB), one request at a time."""
import datetime as dt

from bench import loadgen
from bench.report import Row

ROSTER_P95_MS = 1000
REQUESTS = 10
DAYS = 31


def seed(stack, employees):
    """*employees* employees; every second one gets two assignments (a night rota over the
    whole range and a later week off inside it). Returns the range and the user ids."""
    from sqlalchemy import insert, select

    from webapp.branches.models import ShiftType
    from webapp.shifts.models import ShiftAssignment

    users, _ = stack.insert_employees(employees, prefix="roster")
    ids = [user_id for user_id, _ in users]
    start = dt.date.today().replace(day=1)
    end = start + dt.timedelta(days=DAYS - 1)
    with stack.session_factory.begin() as session:
        night = session.scalar(select(ShiftType.id).where(ShiftType.code == "BENCH-MALAM"))
        if night is None:
            night = session.execute(insert(ShiftType).values(
                code="BENCH-MALAM", name="Malam (bench)", start_time=dt.time(22),
                end_time=dt.time(6), grace_minutes=15, early_leave_grace_minutes=0,
                overtime_after_minutes=30, branch_id=None)).inserted_primary_key[0]
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        rota = ids[::2]
        session.execute(insert(ShiftAssignment), [
            {"user_id": user_id, "date_from": start, "date_to": end, "weekdays": "1,2,3,4,5",
             "shift_type_id": night, "created_at": now, "created_by_id": None}
            for user_id in rota])
        session.execute(insert(ShiftAssignment), [
            {"user_id": user_id, "date_from": start + dt.timedelta(days=10),
             "date_to": start + dt.timedelta(days=16), "weekdays": None, "shift_type_id": None,
             "created_at": now, "created_by_id": None}
            for user_id in rota])
    return start, end, ids


def roster(stack, *, employees, log=print):
    from bench.recap import retire

    start, end, user_ids = seed(stack, employees)
    log(f"roster: {employees} employees × {DAYS} days from {start}, half on rotas")
    headers = stack.admin_headers()
    host, port = stack.host_port()
    path = f"/api/schedules?from={start}&to={end}"
    result = loadgen.run(host, port, [["GET", path, headers, None]] * REQUESTS, concurrency=1)
    ok = [(finish - begin) * 1000 for begin, finish, status, _, _ in result["results"]
          if status == 200]
    row = Row(f"Roster, {employees} employees × {DAYS} days (all branches)", REQUESTS, "1", ok,
              errors=REQUESTS - len(ok), target=f"p95 < {ROSTER_P95_MS} ms")
    row.passed = row.errors == 0 and row.p(95) < ROSTER_P95_MS
    retire(stack, user_ids)
    return row

"""The monthly recap scenario: ``GET /api/reports/monthly`` through nginx for N employees
with an attendance on every day of last month (MariaDB), one request at a time."""
import datetime as dt

from bench import loadgen
from bench.report import Row

RECAP_P95_MS = 1000
REQUESTS = 10


def last_month(today):
    """``(first day, last day)`` of the month before *today*'s."""
    first = today.replace(day=1) - dt.timedelta(days=1)
    return first.replace(day=1), first


def seed(stack, employees):
    """*employees* employees (over the four branches), created before last month, each with
    a closed attendance on every day of it. Returns ``"YYYY-MM"`` of that month."""
    from sqlalchemy import insert, update

    from webapp.accounts.models import User
    from webapp.attendance.models import Attendance

    users, _ = stack.insert_employees(employees, prefix="recap")
    start, end = last_month(dt.date.today())
    ids = [user_id for user_id, _ in users]
    with stack.session_factory.begin() as session:
        session.execute(update(User).where(User.id.in_(ids))
                        .values(created_at=dt.datetime.combine(start, dt.time()) -
                                dt.timedelta(days=31)))
        branches = dict(session.execute(
            User.__table__.select().with_only_columns(User.id, User.branch_id)
            .where(User.id.in_(ids))).all())
        day = start
        while day <= end:
            check_in = dt.datetime.combine(day, dt.time(1, 10))  # 08:10 WIB, 09:10 WITA
            session.execute(insert(Attendance), [
                {"user_id": user_id, "branch_id": branches[user_id], "work_date": day,
                 "check_in_at": check_in, "check_out_at": check_in + dt.timedelta(hours=9),
                 "status": "present", "check_in_node": "bench", "check_out_node": "bench",
                 "auto_closed": False, "early_leave": False, "corrected": False}
                for user_id in ids
            ])
            day += dt.timedelta(days=1)
    return f"{start:%Y-%m}", (end - start).days + 1, ids


def retire(stack, user_ids):
    """Deactivate the recap's employees: later scenarios count only their own."""
    from sqlalchemy import update

    from webapp.accounts.models import User

    with stack.session_factory.begin() as session:
        session.execute(update(User).where(User.id.in_(user_ids)).values(active=False))


def recap(stack, *, employees, log=print):
    month, days, user_ids = seed(stack, employees)
    log(f"recap: {employees} employees × {days} days of {month} inserted")
    headers = stack.admin_headers()
    host, port = stack.host_port()
    result = loadgen.run(host, port, [["GET", f"/api/reports/monthly?month={month}", headers,
                                       None]] * REQUESTS, concurrency=1)
    ok = [(end - start) * 1000 for start, end, status, _, _ in result["results"]
          if status == 200]
    row = Row(f"Monthly recap, {employees} employees × {days} days (all branches)", REQUESTS,
              "1", ok, errors=REQUESTS - len(ok), target=f"p95 < {RECAP_P95_MS} ms")
    row.passed = row.errors == 0 and row.p(95) < RECAP_P95_MS
    retire(stack, user_ids)
    return row

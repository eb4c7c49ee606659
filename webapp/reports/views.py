import csv
import io

from pyramid.response import Response
from pyramid.view import view_config

from webapp import validation as v
from webapp.attendance.export import _safe
from webapp.branches.services import all_branches, branch_from_query
from webapp.reports.recap import monthly_recap, parse_month

CSV_COLUMNS = [
    ("id_karyawan", lambda r: r["user"]["id"]), ("nama", lambda r: r["user"]["name"]),
    ("cabang", lambda r: r["branch"]), ("hari_kerja", lambda r: r["work_days"]),
    ("hadir", lambda r: r["present"]), ("terlambat", lambda r: r["late"]),
    ("menit_terlambat", lambda r: r["late_minutes"]),
    ("pulang_awal", lambda r: r["early_leave"]),
    ("izin", lambda r: r["leave"]["izin"]), ("sakit", lambda r: r["leave"]["sakit"]),
    ("cuti", lambda r: r["leave"]["cuti"]), ("alpa", lambda r: r["absent"]),
    ("menit_kerja", lambda r: r["worked_minutes"]),
]


def _recap(request):
    errors = {}
    branches = all_branches(request.dbsession)
    default = request.now.astimezone(branches[0].zone) if branches else request.now
    year_month = parse_month(request.GET.get("month"), errors,
                             default=(default.year, default.month))
    branch = branch_from_query(request.dbsession, request.GET, errors)
    if branch is not None:
        branches = [branch]
    v.raise_if(errors)
    year, month = year_month
    rows = monthly_recap(request.dbsession, year=year, month=month, branches=branches,
                         now=request.now)
    return f"{year:04d}-{month:02d}", rows


@view_config(route_name="api.report_monthly", request_method="GET", renderer="json",
             permission="admin")
def monthly(request):
    month, rows = _recap(request)
    return {"month": month, "data": rows}


@view_config(route_name="api.report_monthly_csv", request_method="GET", permission="admin")
def monthly_csv(request):
    month, rows = _recap(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([name for name, _ in CSV_COLUMNS])
    for row in rows:
        writer.writerow([_safe(get(row)) for _, get in CSV_COLUMNS])
    branch = (request.GET.get("branch") or "semua").upper()
    response = Response(body=buffer.getvalue().encode("utf-8"), content_type="text/csv",
                        charset="utf-8")
    response.content_disposition = f'attachment; filename="rekap-{month}-{branch}.csv"'
    return response

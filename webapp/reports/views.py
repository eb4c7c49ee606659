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
    ("menit_lembur", lambda r: r["overtime_minutes"]),
    ("shift_malam", lambda r: r["night_shifts"]),
    ("hari_terjadwal", lambda r: r["scheduled_days"]),
]
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    request.recap_branches = branches
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


@view_config(route_name="api.report_monthly_xlsx", request_method="GET", permission="admin")
def monthly_xlsx(request):
    """The recap as an Excel workbook: one sheet per branch (named by its code), the CSV's
    columns, numbers as numbers; a text starting with ``=`` (which openpyxl would store as
    a formula) is escaped like the CSV's."""
    month, rows = _recap(request)
    body = recap_workbook(month, request.recap_branches, rows)
    branch = (request.GET.get("branch") or "semua").upper()
    response = Response(body=body, content_type=XLSX_TYPE)
    response.content_disposition = f'attachment; filename="rekap-{month}-{branch}.xlsx"'
    return response


def recap_workbook(month, branches, rows):
    from openpyxl import Workbook  # only the export needs it
    from openpyxl.styles import Font

    workbook = Workbook()
    workbook.remove(workbook.active)
    by_branch = {}
    for row in rows:
        by_branch.setdefault(row["branch"], []).append(row)
    for branch in branches:
        sheet = workbook.create_sheet(title=branch.code)
        sheet.append([name for name, _ in CSV_COLUMNS])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in by_branch.get(branch.code, []):
            sheet.append([_cell(get(row)) for _, get in CSV_COLUMNS])
        sheet.freeze_panes = "A2"
        sheet.column_dimensions["B"].width = 28
    workbook.properties.title = f"Rekap absensi {month}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _cell(value):
    # numbers stay numbers; a text that a spreadsheet would read as a formula is escaped
    return _safe(value) if isinstance(value, str) else value

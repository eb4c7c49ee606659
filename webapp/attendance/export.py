"""Streamed CSV export of the attendance history.

The response body is produced after the request transaction has ended, so the
generator opens its own short read-only sessions and walks the rows in keyset order
(``id``) a chunk at a time: memory stays flat however many rows match.
"""
import csv
import datetime as dt
import io

from pyramid.response import Response

from webapp.attendance.models import Attendance
from webapp.attendance.serializers import attendance_json

CHUNK = 500
#: (field of the row, column header): what HR reads, in Bahasa Indonesia. ``status_kode``
#: keeps the API's machine value for spreadsheets and scripts that filter on it.
COLUMNS = [
    ("id", "id"), ("work_date", "tanggal"), ("branch", "cabang"), ("user_id", "id_karyawan"),
    ("user_name", "nama"), ("check_in_time", "jam_masuk"), ("check_out_time", "jam_pulang"),
    ("status_label", "status"), ("status", "status_kode"),
    ("duration_minutes", "durasi_menit"), ("early_leave", "pulang_cepat"),
    ("corrected", "dikoreksi"), ("auto_closed", "ditutup_otomatis"),
    ("check_in_node", "node_masuk"), ("check_out_node", "node_pulang"), ("note", "catatan"),
]
STATUS_LABELS = {"present": "Tepat waktu", "late": "Terlambat"}
#: Indonesia's zones by UTC offset, as the pages show them
ZONE_NAMES = {"+07:00": "WIB", "+08:00": "WITA", "+09:00": "WIT"}


def local_time(iso):
    """``2026-11-20T08:05:00+07:00`` -> ``08:05:00 WIB`` (the date has its own column)."""
    if not iso:
        return None
    return f"{iso[11:19]} {ZONE_NAMES.get(iso[19:], 'UTC' + iso[19:])}"


def yes_no(value):
    return "ya" if value else "tidak"


def _safe(value):
    # Spreadsheet formula injection: a cell starting with = + - @ is shown, not evaluated.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(attendance):
    data = attendance_json(attendance)
    data.update(
        user_id=data["user"]["id"], user_name=data["user"]["name"],
        check_in_time=local_time(data["check_in_at"]),
        check_out_time=local_time(data["check_out_at"]),
        status_label=STATUS_LABELS.get(data["status"], data["status"]),
        early_leave=yes_no(data["early_leave"]), corrected=yes_no(data["corrected"]),
        auto_closed=yes_no(data["auto_closed"]),
    )
    return [_safe(data[key]) for key, _ in COLUMNS]


def _lines(session_factory, read_engine, query):
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush():
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode("utf-8")

    writer.writerow([header for _, header in COLUMNS])
    yield flush()
    last_id = 0
    while True:
        with session_factory(bind=read_engine) as dbsession:
            chunk = dbsession.scalars(
                query.where(Attendance.id > last_id).order_by(Attendance.id).limit(CHUNK)
            ).all()
            for attendance in chunk:
                writer.writerow(_row(attendance))
        if not chunk:
            return
        last_id = chunk[-1].id
        yield flush()


def csv_response(request, query):
    stamp = dt.date.today().isoformat()
    response = Response(content_type="text/csv", charset="utf-8")
    response.content_disposition = f'attachment; filename="absensi-{stamp}.csv"'
    response.app_iter = _lines(request.registry["dbsession_factory"],
                               request.registry["db_read_engine"], query)
    return response

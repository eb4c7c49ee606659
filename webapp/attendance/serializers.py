from webapp.clock import as_utc, local_iso


def duration_minutes(attendance):
    if attendance.check_out_at is None:
        return None
    return int((attendance.check_out_at - attendance.check_in_at).total_seconds() // 60)


def _clock(naive_utc, zone):
    return as_utc(naive_utc).astimezone(zone).strftime("%H:%M")


def shift_json(attendance, zone):
    """``{"code","start","end"}`` (local ``HH:MM``) of the attendance's shift, or None."""
    if attendance.shift_code is None:
        return None
    return {"code": attendance.shift_code, "start": _clock(attendance.shift_start_at, zone),
            "end": _clock(attendance.shift_end_at, zone)}


def attendance_json(attendance):
    """The contract's ``Attendance`` (plus ``auto_closed`` and the geofence distances,
    see README)."""
    zone = attendance.branch.zone
    return {
        "id": attendance.id,
        "user": {"id": attendance.user.id, "name": attendance.user.name},
        "branch": attendance.branch.code,
        "work_date": attendance.work_date.isoformat(),
        "check_in_at": local_iso(attendance.check_in_at, zone),
        "check_out_at": local_iso(attendance.check_out_at, zone),
        "status": attendance.status,
        "check_in_node": attendance.check_in_node,
        "check_out_node": attendance.check_out_node,
        "duration_minutes": duration_minutes(attendance),
        "note": attendance.note,
        "early_leave": bool(attendance.early_leave),
        "corrected": bool(attendance.corrected),
        "auto_closed": attendance.auto_closed,
        "check_in_distance_m": attendance.check_in_distance_m,
        "check_out_distance_m": attendance.check_out_distance_m,
        "shift": shift_json(attendance, zone),
        "overtime_minutes": attendance.overtime_minutes or 0,
        "overtime_status": attendance.overtime_status or "none",
        "check_in_site": attendance.check_in_site,
        "check_out_site": attendance.check_out_site,
        "offline": bool(attendance.offline),
    }


def audit_json(entry, zone):
    return {
        "id": entry.id,
        "at": local_iso(entry.at, zone),
        "actor": {"id": entry.actor.id, "name": entry.actor.name} if entry.actor else None,
        "action": entry.action,
        "changes": entry.changes,
        "reason": entry.reason,
        "node_id": entry.node_id,
    }

from sqlalchemy import select

from webapp import validation as v
from webapp.branches.geofence import MAX_RADIUS_M, MIN_RADIUS_M
from webapp.branches.models import Branch, BranchSite, ShiftType
from webapp.errors import invalid

MAX_GRACE_MINUTES = 240
MAX_SITES = 20
SETTINGS = ("shift_start", "shift_end", "grace_minutes", "work_days", "geofence")


def all_branches(dbsession):
    return list(dbsession.scalars(select(Branch).order_by(Branch.id)))


def branch_by_code(dbsession, code):
    if not isinstance(code, str):
        return None
    return dbsession.scalar(select(Branch).where(Branch.code == code.strip().upper()))


def branch_from_query(dbsession, params, errors, *, among=None):
    """The branch a list is filtered by (``?branch=CODE``), None for all; an unknown code
    is an error on the ``branch`` field. *among*: the branches to look in (the node's
    cache, :func:`cached_branches`) instead of the database."""
    code = params.get("branch")
    if not code:
        return None
    if among is None:
        branch = branch_by_code(dbsession, code)
    else:
        wanted = code.strip().upper()
        branch = next((b for b in among if b.code == wanted), None)
    if branch is None:
        errors["branch"] = "Kode cabang tidak dikenal."
    return branch


def cached_branches(request):
    """Every branch, by id, from the node's cache (read-only rows shared by the request
    threads; reloaded after a committed branch change, webapp.branches.cache)."""
    version = getattr(request.session, "branches_version", None)
    return request.registry["branch_cache"].all(version)


def branch_json(branch):
    return {
        "code": branch.code,
        "name": branch.name,
        "timezone": branch.timezone,
        "shift_start": branch.shift_start.strftime("%H:%M"),
        "shift_end": branch.shift_end.strftime("%H:%M"),
        "grace_minutes": branch.grace_minutes,
        "work_days": sorted(branch.weekdays),
        "geofence": branch.geofence,
        "sites": [site.as_json() for site in branch.sites],
    }


def _work_days(raw, errors):
    if (isinstance(raw, list) and raw and len(raw) <= 7
            and all(isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= 7 for d in raw)
            and len(set(raw)) == len(raw)):
        return ",".join(str(d) for d in sorted(raw))
    errors["work_days"] = "Harus daftar hari ISO 1–7 tanpa duplikat (1 = Senin), minimal satu."
    return None


def _geofence(raw, errors):
    """``(lat, lon, radius_m)`` or ``(None, None, None)`` for null (no fence)."""
    if raw is None:
        return None, None, None
    if not isinstance(raw, dict) or set(raw) != {"lat", "lon", "radius_m"}:
        errors["geofence"] = "Harus null atau objek {lat, lon, radius_m}."
        return None
    lat = v.number_in_range(raw["lat"], "geofence.lat", errors, -90, 90)
    lon = v.number_in_range(raw["lon"], "geofence.lon", errors, -180, 180)
    radius = raw["radius_m"]
    if not (isinstance(radius, int) and not isinstance(radius, bool)
            and MIN_RADIUS_M <= radius <= MAX_RADIUS_M):
        errors["geofence.radius_m"] = (f"Harus bilangan bulat {MIN_RADIUS_M}–{MAX_RADIUS_M} "
                                       "meter.")
        return None
    return lat, lon, radius


def update_branch(dbsession, branch, changes):
    """``PATCH /api/branches/{code}``: validate every field first, then apply them all."""
    v.reject_unknown(changes, SETTINGS)
    if not changes:
        raise invalid({"_body": "Tidak ada yang diubah."})
    errors = {}
    values = {}
    for field in ("shift_start", "shift_end"):
        if field in changes:
            values[field] = v.clock_time(changes[field], field, errors)
    if "grace_minutes" in changes:
        grace = changes["grace_minutes"]
        if isinstance(grace, int) and not isinstance(grace, bool) \
                and 0 <= grace <= MAX_GRACE_MINUTES:
            values["grace_minutes"] = grace
        else:
            errors["grace_minutes"] = f"Harus bilangan bulat 0–{MAX_GRACE_MINUTES}."
    if "work_days" in changes:
        values["work_days"] = _work_days(changes["work_days"], errors)
    if "geofence" in changes:
        fence = _geofence(changes["geofence"], errors)
        if fence is not None:
            values["geofence_lat"], values["geofence_lon"], values["geofence_radius_m"] = fence
    start = values.get("shift_start", branch.shift_start)
    end = values.get("shift_end", branch.shift_end)
    if not errors and ("shift_start" in values or "shift_end" in values) and end <= start:
        # a night shift is a shift type (PATCH /api/shift-types/{id} of the default)
        errors["shift_end"] = "Jam pulang harus setelah jam masuk."
    v.raise_if(errors)
    for field, value in values.items():
        setattr(branch, field, value)
    if "geofence" in changes:
        _replace_sites(branch, [] if changes["geofence"] is None else [{
            "name": branch.name, **changes["geofence"]}])
    sync_default_shift(dbsession, branch)
    dbsession.flush()
    return branch


def sync_default_shift(dbsession, branch):
    """Keep the branch's default shift type equal to its ``shift_start``/``shift_end``/
    ``grace_minutes`` (making it if the branch has none yet)."""
    shift = branch.default_shift
    if shift is None:
        shift = branch.default_shift_type()
        dbsession.add(shift)
        branch.default_shift = shift
    shift.start_time, shift.end_time = branch.shift_start, branch.shift_end
    shift.grace_minutes = branch.grace_minutes


def sync_branch_from_default(branch, shift):
    """The other direction: a change of a default shift type changes its branch."""
    branch.shift_start, branch.shift_end = shift.start_time, shift.end_time
    branch.grace_minutes = shift.grace_minutes


def default_shift_types(dbsession):
    """``{branch_id: ShiftType}``."""
    return {s.branch_id: s for s in dbsession.scalars(
        select(ShiftType).where(ShiftType.branch_id.is_not(None)))}


# -- sites -----------------------------------------------------------------------------

def _replace_sites(branch, sites):
    """Replace the branch's sites (validated dicts), and its geofence columns with the
    first (a node of the previous release knows only those)."""
    branch.sites = [BranchSite(position=i, name=s["name"], lat=s["lat"], lon=s["lon"],
                               radius_m=s["radius_m"]) for i, s in enumerate(sites)]
    first = sites[0] if sites else {"lat": None, "lon": None, "radius_m": None}
    branch.geofence_lat, branch.geofence_lon = first["lat"], first["lon"]
    branch.geofence_radius_m = first["radius_m"]


def set_sites(dbsession, branch, body):
    """``PUT /api/branches/{code}/sites``: 0–20 named circles; 422 naming each bad field."""
    v.reject_unknown(body, ("sites",))
    raw = body.get("sites")
    errors = {}
    if not isinstance(raw, list) or len(raw) > MAX_SITES:
        raise invalid({"sites": f"Harus daftar 0–{MAX_SITES} lokasi."})
    sites, names = [], set()
    for i, site in enumerate(raw):
        prefix = f"sites.{i}"
        if not isinstance(site, dict) or set(site) != {"name", "lat", "lon", "radius_m"}:
            errors[prefix] = "Harus objek {name, lat, lon, radius_m}."
            continue
        name = v.check_name(site["name"], errors, f"{prefix}.name")
        if name is not None and name.lower() in names:
            errors[f"{prefix}.name"] = "Nama lokasi sudah dipakai."
        names.add((name or "").lower())
        lat = v.number_in_range(site["lat"], f"{prefix}.lat", errors, -90, 90)
        lon = v.number_in_range(site["lon"], f"{prefix}.lon", errors, -180, 180)
        radius = site["radius_m"]
        if not (isinstance(radius, int) and not isinstance(radius, bool)
                and MIN_RADIUS_M <= radius <= MAX_RADIUS_M):
            errors[f"{prefix}.radius_m"] = (f"Harus bilangan bulat {MIN_RADIUS_M}–"
                                            f"{MAX_RADIUS_M} meter.")
        sites.append({"name": name, "lat": lat, "lon": lon, "radius_m": radius})
    v.raise_if(errors)
    _replace_sites(branch, sites)
    dbsession.flush()
    return branch

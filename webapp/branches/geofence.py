"""The branch geofence: great-circle distance and the check-in/check-out location rule."""
import math

from webapp import validation as v
from webapp.errors import ApiError, invalid

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
MIN_RADIUS_M = 10
MAX_RADIUS_M = 5_000
MAX_ACCURACY_M = 100_000


def distance_m(lat1, lon1, lat2, lon2):
    """Haversine distance in metres between two WGS 84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2 - lon1)
    h = (math.sin(d_phi / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def parse_location(raw):
    """``{"lat","lon","accuracy_m"}`` from a request body, or None when absent; 422 if bad."""
    if raw is None:
        return None
    errors = {}
    if not isinstance(raw, dict) or set(raw) - {"lat", "lon", "accuracy_m"}:
        raise invalid({"location": "Harus objek {lat, lon, accuracy_m}."})
    location = {
        "lat": v.number_in_range(raw.get("lat"), "location.lat", errors, -90, 90),
        "lon": v.number_in_range(raw.get("lon"), "location.lon", errors, -180, 180),
        "accuracy_m": v.number_in_range(raw.get("accuracy_m"), "location.accuracy_m", errors,
                                        0, MAX_ACCURACY_M),
    }
    v.raise_if(errors)
    return location


def check_location(branch, location):
    """The rounded distance from the branch's fence centre, or None without a fence
    (:func:`locate` without the site's name)."""
    return locate(branch, location)[0]


def locate(branch, location):
    """``(distance_m, site name)`` of the nearest of the branch's sites that ``location`` is
    inside of; ``(None, None)`` when the branch has no site (nor geofence).

    Raises 422 ``location_required`` / ``location_inaccurate`` (``accuracy_m`` above every
    site's radius) / ``outside_geofence`` (with ``distance_m`` from the nearest site's
    centre). A distance equal to the radius is inside.
    """
    fences = branch.fences
    if not fences:
        return None, None
    if location is None:
        raise ApiError(422, "location_required",
                       "Cabang ini memakai geofence: izinkan akses lokasi lalu coba lagi.")
    widest = max(radius for _, _, _, radius in fences)
    if location["accuracy_m"] > widest:
        raise ApiError(
            422, "location_inaccurate",
            f"Lokasi kurang akurat (±{round(location['accuracy_m'])} m, paling banyak "
            f"{widest} m). Coba di tempat terbuka atau nyalakan GPS.",
        )
    measured = sorted(
        (distance_m(lat, lon, location["lat"], location["lon"]), radius, name)
        for name, lat, lon, radius in fences)
    for distance, radius, name in measured:
        if distance <= radius and location["accuracy_m"] <= radius:
            return round(distance), name
    nearest = measured[0][0]
    raise ApiError(
        422, "outside_geofence",
        f"Anda berada {round(nearest)} m dari lokasi kantor terdekat "
        f"(batas {measured[0][1]} m).",
        extra={"distance_m": round(nearest)},
    )

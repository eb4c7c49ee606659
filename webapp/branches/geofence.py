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
    """The rounded distance from the branch's fence centre, or None without a fence.

    Raises 422 ``location_required`` / ``location_inaccurate`` / ``outside_geofence``.
    """
    fence = branch.geofence
    if fence is None:
        return None
    if location is None:
        raise ApiError(422, "location_required",
                       "Cabang ini memakai geofence: izinkan akses lokasi lalu coba lagi.")
    if location["accuracy_m"] > fence["radius_m"]:
        raise ApiError(
            422, "location_inaccurate",
            f"Lokasi kurang akurat (±{round(location['accuracy_m'])} m, paling banyak "
            f"{fence['radius_m']} m). Coba di tempat terbuka atau nyalakan GPS.",
        )
    distance = distance_m(fence["lat"], fence["lon"], location["lat"], location["lon"])
    if distance > fence["radius_m"]:
        raise ApiError(
            422, "outside_geofence",
            f"Anda berada {round(distance)} m dari kantor (batas {fence['radius_m']} m).",
            extra={"distance_m": round(distance)},
        )
    return round(distance)

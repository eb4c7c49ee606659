"""Small, explicit input checks shared by the views. Messages are for people (Indonesian)."""
import datetime as dt
import math
import re

from webapp.errors import ApiError, invalid

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
#: ids and numbers: ASCII digits only (int() would also take "١٥" or "１５")
ASCII_NUMBER_RE = re.compile(r"[0-9]{1,18}")
#: the largest id a BIGINT column (and SQLite's INTEGER) can hold
MAX_ID = 2**63 - 1
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_NAME_LENGTH = 100
MAX_NOTE_LENGTH = 500


def json_object(request, *, optional=False):
    """The request body as a dict; 400 for malformed (or absurdly nested) JSON, 422 for a
    non-object."""
    if optional and not request.body:
        return {}
    try:
        body = request.json_body
    except (ValueError, RecursionError):
        raise ApiError(400, "invalid_json", "Badan permintaan bukan JSON yang valid.") from None
    if not isinstance(body, dict):
        raise invalid({"_body": "Harus berupa objek JSON."})
    return body


def reject_unknown(body, allowed):
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid({name: "Kolom tidak dikenal." for name in unknown})


def normalise_email(value):
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if EMAIL_RE.match(email) and len(email) <= 254 else None


def check_name(value, errors, field="name"):
    if not isinstance(value, str) or not value.strip():
        errors[field] = "Wajib diisi."
    elif len(value.strip()) > MAX_NAME_LENGTH:
        errors[field] = f"Paling banyak {MAX_NAME_LENGTH} karakter."
    else:
        return " ".join(value.split())
    return None


def check_password(value, errors, field="password"):
    if not isinstance(value, str):
        errors[field] = "Wajib diisi."
    elif len(value) < MIN_PASSWORD_LENGTH:
        errors[field] = f"Minimal {MIN_PASSWORD_LENGTH} karakter."
    elif len(value) > MAX_PASSWORD_LENGTH:
        errors[field] = f"Paling banyak {MAX_PASSWORD_LENGTH} karakter."
    else:
        return value
    return None


def check_note(value):
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid({"note": "Harus berupa teks."})
    note = value.strip()
    if len(note) > MAX_NOTE_LENGTH:
        raise invalid({"note": f"Paling banyak {MAX_NOTE_LENGTH} karakter."})
    return note or None


def pagination(params, errors):
    page = positive_int(params.get("page", "1"), "page", errors)
    per_page = positive_int(params.get("per_page", str(DEFAULT_PER_PAGE)), "per_page", errors)
    if per_page and per_page > MAX_PER_PAGE:
        errors["per_page"] = f"Paling banyak {MAX_PER_PAGE}."
    return page or 1, per_page or DEFAULT_PER_PAGE


def ascii_int(raw):
    """*raw* (text) as an int if it is 1–18 ASCII digits, else None."""
    text = raw.strip() if isinstance(raw, str) else None
    return int(text) if text and ASCII_NUMBER_RE.fullmatch(text) else None


def positive_int(raw, field, errors):
    value = ascii_int(raw)
    if value is None or value < 1 or value > 10**9:
        errors[field] = "Harus bilangan bulat positif."
        return None
    return value


def path_id(request, name="id"):
    """The route's numeric id, or None when it is not one (the caller answers 404)."""
    value = ascii_int(request.matchdict.get(name))
    return value if value is not None and 1 <= value <= MAX_ID else None


def iso_date(raw, field, errors):
    if raw in (None, ""):
        return None
    text = str(raw).strip()
    if len(text) == 10:  # only YYYY-MM-DD (fromisoformat would take other ISO forms too)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    errors[field] = "Tanggal harus berformat YYYY-MM-DD."
    return None


def raise_if(errors):
    if errors:
        raise invalid(errors)


# -- HR inputs (instants, clock times, numbers, required texts) --------------------------

# years 2000–2100 only: year 1 or 9999 overflowed on conversion (500), and before 1924 the
# zone database gives local mean time (+07:07:12), which is no ISO 8601 offset
_INSTANT_RE = re.compile(
    r"^(?:20\d{2}|2100)-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?"
    r"(?:Z|[+-]\d{2}:\d{2})$", re.ASCII)
_CLOCK_RE = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$", re.ASCII)


def iso_instant(raw, field, errors):
    """An ISO 8601 instant *with* its UTC offset (``2026-11-20T08:00:00+07:00``), to the
    second; None (and an error) otherwise."""
    if isinstance(raw, str) and _INSTANT_RE.match(raw):
        try:
            return dt.datetime.fromisoformat(raw).replace(microsecond=0)
        except ValueError:
            pass
    errors[field] = "Harus waktu ISO 8601 dengan zona waktu, mis. 2026-11-20T08:00:00+07:00."
    return None


def clock_time(raw, field, errors):
    """``HH:MM`` (24-hour) as a ``datetime.time``."""
    if isinstance(raw, str) and _CLOCK_RE.match(raw):
        return dt.time(int(raw[:2]), int(raw[3:]))
    errors[field] = "Harus jam berformat HH:MM (00:00–23:59)."
    return None


def number_in_range(raw, field, errors, low, high):
    """A JSON number (not a boolean) within [low, high]."""
    if (isinstance(raw, (int, float)) and not isinstance(raw, bool)
            and math.isfinite(raw) and low <= raw <= high):
        return raw
    errors[field] = f"Harus angka antara {low} dan {high}."
    return None


def required_text(raw, field, errors, max_length=MAX_NOTE_LENGTH):
    """A string of at most ``max_length`` characters with something readable in it (not only
    blanks or control characters), stripped."""
    if not isinstance(raw, str) or not any(c.isprintable() and not c.isspace() for c in raw):
        errors[field] = "Wajib diisi."
    elif len(raw.strip()) > max_length:
        errors[field] = f"Paling banyak {max_length} karakter."
    else:
        return raw.strip()
    return None

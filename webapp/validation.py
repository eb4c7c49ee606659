"""Small, explicit input checks shared by the views. Messages are for people (Indonesian)."""
import datetime as dt
import re

from webapp.errors import ApiError, invalid

EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
MAX_NAME_LENGTH = 100
MAX_NOTE_LENGTH = 500


def json_object(request, *, optional=False):
    """The request body as a dict; 400 for malformed JSON, 422 for a non-object."""
    if optional and not request.body:
        return {}
    try:
        body = request.json_body
    except ValueError:
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


def positive_int(raw, field, errors):
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if value < 1 or value > 10**9:
        errors[field] = "Harus bilangan bulat positif."
        return None
    return value


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

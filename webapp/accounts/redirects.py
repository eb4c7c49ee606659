"""Where ``/login?next=`` may send a browser: only to a path of this site.

A check on the string is not enough: the browser resolves the value with the WHATWG URL
parser, which strips tabs and newlines, reads ``\\`` as ``/`` and ``%2e%2e`` as ``..``, so
``/%2e%2e//evil.example`` has the path ``//evil.example``, which a later
``location.assign`` reads as another host. :func:`safe_next` therefore resolves the value
as the browser does (the parts of the URL standard that http(s) URLs use) against the
site's origin and returns a path that stays on this origin when resolved again, or None.
Whatever it is unsure of it refuses.
"""
import re
import urllib.parse

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_SLASHES = ("//", "\\\\", "/\\", "\\/")  # any two of / and \ start an authority
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SINGLE_DOT = {".", "%2e"}
_DOUBLE_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}
# the URL standard's percent-encode sets (besides C0 controls and non-ASCII)
_PATH_ENCODE = set(' "#<>?`{}')
_QUERY_ENCODE = set(' "#<>\'')
_FRAGMENT_ENCODE = set(' "<>`')


def _encode(text, encode_set):
    return "".join(urllib.parse.quote(c, safe="") if c in encode_set or ord(c) > 0x7E else c
                   for c in text)


def _site(origin):
    parts = urllib.parse.urlsplit(origin)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def _authority_site(scheme, authority):
    """(scheme, host, port) of an authority as the browser reads it; None when unsure."""
    host_port = authority.rpartition("@")[2]
    host, colon, port = host_port.rpartition(":")
    if not colon or "]" in port:
        host, port = host_port, ""
    host = urllib.parse.unquote(host).lower().rstrip(".")
    if not re.fullmatch(r"[a-z0-9.\-]+", host) or (port and not port.isdigit()):
        return None
    return scheme, host, int(port) if port else _DEFAULT_PORTS.get(scheme)


def _split_rest(text):
    """``path``, query and fragment (None when absent) of what follows the authority."""
    text, hash_, fragment = text.partition("#")
    path, question, query = text.partition("?")
    return path, (query if question else None), (fragment if hash_ else None)


def _segments(path):
    """The path's segments after dot-segment removal (``\\`` is ``/`` in http(s) URLs)."""
    segments = []
    pieces = path.replace("\\", "/").split("/")
    for index, piece in enumerate(pieces):
        last = index == len(pieces) - 1
        if piece.lower() in _DOUBLE_DOT:
            if segments:
                segments.pop()
            if last:
                segments.append("")
        elif piece.lower() in _SINGLE_DOT:
            if last:
                segments.append("")
        else:
            segments.append(piece)
    return segments


def safe_next(value, origin):
    """The path of ``origin`` (``https://absensi.example``) that ``value`` leads to when a
    page at the origin's root resolves it, with its query and fragment; None when it leads
    anywhere else or cannot be read."""
    if not value:
        return None
    site = _site(origin)
    # as the parser does: no leading/trailing C0 controls or spaces, no tab or newline at all
    text = re.sub(r"[\t\n\r]", "", value.strip("".join(map(chr, range(0x21)))))
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        return None
    match = _SCHEME.match(text)
    if match:
        if match.group(1).lower() != site[0]:  # another origin, or javascript:, data:...
            return None
        # the same special scheme: what follows is read as relative ("https:x" is "/x")
        text = text[match.end():]
    if text[:2] in _SLASHES:
        rest = text.lstrip("/\\")
        end = min([i for i in map(rest.find, "/\\?#") if i >= 0], default=len(rest))
        if _authority_site(site[0], rest[:end]) != site:
            return None
        text = rest[end:]
    path, query, fragment = _split_rest(text)
    segments = _segments(path[1:] if path[:1] in ("/", "\\") else path)
    if len(segments) > 1 and segments[0] == "":
        return None  # a path "//host..." would be read as an authority when followed
    result = "/" + "/".join(_encode(s, _PATH_ENCODE) for s in segments)
    if query is not None:
        result += "?" + _encode(query, _QUERY_ENCODE)
    if fragment is not None:
        result += "#" + _encode(fragment, _FRAGMENT_ENCODE)
    return result

"""``?next=`` is resolved as a browser resolves it (WHATWG URL) against the site's origin;
only paths of that origin come out, reduced to path, query and fragment."""
import pytest

from webapp.accounts.redirects import safe_next

SITE = "https://absensi.example"

#: values that lead away from the origin (or cannot be read)
ELSEWHERE = [
    # dot segments, literal and percent-encoded, that leave "//host" as the path
    "/%2e%2e//evil.example",
    "/%2E%2E//evil.example/",
    "/..//evil.example",
    "/.%2e//evil.example",
    "/%2e.//evil.example",
    "/./..//evil.example",
    "/a/../..//evil.example",
    "/.././/evil.example",
    # backslashes are slashes in http(s) URLs
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/%2e%2e/\\evil.example",
    # tabs and newlines vanish before parsing, whitespace around is trimmed
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "  //evil.example",
    "/%2e%2e/\t/evil.example",
    # another host, however written
    "//evil.example",
    "//evil.example/absen",
    "///evil.example",
    "//absensi.example@evil.example/",
    "//%65vil.example/",
    "https://evil.example/",
    "https:/\\evil.example",
    "https:\\\\evil.example",
    "HTTPS://evil.example",
    "https://absensi.example.evil.example/",
    "https://absensi.example:8443/absen",
    # another scheme is another origin, or script
    "http://absensi.example/absen",
    "http:host",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\nscript:alert(1)",
    "data:text/html,hi",
    # a control character inside (the parser would encode it): refused rather than guessed
    "/ab\x00sen",
    "",
    None,
]

#: values that stay on the origin, with the path they lead to
SAME_ORIGIN = [
    ("/absen", "/absen"),
    ("/absen?tab=izin", "/absen?tab=izin"),
    ("/admin/riwayat?from=2026-11-01#baris-3", "/admin/riwayat?from=2026-11-01#baris-3"),
    # dot segments that stay on the site are resolved as the browser does
    ("/admin/../absen", "/absen"),
    ("/%2e%2e/absen", "/absen"),
    ("/./admin/./izin/", "/admin/izin/"),
    ("/admin/%2E%2E", "/"),
    # encoded slashes are not slashes: the path stays on this site
    ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
    ("/%5C%5Cevil.example", "/%5C%5Cevil.example"),
    ("/%09/evil.example/", "/%09/evil.example/"),
    # a tab inside a single-slash path is dropped; backslashes inside are slashes
    ("/ab\tsen", "/absen"),
    ("/admin\\izin", "/admin/izin"),
    # absolute URLs to the same origin (default port, any case) are reduced to their path
    ("https://absensi.example/admin?x=1#f", "/admin?x=1#f"),
    ("HTTPS://ABSENSI.EXAMPLE:443/absen", "/absen"),
    ("https://absensi.example", "/"),
    ("//absensi.example/absen", "/absen"),
    ("/\\absensi.example/absen", "/absen"),
    # "https:x" on an https site is a relative reference, as is a bare path
    ("https:absen", "/absen"),
    ("absen", "/absen"),
    # what the browser would percent-encode is encoded
    ("/cari nama?q=a b\"c", "/cari%20nama?q=a%20b%22c"),
    ("/ä", "/%C3%A4"),
]


@pytest.mark.parametrize("value", ELSEWHERE)
def test_anything_that_leaves_the_origin_is_refused(value):
    assert safe_next(value, SITE) is None


@pytest.mark.parametrize("value, path", SAME_ORIGIN)
def test_same_origin_paths_are_kept_as_the_browser_resolves_them(value, path):
    assert safe_next(value, SITE) == path


def test_the_sites_own_port_is_part_of_its_origin():
    site = "http://127.0.0.1:6543"
    assert safe_next("http://127.0.0.1:6543/absen", site) == "/absen"
    assert safe_next("//127.0.0.1:6543/absen", site) == "/absen"
    assert safe_next("http://127.0.0.1/absen", site) is None
    assert safe_next("//127.0.0.1:6544/absen", site) is None


def test_what_comes_out_resolves_to_itself():
    # following the answer again gives the same path: nothing left for a second parse
    for value in ("/%2e%2e/absen", "/a/./b/../c?d#e", "https://absensi.example/x\\y"):
        path = safe_next(value, SITE)
        assert safe_next(path, SITE) == path

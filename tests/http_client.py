"""One browser-like JSON client for every test that talks to a running front (nginx).

Cookies, JSON bodies, the session's CSRF header, ``Origin`` on unsafe requests (over HTTPS
Pyramid refuses them without one, as it would a browser's) and, for HTTPS fronts, a CA to
verify against. Proxies from the environment are ignored: tests talk to their own servers.

Logins meet nginx's per-address login rate (5/s, burst 20) the way real offices do:

- against a loopback front every client is a device of its own, with its own source
  address in 127.2.0.0/16 (all of 127/8 is loopback on Linux), as many offices and phones
  are many addresses; a test that logs in sixty employees at once is then limited by the
  machine, never by how fast it is;
- anywhere (a lab host's address has one source only), a login answered 429 waits the
  ``Retry-After`` it was given and tries again, as a polite client does, for a bounded time.
"""
import functools
import http.client
import http.cookiejar
import itertools
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

#: how long :meth:`HttpClient.login` keeps honouring ``Retry-After`` before it gives up
LOGIN_PATIENCE_SECONDS = 60

_sources = itertools.count()
_sources_lock = threading.Lock()


def next_loopback_source():
    """A loopback address no other client of this process has used (127.2.0.1 onwards)."""
    with _sources_lock:
        index = next(_sources) % (250 * 250)
    return f"127.2.{index // 250}.{index % 250 + 1}"


def _is_loopback(base_url):
    host = urllib.parse.urlsplit(base_url).hostname or ""
    return host == "localhost" or host.startswith("127.")


class _SourceHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, source):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection,
                                              source_address=(self.source, 0)), req)


class _SourceHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, source, context):
        super().__init__(context=context)
        self.source, self.context = source, context

    def https_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPSConnection,
                                              source_address=(self.source, 0)),
                            req, context=self.context)


def _parse(headers, raw):
    if "json" not in (headers.get("Content-Type") or ""):
        return raw
    return json.loads(raw) if raw else None


class HttpClient:
    """``request()`` answers ``(status, headers, body)``, the body parsed when it is JSON.

    ``headers`` holds what every request sends (the CSRF token once logged in).
    """

    def __init__(self, base_url, ca_file=None, timeout=15):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.headers = {}
        self.source = next_loopback_source() if _is_loopback(base_url) else None
        context = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        handlers = [urllib.request.ProxyHandler({}),
                    urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())]
        if self.source:
            handlers += [_SourceHTTPHandler(self.source),
                         _SourceHTTPSHandler(self.source, context)]
        elif context is not None:
            handlers.append(urllib.request.HTTPSHandler(context=context))
        self.opener = urllib.request.build_opener(*handlers)

    def send(self, method, path, body=None, headers=None, timeout=None):
        data = None if body is None else json.dumps(body).encode()
        all_headers = {**self.headers, **(headers or {})}
        if data is not None:
            all_headers["Content-Type"] = "application/json"
        if method not in ("GET", "HEAD", "OPTIONS"):
            all_headers.setdefault("Origin", self.base_url)
        request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                         headers=all_headers)
        try:
            response = self.opener.open(request, timeout=timeout or self.timeout)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            return response.status, response.headers, _parse(response.headers, response.read())

    request = send

    def get(self, path, **kwargs):
        return self.send("GET", path, **kwargs)

    def post(self, path, body=None, **kwargs):
        return self.send("POST", path, body, **kwargs)

    def login(self, email, password, patience=LOGIN_PATIENCE_SECONDS):
        """Log in (honouring nginx's ``Retry-After``) and keep the CSRF token; the body."""
        deadline = time.monotonic() + patience
        while True:
            status, headers, body = self.send("POST", "/api/login",
                                              {"email": email, "password": password})
            if status != 429 or time.monotonic() >= deadline:
                break
            time.sleep(min(float(headers.get("Retry-After") or 1), 5))
        assert status == 200, (status, body)
        self.headers["X-CSRF-Token"] = body["csrf_token"]
        self.login_headers = headers
        return body

"""Helpers for the Playwright browser tests: Chromium, screenshots, websocket frames, API.

The browser is Debian's ``/usr/bin/chromium`` driven headless by Playwright; tests skip
when it is missing. Every wait is bounded (:data:`WAIT_MS`). Screenshots go to
``test-artifacts/screenshots/`` at the repository root so a person can look at them.
"""
import json
import pathlib
import re
import time
import uuid

import pytest

from tests.http_client import HttpClient

CHROMIUM = pathlib.Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT_MS = 15_000
SCREENSHOT_DIR = pathlib.Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def launch_chromium(playwright):
    """Launch headless Debian Chromium, or skip the test when it is not installed."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS)


class Screenshots:
    """Full-page screenshots named ``<test>--NN-<step>.png``, numbered in visit order."""

    def __init__(self, test_name):
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.count = 0
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOT_DIR.glob(f"{self.prefix}--*.png"):
            old.unlink()

    def take(self, page, step):
        self.count += 1
        path = SCREENSHOT_DIR / f"{self.prefix}--{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


class PageWatch:
    """What a page did that the DOM does not show: websocket frames, JS errors, navigations.

    Attach before the first ``goto`` so the page's websocket is seen from its start.
    """

    def __init__(self, page):
        self.page = page
        self.frames = []
        self.errors = []
        page.on("websocket", self._on_websocket)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_websocket(self, ws):
        ws.on("framereceived", self._on_frame)

    def _on_frame(self, payload):
        try:
            self.frames.append(json.loads(payload))
        except (TypeError, ValueError):
            pass

    def forget(self):
        """Drop the frames seen so far (call before navigating to another page)."""
        self.frames.clear()

    def wait_for_frame(self, predicate, what, timeout_ms=WAIT_MS):
        """Return the first received frame matching ``predicate``; fail after the timeout.

        Playwright delivers events only while the test calls into it, hence the short
        page waits in the loop.
        """
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if time.monotonic() > deadline:
                ops = [(f.get("op"), f.get("channel")) for f in self.frames]
                raise AssertionError(f"no websocket frame {what} within {timeout_ms} ms; got {ops}")
            self.page.wait_for_timeout(100)

    def wait_subscribed(self, channel):
        return self.wait_for_frame(
            lambda f: f.get("op") == "subscribed" and f.get("channel") == channel,
            f"subscribed to {channel!r}")

    def wait_event(self, channel, attendance_id, event=None):
        return self.wait_for_frame(
            lambda f: (f.get("op") == "event" and f.get("channel") == channel
                       and (f.get("data") or {}).get("id") == attendance_id
                       and (event is None or f.get("event") == event)),
            f"{event or 'event'} for attendance {attendance_id} on {channel!r}")


def mark_page(page):
    """Put a random marker on ``window``; :func:`assert_not_reloaded` checks it survived."""
    marker = uuid.uuid4().hex
    page.evaluate("marker => { window.__absensiTestMarker = marker; }", marker)
    return marker


def assert_not_reloaded(page, marker):
    assert page.evaluate("() => window.__absensiTestMarker") == marker, "the page was reloaded"


def record_toasts(page):
    """Keep every toast text in ``window.__absensiToasts`` (toasts vanish after 5 s)."""
    page.evaluate("""() => {
        window.__absensiToasts = [];
        new MutationObserver((records) => records.forEach((r) => r.addedNodes.forEach((n) => {
            if (n.nodeType === 1) window.__absensiToasts.push(n.textContent);
        }))).observe(document.getElementById("toasts"), {childList: true});
    }""")


def wait_for_toast(page, text):
    """Wait until a toast containing ``text`` was shown (see :func:`record_toasts`)."""
    page.wait_for_function(
        "text => (window.__absensiToasts || []).some((t) => t.includes(text))",
        arg=text, timeout=WAIT_MS)


def login_with_form(context, base_url, email, password, *, expected_path, shots=None):
    """Open /login in a new page of ``context``, submit the form, land on ``expected_path``.

    Returns ``(page, PageWatch)``; ``shots`` (a :class:`Screenshots`) records the login page.
    """
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(base_url + "/login")
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    if shots is not None:
        shots.take(page, "login")
    page.click("#login-form button[type=submit]")
    page.wait_for_url(re.compile(re.escape(base_url + expected_path) + r"$"), timeout=WAIT_MS)
    return page, watch


class ApiClient(HttpClient):
    """:class:`tests.http_client.HttpClient` for set-up through the load balancer, whose
    ``request`` answers ``(status, parsed JSON or None)``."""

    def __init__(self, base_url):
        super().__init__(base_url, timeout=10)
        self.headers["Accept"] = "application/json"

    def request(self, method, path, body=None):
        status, _, answer = self.send(method, path, body)
        return status, (answer or None)

    def login(self, email, password):
        return super().login(email, password)["user"]

    def create_employee(self, branch, label):
        """Create a fresh employee of ``branch``; returns ``(user, password)``."""
        suffix = uuid.uuid4().hex[:8]
        password = "rahasia-" + suffix
        status, body = self.request("POST", "/api/users", {
            "name": f"{label} {suffix}",
            "email": f"{label.lower().replace(' ', '.')}.{suffix}@example.com",
            "password": password,
            "role": "employee",
            "branch": branch,
        })
        assert status == 201, body
        return body, password

    def summary(self, branch):
        status, body = self.request("GET", f"/api/attendances/today?branch={branch}")
        assert status == 200, body
        return body["summary"]

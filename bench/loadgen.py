"""HTTP load generator, run in its own process (``python -m bench.loadgen``).

Reads one job (JSON) on stdin, sends its requests over ``concurrency`` keep-alive
``http.client`` connections (one thread each, all connected before the clock starts),
and writes one JSON result on stdout: per request ``[start, end, status, error, data]``
with ``time.monotonic()`` timestamps, which are comparable across processes on Linux
(CLOCK_MONOTONIC is system-wide) -- the broadcast scenario relies on that.

A request that fails is recorded as an error and not retried; the next request on that
thread opens a new connection. Every socket has a timeout, so a job always ends.

:func:`run` is the parent's side: it starts the process, feeds the job, returns the result.
"""
import http.client
import http.cookies
import json
import random
import resource
import subprocess
import sys
import threading
import time

from bench import REPO_ROOT

REQUEST_TIMEOUT = 30


def _capture(kind, response, raw):
    """What the parent needs back from a response (kept small: 2,000 of them go back)."""
    if kind is None:
        return None
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = None
    if kind == "login":
        cookie = http.cookies.SimpleCookie()
        for header in response.headers.get_all("Set-Cookie") or ():
            cookie.load(header)
        return {"cookies": {name: morsel.value for name, morsel in cookie.items()},
                "csrf_token": (body or {}).get("csrf_token")}
    if kind == "checkin":
        attendance = (body or {}).get("attendance") or {}
        return {"id": attendance.get("id"), "node": attendance.get("check_in_node"),
                "error": (body or {}).get("error")}
    return {"node": response.headers.get("X-Node-Id")}


def source_address(index):
    """A loopback address of its own for request *index* (127.1.0.1 onwards, /8 is all
    loopback on Linux): setup traffic such as thousands of logins then meets nginx's
    per-address login rate as many offices would, not as one."""
    return f"127.1.{index // 250}.{index % 250 + 1}"


def _connection(host, port, index=None):
    source = (source_address(index), 0) if index is not None else None
    return http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT,
                                      source_address=source)


def _worker(host, port, requests, lock, cursor, results, barrier, capture, pause,
            spread=False):
    connection = _connection(host, port)
    try:
        connection.connect()
    except OSError:
        pass  # counted on the first request, which reconnects
    barrier.wait()
    while True:
        with lock:
            index = cursor[0]
            cursor[0] += 1
        if index >= len(requests):
            break
        method, path, headers, body = requests[index]
        if spread:  # a fresh connection from the request's own address
            connection.close()
            connection = _connection(host, port, index)
        start = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            end = time.monotonic()
            results[index] = [start, end, response.status, None, _capture(capture, response, raw)]
            if response.will_close:
                connection.close()
        except Exception as error:  # noqa: BLE001 - any failure is an error of this request
            results[index] = [start, time.monotonic(), None, f"{type(error).__name__}: {error}",
                              None]
            connection.close()
            connection = _connection(host, port)
        if pause:
            time.sleep(random.uniform(*pause))  # think time, outside the measured latency
    connection.close()


def execute(job):
    """Run *job* in this process: ``{"host", "port", "concurrency", "capture", "pause",
    "requests": [[method, path, headers, body], ...]}``."""
    requests = [(m, p, h, b.encode() if isinstance(b, str) else b) for m, p, h, b in
                job["requests"]]
    concurrency = max(1, min(int(job["concurrency"]), len(requests)))
    results = [None] * len(requests)
    lock, cursor = threading.Lock(), [0]
    barrier = threading.Barrier(concurrency + 1)
    threads = [
        threading.Thread(target=_worker, daemon=True,
                         args=(job["host"], job["port"], requests, lock, cursor, results,
                               barrier, job.get("capture"), job.get("pause"),
                               bool(job.get("spread_sources"))))
        for _ in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=60)
    began = time.monotonic()
    for thread in threads:
        thread.join()
    ended = time.monotonic()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"began": began, "ended": ended, "concurrency": concurrency,
            "cpu_seconds": usage.ru_utime + usage.ru_stime, "results": results}


def run(base_host, base_port, requests, *, concurrency, capture=None, pause=None,
        timeout=600, spread_sources=False):
    """Send *requests* (``[method, path, headers, body]``) from a fresh process; return
    its result dict (see :func:`execute`). *pause* ``(min, max)``: each client waits a
    random time in that range (seconds) after each answer. *spread_sources*: each request
    on a new connection from its own loopback address (:func:`source_address`)."""
    job = {"host": base_host, "port": base_port, "concurrency": concurrency,
           "capture": capture, "pause": pause, "requests": requests,
           "spread_sources": spread_sources}
    completed = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"], input=json.dumps(job), text=True,
        capture_output=True, cwd=REPO_ROOT, timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"load generator failed ({completed.returncode}):\n"
                           f"{completed.stderr[-3000:]}")
    return json.loads(completed.stdout)


def main():
    json.dump(execute(json.load(sys.stdin)), sys.stdout)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

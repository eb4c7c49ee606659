"""Reading Prometheus's text format in tests."""
import urllib.error
import urllib.request

# Loopback scrapes must never go through an HTTP proxy from the environment.
_http = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def metric_value(text, name, **labels):
    """The value of sample *name* with exactly *labels*, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    head = f"{name}{{{wanted}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def scrape(url, timeout=5):
    """``(status, content type, text)`` of a GET of *url* (4xx/5xx answers too); status
    None when nothing answers."""
    try:
        with _http.open(url, timeout=timeout) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()
    except (urllib.error.URLError, OSError):
        return None, None, ""

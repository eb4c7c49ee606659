"""All configuration is read here: the ini file's ``[app:main]`` section, then
environment variables mapped onto dotted keys (as warehouse does), then secrets from files.

Every secret variable also has a ``*_FILE`` form naming a file that holds the value (Docker
and systemd credentials, ansible-deployed files); giving both forms is an error. Passwords
given apart from their URL (``DATABASE_PASSWORD``, ``REDIS_PASSWORD``) are put into the URL
here, so every consumer reads one ``database.url`` and one ``redis.url``.

Every process (web node, worker, scheduler, gateway, CLI) calls
:func:`load_settings` so they agree on one set of values.
"""
import math
import os
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

REPO_ROOT = Path(__file__).resolve().parent.parent

#: environment variable -> settings key
ENVIRONMENT_OVERRIDES = {
    "DATABASE_URL": "database.url",
    "REDIS_URL": "redis.url",
    "APP_NODE_ID": "app.node_id",
    "APP_CITY": "app.city",
    "SECRET_KEY": "app.secret_key",
    "ABSENSI_ENV": "app.env",
    "ABSENSI_SITE_URL": "app.site_url",
    "SESSION_COOKIE_SECURE": "session.cookie_secure",
    "TRUSTED_PROXIES": "app.trusted_proxies",
    "GATEWAY_PORT": "gateway.port",
    "GATEWAY_ID": "gateway.node_id",
    "GATEWAY_HOST": "gateway.host",
    "WORKER_ID": "worker.node_id",
    "SCHEDULER_ID": "scheduler.node_id",
    "DATABASE_CA": "database.ssl_ca",
    "DATABASE_PASSWORD": "database.password",
    "REDIS_CA": "redis.ssl_ca",
    "REDIS_PASSWORD": "redis.password",
    "REDIS_SENTINELS": "redis.sentinels",
    "REDIS_SENTINEL_MASTER": "redis.sentinel_master",
    "REDIS_SENTINEL_PASSWORD": "redis.sentinel_password",
    "OUTBOX_PUBLISH_REPLICAS": "outbox.publish_replicas",
    "NODE_STARTED_AT": "app.started_at",
    "LOG_FORMAT": "log.format",
    "LOG_LEVEL": "log.level",
    "WORKER_METRICS_HOST": "worker.metrics_host",
    "WORKER_METRICS_PORT": "worker.metrics_port",
}

#: variables that may instead be read from the file named by ``<VARIABLE>_FILE``
SECRET_VARIABLES = ("SECRET_KEY", "DATABASE_URL", "DATABASE_PASSWORD", "REDIS_URL",
                    "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD")

DEFAULTS = {
    "app.env": "development",
    "app.node_id": "app-node-1",
    "app.secret_key": "",
    "app.site_url": "http://localhost:8000",
    "app.trusted_proxies": "127.0.0.1 ::1",
    "database.url": f"sqlite:///{REPO_ROOT / 'var' / 'absensi.sqlite'}",
    "database.ssl_ca": "",
    "database.password": "",
    "database.pool_size": "10",
    # attempts of a request whose transaction met a transient database error (webapp/retries.py)
    "database.request_attempts": "3",
    "redis.url": "redis://127.0.0.1:6379/0",
    "redis.ssl_ca": "",
    "redis.password": "",
    # production: the Sentinels to ask for the primary ("host:port,..."; empty: redis.url)
    "redis.sentinels": "",
    "redis.sentinel_master": "absensi",
    "redis.sentinel_password": "",
    "session.cookie_name": "absensi_session",
    "session.cookie_secure": "false",
    # Sliding: an idle session ends after this; open pages ping every 10 minutes.
    "session.idle_timeout_seconds": str(2 * 3600),
    # Absolute: no session outlives this, however busy (a long working day and then some).
    "session.lifetime_seconds": str(14 * 3600),
    # login throttling: see webapp/accounts/throttle.py for what each number means
    "throttle.pair_attempts": "5",
    "throttle.pair_window_seconds": "300",
    "throttle.address_attempts": "50",
    "throttle.address_window_seconds": "900",
    "throttle.account_slowdown_after": "20",
    "throttle.account_window_seconds": "900",
    "throttle.account_spacing_seconds": "10",
    "heartbeat.interval_seconds": "10",
    "heartbeat.ttl_seconds": "30",
    "realtime.token_ttl_seconds": "300",
    "realtime.history_retention_seconds": str(48 * 3600),
    "gateway.port": "8765",
    "gateway.node_id": "gateway-1",
    # what may wait for one slow socket, in bytes (frames of any size): then it is dropped
    "gateway.client_buffer_bytes": str(4 * 1024 * 1024),
    "gateway.host": "127.0.0.1",
    "gateway.auth_timeout_seconds": "5",
    # sockets one gateway holds at most (more are answered 503); its open files limit
    # must leave room for them (the gateway warns at start when it does not)
    "gateway.max_connections": "10000",
    # every socket's token is re-checked against revocations this often (announced
    # revocations close sockets at once; this catches any announcement a gateway missed)
    "gateway.access_recheck_seconds": "30",
    "worker.node_id": "worker-1",
    "scheduler.node_id": "scheduler-1",
    # json: one JSON object per line (production); text: for a terminal (development)
    "log.format": "text",
    "log.level": "INFO",
    # the worker's Prometheus /metrics; loopback unless a scraper elsewhere needs it
    "worker.metrics_host": "127.0.0.1",
    "worker.metrics_port": "9191",
    # Redis replicas that must confirm a published batch before it is marked published
    # (production, with Sentinels: 1; a failover then loses no published event)
    "outbox.publish_replicas": "0",
    "outbox.sweep_interval_seconds": "3",
    # Longer than the queue delay of a busy morning, or the sweep re-enqueues events that
    # are only waiting their turn (doubling the worker's load exactly when it hurts).
    "outbox.sweep_min_age_seconds": "15",
}

#: the four cities of the contract; a node's city comes from here unless APP_CITY says otherwise
NODE_CITIES = {
    "app-node-1": "Jakarta",
    "app-node-2": "Bandung",
    "app-node-3": "Surabaya",
    "app-node-4": "Bali",
}

INSECURE_SECRETS = {"", "change-me", "changeme", "secret", "development-secret-not-for-production"}
#: a production secret must look random: at least this many bits by its own letter counts
MIN_SECRET_BITS = 128


class ConfigurationError(RuntimeError):
    """Raised when settings are unsafe or incomplete for the chosen environment."""


def apply_environment(settings, environ=None):
    """Return a copy of *settings* with defaults filled in and environment overrides applied."""
    environ = os.environ if environ is None else environ
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in settings.items() if v is not None})
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        value = _from_environment(environ, variable)
        if value:
            merged[key] = value
    if not merged.get("app.city"):
        merged["app.city"] = NODE_CITIES.get(merged["app.node_id"], "")
    merged["database.url"] = with_password(merged["database.url"], merged.pop("database.password"))
    merged["redis.url"] = with_password(merged["redis.url"], merged.pop("redis.password"))
    check(merged)
    return merged


def _from_environment(environ, variable):
    """``$VARIABLE``, or for a secret the content of the file ``$VARIABLE_FILE`` names."""
    file_variable = f"{variable}_FILE"
    path = environ.get(file_variable) if variable in SECRET_VARIABLES else None
    if not path:
        return environ.get(variable)
    if environ.get(variable):
        raise ConfigurationError(f"set {variable} or {file_variable}, not both")
    try:
        # one trailing newline is how files end, not part of the secret
        return Path(path).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
    except OSError as exc:
        raise ConfigurationError(f"{file_variable}: cannot read {path}: {exc.strerror}") from None


def with_password(url, password):
    """*url* with *password* as its password (percent-encoded), or unchanged without one."""
    if not password:
        return url
    parts = urlsplit(url)
    if parts.hostname is None:
        raise ConfigurationError(f"a password was given for {parts.scheme}: URL without a host")
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def secret_bits(secret):
    """A rough lower bound of a secret's randomness: its letter-frequency entropy × length."""
    if not secret:
        return 0.0
    counts, total = Counter(secret), len(secret)
    per_letter = -sum(n / total * math.log2(n / total) for n in counts.values())
    return per_letter * total


def check(settings):
    """Refuse to run production with a missing or default secret."""
    if settings["app.env"] == "production":
        secret = settings.get("app.secret_key", "")
        if (secret.lower() in INSECURE_SECRETS or len(secret) < 32
                or secret_bits(secret) < MIN_SECRET_BITS):
            raise ConfigurationError(
                "SECRET_KEY is missing, a default or not random enough: production needs a "
                "random secret of at least 32 characters (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`)"
            )
    elif not settings.get("app.secret_key"):
        settings["app.secret_key"] = "development-secret-not-for-production"


def default_config_path(environ=None):
    environ = os.environ if environ is None else environ
    return environ.get("ABSENSI_CONFIG") or str(REPO_ROOT / "development.ini")


def load_settings(config_path=None, environ=None, **overrides):
    """Settings for processes that are not the WSGI app: worker, gateway, CLI."""
    from paste.deploy import appconfig

    path = Path(config_path or default_config_path(environ)).resolve()
    raw = dict(appconfig(f"config:{path}", name="main"))
    raw.update(overrides)
    return apply_environment(raw, environ)


def as_list(settings, key):
    return [item for item in str(settings.get(key, "")).replace(",", " ").split() if item]

"""All configuration is read here: the ini file's ``[app:main]`` section, then
environment variables mapped onto dotted keys (as warehouse does).

Every process (web node, worker, scheduler, gateway, CLI) calls
:func:`load_settings` so they agree on one set of values.
"""
import os
from pathlib import Path

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
    "NODE_STARTED_AT": "app.started_at",
}

DEFAULTS = {
    "app.env": "development",
    "app.node_id": "app-node-1",
    "app.secret_key": "",
    "app.site_url": "http://localhost:8000",
    "app.trusted_proxies": "127.0.0.1 ::1",
    "database.url": f"sqlite:///{REPO_ROOT / 'var' / 'absensi.sqlite'}",
    "database.ssl_ca": "",
    "database.pool_size": "10",
    "redis.url": "redis://127.0.0.1:6379/0",
    "session.cookie_name": "absensi_session",
    "session.cookie_secure": "false",
    "session.max_age": str(8 * 3600),
    "throttle.account_attempts": "5",
    "throttle.address_attempts": "30",
    "throttle.window_seconds": "900",
    "heartbeat.interval_seconds": "10",
    "heartbeat.ttl_seconds": "30",
    "realtime.token_ttl_seconds": "300",
    "realtime.history_retention_seconds": str(48 * 3600),
    "gateway.port": "8765",
    "gateway.node_id": "gateway-1",
    "gateway.client_buffer": "256",
    "gateway.host": "127.0.0.1",
    "gateway.auth_timeout_seconds": "5",
    "worker.node_id": "worker-1",
    "scheduler.node_id": "scheduler-1",
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


class ConfigurationError(RuntimeError):
    """Raised when settings are unsafe or incomplete for the chosen environment."""


def apply_environment(settings, environ=None):
    """Return a copy of *settings* with defaults filled in and environment overrides applied."""
    environ = os.environ if environ is None else environ
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in settings.items() if v is not None})
    for variable, key in ENVIRONMENT_OVERRIDES.items():
        if environ.get(variable):
            merged[key] = environ[variable]
    if not merged.get("app.city"):
        merged["app.city"] = NODE_CITIES.get(merged["app.node_id"], "")
    check(merged)
    return merged


def check(settings):
    """Refuse to run production with a missing or default secret."""
    if settings["app.env"] == "production":
        secret = settings.get("app.secret_key", "")
        if secret.lower() in INSECURE_SECRETS or len(secret) < 32:
            raise ConfigurationError(
                "SECRET_KEY is missing or a default: production needs a random secret "
                "of at least 32 characters (e.g. `python -c 'import secrets; "
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

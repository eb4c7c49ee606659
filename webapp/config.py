"""The composition root: each subsystem is an ``includeme``; this module only composes."""
from pyramid.config import Configurator
from pyramid.events import NewRequest

from webapp.safety_net import SafetyNet
from webapp.settings import apply_environment


def configure(settings=None):
    settings = apply_environment(settings or {})
    config = Configurator(settings=settings)
    config.include("pyramid_jinja2")  # HTML pages (Bahasa Indonesia)
    config.add_jinja2_search_path("webapp:templates", name=".jinja2")
    config.include("webapp.clock")  # request.now, pinned by tests
    config.include("webapp.db")  # engine, request.dbsession, one transaction per request
    config.include("webapp.retries")  # a transient database error: the request runs again
    config.include("webapp.redis")  # shared pool: sessions, throttling, heartbeats
    config.include("webapp.sessions")  # Redis-backed sessions valid on every node
    config.include("webapp.proxies")  # the client's address behind nginx
    config.include("webapp.security")  # identity, roles, CSRF rule
    config.include("webapp.logs")  # request id on every log line, one access line each
    config.include("webapp.metrics")  # Prometheus counters, GET /metrics
    config.include("webapp.errors")  # JSON errors and the X-Node-Id header
    config.include("webapp.events")  # the outbox: committed events handed to the publisher
    config.include("webapp.attendance.today_cache")  # the today board, once per commit
    config.include("webapp.holidays.cache")  # the check-in's holidays, once per change
    config.include("webapp.servers")  # this node's heartbeat
    config.include("webapp.static_assets")  # /static with a cache-busting token
    config.include("webapp.openapi")  # webapp/openapi.yaml, parsed once, for /api/openapi.json
    config.include("webapp.routes")  # every URL
    config.include("webapp.pages.views")  # the HTML shells of the pages
    config.add_subscriber("webapp.servers.ensure_heartbeat", NewRequest)
    config.scan("webapp", ignore=["webapp.cli", "webapp.wsgi"])
    return config


def make_wsgi_app(settings=None):
    """The web node's WSGI app: the composed Pyramid app inside its :class:`SafetyNet`."""
    app = configure(settings).make_wsgi_app()
    return SafetyNet(app, app.registry.settings["app.node_id"])

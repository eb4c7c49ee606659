"""Gunicorn settings for one web node (``make run``, the cluster tests, the Ansible role).

Node identity, database and Redis come from the environment through ``webapp/settings.py``;
this file only shapes the server. The command line may override any value here
(``cluster/run.py`` passes ``--bind``, ``--name`` and, when asked, ``--workers``/``--threads``).
"""
import datetime as dt
import os

from webapp import multiproc

wsgi_app = "webapp.wsgi:application"
bind = ["127.0.0.1:6543"]

# Threads, not processes, carry the concurrency: requests mostly wait on MySQL and Redis.
# Two processes per node keep a node serving while one worker is being recycled.
worker_class = "gthread"
workers = 2
threads = 8

# Each worker builds the app after the fork (no preload): the DB pool, the Redis pool and
# the heartbeat thread must not be shared across processes.
preload_app = False

timeout = 30             # a worker stuck this long is killed and replaced
graceful_timeout = 20    # on SIGTERM, in-flight requests get this long to finish
# Longer than nginx's upstream keepalive_timeout (10 s), so nginx closes idle connections.
keepalive = 15
max_requests = 5000      # recycle workers now and then; jitter keeps nodes out of step
max_requests_jitter = 500

# Only the local load balancer may set X-Forwarded-* (the app reads the client address).
forwarded_allow_ips = "127.0.0.1,::1"

# nginx writes the access log with the request id and upstream; errors go to stderr.
accesslog = None
errorlog = "-"
loglevel = "info"
# gunicorn's own lines (booting, timeouts) in the node's log format (webapp/logs.py)
logger_class = "webapp.logs.GunicornLogger"

# Worker heartbeats touch a file every second: keep that off a slow or full disk.
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"

# Gunicorn >= 25 opens a control socket at one per-user path ($HOME/.gunicorn/gunicorn.ctl):
# four nodes on one host would fight over it, and nothing here uses gunicornc.
control_socket_disable = True


def on_starting(server):
    # Workers inherit the master's environment: every worker of this node reports the
    # master's start time in its heartbeat (webapp/settings.py maps it to app.started_at).
    os.environ["NODE_STARTED_AT"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    # The workers' Prometheus counters go to files in one directory per node, emptied at
    # each start (webapp/multiproc.py); a scrape of /metrics sums every worker's.
    multiproc.prepare(server.cfg.proc_name)

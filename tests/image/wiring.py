"""The production stack's wiring, moved onto loopback for the image tests.

Environment, secret targets and the nginx config are read from
``docker-stack-production.yml`` and ``docker/nginx.conf`` themselves; only addresses change
(service names become 127.0.0.1 and a free port, since every container shares the host's
network here) and the secrets' contents are the test's own.
"""
from pathlib import Path

import yaml

from webapp.settings import REPO_ROOT

STACK_FILE = REPO_ROOT / "docker-stack-production.yml"
NGINX_CONF = REPO_ROOT / "docker" / "nginx.conf"


def stack():
    """The stack file as Swarm would read it (YAML merge keys resolved)."""
    return yaml.safe_load(STACK_FILE.read_text())


def service_environment(service, **addresses):
    """*service*'s environment from the stack, with its service names replaced.

    *addresses* maps what to replace to what replaces it in every value, e.g.
    ``{"mariadb:3306/absensi": "127.0.0.1:3307/absensi_image"}``.
    """
    environment = dict(stack()["services"][service].get("environment") or {})
    for key, value in environment.items():
        for old, new in addresses.items():
            value = str(value).replace(old, new)
        environment[key] = value
    return environment


def secret_mounts(service, secrets_dir):
    """``{host file: /run/secrets/<target>}`` for every secret the stack gives *service*."""
    mounts = {}
    for secret in stack()["services"][service].get("secrets") or []:
        source, target = secret["source"], secret.get("target", secret["source"])
        path = Path(secrets_dir) / source
        assert path.exists(), f"the test has no content for secret {source!r} of {service}"
        mounts[str(path)] = f"/run/secrets/{target}"
    return mounts


def write_secrets(secrets_dir, values):
    """One file per secret (``{source name: content}``), readable like Swarm's (0444)."""
    secrets_dir = Path(secrets_dir)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, value in values.items():
        path = secrets_dir / name
        path.write_bytes(value if isinstance(value, bytes) else f"{value}\n".encode())
        path.chmod(0o444)
    return secrets_dir


def nginx_conf(*, run_dir, https_port, http_port, web_ports, gateway_port, tls_dir):
    """``docker/nginx.conf`` with loopback addresses for the Swarm names; unused nodes dropped.

    Every replacement must find its text: a changed config fails here, not silently.
    """
    text = NGINX_CONF.read_text()

    def replace(old, new):
        nonlocal text
        assert old in text, f"docker/nginx.conf no longer contains {old!r}"
        text = text.replace(old, new)

    replace("pid /tmp/nginx.pid;", f"pid {run_dir}/nginx.pid;")
    replace("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;")
    replace("listen 443 ssl default_server", f"listen 127.0.0.1:{https_port} ssl default_server")
    replace("/run/secrets/tls_cert.pem", f"{tls_dir}/tls_cert.pem")
    replace("/run/secrets/tls_key.pem", f"{tls_dir}/tls_key.pem")
    replace("set $gateway_tasks tasks.gateway;", "set $gateway_tasks 127.0.0.1;")
    replace("http://$gateway_tasks:8765;", f"http://$gateway_tasks:{gateway_port};")
    for n in range(1, 5):
        line = f"        server app-node-{n}:8000 max_fails=2 fail_timeout=10s;\n"
        port = web_ports.get(f"app-node-{n}")
        replace(line, line.replace(f"app-node-{n}:8000", f"127.0.0.1:{port}") if port else "")
    # temp files under the test's own directory, not the machine's /var/lib/nginx
    temp = "".join(f"    {kind}_temp_path {run_dir}/{kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    replace("http {\n", "http {\n" + temp)
    return text

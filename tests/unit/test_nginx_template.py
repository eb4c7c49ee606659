"""One nginx template for the local cluster, the Ansible role and the Swarm stack.

cluster/templates/nginx.conf.j2 is rendered by `make run` (tests/cluster checks that
rendering), by the nginx_lb role (the lab checks it: the role validates before it installs)
and, for the stack, into the committed docker/nginx.conf by docker/render_nginx_conf.py.
"""
import shutil
import subprocess
import sys

import pytest

from tests.image import wiring
from tests.tls_helpers import make_server_certificate
from webapp.settings import REPO_ROOT

TEMPLATE = REPO_ROOT / "cluster" / "templates" / "nginx.conf.j2"
RENDER = REPO_ROOT / "docker" / "render_nginx_conf.py"
NGINX = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")


def test_the_committed_docker_nginx_conf_is_the_templates_rendering():
    # Given the template and the stack's values, When the render script compares
    result = subprocess.run([sys.executable, str(RENDER), "--check"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    # Then docker/nginx.conf is exactly what it renders (else: run the script, bump the
    # config's version in docker-stack-production.yml)
    assert result.returncode == 0, result.stderr


def test_the_ansible_role_renders_the_same_template_file():
    role_template = REPO_ROOT / "ansible" / "roles" / "nginx_lb" / "templates" / "nginx.conf.j2"
    assert role_template.is_symlink()
    assert role_template.resolve() == TEMPLATE.resolve()


def test_the_stack_rendering_has_the_swarm_parts_and_the_shared_ones():
    text = (REPO_ROOT / "docker" / "nginx.conf").read_text()
    # Swarm's own: Docker's DNS for the gateway tasks, no static files, a local health path
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in text
    assert "set $gateway_tasks tasks.gateway;" in text
    assert "upstream absensi_gateway" not in text
    assert "location /static/" not in text
    assert "location = /nginx-health" in text
    assert "_temp_path" not in text  # the image's own
    assert "daemon off;" not in text  # the image's command says it
    # and what every front has: /metrics hidden, the login throttle, JSON errors, TLS 1.2+
    for line in ("location = /metrics", "limit_req zone=absensi_login",
                 "error_page 502 @error_502;", "error_page 405 @error_405;",
                 'add_header Allow "GET, HEAD, POST, PATCH, DELETE" always;',
                 "ssl_protocols TLSv1.2 TLSv1.3;",
                 "proxy_next_upstream error timeout non_idempotent;"):
        assert line in text, line


@pytest.mark.skipif(not NGINX, reason="nginx not installed (make system-deps)")
def test_nginx_accepts_the_stack_rendering_as_the_image_tests_wire_it(tmp_path):
    # Given docker/nginx.conf with loopback addresses put in, as tests/image runs it (every
    # text it replaces must still be there)
    tls = make_server_certificate(tmp_path / "tls-source")
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    shutil.copy(tls.cert, tls_dir / "tls_cert.pem")
    shutil.copy(tls.key, tls_dir / "tls_key.pem")
    conf = tmp_path / "nginx.conf"
    conf.write_text(wiring.nginx_conf(
        run_dir=tmp_path, https_port=18443, http_port=18080,
        web_ports={"app-node-1": 18001, "app-node-2": 18002}, gateway_port=18765,
        tls_dir=tls_dir))
    # When nginx checks it, Then it accepts it
    result = subprocess.run([NGINX, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", "stderr"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr

"""Helpers for the lab tests: run a command inside a lab host, talk HTTPS/WSS to the front.

Everything here sends traffic only to the lab's own addresses (lab/lab.conf).
"""
import os
import re
import subprocess
from pathlib import Path

from tests.http_client import HttpClient
from webapp.settings import REPO_ROOT

LAB_DIR = REPO_ROOT / "var" / "lab"
INVENTORY = REPO_ROOT / "inventory" / "lab"
VAULT_PASSWORD = REPO_ROOT / "lab" / "vault-password"
WEB_HOSTS = ["web-jkt", "web-bdg", "web-sby", "web-dps"]
CITIES = {"app-node-1", "app-node-2", "app-node-3", "app-node-4"}


def read_lab_env():
    values = {}
    for line in (LAB_DIR / "lab.env").read_text().splitlines():
        key, _, value = line.partition("=")
        values[key] = value
    return values


def on_host(host, command, *, timeout=120, check=True):
    """Run *command* (a shell line) as root inside lab host *host*."""
    wrapper = LAB_DIR / "bin" / f"chroot-{host}"
    root = LAB_DIR / "hosts" / host / "root"
    result = subprocess.run([str(wrapper), str(root), "/bin/sh", "-c", command],
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(f"{host}: {command!r} failed ({result.returncode}):\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def python_on_host(host, script, *, check=True, timeout=60):
    """Run a Python *script* with the current release's interpreter inside lab host *host*."""
    name = f"/tmp/lab-test-{os.getpid()}.py"
    Path(LAB_DIR / "hosts" / host / "root" / name.lstrip("/")).write_text(script)
    try:
        return on_host(host, f"/opt/absensi/current/bin/python {name}", check=check,
                       timeout=timeout)
    finally:
        Path(LAB_DIR / "hosts" / host / "root" / name.lstrip("/")).unlink(missing_ok=True)


def host_pids(host, needle):
    """Pids of the lab host's processes whose command line contains *needle*."""
    root = str(LAB_DIR / "hosts" / host / "root")
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and os.readlink(entry / "root") == root
                    and needle.encode() in (entry / "cmdline").read_bytes()):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def host_processes(host):
    """(user name, argv) of every process whose root directory is that lab host."""
    import pwd

    root = str(LAB_DIR / "hosts" / host / "root")
    names = {}
    passwd = Path(root, "etc", "passwd").read_text().splitlines()
    for line in passwd:
        fields = line.split(":")
        names[int(fields[2])] = fields[0]
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "root") != root:
                continue
            uid = entry.stat().st_uid
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        found.append((names.get(uid, pwd.getpwuid(uid).pw_name if uid == 0 else str(uid)),
                      [a.decode(errors="replace") for a in argv if a]))
    return found


def run_playbook(playbook, *extra, timeout=1500):
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible" / "ansible.cfg"),
               PATH=f"{REPO_ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}",
               ANSIBLE_NOCOLOR="1")
    return subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(REPO_ROOT / "ansible" / playbook),
         "--vault-password-file", str(VAULT_PASSWORD), *extra],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO_ROOT)


def play_recap(output):
    """{host: {"ok": n, "changed": n, "failed": n, ...}} from ansible-playbook's PLAY RECAP."""
    recap = {}
    section = output.rsplit("PLAY RECAP", 1)[-1]
    for host, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", section, re.M):
        recap[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counters)}
    return recap


class Client(HttpClient):
    """:class:`tests.http_client.HttpClient` on the lab's HTTPS front, verified against
    the lab's CA."""

    def __init__(self, base_url, ca_file):
        super().__init__(base_url, ca_file=ca_file)

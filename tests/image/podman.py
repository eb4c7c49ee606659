"""Podman with a private store for the image tests: build, run, healthchecks, full cleanup.

Every container runs with ``--network=host`` on loopback ports, so podman sets up no
network of its own; :class:`HostNetworkGuard` still checks (and undoes) the two things
podman's networking would change on the machine: ip_forward and iptables chains.
"""
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from webapp.settings import REPO_ROOT

CONTAINERS_CONF = REPO_ROOT / "docker" / "containers.conf"
#: how long one podman command may take (a build has its own, longer, budget)
COMMAND_TIMEOUT = 120
BUILD_TIMEOUT = 900
#: measurements shown at the end of the run (build time, deployment start-up)
TIMINGS = {}


class PodmanError(AssertionError):
    pass


def available():
    return shutil.which("podman") is not None and shutil.which("debootstrap") is not None


class Podman:
    """``podman --root DIR/storage --runroot DIR/run`` with the project's containers.conf."""

    def __init__(self, workdir=None, prefix="absensi-it", keep_store=False):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="absensi-podman-"))
        #: keep images (and the build cache) at cleanup; containers are always removed
        self.keep_store = keep_store
        self.global_args = ["--root", str(self.workdir / "storage"),
                            "--runroot", str(self.workdir / "run")]
        self.env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))
        self.prefix = f"{prefix}-{os.getpid()}"
        self.containers = []

    def __call__(self, *args, check=True, timeout=COMMAND_TIMEOUT, stdin=None):
        result = subprocess.run(
            ["podman", *self.global_args, *map(str, args)], env=self.env, capture_output=True,
            text=True, timeout=timeout, input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise PodmanError(f"podman {' '.join(map(str, args))} failed ({result.returncode}):"
                              f"\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
        return result

    def build(self, image):
        """``make image``'s script into this store; returns (seconds, output)."""
        started = time.monotonic()
        result = subprocess.run(
            ["bash", str(REPO_ROOT / "docker" / "build-image.sh")], cwd=REPO_ROOT,
            env=dict(self.env, IMAGE=image, PODMAN_ARGS=" ".join(self.global_args)),
            capture_output=True, text=True, timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL,
        )
        output = result.stdout + result.stderr
        if result.returncode != 0:
            raise PodmanError(f"image build failed ({result.returncode}):\n{output[-5000:]}")
        return time.monotonic() - started, output

    def name(self, role):
        return f"{self.prefix}-{role}"

    def start(self, role, image, args, *, env=None, mounts=None, extra=()):
        """``podman run -d`` one container of *image* (host network); returns its name."""
        name = self.name(role)
        options = ["--name", name, "--network=host", *extra]
        for key, value in (env or {}).items():
            options += ["--env", f"{key}={value}"]
        for source, target in (mounts or {}).items():
            options += ["--volume", f"{source}:{target}:ro"]
        self.containers.append(name)
        self("run", "-d", *options, image, *args)
        return name

    def run_once(self, image, args, *, env=None, mounts=None, stdin=None, timeout=180):
        """``podman run --rm`` to completion; returns the CompletedProcess (not checked)."""
        options = ["--rm", "--network=host"] + (["-i"] if stdin is not None else [])
        for key, value in (env or {}).items():
            options += ["--env", f"{key}={value}"]
        for source, target in (mounts or {}).items():
            options += ["--volume", f"{source}:{target}:ro"]
        return self("run", *options, image, *args, check=False, timeout=timeout, stdin=stdin)

    def running(self, name):
        return self("inspect", "--format", "{{.State.Running}}", name,
                    check=False).stdout.strip() == "true"

    def logs(self, name):
        result = self("logs", name, check=False)
        return (result.stdout + result.stderr)[-4000:]

    def health(self, name):
        """Run the image's HEALTHCHECK once, as the engine's timer would (no systemd here)."""
        result = self("healthcheck", "run", name, check=False, timeout=30)
        return result.returncode == 0, (result.stdout + result.stderr).strip()

    def wait_healthy(self, name, timeout=90):
        deadline, last = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            if not self.running(name):
                raise PodmanError(f"{name} stopped:\n{self.logs(name)}")
            healthy, last = self.health(name)
            if healthy:
                return last
            time.sleep(1)
        raise PodmanError(f"{name} not healthy after {timeout} s ({last}):\n{self.logs(name)}")

    def inspect_health_status(self, name):
        return self("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()

    def cleanup(self):
        """Remove every container and image of this store, unmount it and delete it."""
        try:
            self("rm", "--force", "--all", "--time", "5", check=False, timeout=120)
            if self.keep_store:
                return
            self("system", "reset", "--force", check=False, timeout=120)
        finally:
            if self.keep_store:
                return
            storage = str(self.workdir)
            with open("/proc/mounts") as mounts:
                points = [line.split()[1] for line in mounts if line.split()[1].startswith(storage)]
            for point in sorted(points, key=len, reverse=True):
                subprocess.run(["umount", "-l", point], check=False, timeout=30,
                               capture_output=True)
            shutil.rmtree(self.workdir, ignore_errors=True)


class HostNetworkGuard:
    """Remember ip_forward and the iptables chains; undo what podman changed, and say so."""

    IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
    PODMAN_CHAINS = ("CNI-", "NETAVARK", "PODMAN")

    def __enter__(self):
        self.ip_forward = self._read_forward()
        self.chains = self._podman_chains()
        self.changes = []
        return self

    def __exit__(self, *exc):
        if self.ip_forward == "0" and self._read_forward() == "1":
            self.IP_FORWARD.write_text("0\n")
            self.changes.append("ip_forward turned on (set back to 0)")
        for table, chain in sorted(self._podman_chains() - self.chains):
            subprocess.run(["iptables", "-t", table, "-F", chain], check=False,
                           capture_output=True, timeout=30)
            deleted = subprocess.run(["iptables", "-t", table, "-X", chain], check=False,
                                     capture_output=True, timeout=30).returncode == 0
            self.changes.append(f"iptables chain {table}/{chain} added "
                                f"({'removed' if deleted else 'still referenced: not removed'})")

    def _read_forward(self):
        try:
            return self.IP_FORWARD.read_text().strip()
        except OSError:
            return None

    def _podman_chains(self):
        chains = set()
        if not shutil.which("iptables"):
            return chains
        for table in ("filter", "nat"):
            result = subprocess.run(["iptables", "-t", table, "-S"], capture_output=True,
                                    text=True, timeout=30, check=False)
            for line in result.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "-N" and parts[1].startswith(self.PODMAN_CHAINS):
                    chains.add((table, parts[1]))
        return chains

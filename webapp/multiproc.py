"""Prometheus multiprocess directories (gunicorn's and Dramatiq's worker processes).

prometheus_client decides when it is first imported whether values go to files in
``$PROMETHEUS_MULTIPROC_DIR``, so the directory is chosen, emptied and exported here, in a
process's parent, before anything imports prometheus_client: this module must not.
"""
import os
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
#: parent of the per-node directories when the environment names none
DEFAULT_ROOT = Path("/tmp/absensi-metrics")


def node_dir(node_id, environ=None):
    """``$PROMETHEUS_MULTIPROC_DIR``, else one directory per node id (two nodes on one
    host must never share one: each would count the other's processes)."""
    environ = os.environ if environ is None else environ
    given = environ.get(VARIABLE)
    return Path(given) if given else DEFAULT_ROOT / node_id


def reset(path):
    """Create *path* or empty it of metric files (``*.db``, nothing else: the variable may
    name a directory shared with other things): files left by an earlier run's processes
    would be summed into this run's counters for ever."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for leftover in path.glob("*.db"):
        leftover.unlink(missing_ok=True)
    return path


def prepare(node_id, environ=None):
    """Reset this node's directory and export it to the processes started from here."""
    environ = os.environ if environ is None else environ
    directory = reset(node_dir(node_id, environ))
    environ[VARIABLE] = str(directory)
    return directory

"""``make bench``: load tests of the whole stack on this machine (see BENCHMARKS.md).

``python -m bench`` starts a private MariaDB and the local cluster against it, runs the
scenarios of issue 4 (morning rush, broadcast latency, fan-out, queue drain), prints one
table and writes it into ``BENCHMARKS.md``. Load generators run in their own processes.
"""
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

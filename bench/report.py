"""Percentiles, the machine's description, and the one results table (Markdown), printed
and written between the markers of ``BENCHMARKS.md``."""
import datetime as dt
import math
import os
import platform
import re
from dataclasses import dataclass, field
from pathlib import Path

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"


def percentile(values, p):
    """Nearest-rank percentile of *values* (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


@dataclass
class Row:
    """One line of the table. ``samples`` are latencies in ms (p50/p95/p99 from them)."""

    scenario: str
    count: int
    clients: str
    samples: list = field(default_factory=list)
    throughput: str = "-"
    errors: int = 0
    target: str = "-"
    passed: bool | None = None
    notes: list = field(default_factory=list)
    #: the slowest sample unless a scenario says otherwise (e.g. time to drain)
    max: float | None = None
    #: latency relative to the bare endpoint at the same concurrency (check-in rows)
    ratio: str = "-"
    #: CPU-ms of the servers (every role but the generators) per answered request
    server_cpu_ms: float | None = None
    #: answered requests per second (the number behind ``throughput``)
    rate: float | None = None

    def p(self, q):
        return percentile(self.samples, q)

    @property
    def maximum(self):
        return self.max if self.max is not None else max(self.samples, default=None)


def _ms(value):
    if value is None:
        return "-"
    return f"{value:.0f} ms" if abs(value) >= 10 else f"{value:.1f} ms"


def machine():
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                   .splitlines() if line.startswith("MemTotal:"))
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        ram = "?"
    return {"cores": os.cpu_count(), "ram": ram, "cpu": model,
            "python": platform.python_version(), "kernel": platform.release()}


def render(rows, *, machine_info, settings, notes, title):
    """The table with its header lines and notes, as Markdown."""
    m = machine_info
    lines = [
        f"### {title}",
        "",
        f"**Machine:** {m['cores']} cores, {m['ram']} RAM, CPU {m['cpu']}, "
        f"Python {m['python']}, Linux {m['kernel']}.  ",
        f"**Settings:** {settings}",
        "",
        "| Scenario | n | Clients | p50 | p95 | p99 | max | × bare p50 / p95 | Throughput "
        "| Errors | Target | Result |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    footnotes = {}  # text -> number: a note shared by several rows is printed once
    for row in rows:
        mark = {True: "**pass**", False: "**FAIL**", None: "-"}[row.passed]
        name = row.scenario
        for note in row.notes:
            number = footnotes.setdefault(note, len(footnotes) + 1)
            name += f" [{number}]"
        lines.append(
            f"| {name} | {row.count} | {row.clients} | {_ms(row.p(50))} | {_ms(row.p(95))} "
            f"| {_ms(row.p(99))} | {_ms(row.maximum)} | {row.ratio} | {row.throughput} "
            f"| {row.errors} | {row.target} | {mark} |"
        )
    lines.append("")
    lines += [f"{number}. {note}" for note, number in footnotes.items()]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def write_into(path, table):
    """Replace the results section of *path* (between the markers) with *table*."""
    path = Path(path)
    block = f"{START}\n{table}{END}"
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = (text or "# Benchmarks\n") + f"\n## Results\n\n{block}\n"
    path.write_text(text)


def today():
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

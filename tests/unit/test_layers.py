"""The shape of the code: lower layers never import upper ones, no circles between the
web app's areas, and each process loads only its own layer's libraries.

Layers, bottom up: ``realtime`` (the kernel every process shares) ← ``webapp`` ←
``tasks``, ``wsgate``. The ``absensi`` command (``webapp/cli.py``) finds the upper layers'
subcommands through the ``absensi.commands`` entry points.
"""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("realtime", "webapp", "tasks", "wsgate", "cluster")


def imports_of(path, *, top_level_only=False):
    """The absolute module names *path* imports (module level only, if asked)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def modules(package):
    return sorted((ROOT / package).rglob("*.py"))


def test_the_realtime_kernel_imports_no_framework_and_no_upper_layer():
    forbidden = ("pyramid", "sqlalchemy", "tornado", "dramatiq", "gunicorn",
                 "webapp", "tasks", "wsgate", "cluster")
    offenders = {
        str(path.relative_to(ROOT)): sorted(name for name in imports_of(path)
                                            if name.split(".")[0] in forbidden)
        for path in modules("realtime")}
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_web_app_imports_neither_the_worker_nor_the_gateway():
    # (not even the absensi command: their subcommands come through entry points)
    offenders = {}
    for path in modules("webapp"):
        names = imports_of(path)
        bad = sorted(n for n in names if n.split(".")[0] in ("tasks", "wsgate", "cluster"))
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_worker_and_the_gateway_do_not_import_each_other():
    for lower, upper in (("tasks", "wsgate"), ("wsgate", "tasks")):
        for path in modules(lower):
            assert not [n for n in imports_of(path) if n.split(".")[0] in (upper, "cluster")], \
                path


def _area(module):
    """``webapp.attendance.services`` -> ``attendance``; a top module is its own area."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_the_web_apps_areas_import_each_other_without_circles():
    # Given the import graph between webapp's areas (its sub-packages and top modules)
    graph = {}
    for path in modules("webapp"):
        relative = path.relative_to(ROOT / "webapp")
        area = relative.parts[0].removesuffix(".py")
        if area in ("__init__", "models", "cli", "config", "wsgi"):
            continue  # the composition roots and entries import every area by design
        for name in imports_of(path, top_level_only=True):
            if name.startswith("webapp.") and _area(name) not in (None, area, "models"):
                graph.setdefault(area, set()).add(_area(name))

    # Then it is acyclic (a depth-first search finds no edge back onto its path)
    circles, state = [], {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                circles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert circles == []


def _loaded_top_packages(code):
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


PRINT_LOADED = ("import json, sys; "
                "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")


def test_a_web_process_loads_neither_dramatiq_nor_tornado_nor_the_upper_layers(tmp_path):
    # When a web node's app is built
    settings = {"database.url": f"sqlite:///{tmp_path / 'layers.db'}",
                "redis.url": "redis://127.0.0.1:1/0", "app.node_id": "app-node-1"}
    loaded = _loaded_top_packages(
        "from webapp.config import configure; "
        f"configure({settings!r}); " + PRINT_LOADED)

    # Then neither the worker's broker nor the gateway came along
    assert loaded.isdisjoint({"dramatiq", "tornado", "tasks", "wsgate", "cluster", "apscheduler"})
    assert "pyramid" in loaded  # (the check saw a real app)


@pytest.mark.parametrize("module", ["wsgate.app", "realtime.streams", "realtime.tokens"])
def test_the_gateway_and_the_kernel_load_no_web_framework_nor_orm(module):
    loaded = _loaded_top_packages(f"import {module}; " + PRINT_LOADED)
    assert loaded.isdisjoint({"pyramid", "gunicorn", "sqlalchemy", "dramatiq", "tasks"})


def test_the_absensi_command_loads_the_upper_layers_only_for_their_commands():
    # (every command builds the whole parser: the worker's Prometheus files, Tornado and
    # Dramatiq must come only with the command that runs them)
    loaded = _loaded_top_packages("from webapp.cli import build_parser; build_parser(); "
                                  + PRINT_LOADED)
    assert loaded.isdisjoint({"tornado", "dramatiq", "prometheus_client", "apscheduler"})

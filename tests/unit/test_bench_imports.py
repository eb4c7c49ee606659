"""``make bench`` imports most of the app lazily (inside the scenario functions, so that
``--help`` is instant): a name moved by a refactoring then fails only minutes into a
benchmark run. Every ``from X import Y`` anywhere in bench/ must resolve."""
import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _imports():
    for path in sorted(BENCH.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    yield pytest.param(node.module, alias.name,
                                       id=f"{path.name}:{node.lineno}:{alias.name}")


@pytest.mark.parametrize("module, name", list(_imports()))
def test_every_lazy_import_of_the_benchmark_resolves(module, name):
    imported = importlib.import_module(module)
    assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), \
        f"bench imports {name} from {module}, which has no such name"

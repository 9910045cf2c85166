"""Every name a benchmark script imports from emofuse exists: the scripts import inside ``main``
(so that ``--help`` stays fast), and a name moved by a refactoring would otherwise fail only when
someone next runs that benchmark (``text_speed.py`` imported ``MODELS`` from a module that no
longer had it)."""

import ast
import importlib
import pathlib

import pytest

SCRIPTS = sorted((pathlib.Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def emofuse_imports(path: pathlib.Path) -> list[tuple[str, str]]:
    """``(module, name)`` of every ``from emofuse... import name`` anywhere in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "emofuse":
            found.extend((node.module, alias.name) for alias in node.names)
    return found


def test_the_benchmarks_import_from_emofuse():
    assert sum(len(emofuse_imports(p)) for p in SCRIPTS) >= 20


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.stem)
def test_every_name_a_benchmark_imports_from_emofuse_exists(path: pathlib.Path):
    missing = []
    for module_name, name in emofuse_imports(path):
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")  # a submodule
            except ModuleNotFoundError:
                missing.append(f"from {module_name} import {name}")
    assert not missing, f"{path.name}: {missing}"

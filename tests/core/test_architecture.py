"""The engine's structure: shipped models found through the registry, no side doors."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core import registry
from core.errors import ModelError


def test_the_shipped_recommender_is_found_and_checked_through_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = registry.shipped_model_dir(registry.RECSYS_APP)
    assert folder == registry.SHIPPED_DATA_DIR / "recsys" / "shipped-app"
    assert (folder / "config.json").is_file()

    copy = tmp_path / "data"
    shutil.copytree(registry.SHIPPED_DATA_DIR / "recsys", copy / "recsys")
    items = copy / "recsys" / "shipped-app" / "items.npz"
    damaged = bytearray(items.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size: only the checksum can tell
    items.write_bytes(bytes(damaged))
    monkeypatch.setattr(registry, "SHIPPED_DATA_DIR", copy)
    with pytest.raises(ModelError, match=r"items\.npz is damaged"):
        registry.shipped_model_dir(registry.RECSYS_APP)


def test_only_shipped_models_have_a_folder_in_core() -> None:
    with pytest.raises(ModelError, match="does not ship"):
        registry.shipped_dir(registry.SMOLLM2)


def _import_graph() -> dict[str, set[str]]:
    """core's modules and whom each imports, deferred (in-function) imports included."""
    grimp = pytest.importorskip("grimp", reason="grimp ships with import-linter (dev extra)")
    graph = grimp.build_graph("core")
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_core_has_no_import_cycles() -> None:
    edges = _import_graph()
    assert "core.cli" in edges
    assert _cycles(edges) == []


def test_core_names_no_module_of_app_or_models() -> None:
    # import-linter sees import statements only; a module imported by name (importlib) is a
    # side door it cannot see, so no string in core may name such a module.
    core = Path(registry.__file__).parent
    doors = [
        f"{p.relative_to(core.parent)}:{node.lineno}: {node.value}"
        for p in sorted(core.rglob("*.py"))
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"(app|models|mediamind)(\.\w+)+", node.value)
    ]
    assert doors == []


def test_importing_core_loads_neither_onnx_nor_qt_nor_torch() -> None:
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import core\n"
        "bad = lambda: sorted(m for m in sys.modules if m.split('.')[0] in FORBIDDEN)\n"
        "bare = bad()\n"
        "for info in pkgutil.walk_packages(core.__path__, 'core.'):\n"
        "    importlib.import_module(info.name)\n"
        "core_modules = [m for m in sys.modules if m.startswith('core.')]\n"
        "print(json.dumps({'bare': bare, 'every': bad(), 'modules': len(core_modules)}))\n"
    ).replace("FORBIDDEN", "{'onnx', 'PySide6', 'shiboken6', 'torch'}")
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(registry.__file__).parents[1],
        timeout=120,
        check=True,
    )
    result = json.loads(proc.stdout)
    assert result["modules"] > 20  # every module of core was imported
    assert result["bare"] == [] and result["every"] == [], result


@pytest.mark.parametrize("package", ["core.store", "core.ingest", "core.search"])
def test_no_public_name_is_also_a_submodule(package: str) -> None:
    """Importing ``pkg.x`` binds the module to ``pkg.x``, hiding an exported function ``x``."""
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    submodules = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    assert not submodules & set(pkg.__all__)

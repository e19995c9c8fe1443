"""The code's shape: the library never imports the service, its modules import each other without
circles, and an encoder backend imports only the encoders' base."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from embeddings.encoders import BACKENDS
from tests.conftest import ROOT

LIBRARY = ROOT / "embeddings"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, name: str) -> set[str]:
    """Every module that ``path`` (module ``name``) imports, at the top or inside a function, as
    absolute names."""
    names: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


LIBRARY_MODULES = {module_name(p): p for p in sorted(LIBRARY.rglob("*.py"))}


def library_graph() -> dict[str, set[str]]:
    modules = LIBRARY_MODULES
    return {name: imported_modules(path, name) & modules.keys() - {name} for name, path in modules.items()}


@pytest.mark.parametrize("name", sorted(LIBRARY_MODULES))
def test_the_library_never_imports_the_service(name):
    imports = imported_modules(LIBRARY_MODULES[name], name)
    service_imports = {m for m in imports if m == "service" or m.startswith("service.")}
    assert not service_imports, f"{name} imports {sorted(service_imports)}"


def test_library_modules_import_each_other_without_a_circle():
    graph = library_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                circle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import circle: " + " -> ".join(circle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_the_circle_check_finds_a_circle(tmp_path, monkeypatch):
    """The check above is not vacuous: two modules that import each other are caught."""
    (tmp_path / "a.py").write_text("def f():\n    from embeddings import b\n")
    (tmp_path / "b.py").write_text("import embeddings.a\n")
    fake = {"embeddings.a": tmp_path / "a.py", "embeddings.b": tmp_path / "b.py"}
    monkeypatch.setattr(f"{__name__}.LIBRARY_MODULES", fake)
    with pytest.raises(pytest.fail.Exception, match="import circle"):
        test_library_modules_import_each_other_without_a_circle()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_backend_imports_the_base_and_no_sibling(backend):
    module = BACKENDS[backend].partition(":")[0]
    base = "embeddings.encoders.base"
    encoders = {m for m in imported_modules(LIBRARY_MODULES[module], module) if m.startswith("embeddings.encoders")}
    siblings = {m for m in encoders if m != base and not m.startswith(base + ".")}
    assert not siblings, f"{module} imports {sorted(siblings)}"


def test_encoders_never_import_the_set_up_recipes():
    for name, path in LIBRARY_MODULES.items():
        if name.startswith("embeddings.encoders"):
            recipes = {m for m in imported_modules(path, name) if m.startswith("embeddings.prepare")}
            assert not recipes, f"{name} imports {sorted(recipes)}"

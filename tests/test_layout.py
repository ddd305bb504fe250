"""The shape of the code, checked: no import cycles, imports flowing one way, tests mirroring
packages. Function-level imports count: a cycle hidden inside a function is still a cycle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

PACKAGES = ("activation_store", "probes", "sae_analysis", "experiments")
ALLOWED = {
    "activation_store": {"activation_store"},
    "probes": {"probes", "activation_store"},
    "sae_analysis": {"sae_analysis", "activation_store"},
    "experiments": set(PACKAGES),
}
"""Which packages each package may import: experiments → sae_analysis, probes → activation_store."""


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (REPO_ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The longest module of ours that ``name`` names (``a.b.C`` → ``a.b``)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> Iterator[str]:
    path = MODULES[module]
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            resolved = _resolve(target)
            if resolved is not None and resolved != module:
                yield resolved


GRAPH = {m: set(_imports(m)) for m in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
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

    for v in GRAPH:
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_the_packages() -> None:
    assert "experiments.cli" in GRAPH and "activation_store.core.stats" in GRAPH
    assert "activation_store.core.errors" in GRAPH["probes.baselines"]


def test_no_import_cycles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package: str) -> None:
    wrong = sorted(
        f"{m} → {d}"
        for m, deps in GRAPH.items()
        if m.split(".")[0] == package
        for d in deps
        if d.split(".")[0] not in ALLOWED[package]
    )
    assert wrong == []


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("activation_store.core", ("activation_store",)),
        ("experiments.steering.interventions", ("experiments.steering",)),
    ],
)
def test_a_library_does_not_import_its_users(lower: str, upper: tuple[str, ...]) -> None:
    """The ground floor (``core``) and the intervention library import nothing above them."""
    wrong = sorted(
        f"{m} → {d}"
        for m, deps in GRAPH.items()
        if m == lower or m.startswith(lower + ".")
        for d in deps
        if d.startswith(upper)
        and not (d == lower or d.startswith(lower + "."))
        and d not in ("activation_store", "experiments.steering")
    )
    assert wrong == []


def test_test_folders_mirror_the_packages() -> None:
    """``tests/<package path>/`` holds the tests of ``<package path>/``, so a module's test is found
    by its path."""
    tests = REPO_ROOT / "tests"
    strays = [
        str(d.relative_to(tests))
        for d in sorted(tests.rglob("*"))
        if d.is_dir()
        and d.name != "__pycache__"
        and d.relative_to(tests).parts[0] != "benchmarks"
        and not (REPO_ROOT / d.relative_to(tests)).is_dir()
    ]
    assert strays == []

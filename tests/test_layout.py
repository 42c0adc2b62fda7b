"""The house rules of the code's layout (docs/contributing.md; docs/design.md, "The packages"),
read from the source itself: imports run one way down the layers, no module imports itself back
through a circle, and no module or function grows past what a reader takes in at once.

Every import counts, a lazy one inside a function too (it is the same dependency, paid later).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("runner", "frontends", "models", "reports")

# Higher imports lower, never the reverse. Equal ranks never import each other.
LAYERS = {
    "runner.cli": 9,
    "runner.commands": 8,
    "runner.queue": 7,
    "runner.train": 6,
    "runner.tracking": 5,
    "runner.sweep": 4,
    "runner.data": 3,
    "runner.servers": 2,
    "models": 2,
    "frontends": 1,
    "reports": 1,
    "runner.errors": 0,
    "runner.locks": 0,
    "runner.cores": 0,
    "runner": 0,  # runner/__init__.py: a docstring
}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (module-level and inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module
            # `from pkg import submodule` depends on the submodule, not on pkg's own body
            subs = [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in MODULES]
            targets.update(subs if len(subs) == len(node.names) else [source, *subs])
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "runner" and len(parts) > 1 else parts[0]


def test_every_module_has_a_layer():
    assert sorted({_layer(m) for m in MODULES} - set(LAYERS)) == []


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{a} imports {b} ({_layer(a)} {LAYERS[_layer(a)]} -> {_layer(b)} {LAYERS[_layer(b)]})"
        for a, targets in graph.items()
        for b in targets
        if _layer(a) != _layer(b) and LAYERS[_layer(a)] <= LAYERS[_layer(b)]
    )


def test_imports_run_down_the_layers():
    assert _upward(GRAPH) == []


def test_an_import_back_up_is_caught():
    graph = {"runner.sweep.grid": {"runner.queue.study", "frontends.config"}}
    assert _upward(graph) == [
        "runner.sweep.grid imports runner.queue.study (runner.sweep 4 -> runner.queue 7)"
    ]
    assert _upward({"runner.train.loop": {"runner.tracking.runs"}}) == []


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                circles.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return circles


def test_no_import_circles():
    assert _circles(GRAPH) == []


def test_the_circle_finder_finds_a_circle():
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_and_functions_stay_readable(name):
    source = MODULES[name].read_text()
    lines = len(source.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines; split it by idea"
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == [], f"{name}: name the steps of these functions"


@pytest.mark.parametrize("name", sorted(m for m, p in MODULES.items() if p.name == "__init__.py"))
def test_every_package_says_what_it_owns(name):
    docstring = ast.get_docstring(ast.parse(MODULES[name].read_text())) or ""
    assert len(docstring.split()) >= 12, f"{name}/__init__.py: say what it owns and never does"

"""The package's import graph, built from the source with ast (TYPE_CHECKING imports count too)."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "whisper_cli"
# The batch driver and what it drives must never import each other back (batch <-> progress, plan -> batch ...).
BATCH_SIDE = {
    "batch", "executor", "local_executor", "pipeline", "plan", "commit", "lazy_model", "progress", "prefetch",
    "time_left", "run_config", "outcome", "workers", "worker_process",
}


def import_graph() -> dict[str, set[str]]:
    modules = {_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = {target for target in _imports(path, package) if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_runs_through_the_batch_modules():
    graph = import_graph()
    assert "whisper_cli.batch" in graph and "whisper_cli.progress" in graph["whisper_cli.batch"]
    ours = {f"whisper_cli.{name}" for name in BATCH_SIDE}
    assert [cycle for cycle in cycles(graph) if ours & set(cycle)] == []


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _name(path: Path) -> str:
    parts = ("whisper_cli",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, package: str) -> set[str]:
    targets = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets.add(module)
            targets.update(f"{module}.{alias.name}" for alias in node.names)  # `from . import claims`
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
    return targets

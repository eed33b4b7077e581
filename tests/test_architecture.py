"""The package's shape, checked from its source with `ast`: what issue 12 promised stays true.

- only whisper_cli/engine/ imports faster_whisper or ctranslate2;
- the import graph between the package's modules has no cycle (imports made only for type annotations,
  under `if TYPE_CHECKING:`, never run and are left out);
- no module is over 400 lines, and no function over 80 (Typer command signatures excepted: their
  parameters are the command's flags, one per line).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "whisper_cli"
ENGINE_ONLY = ("faster_whisper", "ctranslate2")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _runtime_nodes(tree: ast.AST):
    """Every node except those under `if TYPE_CHECKING:`, whose imports are for annotations and never run."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and ast.unparse(child.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for orelse in child.orelse:
                yield orelse
                yield from _runtime_nodes(orelse)
            continue
        yield child
        yield from _runtime_nodes(child)


def _imported_names(name: str, path: Path) -> set[str]:
    """Every module name an import statement in `path` refers to, relative imports made absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names = set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def _internal_edges(name: str, path: Path) -> set[str]:
    return {imported for imported in _imported_names(name, path) if imported in MODULES and imported != name}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_only_the_engine_imports_faster_whisper_or_ctranslate2(name):
    if name.startswith("whisper_cli.engine"):
        return
    heavy = sorted(i for i in _imported_names(name, MODULES[name]) if i.split(".")[0] in ENGINE_ONLY)
    assert not heavy, f"{name} imports {heavy}; only whisper_cli/engine/ may"


def test_the_import_graph_has_no_cycle():
    graph = {name: _internal_edges(name, path) for name, path in MODULES.items()}
    # A package's __init__ re-exporting its modules is not a dependency of those modules on it.
    for name in graph:
        graph[name] = {dep for dep in graph[name] if not name.startswith(dep + ".")}
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycle = trail[trail.index(dep):] + [dep] if dep in trail else [node, dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep, trail + [dep])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_are_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines (at most {MAX_MODULE_LINES})"


def _is_typer_command(function: ast.FunctionDef) -> bool:
    """A command whose flags are declared in its signature: the body after the signature is what counts."""
    return any(
        isinstance(arg.annotation, ast.Subscript) and "typer." in ast.unparse(arg.annotation)
        for arg in function.args.args + function.args.kwonlyargs
    )


@pytest.mark.parametrize("name", sorted(MODULES))
def test_functions_are_short(name):
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    long = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0].lineno if _is_typer_command(node) else node.lineno
        length = node.end_lineno - first + 1
        if length > MAX_FUNCTION_LINES:
            long.append(f"{node.name} ({length} lines)")
    assert not long, f"{name}: functions over {MAX_FUNCTION_LINES} lines: {', '.join(long)}"

"""The package's import graph: every module imports, and no module reaches back up to one that imports it (a cycle
makes the result depend on which module a user imports first)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pavenet_lite

PACKAGE = Path(pavenet_lite.__file__).parent


def package_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package (packages by their __init__.py)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imported_modules(source: str, known: set[str]) -> set[str]:
    """Package modules a source imports, at module level or inside functions; `if TYPE_CHECKING:` blocks excluded.
    `from pkg import name` counts as importing `pkg.name` when that is a module, else `pkg`."""
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(source)]
    while todo:
        node = todo.pop()
        if _is_type_checking(node):
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module in known:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                      for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
        todo.extend(ast.iter_child_nodes(node))
    return found


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state and (cycle := visit(v)):
                return cycle
        stack.pop()
        state[u] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_finds_a_planted_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    source = "from x.y import z\nif TYPE_CHECKING:\n    import x.w\ndef f():\n    from x import w\n"
    assert imported_modules(source, {"x", "x.y", "x.w"}) == {"x.y", "x.w"}


def test_package_import_graph_has_no_cycle():
    modules = package_modules()
    graph = {name: imported_modules(path.read_text(), set(modules)) - {name} for name, path in modules.items()}
    assert graph["pavenet_lite.matcher"] >= {"pavenet_lite.keypoint_ops"}      # the graph is really read
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(package_modules())
    script = f"import importlib\nfor name in {names!r}:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stderr[-2000:]

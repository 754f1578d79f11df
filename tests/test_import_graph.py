"""No import circle among the `registry` modules.

The graph counts every `import` / `from ... import` statement of every module under
`registry/`, at module level AND inside functions (a lazy import still ties two
modules together; it only hides the circle from Python's start-up). An edge goes from
a module to each `registry` module it names; importing `registry.a.b` also runs
`registry.a/__init__`, so that counts as an edge too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import registry

PACKAGE = Path(registry.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(name: str, tree: ast.AST, is_package: bool) -> set[str]:
    """Every `registry` module that `tree` imports, relative imports resolved."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            out.add(stem)
            out.update(f"{stem}.{a.name}" for a in node.names)  # `from pkg import module`
    return {t for t in out if t == "registry" or t.startswith("registry.")}


def import_graph() -> dict[str, set[str]]:
    """module -> the `registry` modules it imports (only modules that exist)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for target in _targets(name, tree, path.name == "__init__.py"):
            parts = target.split(".")
            # the module itself and every package on the way (their __init__ runs)
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in files and prefix != name and not name.startswith(prefix + "."):
                    edges.add(prefix)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_graph_sees_lazy_imports() -> None:
    """The walker reads imports inside functions (else the test below could not fail)."""
    tree = ast.parse("def f():\n    from registry.store import Store\n    import registry.tidy\n")
    assert _targets("registry.x", tree, False) == {"registry.store", "registry.store.Store",
                                                   "registry.tidy"}
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_among_registry_modules() -> None:
    graph = import_graph()
    assert "registry.cli" in graph and graph["registry.cli"], "the graph found no imports"
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])

"""The package's layout: no import circles, and each layer imports only the layers below it.

Every ``import`` statement in ``chainrule/`` counts, also one inside a function (where
a circle hides from Python's own import-time check): a circle between modules is one
module that has been cut in two, and a newcomer cannot read either half first. A failure
names the circle, module by module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "chainrule"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The chainrule module ``name`` names (a package's attribute import lands on the package)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Module -> the chainrule modules it imports (anywhere in its body)."""
    known = _modules()
    graph: dict[str, set[str]] = {m: set() for m in known}
    for mod, path in known.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                # `from P import x`: the submodule P.x if there is one, else P, where x is defined
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for t in targets:
                found = _resolve(t, known) if t.split(".")[0] == "chainrule" else None
                # a package's own __init__ runs before any of its modules: not an edge of the walk
                if found is not None and found != mod and not mod.startswith(found + "."):
                    graph[mod].add(found)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    for root, edges in graph.items():
        if root in index:
            continue
        work = [(root, iter(sorted(edges)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph[nxt]))))
                elif nxt in on:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One circle through the component's first module, as a path that returns to it."""
    start = component[0]
    members = set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for m in frontier:
            for n in sorted(graph[m] & members):
                if n == start:
                    return [*paths[m], start]
                if n not in paths:
                    paths[n] = [*paths[m], n]
                    nxt.append(n)
        frontier = nxt
    return component


def test_no_import_circles() -> None:
    graph = import_graph()
    found = [" -> ".join(_cycle_in(c, graph)) for c in circles(graph)]
    assert not found, "import circles:\n" + "\n".join(found)


def test_the_walk_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The checker itself: a circle made by a function-level import is found and named."""
    graph = {"chainrule.a": {"chainrule.b"}, "chainrule.b": {"chainrule.c"}, "chainrule.c": {"chainrule.a"},
             "chainrule.d": {"chainrule.a"}}  # fmt: skip
    (component,) = circles(graph)
    assert _cycle_in(component, graph) == ["chainrule.a", "chainrule.b", "chainrule.c", "chainrule.a"]
    tree = ast.parse("def f():\n    from .engine import Tensor\n")
    assert any(isinstance(n, ast.ImportFrom) and n.module == "engine" for n in ast.walk(tree))


# Lowest first: a module imports only from its own layer or the ones before it.
LAYERS = [
    ("backend", "dtypes", "allocator", "threads"),
    ("devices", "cuda"),
    ("autograd",),
    ("ops", "factories", "rng"),
    ("nn", "optim", "data", "serialization", "figures"),
    ("compiler", "distributed"),
    ("models", "tasks"),
    ("training",),
    ("viz", "cli", "__main__", ""),  # "": the package's __init__, which gathers everything
]


# The front of chainrule.autograd and its functional (jacobian, hessian, ...: composed from the
# ops, as torch.autograd.functional is) sit with the ops; the engine's modules below them.
PLACED = {"chainrule.autograd": 3, "chainrule.autograd.functional": 3}


def layer_of(module: str) -> int:
    if module in PLACED:
        return PLACED[module]
    top = module.split(".")[1] if "." in module else ""
    found = [i for i, names in enumerate(LAYERS) if top in names]
    assert found, f"{module}: in no layer of tests/test_layout.py's LAYERS; add it where it belongs"
    return found[0]


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = [f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
              for m, targets in sorted(import_graph().items()) for t in sorted(targets) if layer_of(t) > layer_of(m)]  # fmt: skip
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


def test_every_public_name_imports() -> None:
    """``from chainrule import NAME`` works for every name of every package's ``__all__``."""
    import importlib

    packages = sorted({m for m, path in _modules().items() if path.name == "__init__.py"})
    missing = []
    for package in packages:
        module = importlib.import_module(package)
        missing += [f"{package}.{name}" for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert not missing, missing
    assert {"autograd", "nn", "optim", "data", "models", "tasks", "training", "viz", "ntm"} <= set(
        importlib.import_module("chainrule").__all__
    )

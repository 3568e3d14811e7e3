"""The graph behind a tensor, as plain data that the DOT, SVG and HTML writers share."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..ops.roles import role
from .explainer import fmt, label

SMALL = 16  # values with at most this many entries are shown in full (a matrix row by row)
TITLE = 28  # a value's sub-expression name is abbreviated beyond this many characters

# Gates of a scalar circuit are drawn as the lecture draws them: a circle with the operator.
SYMBOLS = {"Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "Pow": "**", "Neg": "-x", "Exp": "exp", "Log": "log",
           "Sqrt": "sqrt", "Abs": "abs", "Tanh": "tanh", "Sigmoid": "σ", "Relu": "relu", "Maximum": "max",
           "Max": "max", "Sum": "sum", "MatMul": "@", "Softplus": "softplus", "Erf": "erf", "Clip": "clip"}


@dataclass
class GraphNode:
    """A value (a wire), a gate, a collapsed module, or the summary of what was left out."""

    id: str
    kind: str  # "value", "gate", "group" or "more"
    title: str  # the op, the value's name, the module
    detail: str = ""  # shape, role, parameters
    value: str = ""  # forward value (values only)
    grad: str = ""  # gradient, once known (values only)
    grad_numbers: list[float] | None = None  # the gradient's entries, for small values
    fork: bool = False  # a value that feeds several gates
    leaf: bool = False
    tensor_id: int = 0  # id() of the Tensor behind a value node
    seq: int = -1  # the gate's sequence number
    size: int = 1  # how many numbers a value holds
    symbol: str = ""  # a gate's operator, as a scalar circuit shows it

    def heading(self) -> str:
        """A value's first line: its name and shape ('x (3)', 'W.T (4x3)'), a one-number value's name alone."""
        if self.kind != "value" or not self.detail or self.detail == "scalar":
            return self.title
        if self.title:
            return f"{self.title} ({self.detail})"
        return f"shape {self.detail}"


@dataclass
class Graph:
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (from, to), in the forward direction
    output: str = ""
    owner: dict[int, str] = field(default_factory=dict)  # gate sequence number -> the node that shows it

    @property
    def scalar(self) -> bool:
        """A circuit of one-number values only (the lecture's drawings): values go on the wires."""
        kinds = [n.kind for n in self.nodes.values()]
        return "gate" in kinds and all(k in ("value", "gate") for k in kinds) and all(
            n.size == 1 for n in self.nodes.values() if n.kind == "value")

    def add(self, node: GraphNode) -> GraphNode:
        return self.nodes.setdefault(node.id, node)

    def edge(self, a: str, b: str) -> None:
        if (a, b) not in self.edges:
            self.edges.append((a, b))


def describe(x: Any) -> str:
    """The numbers when there are at most ``SMALL`` (a matrix one row per line), else min / mean / max.

    >>> print(describe(np.arange(6.0).reshape(2, 3)))
    [0, 1, 2]
    [3, 4, 5]
    """
    arr = np.asarray(x)
    if arr.size == 0:
        return "empty"
    if arr.size == 1:
        return fmt(float(arr.reshape(())) if arr.dtype.kind in "biuf" else arr)
    if arr.size <= SMALL:
        if arr.ndim >= 2 and arr.shape[-1] > 1:
            rows = arr.reshape(-1, arr.shape[-1])  # a matrix, row by row
        else:
            flat = arr.ravel()
            rows = [flat[i : i + 6] for i in range(0, flat.size, 6)]  # a vector, six to a line
        return "\n".join("[" + ", ".join(f"{float(v):.4g}" for v in row) + "]" for row in rows)
    a = arr.astype(np.float64) if arr.dtype.kind in "biuf" else arr
    return f"min {a.min():.3g} / mean {a.mean():.3g} / max {a.max():.3g}"


def _shape(t: Tensor) -> str:
    return "scalar" if t.ndim == 0 else "x".join(map(str, t.shape))


def _value_node(t: Any, grads: dict[int, Any] | None, use: str = "") -> GraphNode:
    if not isinstance(t, Tensor):  # a Python number mixed into an op: a node per use, never a fork
        return GraphNode(id=f"c{id(t)}{use}", kind="value", title="", detail="scalar", value=fmt(float(t)), leaf=True)
    g = None
    if grads is not None and id(t) in grads:
        g = np.asarray(grads[id(t)])
    elif t.grad is not None:
        g = t.grad.numpy()
    node = GraphNode(
        id=f"t{id(t)}",
        kind="value",
        title=t.name or ("" if t._ctx is None and t.numel() == 1 else label(t, TITLE)),  # computed: its sub-expression
        detail=_shape(t),
        value=describe(t.numpy()),
        leaf=t._ctx is None,
        tensor_id=id(t),
        size=t.numel(),
    )
    if g is not None:
        node.grad, node.grad_numbers = grad_label(g)
    return node


def grad_label(g: Any) -> tuple[str, list[float] | None]:
    """A gradient as shown on a wire, and its entries when small enough to show in full."""
    g = np.asarray(g)
    return describe(g), ([float(v) for v in g.ravel()] if g.size <= SMALL else None)


def gate_title(ctx: Any) -> str:
    """A gate's name in pictures: its op, ``transpose`` for a permutation that reverses the axes (``W.T``)."""
    name = ctx.fn.__name__
    if name == "Permute":
        axes = tuple(getattr(ctx, "axes", ()))
        return "transpose" if axes == tuple(reversed(range(len(axes)))) else "permute"
    return name


def _collapser(collapse: Any) -> Callable[[Any], bool]:
    """Which recorded module calls to fold: a Module, several, or Module types."""
    if collapse is None:
        return lambda m: False
    items = collapse if isinstance(collapse, (list, tuple, set)) else [collapse]
    types = tuple(i for i in items if isinstance(i, type))
    ids = {id(i) for i in items if not isinstance(i, type)}
    return lambda m: id(m) in ids or (bool(types) and isinstance(m, types))


def build_graph(out: Tensor, collapse: Any = None, max_nodes: int | None = 80,
                grads: dict[int, Any] | None = None) -> Graph:  # fmt: skip
    """Walk the graph behind ``out`` (from the output back to the leaves) into nodes and edges.

    ``collapse``: module calls to show as one node each. ``max_nodes``: keep the nodes
    nearest the output, and one summary node for the rest. ``grads``: gradients by
    ``id(tensor)`` (from ``chainrule.viz.explainer.trace``); otherwise each tensor's ``.grad``.

    >>> import chainrule as cr
    >>> x = cr.Tensor(2.0, requires_grad=True, name="x")
    >>> g = build_graph(x * x + 1)
    >>> sorted(n.kind for n in g.nodes.values())
    ['gate', 'gate', 'value', 'value', 'value', 'value']
    >>> [n.fork for n in g.nodes.values() if n.title == "x"]
    [True]
    """
    from ..nn.modules.module import Module

    if not isinstance(out, Tensor):
        raise TypeError(f"viz: expected a Tensor, got {type(out).__name__}")
    folds = _collapser(collapse)
    graph = Graph()
    spans: list[tuple[int, int, Module, str]] = []  # (start, end, module, node id) of folded calls
    hidden: set[int] = set()  # ids of parameters shown inside a folded module
    consumers: dict[str, int] = {}  # value node -> how many inputs of drawn gates it is
    budget = max_nodes if max_nodes is not None else float("inf")
    frontier: list[str] = []

    def span_of(ctx: Any) -> tuple | None:
        for s in spans:
            if s[0] < ctx.seq < s[1]:
                return s
        return None

    def register(ctx: Any) -> tuple | None:
        for module, start, end in reversed(ctx.__dict__.get("modules", ())):  # outermost first
            if folds(module) and start < ctx.seq < end:
                hidden.update(id(p) for p in module.parameters())
                detail = ", ".join(f"{n} {_shape(p)}" for n, p in module.named_parameters())
                node = graph.add(GraphNode(id=f"m{ctx.seq}", kind="group", title=repr(module).split("\n")[0],
                                           detail=detail, seq=ctx.seq))  # fmt: skip
                span = (start, end, module, node.id)
                spans.append(span)
                return span
        return None

    out_node = graph.add(_value_node(out, grads))
    graph.output = out_node.id
    queue = deque([(out, out_node.id)])  # (tensor, the node that shows it, or its group when folded)
    count = 1
    seen: set[int] = set()
    visited: set[int] = set()  # sequence numbers of gates drawn or folded
    while queue:
        t, node_id = queue.popleft()
        if not isinstance(t, Tensor) or t._ctx is None or id(t) in seen:
            continue
        ctx = t._ctx
        span = span_of(ctx) or register(ctx)
        if span is not None:
            target = span[3]
            if node_id != target:
                graph.edge(target, node_id)
        else:
            target = f"g{ctx.seq}"
            if target not in graph.nodes:
                if count >= budget:
                    frontier.append(node_id)
                    continue
                count += 1
                name = ctx.fn.__name__
                graph.add(GraphNode(id=target, kind="gate", title=gate_title(ctx), detail=role(name).split(":")[0],
                                    seq=ctx.seq, symbol=SYMBOLS.get(name, gate_title(ctx).lower())))  # fmt: skip
            graph.edge(target, node_id)
        seen.add(id(t))
        visited.add(ctx.seq)
        graph.owner[ctx.seq] = target
        for a in ctx.inputs:
            inside = span is not None and isinstance(a, Tensor) and (
                id(a) in hidden or (a._ctx is not None and span[0] < a._ctx.seq < span[1])
            )
            if inside:
                queue.append((a, target))  # walk on inside the folded module, drawing nothing
                continue
            a_node = graph.nodes.get(f"t{id(a)}") if isinstance(a, Tensor) else None
            if a_node is None:
                if count >= budget:
                    frontier.append(target)
                    continue
                count += 1
                a_node = graph.add(_value_node(a, grads, f"-{target}-{len(graph.edges)}"))
            graph.edges.append((a_node.id, target))  # once per use: x * x draws two wires
            consumers[a_node.id] = consumers.get(a_node.id, 0) + 1
            queue.append((a, a_node.id))
    left_out = len(_all_gates(out) - visited)
    for node_id, uses in consumers.items():
        graph.nodes[node_id].fork = uses > 1
    if frontier:
        more = graph.add(GraphNode(id="more", kind="more", title=f"... {left_out} more gates",
                                   detail=f"raise max_nodes (now {max_nodes}) to see them"))  # fmt: skip
        for f in dict.fromkeys(frontier):
            graph.edge(more.id, f)
    return graph


def _all_gates(out: Tensor) -> set[int]:
    """Sequence numbers of every gate behind ``out``."""
    found: set[int] = set()
    stack = [out]
    while stack:
        t = stack.pop()
        if isinstance(t, Tensor) and t._ctx is not None and t._ctx.seq not in found:
            found.add(t._ctx.seq)
            stack.extend(t._ctx.inputs)
    return found

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
    slots: int = 1  # a gate's inputs: each use of a value arrives at its own slot (port)
    parts: list[str] = field(default_factory=list)  # a fork's gradients, one per wire, in drawing order
    module: str = ""  # a folded module's name (``fc1``, ``blocks.0``): the page opens it on a click

    def heading(self) -> str:
        """A value's first line: its name and shape ('x (3)', 'W.T (4x3)'), a one-number value's name alone;
        a folded module's: its name and type ('fc1: Linear')."""
        if self.kind == "group" and self.module:
            kind = self.title.split("(")[0]
            return self.module if self.module.endswith(kind) else f"{self.module}: {kind}"
        if self.kind != "value" or not self.detail or self.detail == "scalar":
            return self.title
        if self.title:
            return f"{self.title} ({self.detail})"
        return f"shape {self.detail}"


@dataclass
class Edge:
    """One wire, in the forward direction. A value used twice by a gate (``u*u``) has two
    edges, one per use, each arriving at its own ``slot`` of the gate and carrying back its
    own gradient (``grad``, once known): the parts that add at the fork.
    Unpacks as ``(src, dst)``."""

    src: str
    dst: str
    slot: int = 0  # which input of ``dst`` this wire is
    grad: str = ""  # the gradient this wire carries back (what the gate sent its input)
    grad_numbers: list[float] | None = None

    def __iter__(self) -> Any:
        return iter((self.src, self.dst))


@dataclass
class Graph:
    nodes: dict[str, GraphNode] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)  # one per use of a value, in the forward direction
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
        """A wire drawn once however often it is found (a gate's output, into its value)."""
        if not any(e.src == a and e.dst == b for e in self.edges):
            self.edges.append(Edge(a, b))

    def uses(self, node_id: str) -> list[Edge]:
        """The wires out of a value: one per use, so ``u*u + u`` gives u three."""
        return [e for e in self.edges if e.src == node_id]


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


def _value_node(t: Any, grads: dict[int, Any] | None, use: str = "", title: str | None = None) -> GraphNode:
    if not isinstance(t, Tensor):  # a Python number mixed into an op: a node per use, never a fork
        return GraphNode(id=f"c{id(t)}{use}", kind="value", title="", detail="scalar", value=fmt(float(t)), leaf=True)
    g = None
    if grads is not None and id(t) in grads:
        g = np.asarray(grads[id(t)])
    elif t.grad is not None:
        g = t.grad.numpy()
    if title is None:
        title = t.name or ("" if t._ctx is None and t.numel() == 1 else label(t, TITLE))  # computed: its sub-expression
    node = GraphNode(
        id=f"t{id(t)}",
        kind="value",
        title=title,
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


def wire_label(g: Any) -> tuple[str, list[float] | None]:
    """The gradient written on one wire of a fork: its numbers when they fit on one short
    line (up to 4), else its norm (the wire is no place for a matrix).

    >>> wire_label(np.array([1.0, 2.0]))[0], wire_label(np.ones((3, 3)))[0]
    ('[1, 2]', 'norm 3')
    """
    g = np.asarray(g, dtype=np.float64)
    if g.size <= 4:
        return grad_label(g)
    return f"norm {np.linalg.norm(g):.3g}", None


def gate_title(ctx: Any) -> str:
    """A gate's name in pictures: its op, ``transpose`` for a permutation that reverses the axes (``W.T``)."""
    name = ctx.fn.__name__
    if name == "Permute":
        axes = tuple(getattr(ctx, "axes", ()))
        return "transpose" if axes == tuple(reversed(range(len(axes)))) else "permute"
    return name


class Names:
    """Names from the modules that built a graph: parameters by their module path
    (``fc1.weight``, ``0.bias``), a module's output by the module (``fc1``, ``2: Linear``),
    a value computed inside a module by the module and its op (``fc1/matmul``).

    Read off the graph itself: ``Module.__call__`` notes on its output's gate which gates
    the call recorded, so the modules (and their parents, whose paths name the rest) are
    found by walking back from the output; nothing is registered anywhere.
    """

    def __init__(self, out: Tensor) -> None:
        self.params: dict[int, str] = {}  # id(parameter) -> its path
        self.outputs: dict[int, str] = {}  # a module output's gate sequence number -> the module's name
        self.paths: dict[int, str] = {}  # id(module) -> its name
        self.spans: list[tuple[int, int, str]] = []  # (start, end, module name) of every recorded call
        self.roots: list[Any] = []  # the outermost modules called (the model)
        calls: list[tuple[Any, int, int, int]] = []  # (module, start, end, gate of its output)
        for ctx in _all_contexts(out):
            for module, start, end in ctx.__dict__.get("modules", ()):
                calls.append((module, start, end, ctx.seq))
        if not calls:
            return
        recorded = {id(m): m for m, *_ in calls}
        inner = {id(sub) for m in recorded.values() for sub in m.modules() if sub is not m}
        roots = sorted((m for m in recorded.values() if id(m) not in inner),
                       key=lambda m: min(s for mm, s, _, _ in calls if mm is m))  # fmt: skip
        self.roots = roots
        several = sum(1 for r in roots if any(True for _ in r.parameters())) > 1
        for root in roots:
            prefix = f"{type(root).__name__}." if several else ""
            for path, module in root.named_modules():
                self.paths.setdefault(id(module), _display(prefix + path if path else "", module))
            for path, p in root.named_parameters():
                self.params.setdefault(id(p), prefix + path)
        for module, start, end, seq in reversed(calls):  # innermost call last: it names the output
            name = self.paths.get(id(module), type(module).__name__)
            self.outputs[seq] = name
            self.spans.append((start, end, name))

    def __bool__(self) -> bool:
        return bool(self.spans)

    def parts(self) -> list[Any]:
        """The modules a network is made of: each root's children (a root without any: itself)."""
        found: list[Any] = []
        for root in self.roots:
            children = list(root.children())
            found += children or [root]
        return found

    def title(self, t: Tensor) -> str | None:
        """A name for ``t`` from the modules, or None where they give none."""
        if t.name:
            return t.name
        if t._ctx is None:  # a parameter by its path; the data the network was given
            return self.params.get(id(t), "input" if t.numel() > 1 else None)
        if t._ctx.seq in self.outputs:
            return self.outputs[t._ctx.seq]
        inside = [s for s in self.spans if s[0] < t._ctx.seq < s[1]]
        if inside:  # an intermediate of a module: the innermost module, and the op
            start, end, name = min(inside, key=lambda s: s[1] - s[0])
            return f"{name.split(':')[0]}/{gate_title(t._ctx).lower()}"
        return self.expression(t, 3)

    def expression(self, t: Any, depth: int) -> str:
        """Outside every module (a loss, say): the sub-expression, with the modules' names."""
        if not isinstance(t, Tensor):
            return fmt(float(t)) if isinstance(t, (int, float, np.number)) else "?"
        if t._ctx is None:
            name = t.name or self.params.get(id(t))
            return name or (fmt(float(t.numpy().reshape(()))) if t.numel() == 1 else "input")
        name = t.name or self.outputs.get(t._ctx.seq)
        if name:
            return name
        op = gate_title(t._ctx).lower()
        if depth == 0:
            return f"{op}(...)"
        args = ", ".join(self.expression(a, depth - 1) for a in t._ctx.inputs)
        text = f"{op}({args})"
        return text if len(text) <= TITLE else f"{op}(...)"


def _display(path: str, module: Any) -> str:
    """A module's name in pictures: its path (``fc1``, ``blocks.0.attn``); a position in a
    ``Sequential`` with its type (``2: Linear``); the model itself by its type."""
    kind = type(module).__name__
    if not path:
        return kind
    return f"{path}: {kind}" if path.rsplit(".", 1)[-1].isdigit() else path


def _all_contexts(out: Tensor) -> list[Any]:
    """Every gate behind ``out``, once each."""
    found: dict[int, Any] = {}
    stack = [out]
    while stack:
        t = stack.pop()
        if isinstance(t, Tensor) and t._ctx is not None and t._ctx.seq not in found:
            found[t._ctx.seq] = t._ctx
            stack.extend(t._ctx.inputs)
    return list(found.values())


def _collapser(collapse: Any, names: Names) -> Callable[[Any], bool]:
    """Which recorded module calls to fold: a Module, several, Module types, or ``"modules"``
    (each module the network is made of: the children of the model)."""
    if collapse is None:
        return lambda m: False
    if isinstance(collapse, str):
        if collapse != "modules":
            raise ValueError(f"viz: collapse={collapse!r}; expected 'modules', a Module, Module types or a list")
        collapse = names.parts()
    items = collapse if isinstance(collapse, (list, tuple, set)) else [collapse]
    types = tuple(i for i in items if isinstance(i, type))
    ids = {id(i) for i in items if not isinstance(i, type)}
    return lambda m: id(m) in ids or (bool(types) and isinstance(m, types))


def build_graph(out: Tensor, collapse: Any = None, max_nodes: int | None = 80,
                grads: dict[int, Any] | None = None, tr: Any = None) -> Graph:  # fmt: skip
    """Walk the graph behind ``out`` (from the output back to the leaves) into nodes and edges.

    ``collapse``: module calls to show as one node each (Modules, Module types, or
    ``"modules"``: each child of the model). ``max_nodes``: keep the nodes
    nearest the output, and one summary node for the rest. ``grads``: gradients by
    ``id(tensor)``; otherwise each tensor's ``.grad``. ``tr``: a trace from
    ``chainrule.viz.explainer.trace``: its gradients, and what each wire carried back, so a
    fork shows the parts that add there. Each use of a value is its own edge (``x * x``
    draws two wires into the ``*`` gate). In a network's graph, parameters are named by
    their module path and values by the module that computed them (see ``Names``).

    >>> import chainrule as cr
    >>> from chainrule.viz.explainer import trace
    >>> u = cr.Tensor(3.0, requires_grad=True, name="u")
    >>> f = u * u + u
    >>> g = build_graph(f, tr=trace(f))
    >>> node = next(n for n in g.nodes.values() if n.title == "u")
    >>> len(g.uses(node.id)), [e.grad for e in g.uses(node.id)], node.grad
    (3, ['1', '3', '3'], '7')
    """
    from ..nn.modules.module import Module

    if not isinstance(out, Tensor):
        raise TypeError(f"viz: expected a Tensor, got {type(out).__name__}")
    if grads is None and tr is not None:
        grads = tr.grads
    sent = _sent(tr)
    names = Names(out)
    folds = _collapser(collapse, names)
    graph = Graph()
    spans: list[tuple[int, int, Module, str]] = []  # (start, end, module, node id) of folded calls
    hidden: set[int] = set()  # ids of parameters shown inside a folded module
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
                path = names.paths.get(id(module))
                node = graph.add(GraphNode(id=f"m{ctx.seq}", kind="group", title=repr(module).split("\n")[0],
                                           detail=detail, seq=ctx.seq, module=path or ""))  # fmt: skip
                span = (start, end, module, node.id)
                spans.append(span)
                return span
        return None

    def title(t: Any) -> str | None:
        return names.title(t) if names and isinstance(t, Tensor) else None

    out_node = graph.add(_value_node(out, grads, title=title(out)))
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
                                    seq=ctx.seq, symbol=SYMBOLS.get(name, gate_title(ctx).lower()),
                                    slots=len(ctx.inputs)))  # fmt: skip
            graph.edge(target, node_id)
        seen.add(id(t))
        visited.add(ctx.seq)
        graph.owner[ctx.seq] = target
        parts = _match(ctx, sent.get(ctx.seq, []))
        for slot, a in enumerate(ctx.inputs):
            if a is None:  # an optional input left out (a layer without bias, attention without mask)
                continue
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
                a_node = graph.add(_value_node(a, grads, f"-{target}-{len(graph.edges)}", title(a)))
            wire = Edge(a_node.id, target, slot)  # once per use: x * x draws two wires
            if span is None and slot in parts:
                wire.grad, wire.grad_numbers = wire_label(parts[slot])
            graph.edges.append(wire)
            queue.append((a, a_node.id))
    for node in graph.nodes.values():
        uses = graph.uses(node.id) if node.kind == "value" else []
        node.fork = len(uses) > 1
        if node.fork and node.size == 1 and all(e.grad for e in uses):  # numbers that add, shown as a sum
            node.parts = [e.grad for e in uses]
    left_out = len(_all_gates(out) - visited)
    if frontier:
        more = graph.add(GraphNode(id="more", kind="more", title=f"... {left_out} more gates",
                                   detail=f"raise max_nodes (now {max_nodes}) to see them"))  # fmt: skip
        for f in dict.fromkeys(frontier):
            graph.edge(more.id, f)
    return graph


def _sent(tr: Any) -> dict[int, list[tuple[int, Any]]]:
    """From a trace: per gate (sequence number), what it sent back, as (id(input), gradient)."""
    if tr is None:
        return {}
    return {st.node: list(zip(st.input_ids, st.downstream)) for st in tr.steps}


def _match(ctx: Any, sent: list[tuple[int, Any]]) -> dict[int, Any]:
    """Which input slot of the gate each gradient it sent back went to. The trace lists the
    inputs that got one, in order, so they are matched to the inputs in order by identity."""
    parts: dict[int, Any] = {}
    i = 0
    for slot, a in enumerate(ctx.inputs):
        if i < len(sent) and sent[i][0] == id(a):
            parts[slot] = sent[i][1]
            i += 1
    return parts


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

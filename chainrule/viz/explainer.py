"""The backward pass, narrated: ``trace(loss)`` runs it and records every gate's step;
``explain(loss)`` returns the story as text.

At each gate, in the order the chain rule visits them (reverse topological), a step holds
the upstream gradient arriving at the gate's output, the gate's local gradient for each
input (for scalars: the gate's backward run with upstream 1), and their product, the
downstream gradient. Where a value is used several times (by one gate or several), its
gradient is the sum of what each use sent back; the story shows that sum before the value's
own gate runs, and ends with the gradient of the result in every input (``df/dx = -4``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import engine
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..ops.roles import role


@dataclass
class Step:
    """One gate of a backward pass: its output, the upstream gradient, and per input the
    local gradient (None for a tensor gate) and the downstream gradient."""

    gate: str
    output: str
    upstream: Any
    inputs: list[str]
    local: list[Any]
    downstream: list[Any]
    node: int = -1  # the gate's sequence number: its id in pictures
    output_id: int = 0
    input_ids: list[int] = field(default_factory=list)
    fork: list[Any] = field(default_factory=list)  # the parts the upstream gradient summed, if several
    fork_gates: int = 0  # how many distinct gates sent those parts (u*u + u: 3 parts from 2 gates)


@dataclass
class Trace:
    """A recorded backward pass: the steps, and the gradient every tensor received."""

    output: Tensor
    steps: list[Step]
    grads: dict[int, Any]  # id(tensor) -> its total gradient (NumPy)
    leaf_forks: dict[int, list[Any]]  # id(leaf) -> the parts of its gradient, when it had several
    leaf_fork_gates: dict[int, int] = field(default_factory=dict)  # id(leaf) -> distinct gates that sent them
    leaves: list[Tensor] = field(default_factory=list)  # the leaves that got a gradient, in forward order

    def text(self, inputs: list[Tensor] | None = None) -> str:
        """The whole story, one block per gate, plain text, ending with ``summary(inputs)``."""
        lines = [f"backward from {label(self.output)} = {fmt(value(self.output))}, seeded with 1:"]
        for st in self.steps:
            if len(st.fork) > 1:
                lines.append("  " + fork_text(st.output, st.fork, st.upstream, st.fork_gates))
            lines += step_lines(st)
        names = {}
        for st in self.steps:
            names.update(zip(st.input_ids, st.inputs))
        for key, parts in self.leaf_forks.items():
            lines.append("  " + fork_text(names.get(key, "a leaf"), parts, self.grads[key], self.leaf_fork_gates.get(key)))
        return "\n".join(lines + self.summary(inputs))

    def summary(self, inputs: list[Tensor] | None = None) -> list[str]:
        """``df/dx = -4`` for each input (``inputs``, else every leaf that got a gradient, in the
        order the forward pass met them); ``f`` is the result's name. An input the result does not
        depend on gets 0, saying so."""
        out = self.output.name or "f"
        lines = []
        for k, leaf in enumerate(self.leaves if inputs is None else inputs):
            name = leaf.name or f"(input {k + 1})"
            if id(leaf) in self.grads:
                lines.append(f"d{out}/d{name} = {fmt(self.grads[id(leaf)])}")
            else:
                lines.append(f"d{out}/d{name} = 0 ({out} does not depend on {name})")
        return lines


# How an unnamed computed value is written: as the sub-expression that made it, the way
# the lecture names its wires (q = x + y). Binary gates by their operator, others as calls.
_INFIX = {"Add": " + ", "Sub": " - ", "Mul": "*", "Div": " / ", "Pow": "**", "MatMul": " @ "}
_CALLS = {"Neg": "-", "Permute": "transpose", "GetItem": "index", "Relu": "relu", "Maximum": "max",
          "Max": "max", "Sum": "sum", "Expand": "expand", "Reshape": "reshape", "Cast": "cast"}
_LABEL_DEPTH = 8  # deeper sub-expressions (and longer than label's limit) are abbreviated with ...


def label(t: Any, limit: int = 48) -> str:
    """A value's name: its own, else the sub-expression that computed it (``x + y``,
    ``w0*x0``, ``exp(-a)``), else its number for a one-element constant.

    >>> import chainrule as cr
    >>> x, y = cr.Tensor(-2.0, name="x", requires_grad=True), cr.Tensor(5.0, name="y")
    >>> label(x + y), label((x + y) * 3.0), label(cr.exp(-x)), label(cr.Tensor([1.0, 2.0]))
    ('x + y', '(x + y)*3', 'exp(-x)', 'const')
    """
    return _label(t, _LABEL_DEPTH, limit)


def _label(t: Any, depth: int, limit: int = 48) -> str:
    if not isinstance(t, Tensor):
        return fmt(t) if isinstance(t, (int, float, np.number)) else repr(t)
    if t.name:
        return t.name
    if t._ctx is None:
        return fmt(float(t.numpy().reshape(()))) if t.numel() == 1 else "const"
    op = t._ctx.fn.__name__
    if depth == 0:
        return "..."
    args = [_label(a, depth - 1, limit) for a in t._ctx.inputs]
    axes = tuple(getattr(t._ctx, "axes", ()))
    if op == "Permute" and len(axes) == 2 and axes == (1, 0):
        return f"({args[0]}).T" if _compound(t._ctx.inputs[0], "Mul") else f"{args[0]}.T"
    if op in _INFIX and len(args) == 2:
        parts = [f"({a})" if _compound(x, op) else a for a, x in zip(args, t._ctx.inputs)]
        text = _INFIX[op].join(parts)
    elif op == "Neg":
        text = f"-({args[0]})" if _compound(t._ctx.inputs[0], op) else f"-{args[0]}"
    else:
        text = f"{_CALLS.get(op, op.lower())}({', '.join(args)})"
    return text if len(text) <= limit else f"{_CALLS.get(op, op.lower())}(...)"


def _compound(a: Any, parent: str) -> bool:
    """Whether input ``a`` needs parentheses as an operand of ``parent``."""
    if not isinstance(a, Tensor) or a.name or a._ctx is None:
        return False
    op = a._ctx.fn.__name__
    if op not in _INFIX and op != "Neg":
        return False
    return not (parent in ("Add", "Sub") and op in ("Mul", "Div", "Pow", "MatMul", "Neg")
                or parent == "Add" and op in ("Add", "Sub"))  # fmt: skip


def value(t: Any) -> Any:
    """A float for one-element values, else a NumPy copy."""
    data = t.numpy() if isinstance(t, Tensor) else np.asarray(t)
    return float(data.reshape(())) if data.size == 1 else np.array(data, copy=True)


def fmt(v: Any) -> str:
    """Numbers for scalars and small arrays, shape and norm for larger ones."""
    if v is None:
        return "?"
    if isinstance(v, (float, int, np.floating)):
        return f"{float(v):.4g}"
    if isinstance(v, list):
        return "[" + ", ".join(fmt(u) for u in v) + "]"
    arr = np.asarray(v)
    if arr.size <= 16:  # the lecture's small examples show their numbers (a 3x4 gradient included)
        return np.array2string(arr, precision=3, separator=", ", suppress_small=True).replace("\n", "")
    return f"<{arr.shape} |.|={np.linalg.norm(arr):.3g}>"


def step_parts(step: Step) -> list[str]:
    """Per input: 'name: upstream x local = downstream' (or 'name <- downstream' for tensor gates)."""
    parts = []
    for name, loc, down in zip(step.inputs, step.local, step.downstream):
        if loc is None:
            parts.append(f"{name} <- {fmt(down)}")
        else:
            parts.append(f"{name}: {fmt(step.upstream)} x {fmt(loc)} = {fmt(down)}")
    return parts


def format_step(step: Step) -> str:
    """One line per gate: 'upstream x local = downstream' for each input."""
    return f"  [{step.gate:>7}] {step.output:<14} " + (" " if len(step.output) >= 14 else "") + ";  ".join(step_parts(step))


def step_lines(step: Step) -> list[str]:
    """``format_step``'s line, and under it the gate's part in the backward flow, if it has a name."""
    lines = [format_step(step)]
    if role(step.gate):
        lines.append(f"  {'':>9}({step.gate} {role(step.gate)})")
    return lines


def fork_text(name: str, parts: list[Any], total: Any, gates: int | None = None) -> str:
    """'x feeds 3 gates, so its gradient is the sum: a + b + c = total', or, when some gate
    uses the value more than once (``gates`` distinct gates sent the parts), 'u is used 3
    times (by 2 gates), ...'.

    >>> fork_text("u", [1.0, 3.0, 3.0], 7.0, gates=2)
    'u is used 3 times (by 2 gates), so its gradient is the sum: 1 + 3 + 3 = 7'
    """
    if gates is None or gates == len(parts):
        head = f"{name} feeds {len(parts)} gates"
    else:
        head = f"{name} is used {len(parts)} times (by {gates} gate{'s' if gates != 1 else ''})"
    return head + ", so its gradient is the sum: " + " + ".join(fmt(p) for p in parts) + f" = {fmt(total)}"


def sentence(step: Step) -> str:
    """One step as a sentence (the interactive page shows these)."""
    text = f"{step.gate} gate, output {step.output}, upstream gradient {fmt(step.upstream)}. "
    if len(step.fork) > 1:
        text = fork_text(step.output, step.fork, step.upstream, step.fork_gates) + ". " + text
    text += "Downstream (upstream x local): " + "; ".join(step_parts(step)) + "."
    if role(step.gate):
        text += f" {step.gate} {role(step.gate)}."
    return text


def trace(out: Tensor) -> Trace:
    """Run ``out.backward()`` (leaves' ``.grad`` accumulate as usual) and record every step.

    Unlike a plain ``backward()``, every tensor of the graph also keeps its gradient in
    ``.grad`` afterwards (as if PyTorch's ``retain_grad`` were on everywhere), so pictures
    can show the gradient on every wire.

    >>> import chainrule as cr
    >>> x, y = cr.Tensor(3.0, requires_grad=True), cr.Tensor(-4.0, requires_grad=True)
    >>> (step,) = trace(x * y).steps
    >>> step.gate, step.upstream, step.local, step.downstream
    ('Mul', 1.0, [-4.0, 3.0], [-4.0, 3.0])
    """
    steps: list[Step] = []
    arrived: dict[int, list[Any]] = {}  # id(tensor) -> gradients received, in order
    senders: dict[int, set[int]] = {}  # id(tensor) -> the gates (sequence numbers) that sent them
    tensors: dict[int, Tensor] = {id(out): out}

    def on_step(t: Tensor, upstream: Any, downstream: tuple) -> None:
        # an ordinary backward: ``upstream`` and ``downstream`` are raw arrays
        ctx = t._ctx
        names, local, down, ids = [], [], [], []
        if np.size(upstream) == 1:
            with no_grad():  # the local gradient of a scalar gate: its backward with upstream 1
                unit = engine._call_backward(ctx, np.ones_like(upstream))
        else:
            unit = (None,) * len(downstream)
        for a, needed, u, d in zip(ctx.inputs, ctx.needs_input_grad, unit, downstream):
            if not needed or d is None:
                continue
            names.append(label(a))
            local.append(None if u is None else value(u))
            down.append(value(d))
            ids.append(id(a))
            tensors[id(a)] = a
            arrived.setdefault(id(a), []).append(value(d))
            senders.setdefault(id(a), set()).add(ctx.seq)
        t.grad = Tensor._make(np.array(upstream, copy=True))  # kept for pictures
        parts = arrived.get(id(t), [])
        steps.append(Step(t.op or "", label(t), value(upstream), names, local, down, ctx.seq, id(t), ids,
                          parts if len(parts) > 1 else [], len(senders.get(id(t), ()))))  # fmt: skip

    seed = engine._seed_gradient(out, None, "backward")
    engine._run_backward([out], [seed], False, False, accumulate=True, on_step=on_step)
    grads = {k: value(t.grad) for k, t in tensors.items() if t.grad is not None}
    leaf_forks = {k: parts for k, parts in arrived.items() if len(parts) > 1 and tensors[k]._ctx is None}
    leaves: dict[int, Tensor] = {}  # the forward pass's order: the oldest gate's inputs first
    for st in reversed(steps):
        for key in st.input_ids:
            if tensors[key]._ctx is None and key in grads:
                leaves.setdefault(key, tensors[key])
    return Trace(out, steps, grads, leaf_forks, {k: len(senders[k]) for k in leaf_forks}, list(leaves.values()))


def explain(out: Tensor) -> str:
    """Run the backward pass from ``out`` and tell it gate by gate, as plain text.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True, name="x")
    >>> y = cr.Tensor(5.0, requires_grad=True, name="y")
    >>> z = cr.Tensor(-4.0, requires_grad=True, name="z")
    >>> q = x + y; q.name = "q"
    >>> f = q * z; f.name = "f"
    >>> print(explain(f))
    backward from f = -12, seeded with 1:
      [    Mul] f              q: 1 x -4 = -4;  z: 1 x 3 = 3
               (Mul swaps: each input gets the upstream gradient times the other input)
      [    Add] q              x: -4 x 1 = -4;  y: -4 x 1 = -4
               (Add distributes: each input gets the upstream gradient unchanged)
    df/dx = -4
    df/dy = -4
    df/dz = 3
    """
    return trace(out).text()

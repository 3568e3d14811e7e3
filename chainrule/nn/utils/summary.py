"""``summary(model, input_shape)``: a table of a model's layers, their output shapes and parameters.

The table torchinfo and Keras users know: one row per module the forward pass calls,
indented by nesting, with the shape it returned and the parameters it holds itself (so
the column adds up to the total). It runs one forward pass on zeros, in evaluation mode
and without recording a graph, and listens to the module calls through ``Module.__call__``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...autograd.grad_mode import no_grad
from ...autograd.tensor import Tensor
from ..modules.module import Module, _calls


@dataclass
class Row:
    """One module the forward pass called."""

    name: str  # the dotted name in the model ("" for the model itself)
    kind: str  # the module's class
    depth: int
    output_shape: Any  # a shape, a list of shapes (tuples of outputs), or "-"
    parameters: int  # held by the module itself, not by its sub-modules
    has_children: bool
    calls: int = 1


@dataclass
class Summary:
    """The rows, the totals, and the table as ``str(summary)``."""

    rows: list[Row]
    total: int
    trainable: int
    bytes: int
    input_shapes: list[tuple[int, ...]]

    def __str__(self) -> str:
        def layer(r: Row) -> str:
            label = r.kind if not r.name else f"{r.name} ({r.kind})"
            return "  " * r.depth + label + (f" x{r.calls}" if r.calls > 1 else "")

        def params(r: Row) -> str:
            return "--" if r.has_children and not r.parameters else f"{r.parameters:,}"

        cells = [(layer(r), _shape_text(r.output_shape), params(r)) for r in self.rows]
        head = ("Layer (type)", "Output shape", "Param #")
        widths = [max(len(c[i]) for c in [head, *cells]) for i in range(3)]
        line = "=" * (sum(widths) + 4)

        def fmt(c: tuple[str, str, str]) -> str:
            return f"{c[0]:<{widths[0]}}  {c[1]:<{widths[1]}}  {c[2]:>{widths[2]}}"

        inputs = ", ".join(_shape_text(s) for s in self.input_shapes)
        return "\n".join([
            fmt(head), line, *map(fmt, cells), line,
            f"Total parameters: {self.total:,} (trainable: {self.trainable:,}), {_size(self.bytes)}",
            f"Input: {inputs}",
        ])  # fmt: skip

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the table
        p.text(str(self))


def _shape_text(shape: Any) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(_shape_text(s) for s in shape) + "]"
    if isinstance(shape, tuple):
        return "(" + ", ".join(map(str, shape)) + ")"
    return str(shape)


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "bytes" else f"{n} bytes"
        n /= 1024
    return ""


def _out_shape(out: Any) -> Any:
    if isinstance(out, Tensor):
        return out.shape
    if isinstance(out, (list, tuple)):
        return [_out_shape(o) for o in out]
    return "-"


def summary(model: Module, input_shape: Any = None, *, inputs: Any = None, dtype: Any = None) -> Summary:
    """Run ``model`` once on zeros of ``input_shape`` and tabulate its layers.

    ``input_shape`` is one shape, or a list of shapes for a model with several inputs;
    the zeros are in the parameters' dtype unless ``dtype`` says otherwise. For inputs
    that zeros do not fit (an ``Embedding``'s indices), pass ``inputs=`` (a Tensor,
    array or a tuple of them) instead. The model's train/eval modes are restored after.

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 100), cr.nn.ReLU(), cr.nn.Linear(100, 3))
    >>> print(cr.nn.summary(net, (5, 2)))
    Layer (type)  Output shape  Param #
    ===================================
    Sequential    (5, 3)             --
      0 (Linear)  (5, 100)          300
      1 (ReLU)    (5, 100)            0
      2 (Linear)  (5, 3)            303
    ===================================
    Total parameters: 603 (trainable: 603), 2.4 KiB
    Input: (5, 2)
    """
    if not isinstance(model, Module):
        raise TypeError(f"summary: expected a Module, got {type(model).__name__}")
    params = list(model.parameters())
    if inputs is None:
        if input_shape is None:
            raise ValueError("summary: pass input_shape (e.g. (1, 3, 32, 32)) or inputs=")
        shapes = list(input_shape) if _is_shape_list(input_shape) else [input_shape]
        for s in shapes:
            if not isinstance(s, (tuple, list)) or not all(isinstance(n, (int, np.integer)) and n >= 0 for n in s):
                raise ValueError(f"summary: input shape {s!r} is not a tuple of sizes; expected e.g. (1, 3, 32, 32)")
        dt = np.dtype(dtype) if dtype is not None else (params[0].dtype if params else np.dtype(np.float32))
        args = [Tensor(np.zeros(tuple(s), dtype=dt)) for s in shapes]
    else:
        args = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
        args = [a if isinstance(a, Tensor) else Tensor(a, dtype=np.asarray(a).dtype) for a in args]
    names = {id(m): n for n, m in model.named_modules()}
    modes = [(m, m.training) for m in model.modules()]
    record: list = [0, []]
    token = _calls.set(record)
    try:
        model.eval()
        with no_grad():
            model(*args)
    finally:
        _calls.reset(token)
        for m, mode in modes:
            m.training = mode
    rows: list[Row] = []
    seen: dict[int, Row] = {}
    for m, depth, out in record[1]:
        if id(m) in seen:  # a module called again (a recurrent cell at every step): one row
            seen[id(m)].calls += 1
            continue
        own = sum(p.numel() for _, p in m._own_parameters())
        row = Row(names.get(id(m), "?"), type(m).__name__, depth, _out_shape(out), own,
                  next(iter(m.named_children()), None) is not None)
        seen[id(m)] = row
        rows.append(row)
    return Summary(rows, model.num_parameters(), model.num_parameters(trainable_only=True),
                   sum(p.numel() * p.dtype.itemsize for p in params), [a.shape for a in args])


def _is_shape_list(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and len(x) > 0 and all(isinstance(s, (list, tuple)) for s in x)

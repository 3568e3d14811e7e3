"""Anomaly mode: the first NaN or Inf a gate makes is an error that says where it came from.

Inside ``chainrule.detect_anomaly()`` every gate's forward output and every gradient its
backward hands on is checked; the first one that is not finite raises ``AnomalyError``
naming the gate, its input shapes, the direction (forward or backward) and the line of
the user's code that created the gate (recorded in the forward, ``ctx.site``). NumPy's
RuntimeWarnings for the same events (log of 0, overflow, 0/0) are silenced inside the
block: the error says it once. The mode is per thread and costs one flag read per op
when off.
"""

from __future__ import annotations

import linecache
import os
import sys
from typing import Any

import numpy as np

from . import backend

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep  # chainrule/


class AnomalyError(RuntimeError):
    """A gate produced a NaN or an Inf under ``detect_anomaly``."""


def user_site() -> str:
    """``file:line: code`` of the innermost caller outside chainrule (where a gate was made)."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_PACKAGE):
        f = f.f_back
    if f is None:
        return "an unknown place (no caller outside chainrule)"
    line = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    return f"{f.f_code.co_filename}:{f.f_lineno}" + (f": {line}" if line else "")


def _non_finite(a: Any) -> str | None:
    """'nan', 'inf' or '-inf' (the first kind found) for a float array that is not all finite."""
    if not hasattr(a, "dtype") or a.dtype.kind not in "fc":
        return None
    xp = backend.array_module(a)
    if bool(xp.isfinite(a).all()):
        return None
    if bool(xp.isnan(a).any()):
        return "nan"
    return "inf" if bool((a == xp.inf).any()) else "-inf"


def _shapes(values: Any) -> str:
    return ", ".join(str(getattr(v, "shape", type(v).__name__)) for v in values)


def check_forward(fn: type, inputs: list, out: Any) -> None:
    """Raise if gate ``fn``'s output ``out`` holds a NaN or an Inf."""
    kind = _non_finite(out)
    if kind is None:
        return
    held = [f"input {i} already held {k}" for i, a in enumerate(inputs) if (k := _non_finite(a))]
    origin = f" ({'; '.join(held)}: it came from outside the recorded graph)" if held else ""
    raise AnomalyError(
        f"{fn.__name__} (forward) produced {kind} from inputs of shape {_shapes(inputs)}{origin}; "
        f"the gate was created at {user_site()}"
    )


def check_backward(ctx: Any, downstream: tuple) -> None:
    """Raise if a gate's backward handed on a gradient that holds a NaN or an Inf."""
    for i, g in enumerate(downstream):
        # a raw array, or a Tensor under create_graph (NumPy's functions do not take Tensors)
        kind = _non_finite(g.data if hasattr(g, "_ctx") else g) if g is not None else None
        if kind is not None:
            raise AnomalyError(
                f"{ctx.fn.__name__} (backward) produced {kind} in the gradient for input {i} "
                f"(inputs of shape {_shapes(ctx.inputs)}); the gate was created at {ctx.site or 'an unknown place'}"
            )


class _Watcher:
    """The engine's watcher under ``detect_anomaly`` (``engine.Watcher``'s methods):
    checks each forward output and backward gradient, and notes where each gate was made."""

    sees_partials = False  # it checks whole gradients
    traces = False

    def enter(self, fn: type, args: tuple, datas: list) -> list:
        return datas

    def leave(self, fn: type, datas: list, out: Any) -> None:
        check_forward(fn, datas, out)

    def recorded(self, ctx: Any) -> None:
        ctx.site = user_site()

    def backward_begin(self, ctx: Any, grad_out: Any) -> None:
        pass

    def backward_end(self, ctx: Any, downstream: tuple) -> None:
        check_backward(ctx, downstream)

    def leaves(self) -> None:
        pass

    def replays(self, fn: Any, *args: Any) -> Any:
        return fn(*args)

    def checks(self, check: Any, *arrays: Any) -> None:
        check(*arrays)

    def uses_module(self, module: Any) -> None:
        pass

    def uses_optimizer(self, optimizer: Any) -> None:
        pass

    def back_in_code(self) -> None:
        pass

    def resets_grads(self, tensors: Any) -> None:
        pass


WATCHER = _Watcher()


def quiet_numpy() -> Any:
    """NumPy's error state inside ``detect_anomaly``: the events it reports raise no warnings."""
    return np.errstate(divide="ignore", over="ignore", invalid="ignore")

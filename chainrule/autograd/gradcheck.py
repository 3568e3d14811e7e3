"""The numerical gradient from the limit definition, and the gradient check.

The lecture's advice: compute gradients analytically (backprop: exact and fast),
and check them against the numerical gradient (slow and approximate, but hard to
get wrong). This module is that check.

A check that fails at a kink (relu at 0, a max with tied inputs, abs at 0) is not a wrong
gradient: the function has no derivative there, and the centered difference averages the
two sides. ``gradcheck`` says so: at the failing entries it compares the one-sided
differences (left and right), which disagree only where the slope jumps, and names the
gates of the graph that sit on their kink.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import backend
from .engine import grad
from .grad_mode import no_grad
from .tensor import Tensor

# Pass thresholds of ``gradcheck`` for the relative error |a - n| / max(|a|, |n|),
# in float64 with centered differences (h = 1e-6). CS231n's rule of thumb: above
# 1e-2 the gradient is probably wrong; 1e-4 is acceptable only near kinks; 1e-7 and
# below is what a correct float64 gradient gives.
RTOL = 1e-5
# Entries whose analytic and numerical values both lie within ATOL of each other
# pass whatever their relative error: near zero the relative error is just noise.
ATOL = 1e-8


def _scalar(value: Any, who: str) -> float:
    v = np.asarray(backend.to_numpy(value.data if isinstance(value, Tensor) else value))
    if v.size != 1:
        raise ValueError(f"{who}: f must return a single number, got shape {v.shape}")
    return float(v.reshape(()))


def numerical_gradient(
    f: Callable[[Any], Any], x: Any, h: float = 1e-5, method: str = "centered"
) -> np.ndarray:
    """The gradient of a scalar function ``f`` at ``x``, from finite differences.

    ``method="centered"`` (default) uses ``(f(x+h) - f(x-h)) / 2h``; ``"forward"`` the
    lecture's limit definition ``(f(x+h) - f(x)) / h``. Centered is more accurate: by
    Taylor, f(x+h) = f(x) + h f'(x) + h^2/2 f''(x) + O(h^3), so the one-sided quotient is
    off by about h/2 f''(x), while in the centered one the h^2 terms cancel and the
    error is O(h^2):

    >>> import numpy as np
    >>> f = lambda x: (x ** 3).sum()          # f'(1) = 3
    >>> x = np.array([1.0])
    >>> fwd = numerical_gradient(f, x, h=1e-3, method="forward")[0]
    >>> ctr = numerical_gradient(f, x, h=1e-3)[0]
    >>> bool(abs(fwd - 3) > 1e-3 > abs(ctr - 3))
    True

    ``f`` may return a Tensor or a number. ``x`` is an array or a Tensor; ``f`` is
    called with a float64 copy of the same kind, perturbed one entry at a time (in
    float32, h = 1e-5 would drown in rounding). Returns a float64 array of ``x``'s shape.
    """
    if method not in ("centered", "forward"):
        raise ValueError(f"numerical_gradient: method={method!r}; expected 'centered' or 'forward'")
    data = np.array(backend.to_numpy(x.data if isinstance(x, Tensor) else x), dtype=np.float64)
    arg = Tensor(data, dtype=np.float64) if isinstance(x, Tensor) else data  # shares ``data``
    grad = np.zeros(data.shape, dtype=np.float64)
    with no_grad():
        fx = _scalar(f(arg), "numerical_gradient") if method == "forward" else 0.0
        for idx in np.ndindex(*data.shape):
            old = data[idx]
            data[idx] = old + h
            fp = _scalar(f(arg), "numerical_gradient")
            if method == "centered":
                data[idx] = old - h
                fm = _scalar(f(arg), "numerical_gradient")
                grad[idx] = (fp - fm) / (2 * h)
            else:
                grad[idx] = (fp - fx) / h
            data[idx] = old
    return grad


def value_and_grad(fun: Callable[..., Any], argnum: int = 0) -> Callable[..., tuple[float, Any]]:
    """Turn a loss function into one that returns ``(loss, d loss / d args[argnum])``.

    This is the lecture's ``evaluate_gradient``: the vanilla gradient-descent loop
    becomes

    >>> import numpy as np
    >>> import chainrule as cr
    >>> def loss_fun(data, weights):
    ...     return ((cr.Tensor(data) @ weights - 1.0) ** 2).mean()
    >>> evaluate_gradient = cr.value_and_grad(loss_fun, argnum=1)
    >>> data, weights = np.eye(2), np.zeros(2, dtype=np.float32)
    >>> for _ in range(50):
    ...     loss, weights_grad = evaluate_gradient(data, weights)
    ...     weights += -0.5 * weights_grad
    >>> round(loss, 6), weights.round(3).tolist()
    (0.0, [1.0, 1.0])

    The gradient comes back as the same kind of object as the argument: a NumPy array
    for an array, a Tensor for a Tensor.
    """

    def wrapped(*args: Any, **kwargs: Any) -> tuple[float, Any]:
        if not -len(args) <= argnum < len(args):
            raise ValueError(f"value_and_grad: argnum={argnum} but the call got {len(args)} argument(s)")
        w = args[argnum]
        was_tensor = isinstance(w, Tensor)
        if was_tensor:
            wt = Tensor(w.data, requires_grad=True, dtype=w.dtype)
        else:
            wt = Tensor(w, requires_grad=True, dtype=getattr(w, "dtype", None))
        call_args = list(args)
        call_args[argnum] = wt
        loss = fun(*call_args, **kwargs)
        if not isinstance(loss, Tensor) or loss.numel() != 1:
            raise ValueError(
                f"value_and_grad: the function must return a one-element Tensor, got "
                f"{type(loss).__name__} {getattr(loss, 'shape', '')}"
            )
        (g,) = grad(loss, wt, allow_unused=True) if loss.requires_grad else (None,)
        gdata = g.data if g is not None else backend.array_module(wt.data).zeros_like(wt.data)
        return float(loss.item()), (Tensor._make(gdata) if was_tensor else gdata)

    return wrapped


@dataclass
class GradcheckResult:
    """The outcome of ``gradcheck``; truthy when it passed.

    It describes the worst entry (the first failing one with the largest relative error,
    or the largest error overall when all passed): which input and its index, or the
    direction number in random mode, with the analytic and numerical values.
    """

    passed: bool
    max_rel_error: float
    input_index: int
    entry: tuple[int, ...] | int | None
    analytic: float
    numerical: float
    mode: str
    kink: str = ""  # when it failed on a kink: where, the one-sided slopes, the gates, the advice

    def __bool__(self) -> bool:
        return self.passed

    def report(self) -> str:
        where = f"input {self.input_index}, entry {self.entry}" if self.mode == "full" else f"random direction {self.entry}"
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {verdict} ({self.mode}): worst at {where}: analytic {self.analytic:.10g}, "
            f"numerical {self.numerical:.10g}, relative error {self.max_rel_error:.3g} "
            f"(threshold {RTOL:g}, or absolute difference <= {ATOL:g})"
        ) + (f"; {self.kink}" if self.kink else "")


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when analytic and numerical gradients disagree."""


def _rel_error(a: float, n: float) -> float:
    denom = max(abs(a), abs(n))
    return 0.0 if denom == 0 else abs(a - n) / denom


# The gates with a kink, and where their inputs sit on it (within ``tol``): each test gets the
# gate's input arrays, its output array and its Context.
def _on_zero(xs: list, out: Any, ctx: Any, tol: float) -> bool:
    return bool(np.any(np.abs(xs[0]) <= tol))


def _tied_pair(xs: list, out: Any, ctx: Any, tol: float) -> bool:
    return bool(np.any(np.abs(xs[0] - xs[1]) <= tol))


def _tied_entries(xs: list, out: Any, ctx: Any, tol: float) -> bool:
    """A max over axes where several entries share the largest value."""
    shape = getattr(ctx, "kept_shape", None)
    if shape is None:
        return False
    axes = tuple(k for k, n in enumerate(shape) if n == 1)
    return bool(np.any((np.abs(xs[0] - np.reshape(out, shape)) <= tol).sum(axis=axes) > 1))


_KINKS = {"Relu": (_on_zero, "relu's input is 0"), "Abs": (_on_zero, "abs's input is 0"),
          "Maximum": (_tied_pair, "max's two inputs are tied"), "Max": (_tied_entries, "entries tie for the max")}  # fmt: skip


def _kink_gates(out: Tensor, tol: float) -> list[str]:
    """The gates of ``out``'s graph whose inputs sit on their kink, as 'Relu (relu's input is 0)'."""
    found: dict[str, str] = {}
    stack, seen = [out], set()
    while stack:  # a plain walk: the graph may be deep
        t = stack.pop()
        ctx = t._ctx
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        stack.extend(a for a in ctx.inputs if isinstance(a, Tensor))
        name = ctx.fn.__name__
        if name in _KINKS and name not in found:
            xs = [np.asarray(backend.to_numpy(a.data if isinstance(a, Tensor) else a), dtype=np.float64)
                  for a in ctx.inputs]  # fmt: skip
            test, why = _KINKS[name]
            if test(xs, np.asarray(backend.to_numpy(t.data), dtype=np.float64), ctx, tol):
                found[name] = f"{name} ({why})"
    return list(found.values())


def gradcheck(
    f: Callable[..., Tensor],
    *inputs: Any,
    h: float = 1e-6,
    mode: str = "full",
    directions: int = 3,
    seed: int = 0,
    rtol: float = RTOL,
    atol: float = ATOL,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Compare the backprop gradient of ``f(*inputs)`` with the numerical one, in float64.

    Inputs are copied to float64 Tensors that require grad (integer inputs are passed
    through unchanged, as indices). A non-scalar output is reduced to ``sum(out * v)``
    with a fixed random ``v``, which checks the vector-Jacobian product.

    - ``mode="full"``: every entry of every input (2 forward passes per entry);
    - ``mode="random"``: ``directions`` random directions u over all inputs at once,
      comparing ``<grad, u>`` with ``(L(x + h u) - L(x - h u)) / 2h`` - a few forward
      passes whatever the input size (the directional check of autograd and Chainer).

    An entry passes when its relative error ``|a - n| / max(|a|, |n|)`` is at most
    ``rtol`` (1e-5) or ``|a - n| <= atol`` (1e-8). Raises ``GradcheckError`` with the
    worst entry on failure (or returns a falsy result with ``raise_exception=False``).

    >>> import chainrule as cr
    >>> bool(cr.gradcheck(lambda w: (w * w).sum(), cr.Tensor([1.0, -2.0])))
    True
    """
    if mode not in ("full", "random"):
        raise ValueError(f"gradcheck: mode={mode!r}; expected 'full' or 'random'")
    rng = np.random.default_rng(seed)
    xs: list[Any] = []
    for x in inputs:
        arr = backend.to_numpy(x.data if isinstance(x, Tensor) else np.asarray(x))
        if arr.dtype.kind in "fc":
            xs.append(Tensor(arr.astype(np.float64), requires_grad=True, dtype=np.float64))
        else:
            xs.append(x)
    diff = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError("gradcheck: no floating-point input to check")

    out = f(*xs)
    if not isinstance(out, Tensor):
        raise ValueError(f"gradcheck: f must return a Tensor, got {type(out).__name__}")
    v = rng.standard_normal(out.shape) if out.numel() != 1 else None

    def reduce(o: Tensor) -> Tensor:
        """One number from f's output: <o, v> checks the vector-Jacobian product."""
        return (o * v).sum() if v is not None else o.sum()

    def loss(*args: Any) -> Tensor:
        return reduce(f(*args))

    out = reduce(out)
    if not out.requires_grad:
        raise ValueError("gradcheck: the output does not depend on any input through differentiable ops")
    grads = grad(out, [xs[i] for i in diff], allow_unused=True)
    analytic = [np.zeros(xs[i].shape) if g is None else backend.to_numpy(g.data) for i, g in zip(diff, grads)]

    def evaluate() -> float:
        with no_grad():
            return float(backend.to_numpy(loss(*xs).data))

    worst = GradcheckResult(True, 0.0, diff[0], None, 0.0, 0.0, mode)
    failures: list[tuple[int, Any, float, float]] = []  # (input, entry or direction, analytic, numerical)
    moves: list[list[np.ndarray]] = []  # random mode: each direction's u, to look at its failures again

    def consider(a: float, n: float, input_index: int, entry: Any) -> None:
        err = _rel_error(a, n)
        ok = err <= rtol or abs(a - n) <= atol
        if not ok:
            failures.append((input_index, entry, a, n))
        if (not ok and worst.passed) or (ok == worst.passed and err >= worst.max_rel_error):
            worst.passed, worst.max_rel_error = ok, err
            worst.input_index, worst.entry, worst.analytic, worst.numerical = input_index, entry, a, n

    if mode == "full":
        for k, i in enumerate(diff):

            def loss_of_input_i(t: Tensor, i: int = i) -> Tensor:
                return loss(*xs[:i], t, *xs[i + 1 :])

            numerical = numerical_gradient(loss_of_input_i, xs[i], h=h)
            for idx in np.ndindex(*numerical.shape):
                consider(float(analytic[k][idx]), float(numerical[idx]), i, idx)
    else:
        for d in range(directions):
            us = [rng.standard_normal(xs[i].shape) for i in diff]
            moves.append(us)
            a = float(sum((g * u).sum() for g, u in zip(analytic, us)))
            originals = [xs[i].data.copy() for i in diff]
            for i, u, o in zip(diff, us, originals):
                xs[i].data[...] = o + h * u
            fp = evaluate()
            for i, u, o in zip(diff, us, originals):
                xs[i].data[...] = o - h * u
            fm = evaluate()
            for i, o in zip(diff, originals):
                xs[i].data[...] = o
            consider(a, (fp - fm) / (2 * h), diff[0], d)

    if not worst.passed:
        worst.kink = _kink(f, xs, diff, failures, moves, evaluate, h)
    if not worst.passed and raise_exception:
        raise GradcheckError(worst.report())
    return worst


def _kink(f: Callable[..., Any], xs: list, diff: list[int], failures: list, moves: list, evaluate: Callable[[], float],
          h: float, most: int = 8) -> str:  # fmt: skip
    """Why the check failed, when it is a kink: the failing entries (or directions) where the
    left and right difference quotients disagree (a slope that jumps; a smooth function's differ
    by about h f''), the gates sitting on their kink, and the advice. '' when none is a kink."""

    def slopes(put: Callable[[float], None]) -> tuple[float, float]:
        put(0.0)
        f0 = evaluate()
        put(h)
        fp = evaluate()
        put(-h)
        fm = evaluate()
        put(0.0)
        return (f0 - fm) / h, (fp - f0) / h

    kinks = []
    for input_index, entry, a, n in failures[:most]:  # a few: each costs three forward passes
        if isinstance(entry, tuple):  # full mode: one entry of one input
            data, old = xs[input_index].data, xs[input_index].data[entry]

            def put(t: float, data: Any = data, entry: Any = entry, old: Any = old) -> None:
                data[entry] = old + t
        else:  # random mode: the whole direction
            originals = [xs[i].data.copy() for i in diff]

            def put(t: float, us: list = moves[entry], originals: list = originals) -> None:
                for i, u, o in zip(diff, us, originals):
                    xs[i].data[...] = o + t * u
        left, right = slopes(put)
        if abs(right - left) > max(0.5 * abs(a - n), 1e-3 * max(1.0, abs(left), abs(right))):
            kinks.append((input_index, entry, left, right))
    if not kinks:
        return ""
    input_index, entry, left, right = kinks[0]
    if isinstance(entry, tuple):
        where = f"input {input_index} sits on a kink at entr{'y' if len(kinks) == 1 else 'ies'} " + ", ".join(
            str(e) for i, e, _, _ in kinks if i == input_index)
    else:
        where = "the inputs sit on a kink along random direction" + ("s " if len(kinks) > 1 else " ") + ", ".join(
            str(e) for _, e, _, _ in kinks)
    gates = _kink_gates(f(*xs), 100 * h)
    return (f"{where} (or within h of one): the one-sided slopes disagree there (left {left:.4g}, right "
            f"{right:.4g}; the centered difference averages them)"
            + (f"; on their kink: {', '.join(gates)}" if gates else "")
            + "; the gradient there is a convention, not a derivative: move the point off the kink "
            "(e.g. add 1e-3, or draw inputs at random) and check again")  # fmt: skip

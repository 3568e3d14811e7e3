"""Cumulative ops along one dim: cumsum, cumprod, cummax/cummin, logcumsumexp.

Primitives: ``Cumsum`` (linear: its backward is a cumsum from the other end), ``Cumprod``
and ``LogCumSumExp``. ``cummax``/``cummin`` are indexing: their indices are found on the
raw values and the values gathered there (``gather_along``), so the gradient goes to the
index and scatter-adds.

The backwards of ``Cumprod`` and ``LogCumSumExp`` are one reverse linear recurrence,
``S_i = g_i + A_i * S_{i+1}``, computed by doubling (``_reverse_scan``: log2(n) passes of
multiply-adds on shifted copies). It divides by nothing, so zeros in a cumprod's input
need no special case, and it is made of gates, so the gradient is itself differentiable.
"""

from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from .axes import ValuesIndices, dims, one_axis
from .elementwise import Exp, astype
from .shape import Pad, gather_along


def shifted_along(x: Any, d: int, axis: int, fill: float) -> Any:
    """``x`` moved by ``d`` along ``axis``: entry i is x[i - d] (d < 0: x[i + |d|]), and
    ``fill`` where that falls outside. Works on arrays and, as gates, on Tensors.

    >>> import numpy as np
    >>> shifted_along(np.array([1.0, 2.0, 3.0]), 1, 0, 0.0), shifted_along(np.array([1.0, 2.0, 3.0]), -1, 0, 9.0)
    (array([0., 1., 2.]), array([2., 3., 9.]))
    """
    n = x.shape[axis]
    index = [slice(None)] * x.ndim
    widths = [(0, 0)] * x.ndim
    index[axis], widths[axis] = (slice(0, n - d), (d, 0)) if d > 0 else (slice(-d, n), (0, -d))
    return call(Pad, x[tuple(index)], widths=tuple(widths), value=fill)


def _reverse_scan(g: Any, coef: Any, axis: int) -> Any:
    """S with S_i = g_i + coef_i * S_{i+1} along ``axis`` (0 past the end), that is
    S_i = sum_{k >= i} g_k * prod_{i <= j < k} coef_j.

    Doubling (Hillis-Steele): after the pass with step d, S_i holds the terms k < i + 2d
    and coef_i the product coef_i ... coef_{i+2d-1}.
    """
    n = g.shape[axis]
    d = 1
    while d < n:
        g = g + coef * shifted_along(g, -d, axis, 0.0)
        if 2 * d < n:
            coef = coef * shifted_along(coef, -d, axis, 0.0)
        d *= 2
    return g


def reversed_along(x: Any, axis: int) -> Any:
    """``x`` in reverse order along ``axis`` (a view; on Tensors, indexing).

    >>> import numpy as np
    >>> reversed_along(np.array([[1, 2], [3, 4]]), 1)
    array([[2, 1],
           [4, 3]])
    """
    index = [slice(None)] * x.ndim
    index[axis] = slice(None, None, -1)
    return x[tuple(index)]


class Cumsum(Function):
    """Running sums along ``axis``; the backward is the running sum from the other end."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int) -> Any:
        ctx.axis = axis
        return array_module(a).cumsum(a, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return reversed_along(call(Cumsum, reversed_along(grad_out, ctx.axis), axis=ctx.axis), ctx.axis)


class Cumprod(Function):
    """Running products y_k = a_0 ... a_k along ``axis``.

    d/da_i sum_k g_k y_k = y_{i-1} * sum_{k >= i} g_k a_{i+1} ... a_k: the product before i
    (the output shifted by one) times a reverse scan with coefficients a_{i+1}. No division,
    so one zero, or several in one slice, gives PyTorch's numbers, not NaN.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int) -> Any:
        out = array_module(a).cumprod(a, axis=axis)
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        a, out = ctx.saved_tensors
        ax = ctx.axis
        return shifted_along(out, 1, ax, 1.0) * _reverse_scan(grad_out, shifted_along(a, -1, ax, 0.0), ax)


class LogCumSumExp(Function):
    """y_k = log(exp(a_0) + ... + exp(a_k)) along ``axis``: a running logaddexp by doubling,
    so no exp overflows (fused for stability).

    d/da_i sum_k g_k y_k = sum_{k >= i} g_k exp(a_i - y_k) = exp(a_i - y_i) * Q_i with
    Q_i = g_i + exp(y_i - y_{i+1}) Q_{i+1}: every exponent is <= 0 (y never decreases).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int) -> Any:
        xp = array_module(a)
        out, d = a, 1
        while d < a.shape[axis]:
            out = xp.logaddexp(out, shifted_along(out, d, axis, float("-inf")))
            d *= 2
        out = out if out is not a else out.copy()
        ctx.save_for_backward(a, out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        a, y = ctx.saved_tensors
        ax = ctx.axis
        decay = call(Exp, y - shifted_along(y, -1, ax, float("inf")))  # exp(y_i - y_{i+1}); 0 past the end
        return call(Exp, a - y) * _reverse_scan(grad_out, decay, ax)


# -- public functions -------------------------------------------------------------


def _along(op: str, a: Any, dim: Any, axis: Any, dtype: Any = None) -> tuple[Tensor, int]:
    """The input (cast to ``dtype`` if given) and its one dim, which PyTorch requires."""
    a = as_tensor(a)
    d, _ = dims(op, axis, dim)
    if d is None:
        raise TypeError(f"{op}: missing the dim; expected {op}(input, dim) (PyTorch requires it)")
    if not isinstance(d, int) or isinstance(d, bool):
        raise TypeError(f"{op}: dim {d!r} is not an int; expected one dim")
    ax = one_axis(op, d, a.ndim)
    if dtype is not None:
        a = astype(a, dtype)
    return a, ax


def _scan(gate: type[Function], a: Tensor, ax: int) -> Tensor:
    if a.ndim == 0:  # PyTorch allows dim 0 (or -1) of a 0-d tensor: the one entry
        return gate.apply(a.reshape(1), axis=0).reshape(())
    return gate.apply(a, axis=ax)


def cumsum(a: Any, dim: int | None = None, *, dtype: Any = None, axis: int | None = None) -> Tensor:
    """Running sums along ``dim`` (or ``axis``; required, as in PyTorch).

    >>> import chainrule as cr
    >>> cr.ops.scan.cumsum(cr.Tensor([[1.0, 2.0, 3.0]]), dim=1).tolist()
    [[1.0, 3.0, 6.0]]
    """
    a, ax = _along("cumsum", a, dim, axis, dtype)
    return _scan(Cumsum, a, ax)


def cumprod(a: Any, dim: int | None = None, *, dtype: Any = None, axis: int | None = None) -> Tensor:
    """Running products along ``dim``; the gradient is exact with zeros in the input.

    >>> import chainrule as cr
    >>> x = cr.Tensor([2.0, 0.0, 3.0], requires_grad=True)
    >>> y = cr.ops.scan.cumprod(x, 0)
    >>> y.sum().backward()
    >>> y.tolist(), x.grad.tolist()
    ([2.0, 0.0, 0.0], [1.0, 8.0, 0.0])
    """
    a, ax = _along("cumprod", a, dim, axis, dtype)
    return _scan(Cumprod, a, ax)


def logcumsumexp(a: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """log(cumsum(exp(a))) along ``dim``, without overflow (fused).

    >>> import chainrule as cr
    >>> cr.ops.scan.logcumsumexp(cr.Tensor([1000.0, 1000.0]), 0).numpy().round(3)
    array([1000.   , 1000.693], dtype=float32)
    """
    a, ax = _along("logcumsumexp", a, dim, axis)
    return _scan(LogCumSumExp, a, ax)


def _extreme_indices(data: Any, axis: int, largest: bool) -> Any:
    """The index of the running max (min) along ``axis``; on ties the later index, and a NaN
    counts as the largest (smallest), as PyTorch's cummax (cummin). Doubling, like the scans."""
    xp = array_module(data)
    n = data.shape[axis]
    shape = [1] * data.ndim
    shape[axis] = n
    pos = xp.arange(n).reshape(shape)
    val, idx = data, xp.zeros(data.shape, dtype="int64") + pos
    d = 1
    while d < n:
        other_val, other_idx = shifted_along(val, d, axis, 0), shifted_along(idx, d, axis, 0)
        better = other_val > val if largest else other_val < val
        if data.dtype.kind == "f":  # NaN wins over numbers, and a NaN stays
            better = (better | xp.isnan(other_val)) & ~xp.isnan(val)
        take = better & (pos >= d)  # only where the shifted entry exists
        val, idx = xp.where(take, other_val, val), xp.where(take, other_idx, idx)
        d *= 2
    return idx


def _cumextreme(op: str, a: Any, dim: Any, axis: Any, largest: bool) -> ValuesIndices:
    a, ax = _along(op, a, dim, axis)
    if a.ndim == 0:
        values, indices = _cumextreme(op, a.reshape(1), 0, None, largest)
        return ValuesIndices(values.reshape(()), indices.reshape(()))
    idx = _extreme_indices(a.data, ax, largest)
    return ValuesIndices(gather_along(a, idx, ax), Tensor._make(idx))


def cummax(a: Any, dim: int | None = None, *, axis: int | None = None) -> ValuesIndices:
    """Running maximum along ``dim``: ``(values, indices)``; the gradient goes to the index
    (on ties the later one, as PyTorch).

    >>> import chainrule as cr
    >>> values, indices = cr.ops.scan.cummax(cr.Tensor([1.0, 3.0, 2.0, 3.0]), 0)
    >>> values.tolist(), indices.tolist()
    ([1.0, 3.0, 3.0, 3.0], [0, 1, 1, 3])
    """
    return _cumextreme("cummax", a, dim, axis, largest=True)


def cummin(a: Any, dim: int | None = None, *, axis: int | None = None) -> ValuesIndices:
    """Running minimum along ``dim``: ``(values, indices)``, as ``cummax``.

    >>> import chainrule as cr
    >>> cr.ops.scan.cummin(cr.Tensor([2.0, 1.0, 3.0]), 0).indices.tolist()
    [0, 1, 1]
    """
    return _cumextreme("cummin", a, dim, axis, largest=False)


# Tensor methods (grep "Tensor.<name> =")
Tensor.cumsum = cumsum
Tensor.cumprod = cumprod
Tensor.logcumsumexp = logcumsumexp
Tensor.cummax = cummax
Tensor.cummin = cummin

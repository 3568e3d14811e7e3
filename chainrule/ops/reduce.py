"""Reductions (sum, max and what is composed of them) and the fused softmax gates."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..engine import Context, Function, Tensor, as_tensor, call
from .axes import Axis, normalize_axes
from .elementwise import Exp, Where, abs, sqrt
from .shape import Expand


def _kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """Sum over ``axes``; the backward copies the gradient back to every summed entry."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, axes: tuple[int, ...], keepdims: bool) -> Any:
        ctx.in_shape = a.shape
        ctx.kept_shape = _kept_shape(a.shape, axes)
        return a.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Expand, grad_out.reshape(ctx.kept_shape), shape=ctx.in_shape)


class Max(Function):
    """Max over ``axes``: a router, the gradient goes to the entry that was largest.

    Ties: when several entries share the maximum, the gradient is split evenly among
    them (as PyTorch's ``amax`` and full ``max()`` do).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axes: tuple[int, ...], keepdims: bool) -> Any:
        kept = a.max(axis=axes, keepdims=True)
        winners = a == kept
        share = winners / winners.sum(axis=axes, keepdims=True)
        ctx.save_for_backward(share.astype(a.dtype))
        ctx.in_shape = a.shape
        ctx.kept_shape = kept.shape
        return kept if keepdims else kept.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (share,) = ctx.saved_tensors
        return call(Expand, grad_out.reshape(ctx.kept_shape), shape=ctx.in_shape) * share


class Norm(Function):
    """The Euclidean (Frobenius) norm over ``axes``: sqrt(sum a^2), in one gate.

    A primitive rather than sqrt of a sum for its kink: at a == 0 the composed form's
    backward is 0 * inf = NaN, while the norm's subgradient there is 0 (PyTorch's choice).
    d||a||/da = a / ||a||.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axes: tuple[int, ...], keepdims: bool) -> Any:
        xp = array_module(a)
        n = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        out = n if keepdims else n.reshape([s for i, s in enumerate(a.shape) if i not in axes])
        ctx.save_for_backward(a, out)  # the output itself, so a graph-building backward sees it as a node
        ctx.kept_shape = n.shape
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        a, out = ctx.saved_tensors
        n = out.reshape(ctx.kept_shape)
        safe = call(Where, n == 0, 1.0, n)  # a / ||a||, and 0 where the norm is 0
        return grad_out.reshape(ctx.kept_shape) * (a / safe)


class Softmax(Function):
    """exp(a) / sum(exp(a)) along ``axis``, shifted by the max so exp never overflows."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int) -> Any:
        xp = array_module(a)
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        # Jacobian diag(y) - y y^T applied to the upstream gradient g: y * (g - <g, y>)
        (y,) = ctx.saved_tensors
        return y * (grad_out - (grad_out * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """a - log(sum(exp(a))) along ``axis``, via the max shift (stable, fused)."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int) -> Any:
        xp = array_module(a)
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out)
        ctx.axis = axis
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        # d/da_j of (a_i - logsumexp a) = delta_ij - softmax_j
        (out,) = ctx.saved_tensors
        return grad_out - call(Exp, out) * grad_out.sum(axis=ctx.axis, keepdims=True)


def sum(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes; an int or a tuple).

    >>> import chainrule as cr
    >>> cr.sum(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([4., 6.], dtype=float32)
    """
    a = as_tensor(a)
    return Sum.apply(a, axes=normalize_axes("sum", axis, a.ndim), keepdims=keepdims)


def mean(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (composed: sum divided by the count).

    >>> import chainrule as cr
    >>> cr.mean(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy()
    array([1.5, 3.5], dtype=float32)
    """
    a = as_tensor(a)
    axes = normalize_axes("mean", axis, a.ndim)
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    return Sum.apply(a, axes=axes, keepdims=keepdims) / count


def max(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Max over ``axis``; on ties the gradient is split evenly among the maxima.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 3.0, 3.0], requires_grad=True)
    >>> cr.max(x).backward()
    >>> x.grad.numpy()
    array([0. , 0.5, 0.5], dtype=float32)
    """
    a = as_tensor(a)
    if a.size == 0:
        raise ValueError(f"max: tensor of shape {a.shape} is empty; expected at least one element")
    return Max.apply(a, axes=normalize_axes("max", axis, a.ndim), keepdims=keepdims)


def min(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Min over ``axis`` (composed: -max(-a)); ties split the gradient evenly.

    >>> import chainrule as cr
    >>> cr.min(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), axis=0).numpy()
    array([1., 0.], dtype=float32)
    """
    a = as_tensor(a)
    if a.size == 0:
        raise ValueError(f"min: tensor of shape {a.shape} is empty; expected at least one element")
    return -Max.apply(-a, axes=normalize_axes("min", axis, a.ndim), keepdims=keepdims)


def softmax(a: Any, axis: int = -1) -> Tensor:
    """Softmax along ``axis`` (stable: shifted by the max).

    >>> import chainrule as cr
    >>> cr.softmax(cr.Tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    a = as_tensor(a)
    (ax,) = normalize_axes("softmax", axis, a.ndim)
    return Softmax.apply(a, axis=ax)


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """log(softmax(a)) along ``axis``, computed without forming the softmax.

    >>> import chainrule as cr
    >>> cr.log_softmax(cr.Tensor([0.0, 0.0])).numpy().round(4)
    array([-0.6931, -0.6931], dtype=float32)
    """
    a = as_tensor(a)
    (ax,) = normalize_axes("log_softmax", axis, a.ndim)
    return LogSoftmax.apply(a, axis=ax)


def var(a: Any, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Variance over ``axis``: sum (a - mean)^2 / (count - correction), composed.

    ``correction=1`` (the default, as in PyTorch's ``var``) is the unbiased sample
    variance; ``correction=0`` the population variance (NumPy's default).

    >>> import chainrule as cr
    >>> cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0])).item(), cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item()
    (1.6666666269302368, 1.25)
    """
    a = as_tensor(a)
    axes = normalize_axes("var", axis, a.ndim)
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    if count - correction <= 0:
        raise ValueError(f"var: {count} entries over axis {axis} of shape {a.shape} with correction={correction}; "
                         "expected more entries than the correction")
    d = a - Sum.apply(a, axes=axes, keepdims=True) / count
    return Sum.apply(d * d, axes=axes, keepdims=keepdims) / (count - correction)


def std(a: Any, axis: Axis = None, keepdims: bool = False, correction: int = 1) -> Tensor:
    """Standard deviation over ``axis``: sqrt of ``var`` with the same ``correction``.

    >>> import chainrule as cr
    >>> round(cr.std(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item(), 4)
    1.118
    """
    return sqrt(var(a, axis=axis, keepdims=keepdims, correction=correction))


def norm(a: Any, ord: Any = 2, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A002 - NumPy's name
    """The vector norm over ``axis`` (all axes by default: the Frobenius norm of a matrix).

    ``ord=2`` (Euclidean; gradient a / ||a||, and 0 at a == 0), ``ord=1`` (sum of
    absolute values) or ``ord=inf`` (largest absolute value).

    >>> import chainrule as cr
    >>> cr.norm(cr.Tensor([3.0, 4.0])).item(), cr.norm(cr.Tensor([3.0, -4.0]), ord=1).item()
    (5.0, 7.0)
    """
    a = as_tensor(a)
    axes = normalize_axes("norm", axis, a.ndim)
    if ord == 2:
        return Norm.apply(a, axes=axes, keepdims=keepdims)
    if ord == 1:
        return Sum.apply(abs(a), axes=axes, keepdims=keepdims)
    if ord in (float("inf"), "inf"):
        if a.size == 0:
            raise ValueError(f"norm: tensor of shape {a.shape} is empty; expected at least one element for ord=inf")
        return Max.apply(abs(a), axes=axes, keepdims=keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported; expected 2, 1 or inf")


def _arg(name: str) -> Any:
    def arg(a: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
        a = as_tensor(a)
        if a.size == 0:
            raise ValueError(f"{name}: tensor of shape {a.shape} is empty; expected at least one element")
        if axis is not None:
            (axis,) = normalize_axes(name, axis, a.ndim)
        return Tensor._make(getattr(a.data, name)(axis=axis, keepdims=keepdims))

    arg.__name__ = name
    arg.__doc__ = (f"Index of the {name[3:]}imum over ``axis`` (None: of the flattened tensor), as an integer "
                   "tensor without gradient (an index has none).")
    return arg


argmax = _arg("argmax")
argmin = _arg("argmin")

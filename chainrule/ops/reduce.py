"""Reductions (sum, max and what is composed of them) and the fused softmax gates."""

from __future__ import annotations

from typing import Any

import math

from ..backend import array_module, is_array
from ..engine import Context, Function, Tensor, as_tensor, call
from .axes import Axis, ValuesIndices, dims, normalize_axes, one_axis
from .elementwise import Exp, Where, abs, maximum, minimum
from .shape import Expand, gather_along


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


def sum(a: Any, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None, keepdim: bool | None = None) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes; an int or a tuple); ``dim=``/``keepdim=`` as in PyTorch.

    >>> import chainrule as cr
    >>> cr.sum(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([4., 6.], dtype=float32)
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=1, keepdim=True).shape
    (2, 1)
    """
    a = as_tensor(a)
    if dim is not None or keepdim is not None or type(axis) is list:
        axis, keepdims = dims("sum", axis, dim, keepdims, keepdim)
    return Sum.apply(a, axes=normalize_axes("sum", axis, a.ndim), keepdims=bool(keepdims))


def mean(a: Any, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None, keepdim: bool | None = None) -> Tensor:
    """Mean over ``axis`` (composed: sum divided by the count).

    >>> import chainrule as cr
    >>> cr.mean(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy()
    array([1.5, 3.5], dtype=float32)
    """
    a = as_tensor(a)
    if dim is not None or keepdim is not None or type(axis) is list:
        axis, keepdims = dims("mean", axis, dim, keepdims, keepdim)
    axes = normalize_axes("mean", axis, a.ndim)
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    return Sum.apply(a, axes=axes, keepdims=bool(keepdims)) / count


def _is_operand(other: Any) -> bool:
    """Whether ``max(a, other)``'s second argument is a second tensor (not a dim)."""
    return other is not None and (isinstance(other, float) or not isinstance(other, (int, tuple, list)))


def _extreme(name: str, a: Any, other: Any, keepdims: bool | None, axis: Axis, dim: Axis,
             keepdim: bool | None) -> Any:  # fmt: skip
    """max/min: of all entries, over ``axis=`` (values), over a PyTorch ``dim`` (values and
    indices), or elementwise against a second tensor."""
    if not isinstance(a, Tensor) and not is_array(a) and other is not None:  # cr.max(3, 5): two numbers
        return (maximum if name == "max" else minimum)(a, other)
    if _is_operand(other):
        if axis is not None or dim is not None:
            raise TypeError(f"{name}: got a second tensor and a dim; expected one of them")
        return (maximum if name == "max" else minimum)(a, other)
    a = as_tensor(a)
    sign = 1 if name == "max" else -1
    if other is not None or dim is not None:  # PyTorch's max(dim): (values, indices), the gradient to the index
        if other is not None and dim is not None:
            raise TypeError(f"{name}: got dim twice (positionally and as dim=)")
        d = other if other is not None else dim
        if axis is not None or not isinstance(d, int):
            raise TypeError(f"{name}: dim {d!r} is not an int; expected one dim (axis= takes several, "
                            "and gives the values alone)")
        _, keep = dims(name, None, d, keepdims, keepdim)
        if a.numel() == 0:
            raise ValueError(f"{name}: tensor of shape {a.shape} is empty; expected at least one element")
        ax = one_axis(name, d, a.ndim)
        if a.ndim == 0:
            return ValuesIndices(a, Tensor._make(array_module(a.data).zeros((), dtype="int64")))
        data = a.data if sign == 1 else -a.data
        idx = data.argmax(axis=ax, keepdims=True)
        values = gather_along(a, idx, ax)
        if not keep:
            values, idx = values.squeeze(ax), idx.squeeze(ax)
        return ValuesIndices(values, Tensor._make(idx.astype("int64", copy=False)))
    axis, keepdims = dims(name, axis, None, keepdims, keepdim)
    if a.numel() == 0:
        raise ValueError(f"{name}: tensor of shape {a.shape} is empty; expected at least one element")
    axes = normalize_axes(name, axis, a.ndim)
    if sign == 1:
        return Max.apply(a, axes=axes, keepdims=keepdims)
    return -Max.apply(-a, axes=axes, keepdims=keepdims)


def max(a: Any, other: Any = None, keepdims: bool | None = None, *, axis: Axis = None, dim: int | None = None,  # noqa: A001
        keepdim: bool | None = None) -> Any:  # fmt: skip
    """The largest entry; over ``axis=`` (NumPy: the values, ties split the gradient evenly);
    over a ``dim`` (PyTorch: ``(values, indices)``, the gradient to each index); or, given a
    second tensor, the elementwise maximum (the lecture's max gate).

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 3.0, 3.0], requires_grad=True)
    >>> cr.max(x).backward()
    >>> x.grad.numpy()
    array([0. , 0.5, 0.5], dtype=float32)
    >>> cr.max(cr.Tensor(3.0), cr.Tensor(5.0)).item()
    5.0
    >>> values, indices = cr.Tensor([[1.0, 7.0], [4.0, 2.0]]).max(dim=1)
    >>> values.tolist(), indices.tolist()
    ([7.0, 4.0], [1, 0])
    """
    return _extreme("max", a, other, keepdims, axis, dim, keepdim)


def min(a: Any, other: Any = None, keepdims: bool | None = None, *, axis: Axis = None, dim: int | None = None,  # noqa: A001
        keepdim: bool | None = None) -> Any:  # fmt: skip
    """The smallest entry (composed: -max(-a)), in ``max``'s three forms; ties split the
    gradient evenly over ``axis=``.

    >>> import chainrule as cr
    >>> cr.min(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), axis=0).numpy()
    array([1., 0.], dtype=float32)
    >>> cr.min(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), 1).indices.tolist()
    [0, 1]
    """
    return _extreme("min", a, other, keepdims, axis, dim, keepdim)


def amax(a: Any, dim: Axis = None, keepdim: bool = False) -> Tensor:
    """The largest entries over ``dim`` (all, an int or a tuple), values only; ties split the
    gradient evenly (PyTorch's ``amax``).

    >>> import chainrule as cr
    >>> cr.amax(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), dim=1).tolist()
    [2.0, 3.0]
    """
    a = as_tensor(a)
    if a.numel() == 0:
        raise ValueError(f"amax: tensor of shape {a.shape} is empty; expected at least one element")
    return Max.apply(a, axes=normalize_axes("amax", dim, a.ndim), keepdims=bool(keepdim))


def amin(a: Any, dim: Axis = None, keepdim: bool = False) -> Tensor:
    """The smallest entries over ``dim``, values only (PyTorch's ``amin``).

    >>> import chainrule as cr
    >>> cr.amin(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), dim=0).tolist()
    [1.0, 0.0]
    """
    a = as_tensor(a)
    if a.numel() == 0:
        raise ValueError(f"amin: tensor of shape {a.shape} is empty; expected at least one element")
    return -Max.apply(-a, axes=normalize_axes("amin", dim, a.ndim), keepdims=bool(keepdim))


def softmax(a: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Softmax along ``axis`` (or ``dim``; the last by default), stable: shifted by the max.

    >>> import chainrule as cr
    >>> cr.softmax(cr.Tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    a = as_tensor(a)
    axis, _ = dims("softmax", axis, dim)
    (ax,) = normalize_axes("softmax", -1 if axis is None else axis, a.ndim)
    return Softmax.apply(a, axis=ax)


def log_softmax(a: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """log(softmax(a)) along ``axis`` (or ``dim``; the last by default), without forming the softmax.

    >>> import chainrule as cr
    >>> cr.log_softmax(cr.Tensor([0.0, 0.0])).numpy().round(4)
    array([-0.6931, -0.6931], dtype=float32)
    """
    a = as_tensor(a)
    axis, _ = dims("log_softmax", axis, dim)
    (ax,) = normalize_axes("log_softmax", -1 if axis is None else axis, a.ndim)
    return LogSoftmax.apply(a, axis=ax)


def _count(a: Tensor, axes: tuple[int, ...]) -> int:
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    return count


def _deviations(op: str, a: Tensor, axes: tuple[int, ...], correction: float) -> tuple[Tensor, int]:
    """a - mean(a) over ``axes``, and the divisor count - correction (checked positive)."""
    count = _count(a, axes)
    if count - correction <= 0:
        raise ValueError(f"{op}: {count} entries over dims {axes} of shape {a.shape} with correction={correction}; "
                         "expected more entries than the correction")
    return a - Sum.apply(a, axes=axes, keepdims=True) / count, count - correction


def _correction(op: str, correction: float | None, unbiased: bool | None) -> float:
    if unbiased is not None:
        if correction is not None:
            raise TypeError(f"{op}: got both correction= and unbiased=; expected one of them")
        return 1 if unbiased else 0
    return 1 if correction is None else correction


def var(a: Any, axis: Axis = None, keepdims: bool | None = None, correction: float | None = None, *,
        dim: Axis = None, keepdim: bool | None = None, unbiased: bool | None = None) -> Tensor:  # fmt: skip
    """Variance over ``axis``: sum (a - mean)^2 / (count - correction), composed.

    ``correction=1`` (the default, as in PyTorch's ``var``; ``unbiased=True``) is the
    unbiased sample variance; ``correction=0`` the population variance (NumPy's default).

    >>> import chainrule as cr
    >>> cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0])).item(), cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item()
    (1.6666666269302368, 1.25)
    """
    a = as_tensor(a)
    axis, keepdims = dims("var", axis, dim, keepdims, keepdim)
    axes = normalize_axes("var", axis, a.ndim)
    d, n = _deviations("var", a, axes, _correction("var", correction, unbiased))
    return Sum.apply(d * d, axes=axes, keepdims=keepdims) / n


def std(a: Any, axis: Axis = None, keepdims: bool | None = None, correction: float | None = None, *,
        dim: Axis = None, keepdim: bool | None = None, unbiased: bool | None = None) -> Tensor:  # fmt: skip
    """Standard deviation over ``axis``, with ``var``'s ``correction``.

    Composed as ||a - mean|| / sqrt(count - correction): the norm's gradient is 0 where the
    deviations are all 0 (PyTorch's choice), where sqrt(var) would give 0 * inf = NaN.

    >>> import chainrule as cr
    >>> round(cr.std(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item(), 4)
    1.118
    >>> x = cr.Tensor([2.0, 2.0], requires_grad=True)
    >>> x.std().backward(); x.grad.tolist()
    [0.0, 0.0]
    """
    a = as_tensor(a)
    axis, keepdims = dims("std", axis, dim, keepdims, keepdim)
    axes = normalize_axes("std", axis, a.ndim)
    d, n = _deviations("std", a, axes, _correction("std", correction, unbiased))
    return Norm.apply(d, axes=axes, keepdims=keepdims) / math.sqrt(n)


def norm(a: Any, ord: Any = None, axis: Axis = None, keepdims: bool | None = None, *, p: Any = None,  # noqa: A002 - NumPy's name
         dim: Axis = None, keepdim: bool | None = None) -> Tensor:  # fmt: skip
    """The vector norm over ``axis`` (all axes by default: the Frobenius norm of a matrix).

    ``ord`` (or PyTorch's ``p``): 2 (Euclidean; gradient a / ||a||, and 0 at a == 0), 1 (sum
    of absolute values), inf (largest absolute value), -inf (smallest), 0 (count of nonzeros,
    no gradient) or any other number p: (sum |a|^p)^(1/p).

    >>> import chainrule as cr
    >>> cr.norm(cr.Tensor([3.0, 4.0])).item(), cr.norm(cr.Tensor([3.0, -4.0]), ord=1).item()
    (5.0, 7.0)
    >>> cr.Tensor([[3.0, 4.0], [1.0, 0.0]]).norm(p=1, dim=1).tolist()
    [7.0, 1.0]
    """
    a = as_tensor(a)
    if p is not None:
        if ord is not None:
            raise TypeError(f"norm: got both ord={ord!r} and p={p!r}; expected one of them (they are the same argument)")
        ord = p
    ord = 2 if ord is None else float("inf") if ord == "inf" else float("-inf") if ord == "-inf" else ord
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise ValueError(f"norm: ord={ord!r} is not supported; expected a number (2, 1, inf, -inf, 0 or any p)")
    axis, keepdims = dims("norm", axis, dim, keepdims, keepdim)
    axes = normalize_axes("norm", axis, a.ndim)
    if ord == 2:
        return Norm.apply(a, axes=axes, keepdims=keepdims)
    if ord == 1:
        return Sum.apply(abs(a), axes=axes, keepdims=keepdims)
    if ord in (float("inf"), float("-inf")):
        if a.numel() == 0:
            raise ValueError(f"norm: tensor of shape {a.shape} is empty; expected at least one element for ord={ord}")
        if ord > 0:
            return Max.apply(abs(a), axes=axes, keepdims=keepdims)
        return -Max.apply(-abs(a), axes=axes, keepdims=keepdims)
    if ord == 0:
        return Tensor._make((a.data != 0).sum(axis=axes, keepdims=keepdims).astype(a.dtype))
    # (sum |a|^p)^(1/p); its gradient at a == 0 is 0 for p > 1, as PyTorch's
    return Sum.apply(abs(a) ** ord, axes=axes, keepdims=keepdims) ** (1.0 / ord)


def _arg(name: str) -> Any:
    def arg(a: Any, axis: int | None = None, keepdims: bool | None = None, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor:  # fmt: skip
        a = as_tensor(a)
        axis, keepdims = dims(name, axis, dim, keepdims, keepdim)
        if a.numel() == 0:
            raise ValueError(f"{name}: tensor of shape {a.shape} is empty; expected at least one element")
        if axis is not None:
            (axis,) = normalize_axes(name, axis, a.ndim)
        elif keepdims:  # PyTorch: the index of the flattened tensor, in a shape of ones
            return Tensor._make(a.data.reshape(-1).__getattribute__(name)().reshape((1,) * a.ndim).astype("int64"))
        return Tensor._make(getattr(a.data, name)(axis=axis, keepdims=keepdims).astype("int64", copy=False))

    arg.__name__ = arg.__qualname__ = name
    arg.__doc__ = (f"Index of the {name[3:]}imum over ``axis`` (or ``dim``; None: of the flattened tensor), as an "
                   "int64 tensor without gradient (an index has none).")
    return arg


argmax = _arg("argmax")
argmin = _arg("argmin")

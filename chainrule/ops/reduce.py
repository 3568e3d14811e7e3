"""Reductions (sum, prod, max, norms and what is composed of them) and the fused softmax gates."""

from __future__ import annotations

import math
from typing import Any

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module, is_array
from .axes import Axis, ValuesIndices, dims, normalize_axes, one_axis
from .elementwise import Abs, Exp, Where, abs, astype, clip, exp, log, maximum, minimum, where
from .scan import Cumprod, reversed_along, shifted_along
from .shape import Expand, gather_along, permute, reshape


def _reduced(op: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``normalize_axes``, and for a 0-d tensor (whose dims 0 and -1 PyTorch allows) no axes:
    its one entry is reduced to itself.

    >>> _reduced("sum", -1, 0), _reduced("sum", -1, 2)
    ((), (1,))
    """
    axes = normalize_axes(op, axis, ndim)
    return axes if ndim else ()


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
    """The p-norm over ``axes``, (sum |a|^p)^(1/p), in one gate (p = 2: sqrt(sum a^2), the
    Euclidean or Frobenius norm).

    A primitive rather than composed for its kinks: where the norm is 0 the composed form's
    backward is inf * 0 = NaN, while PyTorch's subgradient there is 0; so is its value at an
    entry a_i == 0 for p < 1 (where the derivative is infinite).
    d||a||_p/da_i = sgn(a_i) |a_i|^(p-1) / ||a||_p^(p-1) (for p = 2: a / ||a||).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axes: tuple[int, ...], keepdims: bool, p: float = 2) -> Any:
        xp = array_module(a)
        if p == 2:
            n = xp.sqrt((a * a).sum(axis=axes, keepdims=True))
        else:
            n = (xp.abs(a) ** p).sum(axis=axes, keepdims=True) ** (1.0 / p)
        out = n if keepdims else n.reshape([s for i, s in enumerate(a.shape) if i not in axes])
        ctx.save_for_backward(a, out)  # the output itself, so a graph-building backward sees it as a node
        ctx.kept_shape = n.shape
        ctx.p = p
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        a, out = ctx.saved_tensors
        p = ctx.p
        n = out.reshape(ctx.kept_shape)
        g = grad_out.reshape(ctx.kept_shape)
        if p == 2:
            return g * (a / call(Where, n == 0, 1.0, n))  # a / ||a||, and 0 where the norm is 0
        zero = a == 0
        w = call(Where, zero, 0.0, a * call(Abs, call(Where, zero, 1.0, a)) ** (p - 2))  # sgn(a) |a|^(p-1); 0 at 0
        if p < 1:  # ||a||^(1-p) is 0 where the norm is 0
            return g * w * n ** (1 - p)
        return g * w / call(Where, n == 0, 1.0, n) ** (p - 1)  # w is 0 wherever the norm is


class Prod(Function):
    """The product over one ``axis``.

    d/da_i prod(a) = the product of the others = (product before i) * (product after i): two
    exclusive running products, no division, so one zero (or several) in a slice gives
    PyTorch's numbers, not NaN; as Cumprod gates, the gradient is differentiable again.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, *, axis: int, keepdims: bool) -> Any:
        ctx.save_for_backward(a)
        ctx.axis = axis
        ctx.kept_shape = _kept_shape(a.shape, (axis,))
        return a.prod(axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        ax = ctx.axis
        before = shifted_along(call(Cumprod, a, axis=ax), 1, ax, 1.0)  # a_0 ... a_{i-1}
        after = reversed_along(shifted_along(call(Cumprod, reversed_along(a, ax), axis=ax), 1, ax, 1.0), ax)
        return grad_out.reshape(ctx.kept_shape) * before * after


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


def sum(a: Any, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None, keepdim: bool | None = None,  # noqa: A001
        dtype: Any = None) -> Tensor:  # fmt: skip
    """Sum over ``axis`` (None: all axes; an int or a tuple); ``dim=``/``keepdim=`` as in PyTorch;
    ``dtype``: cast first.

    >>> import chainrule as cr
    >>> cr.sum(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=0).numpy()
    array([4., 6.], dtype=float32)
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=1, keepdim=True).shape
    (2, 1)
    """
    a = as_tensor(a) if dtype is None else astype(a, dtype)
    if dim is not None or keepdim is not None or type(axis) is list:
        axis, keepdims = dims("sum", axis, dim, keepdims, keepdim)
    return Sum.apply(a, axes=_reduced("sum", axis, a.ndim), keepdims=bool(keepdims))


def mean(a: Any, axis: Axis = None, keepdims: bool | None = None, *, dim: Axis = None, keepdim: bool | None = None,
         dtype: Any = None) -> Tensor:  # fmt: skip
    """Mean over ``axis`` (composed: sum divided by the count); ``dtype``: cast first.

    >>> import chainrule as cr
    >>> cr.mean(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), axis=1).numpy()
    array([1.5, 3.5], dtype=float32)
    """
    a = as_tensor(a) if dtype is None else astype(a, dtype)
    if dim is not None or keepdim is not None or type(axis) is list:
        axis, keepdims = dims("mean", axis, dim, keepdims, keepdim)
    axes = _reduced("mean", axis, a.ndim)
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
    return _extreme_values(name, a, None, keepdim, axis, keepdims, sign)


def max(a: Any, other: Any = None, keepdims: bool | None = None, *, axis: Axis = None, dim: int | None = None,  # noqa: A001
        keepdim: bool | None = None) -> Any:  # fmt: skip
    """The largest entry; over ``axis=`` (NumPy: the values; ties split evenly);
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


def _extreme_values(op: str, a: Any, dim: Axis, keepdim: bool | None, axis: Axis, keepdims: bool | None,
                    sign: int) -> Tensor:  # fmt: skip
    """The largest (``sign`` 1) or smallest (-1) entries over the dims, values only: max's and
    min's NumPy form, amax and amin. Ties split the gradient evenly (one Max gate)."""
    a = as_tensor(a)
    axis, keep = dims(op, axis, dim, keepdims, keepdim)
    if a.numel() == 0:
        raise ValueError(f"{op}: tensor of shape {a.shape} is empty; expected at least one element")
    axes = _reduced(op, axis, a.ndim)
    return Max.apply(a, axes=axes, keepdims=keep) if sign == 1 else -Max.apply(-a, axes=axes, keepdims=keep)


def _all(dims: Axis) -> Axis:
    """PyTorch's amax/amin read ``dim=()`` as every dim."""
    return None if dims == () else dims


def amax(a: Any, dim: Axis = None, keepdim: bool | None = None, *, axis: Axis = None,
         keepdims: bool | None = None) -> Tensor:  # fmt: skip
    """The largest entries over ``dim`` (all, an int or a tuple), values only; ties split the
    gradient evenly (PyTorch's ``amax``).

    >>> import chainrule as cr
    >>> cr.amax(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), dim=1).tolist()
    [2.0, 3.0]
    """
    return _extreme_values("amax", a, _all(dim), keepdim, _all(axis), keepdims, 1)


def amin(a: Any, dim: Axis = None, keepdim: bool | None = None, *, axis: Axis = None,
         keepdims: bool | None = None) -> Tensor:  # fmt: skip
    """The smallest entries over ``dim``, values only (PyTorch's ``amin``).

    >>> import chainrule as cr
    >>> cr.amin(cr.Tensor([[1.0, 2.0], [3.0, 0.0]]), dim=0).tolist()
    [1.0, 0.0]
    """
    return _extreme_values("amin", a, _all(dim), keepdim, _all(axis), keepdims, -1)


def softmax(a: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Softmax along ``axis`` (or ``dim``; the last by default), stable: shifted by the max.

    >>> import chainrule as cr
    >>> cr.softmax(cr.Tensor([0.0, 0.0])).numpy()
    array([0.5, 0.5], dtype=float32)
    """
    a = as_tensor(a)
    axis, _ = dims("softmax", axis, dim)
    (ax,) = normalize_axes("softmax", -1 if axis is None else axis, a.ndim)
    if a.ndim == 0:  # dim 0 or -1 of a 0-d tensor: its one entry
        return Softmax.apply(a.reshape(1), axis=0).reshape(())
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
    if a.ndim == 0:  # dim 0 or -1 of a 0-d tensor: its one entry
        return LogSoftmax.apply(a.reshape(1), axis=0).reshape(())
    return LogSoftmax.apply(a, axis=ax)


def _count(a: Tensor, axes: tuple[int, ...]) -> int:
    count = 1
    for ax in axes:
        count *= a.shape[ax]
    return count


def _moments(op: str, a: Any, axis: Any, unbiased: Any, keepdims: Any, correction: Any, dim: Any, keepdim: Any,
             ddof: Any) -> tuple[Tensor, int, Tensor, tuple[int, ...], bool]:  # fmt: skip
    """For var/std and their _mean forms: the deviations a - mean, the divisor count - correction
    (checked positive), the mean (kept dims), the axes and keepdims.

    PyTorch's positional forms: ``var(dim, unbiased, keepdim)`` and ``var(unbiased)`` (a bool
    where the dim goes); ``correction=``, NumPy's ``ddof=`` or ``unbiased=`` (one of them)."""
    a = as_tensor(a)
    if isinstance(axis, bool):  # var(input, unbiased)
        if unbiased is not None:
            raise TypeError(f"{op}: got unbiased twice ({axis!r} in the dim's place and {unbiased!r})")
        axis, unbiased = None, axis
    given = [(k, v) for k, v in (("correction", correction), ("unbiased", unbiased), ("ddof", ddof)) if v is not None]
    if len(given) > 1:
        raise TypeError(f"{op}: got {' and '.join(f'{k}={v!r}' for k, v in given)}; expected one of them")
    c = given[0][1] if given else 1  # PyTorch's default: the unbiased (sample) estimate
    if unbiased is not None:
        c = 1 if unbiased else 0
    axis, keepdims = dims(op, axis, dim, keepdims, keepdim)
    axes = _reduced(op, axis, a.ndim)
    count = _count(a, axes)
    if count - c <= 0:
        raise ValueError(f"{op}: {count} entries over dims {axes} of shape {a.shape} with correction={c}; "
                         "expected more entries than the correction")
    m = Sum.apply(a, axes=axes, keepdims=True) / count
    return a - m, count - c, m, axes, keepdims


def _dropped(t: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """A tensor with kept (size-1) ``axes``, those axes dropped unless ``keepdims``."""
    return t if keepdims else t.reshape(tuple(n for i, n in enumerate(t.shape) if i not in axes))


def var(a: Any, axis: Axis = None, unbiased: bool | None = None, keepdims: bool | None = None, *,
        correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
        ddof: float | None = None) -> Tensor:  # fmt: skip
    """Variance over ``axis``: sum (a - mean)^2 / (count - correction), composed.

    ``correction=1`` (the default, as in PyTorch's ``var``; ``unbiased=True``) is the
    unbiased sample variance; ``correction=0`` (``ddof=0``) the population variance
    (NumPy's default). Positionally as PyTorch: ``var(dim, unbiased, keepdim)``.

    >>> import chainrule as cr
    >>> cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0])).item(), cr.var(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item()
    (1.6666666269302368, 1.25)
    """
    d, n, _, axes, keepdims = _moments("var", a, axis, unbiased, keepdims, correction, dim, keepdim, ddof)
    return Sum.apply(d * d, axes=axes, keepdims=keepdims) / n


def std(a: Any, axis: Axis = None, unbiased: bool | None = None, keepdims: bool | None = None, *,
        correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
        ddof: float | None = None) -> Tensor:  # fmt: skip
    """Standard deviation over ``axis``, with ``var``'s arguments.

    Composed as ||a - mean|| / sqrt(count - correction): the norm's gradient is 0 where the
    deviations are all 0 (PyTorch's choice), where sqrt(var) would give 0 * inf = NaN.

    >>> import chainrule as cr
    >>> round(cr.std(cr.Tensor([1.0, 2.0, 3.0, 4.0]), correction=0).item(), 4)
    1.118
    >>> x = cr.Tensor([2.0, 2.0], requires_grad=True)
    >>> x.std().backward(); x.grad.tolist()
    [0.0, 0.0]
    """
    d, n, _, axes, keepdims = _moments("std", a, axis, unbiased, keepdims, correction, dim, keepdim, ddof)
    return Norm.apply(d, axes=axes, keepdims=keepdims) / math.sqrt(n)


def var_mean(a: Any, axis: Axis = None, unbiased: bool | None = None, keepdims: bool | None = None, *,
             correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
             ddof: float | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(var, mean)`` over ``axis`` in one pass over the mean, with ``var``'s arguments.

    >>> import chainrule as cr
    >>> v, m = cr.ops.reduce.var_mean(cr.Tensor([[1.0, 3.0], [2.0, 2.0]]), dim=1)
    >>> v.tolist(), m.tolist()
    ([2.0, 0.0], [2.0, 2.0])
    """
    d, n, m, axes, keepdims = _moments("var_mean", a, axis, unbiased, keepdims, correction, dim, keepdim, ddof)
    return Sum.apply(d * d, axes=axes, keepdims=keepdims) / n, _dropped(m, axes, keepdims)


def std_mean(a: Any, axis: Axis = None, unbiased: bool | None = None, keepdims: bool | None = None, *,
             correction: float | None = None, dim: Axis = None, keepdim: bool | None = None,
             ddof: float | None = None) -> tuple[Tensor, Tensor]:  # fmt: skip
    """``(std, mean)`` over ``axis``, with ``var``'s arguments (``std``'s gradient rule).

    >>> import chainrule as cr
    >>> s, m = cr.ops.reduce.std_mean(cr.Tensor([1.0, 3.0]))
    >>> round(s.item(), 4), m.item()
    (1.4142, 2.0)
    """
    d, n, m, axes, keepdims = _moments("std_mean", a, axis, unbiased, keepdims, correction, dim, keepdim, ddof)
    return Norm.apply(d, axes=axes, keepdims=keepdims) / math.sqrt(n), _dropped(m, axes, keepdims)


_INF = float("inf")


def _ord(ord: Any, p: Any) -> float:  # noqa: A002 - NumPy's name
    if p is not None:
        if ord is not None:
            raise TypeError(f"norm: got both ord={ord!r} and p={p!r}; expected one of them (they are the same argument)")
        ord = p
    if ord is None or ord == "fro":
        return 2
    if ord in ("inf", "-inf"):
        return _INF if ord == "inf" else -_INF
    if isinstance(ord, str) or isinstance(ord, bool) or not isinstance(ord, (int, float)):
        raise ValueError(f"norm: ord={ord!r} is not supported; expected a number (2, 1, inf, -inf, 0 or any p) or 'fro'")
    return ord


def norm(a: Any, ord: Any = None, axis: Axis = None, keepdims: bool | None = None, *, p: Any = None,  # noqa: A002 - NumPy's name
         dim: Axis = None, keepdim: bool | None = None) -> Tensor:  # fmt: skip
    """The vector norm over ``axis`` (all axes by default: the Frobenius norm of a matrix), as
    ``torch.norm`` and ``torch.linalg.vector_norm``.

    ``ord`` (or PyTorch's ``p``): 2 or 'fro' (Euclidean), 1 (sum of absolute values), inf
    (largest absolute value; ties split the gradient), -inf (smallest), 0 (count of nonzeros;
    gradient 0) or any other number p: (sum |a|^p)^(1/p). Where the norm is 0 the gradient
    is 0 (PyTorch's subgradient), never NaN; so is it at a zero entry for p < 1.

    >>> import chainrule as cr
    >>> cr.norm(cr.Tensor([3.0, 4.0])).item(), cr.norm(cr.Tensor([3.0, -4.0]), ord=1).item()
    (5.0, 7.0)
    >>> cr.Tensor([[3.0, 4.0], [1.0, 0.0]]).norm(p=1, dim=1).tolist()
    [7.0, 1.0]
    """
    a = as_tensor(a)
    ord = _ord(ord, p)
    axis, keepdims = dims("norm", axis, dim, keepdims, keepdim)
    axes = _reduced("norm", axis, a.ndim)
    if ord == 1:
        return Sum.apply(abs(a), axes=axes, keepdims=keepdims)
    if ord in (_INF, -_INF):
        if _count(a, axes) == 0:
            raise ValueError(f"norm: dims {axes} of shape {a.shape} are empty; the ord={ord} norm of no entries "
                             "is undefined; expected at least one entry")
        if ord > 0:
            return Max.apply(abs(a), axes=axes, keepdims=keepdims)
        return -Max.apply(-abs(a), axes=axes, keepdims=keepdims)
    if ord == 0:  # the count, a step function: gradient 0 (a Where that never picks a, so inf * 0 is never made)
        count = (a.data != 0).sum(axis=axes, keepdims=keepdims).astype(a.dtype)
        never = array_module(a.data).zeros(a.shape, dtype=bool)
        return Sum.apply(where(never, a, 0.0), axes=axes, keepdims=keepdims) + count
    return Norm.apply(a, axes=axes, keepdims=keepdims, p=ord)


def normalize(a: Any, p: float = 2.0, dim: Axis = None, eps: float = 1e-12, *, axis: Axis = None) -> Tensor:
    """``a / max(||a||_p, eps)`` along ``dim`` (1 by default), as ``torch.nn.functional.normalize``
    (composed: the norm, clamped below at ``eps``, divides; an all-zero slice stays 0).

    >>> import chainrule as cr
    >>> cr.ops.reduce.normalize(cr.Tensor([[3.0, 4.0], [0.0, 0.0]])).tolist()
    [[0.6000000238418579, 0.800000011920929], [0.0, 0.0]]
    """
    a = as_tensor(a)
    axis, _ = dims("normalize", axis, dim)
    return a / clip(norm(a, p, axis=1 if axis is None else axis, keepdims=True), lo=eps)


def prod(a: Any, dim: Axis = None, keepdim: bool | None = None, *, dtype: Any = None, axis: Axis = None,
         keepdims: bool | None = None) -> Tensor:  # fmt: skip
    """The product over ``dim`` (None: all entries; NumPy's tuple of dims too); its gradient is
    exact with zeros in the input (one or several), as PyTorch's.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[2.0, 0.0, 3.0], [1.0, 2.0, 3.0]], requires_grad=True)
    >>> y = cr.ops.reduce.prod(x, dim=1)
    >>> y.sum().backward()
    >>> y.tolist(), x.grad.tolist()
    ([0.0, 6.0], [[0.0, 6.0, 0.0], [6.0, 3.0, 2.0]])
    """
    a = as_tensor(a)
    axis, keep = dims("prod", axis, dim, keepdims, keepdim)
    axes = _reduced("prod", axis, a.ndim)
    if dtype is not None:
        a = astype(a, dtype)
    if a.ndim == 0:  # dims 0 and -1 of a 0-d tensor: its one entry
        return Prod.apply(a.reshape(1), axis=0, keepdims=False)
    if len(axes) == 1:
        return Prod.apply(a, axis=axes[0], keepdims=keep)
    # several dims (or none): moved to the end as one, whose product Prod takes
    rest = [i for i in range(a.ndim) if i not in axes]
    flat = reshape(permute(a, [*rest, *axes]), [a.shape[i] for i in rest] + [-1])
    out = Prod.apply(flat, axis=len(rest), keepdims=False)
    return reshape(out, _kept_shape(a.shape, axes) if keep else tuple(a.shape[i] for i in rest))


def logsumexp(a: Any, dim: Axis = None, keepdim: bool | None = None, *, axis: Axis = None,
              keepdims: bool | None = None) -> Tensor:  # fmt: skip
    """log(sum(exp(a))) over ``dim`` (None: all), stable: composed around the max, a constant
    shift (the result does not depend on it, so it needs no gradient). An all -inf slice
    gives -inf, an empty one -inf, as PyTorch.

    >>> import chainrule as cr
    >>> round(cr.ops.reduce.logsumexp(cr.Tensor([1000.0, 1000.0]), 0).item(), 3)
    1000.693
    """
    a = as_tensor(a)
    axis, keep = dims("logsumexp", axis, dim, keepdims, keepdim)
    axes = _reduced("logsumexp", axis, a.ndim)
    xp = array_module(a.data)
    if a.numel() == 0:
        m = xp.zeros(_kept_shape(a.shape, axes), dtype=a.dtype)
    else:
        m = a.data.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # +-inf: no shift (inf - inf would be NaN)
    shift = Tensor._make(m)
    out = log(Sum.apply(exp(a - shift), axes=axes, keepdims=True)) + shift
    return _dropped(out, axes, keep)


def _logical(name: str) -> Any:
    def logical(a: Any, dim: Axis = None, keepdim: bool | None = None, *, axis: Axis = None,
                keepdims: bool | None = None) -> Tensor:  # fmt: skip
        a = as_tensor(a)
        axis, keep = dims(name, axis, dim, keepdims, keepdim)
        axes = _reduced(name, axis, a.ndim)
        truth = a.data if a.dtype == bool else a.data != 0
        return Tensor._make(getattr(truth, name)(axis=axes, keepdims=keep))

    logical.__name__ = logical.__qualname__ = name
    which = "every" if name == "all" else "any"
    logical.__doc__ = (f"Whether {which} entry over ``dim`` (None: all; an int or a tuple) is nonzero: a bool tensor "
                       f"without gradient.\n\n    >>> import chainrule as cr\n    >>> cr.ops.reduce.{name}("
                       f"cr.Tensor([[1.0, 0.0], [2.0, 3.0]]), dim=1).tolist()\n    "
                       f"{[False, True] if name == 'all' else [True, True]}\n    ")
    return logical


all = _logical("all")  # noqa: A001 - PyTorch's name
any = _logical("any")  # noqa: A001 - PyTorch's name


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


# Tensor methods (grep "Tensor.<name> ="); sum, mean, max, ... are assigned in ops/__init__.py
Tensor.prod = prod
Tensor.logsumexp = logsumexp
Tensor.all = all
Tensor.any = any

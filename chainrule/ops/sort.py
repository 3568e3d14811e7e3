"""Sorting and order statistics: sort, argsort, topk, kthvalue, median.

No gate of their own: the order is found on the raw values (an index has no gradient) and
the values are gathered at it (``gather_along``, indexing), so each value's gradient goes
to the entry it came from and scatter-adds; second order comes with indexing. Indices are
int64, as PyTorch's. Ties: the order among equal values is the stable one (PyTorch's own
choice among ties may differ; the values never do).
"""

from __future__ import annotations

from typing import Any

from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from .axes import ValuesIndices, dims, one_axis
from .elementwise import where
from .reduce import Max
from .scan import reversed_along
from .shape import gather_along


class KError(ValueError, RuntimeError):
    """A k out of range for topk/kthvalue: a RuntimeError, as PyTorch raises, and a ValueError,
    as chainrule's other bad values."""


def _order(data: Any, axis: int, descending: bool) -> Any:
    """The stable sorting permutation along ``axis``; descending keeps equal values in their
    order too (sorted ascending from the far end, then read backwards). NaN sorts as the
    largest, as in PyTorch."""
    xp = array_module(data)
    if not descending:
        return xp.argsort(data, axis=axis, kind="stable")
    order = xp.argsort(reversed_along(data, axis), axis=axis, kind="stable")
    return (data.shape[axis] - 1) - reversed_along(order, axis)


def _one_dim(op: str, a: Any, dim: Any, axis: Any, default: int | None = -1) -> tuple[Tensor, int]:
    a = as_tensor(a)
    d, _ = dims(op, axis, dim)
    d = default if d is None else d
    if not isinstance(d, int) or isinstance(d, bool):
        raise TypeError(f"{op}: dim {d!r} is not an int; expected one dim")
    return a, one_axis(op, d, a.ndim)


def _picked(a: Tensor, idx: Any, ax: int, keepdim: bool = True) -> ValuesIndices:
    """The values at ``idx`` along ``ax`` (with their gradient) and the int64 indices."""
    values = gather_along(a, idx, ax)
    if not keepdim:
        values, idx = values.squeeze(ax), idx.squeeze(ax)
    return ValuesIndices(values, Tensor._make(idx.astype("int64", copy=False)))


def _as_1d(fn: Any, a: Tensor, *args: Any) -> ValuesIndices:
    """``fn`` on a 0-d tensor seen as one entry along dim 0 (PyTorch allows dims 0 and -1)."""
    values, indices = fn(a.reshape(1), *args)
    return ValuesIndices(values.reshape(()), indices.reshape(()))


def sort(a: Any, dim: int | None = None, descending: bool = False, *, stable: bool = False,
         axis: int | None = None) -> ValuesIndices:  # fmt: skip
    """Sorted along ``dim`` (the last by default): ``(values, indices)``; always stable here.

    >>> import chainrule as cr
    >>> values, indices = cr.ops.sort.sort(cr.Tensor([3.0, 1.0, 2.0]))
    >>> values.tolist(), indices.tolist()
    ([1.0, 2.0, 3.0], [1, 2, 0])
    """
    a, ax = _one_dim("sort", a, dim, axis)
    if a.ndim == 0:
        return _as_1d(lambda t: sort(t, 0, descending), a)
    return _picked(a, _order(a.data, ax, descending), ax)


def argsort(a: Any, dim: int | None = None, descending: bool = False, *, stable: bool = False,
            axis: int | None = None) -> Tensor:  # fmt: skip
    """The int64 indices that sort ``a`` along ``dim`` (``sort``'s second result).

    >>> import chainrule as cr
    >>> cr.ops.sort.argsort(cr.Tensor([3.0, 1.0, 2.0]), descending=True).tolist()
    [0, 2, 1]
    """
    return sort(a, dim, descending, stable=stable, axis=axis).indices


def _check_k(op: str, k: Any, a: Tensor, ax: int, low: int) -> int:
    size = a.shape[ax] if a.ndim else 1
    if isinstance(k, bool) or not isinstance(k, int) or not low <= k <= size:
        raise KError(f"{op}: k={k!r} is out of range for dim {ax} of size {size} (shape {a.shape}); "
                     f"expected an int in [{low}, {size}]")
    return k


def topk(a: Any, k: int, dim: int | None = None, largest: bool = True, sorted: bool = True, *,  # noqa: A002
         axis: int | None = None) -> ValuesIndices:  # fmt: skip
    """The ``k`` largest (``largest=False``: smallest) entries along ``dim`` (the last by
    default): ``(values, indices)``, always in sorted order.

    >>> import chainrule as cr
    >>> cr.ops.sort.topk(cr.Tensor([1.0, 4.0, 2.0, 3.0]), 2).values.tolist()
    [4.0, 3.0]
    """
    a, ax = _one_dim("topk", a, dim, axis)
    k = _check_k("topk", k, a, ax, 0)
    if a.ndim == 0:
        return _as_1d(lambda t: topk(t, k, 0, largest), a)
    index = [slice(None)] * a.ndim
    index[ax] = slice(0, k)
    return _picked(a, _order(a.data, ax, largest)[tuple(index)], ax)


def _nonempty(op: str, a: Tensor, ax: int) -> None:
    if a.ndim and a.shape[ax] == 0:
        raise IndexError(f"{op}: dim {ax} of shape {a.shape} is empty; expected at least one entry to pick")


def kthvalue(a: Any, k: int, dim: int | None = None, keepdim: bool | None = None, *, axis: int | None = None,
             keepdims: bool | None = None) -> ValuesIndices:  # fmt: skip
    """The ``k``-th smallest entry (k from 1) along ``dim`` (the last by default):
    ``(values, indices)``; the gradient goes to the index.

    >>> import chainrule as cr
    >>> cr.ops.sort.kthvalue(cr.Tensor([[5.0, 1.0, 3.0]]), 2, dim=1).values.tolist()
    [3.0]
    """
    a, ax = _one_dim("kthvalue", a, dim, axis)
    _, keep = dims("kthvalue", None, None, keepdims, keepdim)
    _nonempty("kthvalue", a, ax)
    k = _check_k("kthvalue", k, a, ax, 1)
    if a.ndim == 0:
        return _as_1d(lambda t: kthvalue(t, k, 0), a)
    index = [slice(None)] * a.ndim
    index[ax] = slice(k - 1, k)
    return _picked(a, _order(a.data, ax, False)[tuple(index)], ax, keep)


def median(a: Any, dim: int | None = None, keepdim: bool | None = None, *, axis: int | None = None,
           keepdims: bool | None = None) -> Any:  # fmt: skip
    """The lower median (the ((n - 1) // 2 + 1)-th smallest), as PyTorch.

    Without a dim: the value alone, over all entries, its gradient split evenly among the
    entries equal to it (PyTorch's rule); NaN for an empty tensor. With a dim:
    ``(values, indices)``, the gradient to the index.

    >>> import chainrule as cr
    >>> cr.ops.sort.median(cr.Tensor([4.0, 1.0, 3.0, 2.0])).item()
    2.0
    >>> cr.Tensor([[4.0, 1.0, 3.0]]).median(dim=1).indices.tolist()
    [2]
    """
    d, keep = dims("median", axis, dim, keepdims, keepdim)
    if d is None and (keepdim is not None or keepdims is not None):
        raise TypeError("median: got keepdim without a dim; expected median() or median(dim, keepdim)")
    a = as_tensor(a)
    if d is not None:
        a, ax = _one_dim("median", a, d, None)
        _nonempty("median", a, ax)
        n = a.shape[ax] if a.ndim else 1
        return kthvalue(a, (n - 1) // 2 + 1, ax, keep)
    xp = array_module(a.data)
    if a.numel() == 0:
        return Tensor._make(xp.full((), float("nan"), dtype=a.dtype))
    flat = a.data.reshape(-1)
    mid = (flat.size - 1) // 2
    m = flat[_order(flat, 0, False)[mid : mid + 1]].reshape(())  # an array index: no read into Python
    if a.dtype.kind != "f":
        return Tensor._make(m)
    # the entries equal to the median, and -inf elsewhere: their max is the median, and Max
    # splits the gradient evenly among them
    return Max.apply(where(a.data == m, a, float("-inf")), axes=tuple(range(a.ndim)), keepdims=False)


# Tensor methods (grep "Tensor.<name> =")
Tensor.sort = sort
Tensor.argsort = argsort
Tensor.topk = topk
Tensor.kthvalue = kthvalue
Tensor.median = median

"""Gates that move values around without changing them: reshape, permute, expand,
concatenate, pad, indexing. Their backward moves the gradient back the same way.
PyTorch's many composed movement ops (view, flip, split, tril, ...) are in ``movement.py``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import devices
from ..autograd.function import Context, Function, call
from ..autograd.grad_mode import host_array, replayed
from ..autograd.partial import Partial
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module, is_array
from . import kernels
from .axes import dims, normalize_axes, one_axis
from .broadcast import sum_to


class Reshape(Function):
    """Same values, new shape."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, shape: tuple[int, ...]) -> Any:
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return grad_out.reshape(ctx.in_shape)


class Permute(Function):
    """Reorder the axes; the backward applies the inverse permutation."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, axes: tuple[int, ...]) -> Any:
        ctx.axes = axes
        return a.transpose(axes)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        inverse = [0] * len(ctx.axes)
        for i, ax in enumerate(ctx.axes):
            inverse[ax] = i
        return call(Permute, grad_out, axes=tuple(inverse))


class Expand(Function):
    """Broadcast to a larger shape (no copy); the backward sums the copies back."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, shape: tuple[int, ...]) -> Any:
        ctx.in_shape = a.shape
        return array_module(a).broadcast_to(a, shape)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return sum_to(grad_out, ctx.in_shape)


class Concatenate(Function):
    """Join along an existing axis; the backward slices the gradient into pieces."""

    @staticmethod
    def forward(ctx: Context, *arrays: Any, axis: int) -> Any:
        ctx.axis = axis
        ctx.sizes = [x.shape[axis] for x in arrays]
        return array_module(arrays[0]).concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        grads = []
        start = 0
        index = [slice(None)] * grad_out.ndim
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad):
            index[ctx.axis] = slice(start, start + size)
            grads.append(grad_out[tuple(index)] if needed else None)
            start += size
        return tuple(grads)


class Pad(Function):
    """Constant padding; ``widths`` is one ``(before, after)`` pair per axis."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, widths: tuple[tuple[int, int], ...], value: float) -> Any:
        ctx.crop = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        shape = tuple(lo + n + hi for (lo, hi), n in zip(widths, a.shape))
        out = array_module(a).full(shape, value, dtype=a.dtype)  # faster than the general numpy.pad
        out[ctx.crop] = a
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return grad_out[ctx.crop]


class GetItem(Function):
    """Indexing and slicing (basic and integer/boolean arrays)."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, index: Any) -> Any:
        ctx.index = index
        ctx.in_shape = a.shape
        return a[index]

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        if type(grad_out) is not Tensor and ctx.in_shape and _is_basic(ctx.index):
            return Partial(ctx.index, grad_out, ctx.in_shape)  # a slice's: the walk writes it into the sum
        return call(IndexAdd, grad_out, index=ctx.index, shape=ctx.in_shape)


class IndexAdd(Function):
    """Zeros of ``shape`` with ``g`` scatter-added at ``index``: the adjoint of indexing.

    Scatter-*add*, because an integer index may pick the same entry twice
    (``x[[0, 0]]``) and then both gradients belong to it.
    """

    @staticmethod
    def forward(ctx: Context, g: Any, *, index: Any, shape: tuple[int, ...]) -> Any:
        ctx.index = index
        if _rows_of(index, shape, g):  # in a compiled step one call, sorted at each replay
            return replayed(_rows_added, g, index, shape)
        xp = array_module(g)
        out = xp.zeros(shape, dtype=g.dtype)
        if _is_basic(index):
            out[index] = g  # a basic index never repeats an entry: plain assignment
        else:
            xp.add.at(out, index, g)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return grad_out[ctx.index]


def _rows_of(index: Any, shape: tuple[int, ...], g: Any) -> bool:
    """Whether ``index`` is one NumPy integer array picking rows of an array of ``shape`` (an
    embedding's lookup, a batch's labels), many enough that sorting beats ``np.add.at``
    (a compiled step's traced arrays too)."""
    return (host_array(index) and index.dtype.kind in "iu" and index.size >= 64 and host_array(g)
            and len(shape) >= 2)  # fmt: skip


def _rows_added(g: Any, index: Any, shape: tuple[int, ...]) -> Any:
    """Zeros of ``shape`` with the rows of ``g`` added at ``index`` (``_add_rows``)."""
    out = np.zeros(shape, g.dtype)
    _add_rows(out, index, g)
    return out


def _add_rows(out: Any, index: Any, g: Any) -> None:
    """out[index] += g, repeated rows summed: with Numba, one compiled loop over the rows
    (``kernels.add_rows``); else the rows sorted by index (stably, so each keeps its order),
    then each run summed by ``np.add.reduceat``. ``np.add.at`` takes 1.65 ms for a GPT
    batch's 2048 rows of 128 into 65, the sorted sums 0.39 (0.88 on a slower machine, where
    the loop takes 0.18)."""
    if g.dtype == out.dtype and kernels.usable(out, g):
        kernels.add_rows(out, index, g)
        return
    flat = index.reshape(-1)
    flat = np.where(flat < 0, flat + out.shape[0], flat)
    rows = g.reshape((flat.size,) + out.shape[1:])
    order = np.argsort(flat, kind="stable")
    picked = flat[order]
    starts = np.flatnonzero(np.concatenate(([True], picked[1:] != picked[:-1])))
    out[picked[starts]] = np.add.reduceat(rows[order], starts, axis=0)


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, (int, slice)) for p in parts)


# -- public functions -------------------------------------------------------------


def _shape_arg(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(a: Any, *shape: int | Sequence[int]) -> Tensor:
    """Same values in a new shape (one dimension may be -1).

    >>> import chainrule as cr
    >>> cr.reshape(cr.Tensor([1.0, 2.0, 3.0, 4.0]), (2, 2)).shape
    (2, 2)
    """
    a = as_tensor(a)
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    try:
        return Reshape.apply(a, shape=shape)
    except ValueError as e:
        raise ValueError(
            f"reshape: cannot reshape shape {a.shape} ({a.numel()} elements) into {shape}; "
            "expected a shape with the same number of elements"
        ) from e


def permute(a: Any, *axes: int | Sequence[int]) -> Tensor:
    """Reorder the axes (``axes`` is a permutation of ``range(ndim)``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.permute(cr.Tensor(np.zeros((2, 3, 4))), 2, 0, 1).shape
    (4, 2, 3)
    """
    a = as_tensor(a)
    axes = _shape_arg(axes)
    if sorted(ax % max(a.ndim, 1) for ax in axes) != list(range(a.ndim)):
        raise ValueError(
            f"permute: axes {axes} are not a permutation of the {a.ndim} axes of shape {a.shape}"
        )
    return Permute.apply(a, axes=tuple(ax % a.ndim for ax in axes))


def transpose(a: Any, axis0: int = -2, axis1: int = -1, *, dim0: int | None = None, dim1: int | None = None) -> Tensor:
    """Swap two axes (``dim0``, ``dim1`` in PyTorch's words; the last two by default; a 1-D
    tensor is returned as is).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.transpose(cr.Tensor(np.zeros((2, 3)))).shape
    (3, 2)
    """
    a = as_tensor(a)
    axis0, _ = dims("transpose", None if dim0 is not None else axis0, dim0)
    axis1, _ = dims("transpose", None if dim1 is not None else axis1, dim1)
    if a.ndim < 2:
        return a
    axes = list(range(a.ndim))
    i, j = normalize_axes("transpose", axis0, a.ndim)[0], normalize_axes("transpose", axis1, a.ndim)[0]
    axes[i], axes[j] = axes[j], axes[i]
    return Permute.apply(a, axes=tuple(axes))


def t(input: Any) -> Tensor:  # noqa: A002 - PyTorch's name
    """PyTorch's ``t``: a matrix transposed; a 0-d or 1-d tensor as it is; more dims are refused.

    >>> import chainrule as cr
    >>> cr.ones(2, 3).t().shape, cr.ones(3).t().shape
    ((3, 2), (3,))
    """
    a = as_tensor(input)
    if a.ndim > 2:
        raise ValueError(f"t: expected a tensor of at most 2 dimensions, got shape {a.shape}; "
                         "use transpose(dim0, dim1) or .mT for batches of matrices")  # fmt: skip
    return transpose(a, 0, 1) if a.ndim == 2 else a


def expand(a: Any, *shape: int | Sequence[int]) -> Tensor:
    """Broadcast to ``shape`` without copying (NumPy broadcasting rules).

    >>> import chainrule as cr
    >>> cr.expand(cr.Tensor([[1.0], [2.0]]), (2, 3)).shape
    (2, 3)
    """
    a = as_tensor(a)
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    try:
        return Expand.apply(a, shape=shape)
    except ValueError as e:
        raise ValueError(
            f"expand: cannot broadcast shape {a.shape} to {shape}; expected each dimension to "
            "equal the target's or be 1"
        ) from e


def squeeze(a: Any, dim: int | tuple[int, ...] | None = None, *, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """Drop size-1 axes: all of them, or those in ``dim`` (PyTorch: a dim whose size is not 1 is
    left as it is) or in ``axis=`` (NumPy: such an axis is an error).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.squeeze(cr.Tensor(np.zeros((1, 3, 1)))).shape
    (3,)
    >>> cr.Tensor(np.zeros((1, 3))).squeeze(1).shape
    (1, 3)
    """
    a = as_tensor(a)
    if dim is not None:
        if axis is not None:
            raise TypeError(f"squeeze: got both axis={axis!r} and dim={dim!r}; expected one of them (they are the same argument)")
        axes = tuple(ax for ax in normalize_axes("squeeze", dim, a.ndim) if a.shape[ax] == 1)
    elif axis is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    else:
        axes = normalize_axes("squeeze", axis, a.ndim)
        bad = [ax for ax in axes if a.shape[ax] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {a.shape} has size {a.shape[bad[0]]}; expected 1")
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))


def unsqueeze(a: Any, axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Insert a size-1 axis at ``axis`` (or ``dim``).

    >>> import chainrule as cr
    >>> cr.unsqueeze(cr.Tensor([1.0, 2.0]), 0).shape
    (1, 2)
    """
    a = as_tensor(a)
    axis, _ = dims("unsqueeze", axis, dim)
    if axis is None:
        raise TypeError("unsqueeze: missing the dim; expected unsqueeze(dim)")
    ax = one_axis("unsqueeze", axis, a.ndim + 1)
    return reshape(a, a.shape[:ax] + (1,) + a.shape[ax:])


def flatten(a: Any, start_axis: int | None = None, end_axis: int = -1, *, start_dim: int | None = None,
            end_dim: int | None = None) -> Tensor:  # fmt: skip
    """Merge the axes from ``start_axis`` to ``end_axis`` (PyTorch: ``start_dim``, ``end_dim``)
    into one; ``start_axis=1`` keeps a batch axis.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.flatten(cr.Tensor(np.zeros((2, 3, 4))), 1).shape
    (2, 12)
    >>> cr.Tensor(np.zeros((2, 3, 4, 5))).flatten(start_dim=1, end_dim=2).shape
    (2, 12, 5)
    """
    a = as_tensor(a)
    start, _ = dims("flatten", start_axis, start_dim)
    end, _ = dims("flatten", None if end_dim is not None else end_axis, end_dim)
    if a.ndim == 0:
        return reshape(a, (1,))
    s0 = one_axis("flatten", 0 if start is None else start, a.ndim)
    s1 = one_axis("flatten", end, a.ndim)
    if s1 < s0:
        raise ValueError(f"flatten: start dim {start} comes after end dim {end} for shape {a.shape}; expected start <= end")
    return reshape(a, a.shape[:s0] + (-1,) + a.shape[s1 + 1 :])


def concatenate(tensors: Sequence[Any], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (``axis`` or ``dim``, 0 by default); ``cat`` too.

    >>> import chainrule as cr
    >>> cr.concatenate([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])]).shape
    (3,)
    """
    axis, _ = dims("concatenate", axis, dim)
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: got no tensors; expected at least one")
    (ax,) = normalize_axes("concatenate", 0 if axis is None else axis, ts[0].ndim)
    ref = ts[0].shape
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or any(n != m for j, (n, m) in enumerate(zip(t.shape, ref)) if j != ax):
            raise ValueError(
                f"concatenate: tensor {i} has shape {t.shape}, tensor 0 has {ref}; expected "
                f"equal shapes except along axis {ax}"
            )
    return Concatenate.apply(*ts, axis=ax)


def stack(tensors: Sequence[Any], axis: int | None = None, *, dim: int | None = None) -> Tensor:
    """Join equal-shaped tensors along a new axis (composed: unsqueeze, then concatenate).

    >>> import chainrule as cr
    >>> cr.stack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    axis, _ = dims("stack", axis, dim)
    axis = 0 if axis is None else axis
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack: got no tensors; expected at least one")
    for i, t in enumerate(ts):
        if t.shape != ts[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {ts[0].shape}; expected equal shapes")
    return concatenate([unsqueeze(t, axis) for t in ts], axis=axis)


def pad(a: Any, widths: Sequence[tuple[int, int]] | Sequence[int], value: float = 0.0) -> Tensor:
    """Pad with a constant: one ``(before, after)`` pair per axis, as ``numpy.pad``.

    >>> import chainrule as cr
    >>> cr.pad(cr.Tensor([1.0]), [(1, 2)]).numpy()
    array([0., 1., 0., 0.], dtype=float32)
    """
    a = as_tensor(a)
    w = [tuple(p) for p in widths] if widths and isinstance(widths[0], (tuple, list)) else None
    if w is None or len(w) != a.ndim or any(len(p) != 2 or min(p) < 0 for p in w):
        raise ValueError(
            f"pad: widths {widths!r} do not fit shape {a.shape}; expected {a.ndim} "
            "(before, after) pairs of non-negative ints"
        )
    return Pad.apply(a, widths=tuple(w), value=value)


def _index_data(index: Any, data: Any) -> Any:
    """Tensors inside an index become their arrays (they index; they get no gradient), and
    index arrays go where ``data`` is: a host index into GPU data is copied over once, here,
    instead of again by every use (the backward's scatter too)."""
    if isinstance(index, tuple):
        return tuple(_index_part(i, data) for i in index)
    if isinstance(index, list):
        index = array_module(0).asarray(index)
    return _index_part(index, data)


def _index_part(i: Any, data: Any) -> Any:
    if isinstance(i, Tensor):
        i = i.data
    if type(i) is not type(data) and is_array(i):
        i = devices.like(i, data)
    return i


def _torch_order(index: Any, ndim: int) -> tuple[Any, Any] | None:
    """PyTorch's reading of an index that mixes integers with index arrays: each integer
    selects (drops its axis) first, and the arrays then index what is left, so
    ``x[0, :, [1, 2]]`` on a (3, 4, 5) tensor is (4, 2) as in PyTorch, not NumPy's (2, 4)
    (NumPy counts the integer as one more array, and arrays apart from each other send their
    axes to the front). Returns the two indexes to apply one after the other, or None
    when NumPy's one step already gives PyTorch's result."""
    if not isinstance(index, tuple):
        return None
    ints = [isinstance(p, int) and not isinstance(p, bool) for p in index]
    arrays = [not i and p is not None and p is not Ellipsis and not isinstance(p, slice) for p, i in zip(index, ints)]
    if not any(ints) or not any(arrays):
        return None
    used = sum(getattr(p, "ndim", 1) if isinstance(p, bool) is False and getattr(getattr(p, "dtype", None), "kind", "") == "b"
               else 0 if p is None or p is Ellipsis else 1 for p in index)  # fmt: skip
    parts: list[Any] = []
    for p in index:  # spell out the Ellipsis, so each part names its axes
        if p is Ellipsis:
            parts.extend([slice(None)] * (ndim - used))
        else:
            parts.append(p)
    first = tuple(p if (isinstance(p, int) and not isinstance(p, bool)) or p is None else slice(None) for p in parts)
    then = tuple(slice(None) if p is None else p for p in parts if not (isinstance(p, int) and not isinstance(p, bool)))
    return first, then


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: basic slicing or integer/boolean array indexing, with PyTorch's result
    where they differ from NumPy's: an integer beside an index array selects first
    (``x[0, :, [1, 2]]`` is (4, 2) for a (3, 4, 5) ``x``, as in PyTorch; NumPy gives (2, 4)).

    The backward scatter-adds, so an entry picked twice gets both gradients.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0, 3.0])[[0, 0, 2]].numpy()
    array([1., 1., 3.], dtype=float32)
    >>> import numpy as np
    >>> cr.Tensor(np.zeros((3, 4, 5)))[0, :, [1, 2]].shape
    (4, 2)
    """
    a = as_tensor(a)
    try:
        index = _index_data(index, a.data)
        steps = _torch_order(index, a.ndim)
        if steps is not None:
            return GetItem.apply(GetItem.apply(a, index=steps[0]), index=steps[1])
        return GetItem.apply(a, index=index)
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit shape {a.shape}: {e}") from e


def _along(idx: Any, axis: int, ndim: int) -> tuple:
    """The integer index that picks ``idx`` along ``axis`` and the same position on every
    other axis: ``out[i, j] = a[i, idx[i, j]]`` for axis 1 (PyTorch's ``gather``)."""
    xp = array_module(idx)
    index = []
    for d in range(ndim):
        if d == axis:
            index.append(idx)
        else:
            shape = [1] * ndim
            shape[d] = idx.shape[d]
            index.append(xp.arange(idx.shape[d]).reshape(shape))
    return tuple(index)


def gather_along(a: Tensor, idx: Any, axis: int) -> Tensor:
    """``a``'s entries at ``idx`` along ``axis`` (an integer array of ``a``'s ndim, no larger
    than ``a`` on the other axes): indexing, so its backward scatter-adds.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> gather_along(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), np.array([[1], [0]]), 1).tolist()
    [[2.0], [3.0]]
    """
    return GetItem.apply(a, index=_along(idx, axis, a.ndim))

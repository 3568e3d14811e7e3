"""Gates that move values around without changing them: reshape, permute, expand,
concatenate, pad, indexing. Their backward moves the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import devices
from ..backend import array_module, is_array
from ..engine import Context, Function, Tensor, as_tensor, call
from .axes import normalize_axes
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
        return call(IndexAdd, grad_out, index=ctx.index, shape=ctx.in_shape)


class IndexAdd(Function):
    """Zeros of ``shape`` with ``g`` scatter-added at ``index``: the adjoint of indexing.

    Scatter-*add*, because an integer index may pick the same entry twice
    (``x[[0, 0]]``) and then both gradients belong to it.
    """

    @staticmethod
    def forward(ctx: Context, g: Any, *, index: Any, shape: tuple[int, ...]) -> Any:
        ctx.index = index
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
            f"reshape: cannot reshape shape {a.shape} ({a.size} elements) into {shape}; "
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


def transpose(a: Any, axis0: int = -2, axis1: int = -1) -> Tensor:
    """Swap two axes (the last two by default; a 1-D tensor is returned as is).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.transpose(cr.Tensor(np.zeros((2, 3)))).shape
    (3, 2)
    """
    a = as_tensor(a)
    if a.ndim < 2:
        return a
    axes = list(range(a.ndim))
    i, j = normalize_axes("transpose", axis0, a.ndim)[0], normalize_axes("transpose", axis1, a.ndim)[0]
    axes[i], axes[j] = axes[j], axes[i]
    return Permute.apply(a, axes=tuple(axes))


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


def squeeze(a: Any, axis: int | tuple[int, ...] | None = None) -> Tensor:
    """Drop size-1 axes (all of them, or those in ``axis``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.squeeze(cr.Tensor(np.zeros((1, 3, 1)))).shape
    (3,)
    """
    a = as_tensor(a)
    if axis is None:
        axes = tuple(i for i, n in enumerate(a.shape) if n == 1)
    else:
        axes = normalize_axes("squeeze", axis, a.ndim)
        bad = [ax for ax in axes if a.shape[ax] != 1]
        if bad:
            raise ValueError(f"squeeze: axis {bad[0]} of shape {a.shape} has size {a.shape[bad[0]]}; expected 1")
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if i not in axes))


def unsqueeze(a: Any, axis: int) -> Tensor:
    """Insert a size-1 axis at ``axis``.

    >>> import chainrule as cr
    >>> cr.unsqueeze(cr.Tensor([1.0, 2.0]), 0).shape
    (1, 2)
    """
    a = as_tensor(a)
    (ax,) = normalize_axes("unsqueeze", axis, a.ndim + 1)
    return reshape(a, a.shape[:ax] + (1,) + a.shape[ax:])


def flatten(a: Any, start_axis: int = 0) -> Tensor:
    """Merge the axes from ``start_axis`` on into one (``start_axis=1`` keeps a batch axis).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.flatten(cr.Tensor(np.zeros((2, 3, 4))), 1).shape
    (2, 12)
    """
    a = as_tensor(a)
    if a.ndim == 0:
        return reshape(a, (1,))
    (ax,) = normalize_axes("flatten", start_axis, a.ndim)
    return reshape(a, a.shape[:ax] + (-1,))


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis.

    >>> import chainrule as cr
    >>> cr.concatenate([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])]).shape
    (3,)
    """
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate: got no tensors; expected at least one")
    (ax,) = normalize_axes("concatenate", axis, ts[0].ndim)
    ref = ts[0].shape
    for i, t in enumerate(ts):
        if t.ndim != len(ref) or any(n != m for j, (n, m) in enumerate(zip(t.shape, ref)) if j != ax):
            raise ValueError(
                f"concatenate: tensor {i} has shape {t.shape}, tensor 0 has {ref}; expected "
                f"equal shapes except along axis {ax}"
            )
    return Concatenate.apply(*ts, axis=ax)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new axis (composed: unsqueeze, then concatenate).

    >>> import chainrule as cr
    >>> cr.stack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
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


def getitem(a: Any, index: Any) -> Tensor:
    """``a[index]``: basic slicing or integer/boolean array indexing.

    The backward scatter-adds, so an entry picked twice gets both gradients.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0, 3.0])[[0, 0, 2]].numpy()
    array([1., 1., 3.], dtype=float32)
    """
    a = as_tensor(a)
    try:
        return GetItem.apply(a, index=_index_data(index, a.data))
    except IndexError as e:
        raise IndexError(f"getitem: index {index!r} does not fit shape {a.shape}: {e}") from e

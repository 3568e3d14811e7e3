"""Gates that move values around without changing them: reshape, permute, expand,
concatenate, pad, indexing. Their backward moves the gradient back the same way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import devices
from ..backend import array_module, is_array
from ..engine import Context, Function, Tensor, as_tensor, call
from .axes import dims, normalize_axes, one_axis
from .broadcast import sum_to
from .elementwise import Where


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
    >>> gather_along(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), np.array([[1], [0]]), 1).tolist()
    [[2.0], [3.0]]
    """
    return GetItem.apply(a, index=_along(idx, axis, a.ndim))


# -- PyTorch's movement ops -------------------------------------------------------
# One gate more (Copy, for clone); the rest is composed of the gates above, so it needs no
# backward of its own. Index arrays that depend only on shapes (a diagonal's positions, pad's
# reflections) are built on the host and sent where the data is, once. Where PyTorch returns a
# copy (flip, roll, repeat, tril, ...) so does chainrule, so an in-place write into the result
# cannot reach the input.


class Copy(Function):
    """The same values in new memory (``clone``); the gradient passes through unchanged."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return a.copy()

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return grad_out


def _on(idx: np.ndarray, data: Any) -> Any:
    """A host index array (made from shapes alone) where ``data`` is."""
    return devices.like(idx, data)


def _at(d: int, idx: Any) -> tuple:
    """The index that picks ``idx`` along dim ``d`` and everything on the dims before it."""
    return (slice(None),) * d + (idx,)


def _ints(op: str, what: str, values: Any) -> tuple[int, ...]:
    """``values`` (an int or a sequence of ints) as a tuple, or a TypeError naming ``op``."""
    if isinstance(values, Tensor):
        values = values.tolist()
    seq = (values,) if isinstance(values, (int, np.integer)) else tuple(values) if isinstance(values, (tuple, list)) else None
    if seq is None or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in seq):
        raise TypeError(f"{op}: {what} {values!r} is not an int or a sequence of ints")
    return tuple(int(v) for v in seq)


def _one_of(op: str, torch_value: Any, numpy_value: Any) -> Any:
    """PyTorch's argument or NumPy's spelling of it (both given: an error)."""
    return dims(op, numpy_value, torch_value)[0] if torch_value is not None or numpy_value is not None else None


def view(a: Any, *shape: int | Sequence[int]) -> Tensor:
    """PyTorch's name for ``reshape`` (chainrule keeps no strides, so every tensor can be viewed).

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0, 3.0, 4.0]).view(2, -1).shape
    (2, 2)
    """
    return reshape(a, *shape)


def view_as(a: Any, other: Any) -> Tensor:
    """``a`` in ``other``'s shape.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0]).view_as(cr.Tensor([[0.0], [0.0]])).shape
    (2, 1)
    """
    return reshape(a, as_tensor(other).shape)


def expand_as(a: Any, other: Any) -> Tensor:
    """``a`` broadcast to ``other``'s shape.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0]).expand_as(cr.Tensor([0.0, 0.0, 0.0])).tolist()
    [1.0, 1.0, 1.0]
    """
    return expand(a, as_tensor(other).shape)


def clone(a: Any, *, memory_format: Any = None) -> Tensor:
    """A copy in new memory; the gradient passes through (``memory_format`` is accepted, unused).

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0])
    >>> y = x.clone()
    >>> y.data is x.data, y.tolist()
    (False, [1.0, 2.0])
    """
    return Copy.apply(as_tensor(a))


def contiguous(a: Any, *, memory_format: Any = None) -> Tensor:
    """``a`` itself when its array is C-contiguous, else a copy that is (``clone``).

    >>> import chainrule as cr
    >>> x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.contiguous() is x, x.T.contiguous().data.flags.c_contiguous
    (True, True)
    """
    a = as_tensor(a)
    flags = getattr(a.data, "flags", None)
    return a if flags is None or flags.c_contiguous else clone(a)


def flip(a: Any, dims: int | Sequence[int] | None = None, *, axis: int | Sequence[int] | None = None) -> Tensor:
    """Reverse the order along ``dims`` (NumPy: ``axis``); a copy, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).flip(1).tolist()
    [[2.0, 1.0], [4.0, 3.0]]
    """
    a = as_tensor(a)
    which = _one_of("flip", dims, axis)
    if which is None:
        raise TypeError("flip: missing dims; expected flip(dims), e.g. flip((0,))")
    axes = normalize_axes("flip", which, a.ndim)
    if a.ndim == 0:
        return clone(a)
    index = tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(a.ndim))
    return clone(GetItem.apply(a, index=index))


def roll(a: Any, shifts: int | Sequence[int], dims: int | Sequence[int] | None = None, *,
         axis: int | Sequence[int] | None = None) -> Tensor:  # fmt: skip
    """Shift the entries along ``dims`` by ``shifts``, wrapping around (composed: two slices
    joined per dim); ``dims=None`` rolls the flattened tensor and restores the shape.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0, 3.0, 4.0]).roll(1).tolist()
    [4.0, 1.0, 2.0, 3.0]
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).roll((1, -1), (0, 1)).tolist()
    [[4.0, 3.0], [2.0, 1.0]]
    """
    a = as_tensor(a)
    which = _one_of("roll", dims, axis)
    steps = _ints("roll", "shifts", shifts)
    if which is None:
        if len(steps) != 1:
            raise ValueError(f"roll: shifts {shifts!r} without dims; expected one shift for the flattened tensor")
        return reshape(roll(reshape(a, -1), steps, 0), a.shape)
    if a.ndim == 0:
        raise IndexError(f"roll: dims {which!r} given for a 0-d tensor; expected dims=None")
    axes = _ints("roll", "dims", which)
    if len(axes) != len(steps):
        raise ValueError(f"roll: shifts {shifts!r} and dims {which!r} have different lengths; expected one shift per dim")
    out = a
    for shift, d in zip(steps, axes):
        d = one_axis("roll", d, a.ndim)
        n = a.shape[d]
        s = shift % n if n else 0
        if s:
            out = Concatenate.apply(GetItem.apply(out, index=_at(d, slice(n - s, None))),
                                    GetItem.apply(out, index=_at(d, slice(0, n - s))), axis=d)  # fmt: skip
    return clone(out) if out is a else out


def repeat(a: Any, *sizes: int | Sequence[int]) -> Tensor:
    """PyTorch's ``repeat``: tile ``a`` ``sizes[i]`` times along dim ``i``; more sizes than
    dims add leading dims (composed: expand a size-1 dim in front of each, then merge).

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0]).repeat(2, 2).tolist()
    [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    a = as_tensor(a)
    reps = _ints("repeat", "sizes", _shape_arg(sizes))
    if len(reps) < a.ndim:
        raise ValueError(f"repeat: {len(reps)} sizes {reps} for a tensor of shape {a.shape}; expected at least "
                         f"{a.ndim} (one per dim; more add leading dims)")
    if min(reps, default=0) < 0:
        raise ValueError(f"repeat: sizes {reps} include a negative one; expected sizes >= 0")
    shape = (1,) * (len(reps) - a.ndim) + a.shape
    paired = tuple(x for n in shape for x in (1, n))  # (1, n0, 1, n1, ...)
    tiled = tuple(x for r, n in zip(reps, shape) for x in (r, n))  # (r0, n0, r1, n1, ...)
    out = reshape(expand(reshape(a, paired), tiled), tuple(r * n for r, n in zip(reps, shape)))
    return clone(out) if all(r == 1 for r in reps) else out


def tile(a: Any, dims: Sequence[int] | int) -> Tensor:
    """``repeat`` with ``dims`` padded with leading 1s to the tensor's dims (PyTorch's tile).

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0]]).tile((2,)).tolist()
    [[1.0, 2.0, 1.0, 2.0]]
    """
    a = as_tensor(a)
    reps = _ints("tile", "dims", dims)
    return repeat(a, (1,) * (a.ndim - len(reps)) + reps)


def repeat_interleave(a: Any, repeats: Any, dim: int | None = None, *, axis: int | None = None,
                      output_size: int | None = None) -> Tensor:  # fmt: skip
    """Repeat each entry along ``dim`` (None: of the flattened tensor) ``repeats`` times: an int,
    or one count per entry (a 1-D tensor; reading it is one wait on a GPU, as in PyTorch).

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0]).repeat_interleave(2).tolist()
    [1.0, 1.0, 2.0, 2.0]
    >>> cr.Tensor([[1.0, 2.0]]).repeat_interleave(cr.Tensor([1, 2]), dim=1).tolist()
    [[1.0, 2.0, 2.0]]
    """
    a = as_tensor(a)
    which = _one_of("repeat_interleave", dim, axis)
    if which is None:
        a, d = reshape(a, -1), 0
    else:
        d = one_axis("repeat_interleave", which, a.ndim)
        if a.ndim == 0:
            a = reshape(a, 1)
    n = a.shape[d]
    counts = repeats.data if isinstance(repeats, Tensor) else repeats
    if not isinstance(counts, (int, np.integer)):
        # the one read (.tolist(): a compiled step refuses it, as the output's shape depends on it)
        counts = np.asarray(counts.tolist(), dtype=counts.dtype) if is_array(counts) else np.asarray(counts)
        if counts.dtype.kind not in "iu" or counts.ndim > 1 or counts.size not in (1, n):
            raise ValueError(f"repeat_interleave: repeats of shape {counts.shape} ({counts.dtype}) for dim {d} "
                             f"of size {n}; expected an int or a 1-D integer tensor of 1 or {n} counts")
        if counts.size == 1:
            counts = int(counts.reshape(()))
    if isinstance(counts, (int, np.integer)):
        if counts < 0:
            raise ValueError(f"repeat_interleave: repeats {int(counts)} is negative; expected counts >= 0")
        inner = a.shape[:d + 1] + (1,) + a.shape[d + 1:]
        return reshape(expand(reshape(a, inner), inner[:d + 1] + (int(counts),) + inner[d + 2:]),
                       a.shape[:d] + (n * int(counts),) + a.shape[d + 1:])  # fmt: skip
    if counts.min() < 0:
        raise ValueError(f"repeat_interleave: repeats include {int(counts.min())}; expected counts >= 0")
    return GetItem.apply(a, index=_at(d, _on(np.repeat(np.arange(n), counts), a.data)))


def unflatten(a: Any, dim: int | None = None, sizes: Sequence[int] | None = None, *, axis: int | None = None) -> Tensor:
    """Split dim ``dim`` into ``sizes`` (one of them may be -1), the inverse of ``flatten``.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.Tensor(np.zeros((2, 6))).unflatten(1, (3, -1)).shape
    (2, 3, 2)
    """
    a = as_tensor(a)
    which = _one_of("unflatten", dim, axis)
    if which is None or sizes is None:
        raise TypeError("unflatten: expected unflatten(dim, sizes)")
    d = one_axis("unflatten", which, a.ndim)
    parts = _ints("unflatten", "sizes", sizes)
    n = a.shape[d] if a.ndim else 1
    known = int(np.prod([s for s in parts if s != -1]))
    if -1 in parts:
        bad = parts.count(-1) > 1 or known == 0 or n % known != 0
    else:
        bad = not parts or known != n
    if bad:
        raise ValueError(f"unflatten: sizes {parts} do not multiply to the size {n} of dim {d} of shape {a.shape}; "
                         "expected sizes whose product is that size (one may be -1)")
    return reshape(a, a.shape[:d] + parts + a.shape[d + 1:])


def movedim(a: Any, source: int | Sequence[int], destination: int | Sequence[int]) -> Tensor:
    """Move the dims at ``source`` to the positions ``destination`` (ints or tuples of ints);
    the others keep their order (``moveaxis`` too).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.Tensor(np.zeros((2, 3, 4))).movedim(0, -1).shape
    (3, 4, 2)
    """
    a = as_tensor(a)
    src, dst = _ints("movedim", "source", source), _ints("movedim", "destination", destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source!r} and destination {destination!r} have different lengths; "
                         "expected one destination per source dim")
    src = tuple(one_axis("movedim", s, a.ndim) for s in src)
    dst = tuple(one_axis("movedim", s, a.ndim) for s in dst)
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated dim in source {source!r} or destination {destination!r}")
    rest = iter(d for d in range(a.ndim) if d not in src)
    placed = dict(zip(dst, src))
    order = tuple(placed[i] if i in placed else next(rest) for i in range(a.ndim))
    return a if order == tuple(range(a.ndim)) else Permute.apply(a, axes=order)


moveaxis = movedim


def narrow(a: Any, dim: int, start: int, length: int) -> Tensor:
    """``length`` entries along ``dim`` from ``start`` (negative: counted from the end); a view.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0, 3.0, 4.0]).narrow(0, 1, 2).tolist()
    [2.0, 3.0]
    """
    a = as_tensor(a)
    if a.ndim == 0:
        raise ValueError("narrow: cannot narrow a 0-d tensor; expected at least 1 dim")
    d = one_axis("narrow", dim, a.ndim)
    n = a.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n or length < 0 or start % max(n, 1) + length > n:
        raise ValueError(f"narrow: start {start} and length {length} do not fit dim {d} of size {n} (shape {a.shape}); "
                         f"expected -{n} <= start <= {n}, length >= 0 and start + length <= {n}")
    start = start + n if start < 0 else start
    return GetItem.apply(a, index=_at(d, slice(start, start + length)))


def diagonal(a: Any, offset: int = 0, dim1: int | None = None, dim2: int | None = None, *,
             axis1: int | None = None, axis2: int | None = None) -> Tensor:  # fmt: skip
    """The diagonal of the (``dim1``, ``dim2``) planes (NumPy: ``axis1``, ``axis2``; 0 and 1 by
    default), ``offset`` above (> 0) or below (< 0) the main one, as a new last dim.

    A copy (PyTorch returns a view: a write into the result does not reach ``a`` here).

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal().tolist()
    [1.0, 4.0]
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).diagonal(1).tolist()
    [2.0]
    """
    a = as_tensor(a)
    d1 = _one_of("diagonal", dim1, axis1)
    d2 = _one_of("diagonal", dim2, axis2)
    if a.ndim < 2:
        raise ValueError(f"diagonal: got shape {a.shape}; expected a tensor with at least 2 dims")
    d1 = one_axis("diagonal", 0 if d1 is None else d1, a.ndim)
    d2 = one_axis("diagonal", 1 if d2 is None else d2, a.ndim)
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 are both {d1}; expected two different dims")
    order = tuple(d for d in range(a.ndim) if d not in (d1, d2)) + (d1, d2)
    if order != tuple(range(a.ndim)):
        a = Permute.apply(a, axes=order)
    rows, cols = a.shape[-2] - max(-offset, 0), a.shape[-1] - max(offset, 0)
    steps = np.arange(max(min(rows, cols), 0))
    index = (Ellipsis, _on(steps + max(-offset, 0), a.data), _on(steps + max(offset, 0), a.data))
    return GetItem.apply(a, index=index)


_diagonal = diagonal  # diag's argument takes the name


def diag(a: Any, diagonal: int = 0) -> Tensor:
    """A 1-D tensor's entries on a diagonal of a square matrix (zeros elsewhere), or a 2-D
    tensor's ``diagonal`` (``diagonal`` > 0: above the main one; < 0: below).

    >>> import chainrule as cr
    >>> cr.ops.shape.diag(cr.Tensor([1.0, 2.0])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).diag(-1).tolist()
    [3.0]
    """
    a = as_tensor(a)
    k = int(diagonal)
    if a.ndim == 2:
        return _diagonal(a, k)
    if a.ndim != 1:
        raise ValueError(f"diag: got shape {a.shape}; expected a 1-D or 2-D tensor")
    n, m = a.shape[0], a.shape[0] + abs(k)
    steps = np.arange(n)
    index = (_on(steps + max(-k, 0), a.data), _on(steps + max(k, 0), a.data))
    return IndexAdd.apply(a, index=index, shape=(m, m))  # the adjoint of picking the diagonal


def _triangle(op: str, a: Any, k: int, lower: bool) -> Tensor:
    a = as_tensor(a)
    if a.ndim < 2:
        raise ValueError(f"{op}: got shape {a.shape}; expected a tensor with at least 2 dims")
    rows, cols = a.shape[-2:]
    below = np.arange(cols)[None, :] - np.arange(rows)[:, None] <= k  # j - i <= k: on or below diagonal k
    keep = below if lower else np.arange(cols)[None, :] - np.arange(rows)[:, None] >= k
    zero = False if a.dtype.kind == "b" else 0 if a.dtype.kind in "iu" else 0.0  # Python numbers keep a's dtype
    return Where.apply(_on(keep, a.data), a, zero)


def tril(a: Any, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (entries on or below ``diagonal``), zeros above.

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).tril().tolist()
    [[1.0, 0.0], [3.0, 4.0]]
    """
    return _triangle("tril", a, int(diagonal), lower=True)


def triu(a: Any, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (entries on or above ``diagonal``), zeros below.

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).triu(1).tolist()
    [[0.0, 2.0], [0.0, 0.0]]
    """
    return _triangle("triu", a, int(diagonal), lower=False)


def split(a: Any, split_size_or_sections: int | Sequence[int], dim: int | None = None, *,
          axis: int | None = None) -> tuple[Tensor, ...]:  # fmt: skip
    """Pieces along ``dim`` (0 by default): of ``split_size_or_sections`` entries each (an int;
    the last piece may be smaller), or of the sizes listed. Each piece is a view.

    >>> import chainrule as cr
    >>> [t.tolist() for t in cr.Tensor([1.0, 2.0, 3.0]).split(2)]
    [[1.0, 2.0], [3.0]]
    >>> [t.tolist() for t in cr.Tensor([1.0, 2.0, 3.0]).split([1, 2])]
    [[1.0], [2.0, 3.0]]
    """
    a = as_tensor(a)
    which = _one_of("split", dim, axis)
    if a.ndim == 0:
        raise ValueError("split: cannot split a 0-d tensor; expected at least 1 dim")
    d = one_axis("split", 0 if which is None else which, a.ndim)
    n = a.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)) and not isinstance(split_size_or_sections, bool):
        size = int(split_size_or_sections)
        if size < 0 or (size == 0 and n):
            raise ValueError(f"split: split_size {size} for dim {d} of size {n}; expected a size > 0")
        sizes = [min(size, n - s) for s in range(0, n, size)] if n else [0]
    else:
        sizes = list(_ints("split", "sections", split_size_or_sections))
        if sum(sizes) != n or min(sizes, default=0) < 0:
            raise ValueError(f"split: sections {sizes} for dim {d} of size {n} (shape {a.shape}); expected "
                             f"non-negative sizes that sum to {n}")
    starts = np.cumsum([0, *sizes]).tolist()
    return tuple(GetItem.apply(a, index=_at(d, slice(s, s + k))) for s, k in zip(starts, sizes))


def chunk(a: Any, chunks: int, dim: int | None = None, *, axis: int | None = None) -> tuple[Tensor, ...]:
    """``chunks`` pieces along ``dim`` as PyTorch cuts them: each ``ceil(n / chunks)`` long, the
    last smaller, and fewer pieces when that size covers the dim sooner (6 into 4: 2, 2, 2).

    >>> import chainrule as cr
    >>> [t.shape for t in cr.Tensor([1.0] * 7).chunk(3)]
    [(3,), (3,), (1,)]
    """
    a = as_tensor(a)
    which = _one_of("chunk", dim, axis)
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise ValueError(f"chunk: chunks={chunks!r}; expected an int > 0")
    if a.ndim == 0:
        raise ValueError("chunk: cannot chunk a 0-d tensor; expected at least 1 dim")
    d = one_axis("chunk", 0 if which is None else which, a.ndim)
    n = a.shape[d]
    if n == 0:  # PyTorch: ``chunks`` empty pieces
        return tuple(GetItem.apply(a, index=_at(d, slice(0, 0))) for _ in range(int(chunks)))
    return split(a, -(-n // int(chunks)), d)


def unbind(a: Any, dim: int | None = None, *, axis: int | None = None) -> tuple[Tensor, ...]:
    """The slices along ``dim`` (0 by default), that dim removed.

    >>> import chainrule as cr
    >>> [t.tolist() for t in cr.Tensor([[1.0, 2.0], [3.0, 4.0]]).unbind(1)]
    [[1.0, 3.0], [2.0, 4.0]]
    """
    a = as_tensor(a)
    which = _one_of("unbind", dim, axis)
    if a.ndim == 0:
        raise IndexError("unbind: cannot unbind a 0-d tensor; expected at least 1 dim")
    d = one_axis("unbind", 0 if which is None else which, a.ndim)
    # the Ellipsis keeps a 1-D tensor's pieces 0-d arrays (NumPy's scalars would leave the device)
    return tuple(GetItem.apply(a, index=(*_at(d, i), Ellipsis)) for i in range(a.shape[d]))


cat = concatenate
concat = concatenate


def _at_least(a: Tensor, ndim: int) -> Tensor:
    """PyTorch's atleast_1d/2d/3d: (n,) becomes (1, n) and then (1, n, 1); (m, n) becomes (m, n, 1)."""
    if a.ndim >= ndim:
        return a
    shape = {0: (1, 1, 1), 1: (1, *a.shape, 1), 2: (*a.shape, 1)}[a.ndim]
    return reshape(a, shape[:ndim] if a.ndim < 2 else shape)


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 1 (dim 0 for 1-D tensors); 0-d tensors count as 1-D.

    >>> import chainrule as cr
    >>> cr.ops.shape.hstack([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    ts = [_at_least(as_tensor(t), 1) for t in tensors]
    return concatenate(ts, 0 if ts and ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 0, a 1-D tensor of n entries counting as a (1, n) row.

    >>> import chainrule as cr
    >>> cr.ops.shape.vstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    return concatenate([_at_least(as_tensor(t), 2) for t in tensors], 0)


def dstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 2, after making each tensor 3-D: (n,) is (1, n, 1), (m, n) is (m, n, 1).

    >>> import chainrule as cr
    >>> cr.ops.shape.dstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (1, 2, 2)
    """
    return concatenate([_at_least(as_tensor(t), 3) for t in tensors], 2)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _source(mode: str, j: np.ndarray, n: int) -> np.ndarray:
    """Where each output position ``j`` (-left .. n + right - 1) reads from along a dim of size n."""
    if mode == "reflect":  # mirror at both ends, the edge entry not repeated: |pad| < n makes one bounce enough
        j = np.abs(j)
        return np.where(j >= n, 2 * (n - 1) - j, j)
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return j % n  # circular


def pad_sides(input: Any, pad: Sequence[int], mode: str = "constant", value: float | None = None) -> Tensor:
    """PyTorch's ``F.pad``: ``pad`` is ``(left, right)`` pairs from the LAST dim backwards
    (``(1, 2)`` pads the last dim, ``(1, 2, 0, 3)`` the last two). ``mode``: "constant" (with
    ``value``, 0 by default; negative widths crop), "reflect" (mirror, widths < the dim's
    size), "replicate" (repeat the edge), "circular" (wrap, widths <= the size). The other
    modes pad the last 1, 2 or 3 dims of a tensor with 1 or 2 more dims, as PyTorch's.

    The non-constant modes are indexing with an index array made from the shape, so their
    backward scatter-adds: an entry read by several positions gets all their gradients.

    >>> import chainrule as cr
    >>> cr.ops.shape.pad_sides(cr.Tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    >>> cr.ops.shape.pad_sides(cr.Tensor([[1.0, 2.0, 3.0]]), (-1, 1), value=9.0).tolist()
    [[2.0, 3.0, 9.0]]
    """
    a = as_tensor(input)
    widths = _ints("pad_sides", "pad", pad)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad_sides: mode {mode!r}; expected one of {', '.join(_PAD_MODES)}")
    if len(widths) % 2 or len(widths) > 2 * a.ndim:
        raise ValueError(f"pad_sides: pad {widths} for shape {a.shape}; expected (left, right) pairs, at most "
                         f"one pair per dim ({2 * a.ndim} numbers)")
    pairs = [(a.ndim - 1 - i, widths[2 * i], widths[2 * i + 1]) for i in range(len(widths) // 2)]  # (dim, left, right)
    for d, left, right in pairs:
        n = a.shape[d]
        if n + left + right < 0:
            raise ValueError(f"pad_sides: pad ({left}, {right}) on dim {d} of size {n} (shape {a.shape}) leaves "
                             f"{n + left + right} entries; expected a size >= 0")
    if mode == "constant":
        crop = tuple(slice(-min(lo, 0), a.shape[d] + min(hi, 0)) for d, lo, hi in sorted(pairs))
        if any(min(lo, hi) < 0 for _, lo, hi in pairs):
            a = GetItem.apply(a, index=(slice(None),) * (a.ndim - len(pairs)) + crop)
        grow = [(0, 0)] * (a.ndim - len(pairs)) + [(max(lo, 0), max(hi, 0)) for _, lo, hi in sorted(pairs)]
        if not any(lo or hi for lo, hi in grow):
            return a
        return Pad.apply(a, widths=tuple(grow), value=0 if value is None else value)
    if value is not None:
        raise ValueError(f"pad_sides: mode {mode!r} takes no value (got {value!r}); expected value=None")
    if not 1 <= len(pairs) <= 3 or a.ndim not in (len(pairs) + 1, len(pairs) + 2):
        raise NotImplementedError(f"pad_sides: mode {mode!r} with {len(widths)} pad numbers for a {a.ndim}-d tensor; "
                                  f"expected {len(pairs) + 1} or {len(pairs) + 2} dims (PyTorch's: pad the last 1, 2 "
                                  "or 3 dims, after one or two batch dims)")
    for d, left, right in pairs:
        n = a.shape[d]
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if limit is not None and max(left, right) > limit:
            raise ValueError(f"pad_sides: {mode} pad ({left}, {right}) on dim {d} of size {n} (shape {a.shape}); "
                             f"expected widths {'<' if mode == 'reflect' else '<='} {n}")
    for d, left, right in pairs:
        n = a.shape[d]
        if left or right:
            j = _source(mode, np.arange(-left, n + right), n)
            a = GetItem.apply(a, index=_at(d, _on(j, a.data)))
    return a


# Tensor methods (grep "Tensor.<name> =")
Tensor.view = view
Tensor.view_as = view_as
Tensor.expand_as = expand_as
Tensor.clone = clone
Tensor.contiguous = contiguous
Tensor.flip = flip
Tensor.roll = roll
Tensor.repeat = repeat
Tensor.tile = tile
Tensor.repeat_interleave = repeat_interleave
Tensor.unflatten = unflatten
Tensor.movedim = movedim
Tensor.moveaxis = moveaxis
Tensor.narrow = narrow
Tensor.diagonal = diagonal
Tensor.diag = diag
Tensor.tril = tril
Tensor.triu = triu
Tensor.split = split
Tensor.chunk = chunk
Tensor.unbind = unbind

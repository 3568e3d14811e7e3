"""PyTorch's movement ops: views, copies, flips, rolls, repeats, splits, diagonals, triangles,
and PyTorch's ``pad`` with its modes.

One gate (Copy, for clone); the rest is composed of the shape gates (``shape.py``), so it needs
no backward of its own. Index arrays that depend only on shapes (a diagonal's positions, pad's
reflections) are built on the host and sent where the data is, once. Where PyTorch returns a
copy (flip, roll, repeat, tril, ...) so does chainrule, so an in-place write into the result
cannot reach the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import devices
from ..autograd.function import Context, Function
from ..autograd.tensor import Tensor, as_tensor
from ..backend import is_array
from .axes import dims, normalize_axes, one_axis
from .elementwise import Where
from .shape import (
    Concatenate,
    GetItem,
    IndexAdd,
    Pad,
    Permute,
    _shape_arg,
    concatenate,
    expand,
    reshape,
)


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
    >>> cr.diag(cr.Tensor([1.0, 2.0])).tolist()
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
    >>> cr.hstack([cr.Tensor([1.0]), cr.Tensor([2.0, 3.0])]).tolist()
    [1.0, 2.0, 3.0]
    """
    ts = [_at_least(as_tensor(t), 1) for t in tensors]
    return concatenate(ts, 0 if ts and ts[0].ndim == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 0, a 1-D tensor of n entries counting as a (1, n) row.

    >>> import chainrule as cr
    >>> cr.vstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
    (2, 2)
    """
    return concatenate([_at_least(as_tensor(t), 2) for t in tensors], 0)


def dstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 2, after making each tensor 3-D: (n,) is (1, n, 1), (m, n) is (m, n, 1).

    >>> import chainrule as cr
    >>> cr.dstack([cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])]).shape
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
    >>> cr.ops.movement.pad_sides(cr.Tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect").tolist()
    [[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]
    >>> cr.ops.movement.pad_sides(cr.Tensor([[1.0, 2.0, 3.0]]), (-1, 1), value=9.0).tolist()
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

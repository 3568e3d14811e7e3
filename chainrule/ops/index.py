"""Gathering and scattering along a dim (PyTorch's gather/scatter family), masks, one_hot.

Reading at an index is indexing (``GetItem``), whose backward scatter-adds, so an entry
read twice gets both gradients; adding at an index is its adjoint ``IndexAdd``. Three
gates of their own, for what those two cannot say:

- ``Scatter``: write ``src`` over ``input`` at ``index`` (the old values there are lost, so
  their gradient is 0; ``src`` gets the upstream gradient read back at ``index``);
- ``ScatterExtreme``: amax/amin of the values sent to each position (ties split the
  gradient evenly, as PyTorch's);
- ``ScatterProd``: their product (the gradient of a product with a zero in it, without
  dividing by that zero, as PyTorch's).

Every index is checked before anything is computed: integer dtype, shape, and values in
range (one read of its min and max: on a GPU, one wait), with errors naming the op, the
range found and the dim's size.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import devices
from ..autograd.function import Context, Function, call
from ..autograd.grad_mode import check_values
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module, is_array, to_numpy
from .axes import dims, one_axis
from .elementwise import Where, astype
from .shape import GetItem, IndexAdd, _along, expand, gather_along, reshape
from .transfer import ToDevice


def _index(op: str, index: Any, data: Any) -> Any:
    """An index (a Tensor, an array, a list or an int) as an integer array where ``data`` is."""
    idx = index.data if isinstance(index, Tensor) else index
    if not is_array(idx):
        idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: index has dtype {idx.dtype}; expected integers (int64)")
    return idx if type(idx) is type(data) else devices.like(idx, data)


def _in_range(op: str, dim: int, n: int, low: int, idx: Any) -> None:
    if idx.size and bool((idx.min() < low) | (idx.max() >= n)):  # one read (on a GPU, one wait)
        raise IndexError(f"{op}: index values range over [{int(idx.min())}, {int(idx.max())}] but dim {dim} has "
                         f"size {n}; expected {low} <= index < {n}")


def _check_range(op: str, idx: Any, dim: int, n: int, negative: bool = False) -> None:
    """Index values in [0, n) (or [-n, n)), checked at every call, also when compiled."""
    check_values(functools.partial(_in_range, op, dim, n, -n if negative else 0), idx)


def _dim(op: str, dim: Any, axis: Any, ndim: int) -> int:
    d, _ = dims(op, axis, dim)
    if d is None:
        raise TypeError(f"{op}: missing the dim; expected {op}(input, dim, index, ...)")
    return one_axis(op, d, ndim)


def _fits(op: str, idx: Any, a: Tensor, d: int, src: Tensor | None = None) -> None:
    """PyTorch's shape rule: index no larger than input apart from dim ``d``, and than src."""
    ok = idx.ndim == a.ndim and all(k <= n for i, (k, n) in enumerate(zip(idx.shape, a.shape)) if i != d)
    if src is not None:
        ok = ok and idx.ndim == src.ndim and all(k <= n for k, n in zip(idx.shape, src.shape))
    if not ok:
        also = f" and no larger than src {src.shape}" if src is not None else ""
        raise ValueError(f"{op}: index of shape {idx.shape} for input of shape {a.shape}; expected as many dims, no "
                         f"larger than the input apart from dim {d}{also}")


def _prepare(op: str, input: Any, dim: Any, axis: Any, index: Any, src: Any = None) -> tuple:
    """(input, dim, index array, src cut to the index's shape or a number), all checked;
    a 0-d input (and index, src) taken as 1-D, which the caller undoes."""
    a = as_tensor(input)
    d = _dim(op, dim, axis, a.ndim)
    idx = _index(op, index, a.data)
    s = as_tensor(src) if isinstance(src, Tensor) or is_array(src) else src
    if a.ndim == 0:
        a, idx = reshape(a, 1), idx.reshape(-1)
        s = reshape(s, -1) if isinstance(s, Tensor) else s
    _fits(op, idx, a, d, s if isinstance(s, Tensor) else None)
    if isinstance(s, Tensor):
        if s.dtype != a.dtype:
            raise TypeError(f"{op}: src has dtype {s.dtype} but input has {a.dtype}; expected the same dtype")
        if s.shape != idx.shape:
            s = GetItem.apply(s, index=tuple(slice(0, k) for k in idx.shape))  # the part the index uses
    _check_range(op, idx, d, a.shape[d])
    return a, d, idx, s


def _back(out: Tensor, input: Any) -> Tensor:
    """Undo ``_prepare``'s 1-D view of a 0-d input."""
    return reshape(out, ()) if as_tensor(input).ndim == 0 else out


# -- gates ----------------------------------------------------------------------------


class Scatter(Function):
    """``a`` with ``src`` (an array of the index's shape, or a number) written at ``index``.

    Repeated positions keep one of their values (the last, on NumPy), as PyTorch's.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, src: Any, *, index: tuple) -> Any:
        out = a.copy()
        out[index] = src
        keep = array_module(a).ones(a.shape, dtype=a.dtype)
        keep[index] = 0
        ctx.keep, ctx.index = keep, index
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        na, ns = ctx.needs_input_grad
        return grad_out * ctx.keep if na else None, grad_out[ctx.index] if ns else None


class ScatterExtreme(Function):
    """The max (or min) of ``a`` and the ``src`` values sent to each position.

    A router: the gradient goes to the entries equal to the result, split evenly among
    ties (PyTorch's rule), through shares fixed in the forward.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, src: Any, *, index: tuple, largest: bool) -> Any:
        xp = array_module(a)
        out = a.copy()
        (xp.maximum if largest else xp.minimum).at(out, index, src)
        self_wins = (a == out).astype(a.dtype)
        src_wins = (src == out[index]).astype(a.dtype)
        winners = self_wins.copy()
        xp.add.at(winners, index, src_wins)  # how many entries share each result (>= 1)
        ctx.self_share = self_wins / winners
        ctx.src_share = src_wins / winners[index]
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        na, ns = ctx.needs_input_grad
        return (grad_out * ctx.self_share if na else None,
                grad_out[ctx.index] * ctx.src_share if ns else None)  # fmt: skip


class ScatterProd(Function):
    """``a`` times the ``src`` values sent to each position."""

    @staticmethod
    def forward(ctx: Context, a: Any, src: Any, *, index: tuple) -> Any:
        xp = array_module(a)
        out = a.copy()
        xp.multiply.at(out, index, src)
        src_zero = src == 0
        zeros = xp.zeros(a.shape, dtype=a.dtype)
        xp.add.at(zeros, index, src_zero.astype(a.dtype))
        ctx.lone_zero = src_zero & (zeros[index] == 1)  # the only zero among the src values of its position
        ctx.save_for_backward(a, src, out)
        ctx.index = index
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        # d out / d x = the product of the others: out / x where x != 0; where x is a zero,
        # the product recomputed with that zero taken as 1 (PyTorch's formula)
        a, src, out = ctx.saved_tensors
        index, lone = ctx.index, ctx.lone_zero
        na, ns = ctx.needs_input_grad
        ga = gs = None
        if na:
            a1 = call(Where, a == 0, 1.0, a)
            ga = grad_out * call(ScatterProd, a1, src, index=index) / a1
        if ns:
            others = call(ScatterProd, a, call(Where, lone, 1.0, src), index=index)
            gs = call(Where, lone, (grad_out * others)[index], (grad_out * out)[index] / call(Where, src == 0, 1.0, src))
        return ga, gs


# -- public functions -------------------------------------------------------------------


def gather(input: Any, dim: int | None = None, index: Any = None, *, sparse_grad: bool = False,
           axis: int | None = None) -> Tensor:  # fmt: skip
    """``out[i][j] = input[i][index[i][j]]`` for ``dim=1`` (and so on for other dims): ``index``
    has the input's number of dims, no larger than it apart from ``dim``. Repeated indices
    add their gradients. ``sparse_grad`` is accepted and has no effect.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.ops.index.gather(x, 1, cr.Tensor([[1, 1], [0, 1]])).tolist()
    [[2.0, 2.0], [3.0, 4.0]]
    """
    a, d, idx, _ = _prepare("gather", input, dim, axis, index)
    return _back(gather_along(a, idx, d), input)


def scatter(input: Any, dim: int | None = None, index: Any = None, src: Any = None, *, value: Any = None,
            axis: int | None = None) -> Tensor:  # fmt: skip
    """``input`` with ``src`` written at ``index`` along ``dim``: ``out[i][index[i][j]] =
    src[i][j]`` for ``dim=1``; ``src`` a tensor, or a number (also as ``value=``). The
    overwritten entries of ``input`` get no gradient; ``src`` gets the gradient read at
    ``index``. With a repeated position PyTorch keeps one value (which: not specified).

    >>> import chainrule as cr
    >>> x = cr.Tensor([[0.0, 0.0, 0.0]])
    >>> x.scatter(1, cr.Tensor([[2, 0]]), cr.Tensor([[5.0, 6.0]])).tolist()
    [[6.0, 0.0, 5.0]]
    >>> x.scatter(1, cr.Tensor([[1]]), value=7.0).tolist()
    [[0.0, 7.0, 0.0]]
    """
    if (src is None) == (value is None):
        raise TypeError("scatter: expected exactly one of src (a tensor or a number) and value")
    source = src if src is not None else value
    if not isinstance(source, (Tensor, int, float)) and not is_array(source):
        raise TypeError(f"scatter: src is a {type(source).__name__}; expected a tensor or a number")
    a, d, idx, s = _prepare("scatter", input, dim, axis, index, source)
    return _back(Scatter.apply(a, s, index=_along(idx, d, a.ndim)), input)


def scatter_add(input: Any, dim: int | None = None, index: Any = None, src: Any = None, *,
                axis: int | None = None) -> Tensor:  # fmt: skip
    """``input`` plus ``src`` added at ``index`` along ``dim`` (repeated positions add up);
    composed: ``input + IndexAdd(src)``.

    >>> import chainrule as cr
    >>> cr.ops.index.scatter_add(cr.Tensor([1.0, 1.0]), 0, cr.Tensor([1, 1]), cr.Tensor([2.0, 3.0])).tolist()
    [1.0, 6.0]
    """
    a, d, idx, s = _prepare("scatter_add", input, dim, axis, index, as_tensor(src))
    return _back(a + IndexAdd.apply(s, index=_along(idx, d, a.ndim), shape=a.shape), input)


_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input: Any, dim: int | None = None, index: Any = None, src: Any = None, reduce: str | None = None, *,
                   include_self: bool = True, axis: int | None = None) -> Tensor:  # fmt: skip
    """Reduce the ``src`` values sent to each position along ``dim`` with ``reduce`` ("sum",
    "prod", "mean", "amax", "amin"), together with ``input``'s value there unless
    ``include_self=False``; positions no index names keep ``input``'s value.

    Gradients as PyTorch's: amax/amin split the gradient evenly among the entries equal to
    the result; prod's gradient is the product of the others, right where some are 0.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0])
    >>> x.scatter_reduce(0, cr.Tensor([0, 0, 1]), cr.Tensor([5.0, 3.0, 1.0]), "amax").tolist()
    [5.0, 2.0]
    >>> x.scatter_reduce(0, cr.Tensor([0, 0, 1]), cr.Tensor([5.0, 3.0, 1.0]), "mean", include_self=False).tolist()
    [4.0, 1.0]
    """
    if reduce not in _REDUCTIONS:
        raise ValueError(f"scatter_reduce: reduce={reduce!r}; expected one of {', '.join(_REDUCTIONS)}")
    a, d, idx, s = _prepare("scatter_reduce", input, dim, axis, index, as_tensor(src))
    where = _along(idx, d, a.ndim)
    xp = array_module(a.data)
    hit = xp.zeros(a.shape, dtype=bool)
    hit[where] = True  # the positions some index names
    if not include_self:  # those start from the reduction's identity instead of input's value
        kind = a.dtype.kind
        identity = {"sum": 0, "mean": 0, "prod": 1,
                    "amax": -np.inf if kind == "f" else np.iinfo(a.dtype).min if kind in "iu" else False,
                    "amin": np.inf if kind == "f" else np.iinfo(a.dtype).max if kind in "iu" else True}[reduce]  # fmt: skip
        a = Where.apply(hit, a.dtype.type(identity), a)
    if reduce in ("sum", "mean"):
        out = a + IndexAdd.apply(s, index=where, shape=a.shape)
        if reduce == "mean":
            count = xp.zeros(a.shape, dtype=a.dtype)
            xp.add.at(count, where, 1)
            count = count + 1 if include_self else xp.maximum(count, 1)  # untouched positions: input's value / 1
            out = Tensor._make(out.data // count) if a.dtype.kind in "iub" else out / count
    elif reduce == "prod":
        out = ScatterProd.apply(a, s, index=where)
    else:
        out = ScatterExtreme.apply(a, s, index=where, largest=reduce == "amax")
    return _back(out, input)


def index_select(input: Any, dim: int | None = None, index: Any = None, *, axis: int | None = None) -> Tensor:
    """The entries at ``index`` (a 1-D integer tensor) along ``dim``; repeated indices add
    their gradients.

    >>> import chainrule as cr
    >>> cr.Tensor([[1.0, 2.0, 3.0]]).index_select(1, cr.Tensor([2, 0, 2])).tolist()
    [[3.0, 1.0, 3.0]]
    """
    a = as_tensor(input)
    d = _dim("index_select", dim, axis, a.ndim)
    idx = _index("index_select", index, a.data)
    if idx.ndim > 1:
        raise ValueError(f"index_select: index of shape {idx.shape}; expected a 1-D (or 0-d) index")
    idx = idx.reshape(-1)
    if a.ndim == 0:
        _check_range("index_select", idx, d, 1)
        if idx.shape != (1,):
            raise ValueError(f"index_select: {idx.shape[0]} indices into a 0-d tensor; expected one")
        return reshape(GetItem.apply(reshape(a, 1), index=idx), ())
    _check_range("index_select", idx, d, a.shape[d])
    return GetItem.apply(a, index=(slice(None),) * d + (idx,))


def _mask(op: str, mask: Any, a: Tensor) -> Any:
    """A boolean mask on ``a``'s device, broadcast to ``a``'s shape."""
    m = mask.data if isinstance(mask, Tensor) else mask if is_array(mask) else np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"{op}: mask has dtype {m.dtype}; expected a boolean mask")
    try:
        joint = np.broadcast_shapes(m.shape, a.shape)
    except ValueError:
        joint = None
    if joint != a.shape:
        raise ValueError(f"{op}: mask of shape {m.shape} does not broadcast to the input's shape {a.shape}")
    m = m if type(m) is type(a.data) else devices.like(m, a.data)
    return array_module(m).broadcast_to(m, a.shape)


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` where ``mask`` (which broadcasts to its shape) is True; a 0-d
    tensor ``value`` gets the gradient of the filled entries.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0, 3.0])
    >>> x.masked_fill(x > 1.5, 0.0).tolist()
    [1.0, 0.0, 0.0]
    """
    a = as_tensor(input)
    m = _mask("masked_fill", mask, a)
    if isinstance(value, Tensor) or is_array(value):
        v = as_tensor(value)
        if v.ndim != 0:
            raise ValueError(f"masked_fill: value of shape {v.shape}; expected a number or a 0-d tensor")
        if v.dtype != a.dtype:
            v = astype(v, a.dtype)
        if v.device != a.device:  # PyTorch takes a CPU value for a GPU input: moved, its gradient sent home
            v = ToDevice.apply(v, device=a.device)
    elif isinstance(value, (int, float, bool, np.generic)):
        v = a.dtype.type(value)  # a NumPy scalar: the result keeps input's dtype
    else:
        raise TypeError(f"masked_fill: value is a {type(value).__name__}; expected a number or a 0-d tensor")
    return Where.apply(m, v, a)


def _enough(k: int, m: Any) -> None:
    if bool(m.sum() > k):  # one read
        raise ValueError(f"masked_scatter: the mask has {int(m.sum())} True entries but source has {k}; "
                         "expected at least one source entry per True")


def masked_scatter(input: Any, mask: Any, source: Any) -> Tensor:
    """``input`` with the entries of ``source``, in order, written where ``mask`` is True
    (composed: each True position reads source at its running count, then ``where``).

    >>> import chainrule as cr
    >>> x = cr.Tensor([0.0, 0.0, 0.0])
    >>> x.masked_scatter(cr.Tensor([True, False, True]), cr.Tensor([7.0, 8.0, 9.0])).tolist()
    [7.0, 0.0, 8.0]
    """
    a, s = as_tensor(input), as_tensor(source)
    if s.dtype != a.dtype:
        raise TypeError(f"masked_scatter: source has dtype {s.dtype} but input has {a.dtype}; expected the same dtype")
    m = _mask("masked_scatter", mask, a)
    check_values(functools.partial(_enough, s.numel()), m)
    if s.numel() == 0:
        return Where.apply(m, a, a)  # nothing to write (checked: the mask is all False)
    xp = array_module(m)
    read = xp.maximum(xp.cumsum(m.reshape(-1)) - 1, 0)  # the source entry each True position takes
    return Where.apply(m, reshape(GetItem.apply(reshape(s, -1), index=read), a.shape), a)


def take_along_dim(input: Any, indices: Any, dim: int | None = None, *, axis: int | None = None) -> Tensor:
    """``gather`` with NumPy's ``take_along_axis`` rules: input and indices broadcast on the
    dims other than ``dim``; negative indices count from the end; ``dim=None`` reads the
    flattened input at the flattened indices.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> x.take_along_dim(x.argmax(dim=1, keepdim=True), dim=1).tolist()
    [[30.0], [60.0]]
    """
    a = as_tensor(input)
    which, _ = dims("take_along_dim", axis, dim)
    idx = _index("take_along_dim", indices, a.data)
    if which is None:
        a, idx, d = reshape(a, -1), idx.reshape(-1), 0
    else:
        if a.ndim == 0:  # PyTorch refuses it too
            raise IndexError(f"take_along_dim: dim {which} given for a 0-d tensor; expected dim=None")
        d = one_axis("take_along_dim", which, a.ndim)
        if idx.ndim != a.ndim:
            raise ValueError(f"take_along_dim: indices of shape {idx.shape} for input of shape {a.shape}; expected "
                             "as many dims")
        try:
            joint = [n if i == d else np.broadcast_shapes((n,), (k,))[0] for i, (n, k) in enumerate(zip(a.shape, idx.shape))]
        except ValueError:
            raise ValueError(f"take_along_dim: input of shape {a.shape} and indices of shape {idx.shape} do not "
                             f"broadcast apart from dim {d}") from None
        a = expand(a, tuple(n if i == d else j for i, (n, j) in enumerate(zip(a.shape, joint))))
        idx = array_module(idx).broadcast_to(idx, tuple(k if i == d else j for i, (k, j) in enumerate(zip(idx.shape, joint))))
    n = a.shape[d]
    _check_range("take_along_dim", idx, d, n, negative=True)
    idx = array_module(idx).where(idx < 0, idx + n, idx)
    return gather_along(a, idx, d)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """Class indices as one-hot rows: shape ``tensor.shape + (num_classes,)``, int64, no
    gradient; ``num_classes=-1`` takes the largest class + 1 (one read of the values).

    >>> import chainrule as cr
    >>> cr.ops.index.one_hot(cr.Tensor([0, 2])).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    idx = tensor.data if isinstance(tensor, Tensor) else tensor if is_array(tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: class values have dtype {idx.dtype}; expected integers (int64)")
    xp = array_module(idx)
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from an empty tensor; expected num_classes")
        low, high = (int(v) for v in to_numpy(xp.stack([idx.min(), idx.max()])))  # one read
        _classes(high + 1, idx, low, high)
        num_classes = high + 1
    else:
            check_values(functools.partial(_classes, int(num_classes)), idx)
    return Tensor._make((idx[..., None] == xp.arange(num_classes)).astype(np.int64))


def _classes(k: int, idx: Any, low: int | None = None, high: int | None = None) -> None:
    if low is None:
        if not idx.size or not bool((idx.min() < 0) | (idx.max() >= k)):  # one read
            return
        low, high = int(idx.min()), int(idx.max())
    if low < 0:
        raise ValueError(f"one_hot: class values must be non-negative, got {low}")
    if high >= k:
        raise ValueError(f"one_hot: class values must be smaller than num_classes={k}, got {high}")


# Tensor methods (grep "Tensor.<name> =")
Tensor.gather = gather
Tensor.scatter = scatter
Tensor.scatter_add = scatter_add
Tensor.scatter_reduce = scatter_reduce
Tensor.index_select = index_select
Tensor.masked_fill = masked_fill
Tensor.masked_scatter = masked_scatter
Tensor.take_along_dim = take_along_dim

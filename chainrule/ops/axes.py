"""Axis arguments, checked once for every op that takes them, in both spellings.

NumPy says ``axis=``/``keepdims=``, PyTorch ``dim=``/``keepdim=``; every op takes both
(``dims`` resolves them: giving both spellings of one argument is an error). A dim out of
range names the op, the dim and the valid range. Reductions that PyTorch answers with
values *and* indices (``max(dim)``, ``sort``, ``topk``, ...) return a ``ValuesIndices``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

Axis = int | tuple[int, ...] | None


class ValuesIndices(NamedTuple):
    """``(values, indices)``, as PyTorch's ``torch.return_types``: unpack it, index it, or
    read ``.values`` and ``.indices`` (the indices carry no gradient)."""

    values: Any
    indices: Any


def dims(op: str, axis: Any, dim: Any, keepdims: bool | None = None, keepdim: bool | None = None) -> tuple[Any, bool]:
    """``(axis, keepdims)`` from either spelling, or a TypeError naming ``op`` when both are given.

    >>> dims("sum", None, 1, None, True)
    (1, True)
    >>> dims("sum", 0, 1)
    Traceback (most recent call last):
    ...
    TypeError: sum: got both axis=0 and dim=1; expected one of them (they are the same argument)
    """
    if dim is not None:
        if axis is not None:
            raise TypeError(f"{op}: got both axis={axis!r} and dim={dim!r}; expected one of them (they are the same argument)")
        axis = dim
    if keepdim is not None:
        if keepdims is not None:
            raise TypeError(f"{op}: got both keepdims={keepdims!r} and keepdim={keepdim!r}; expected one of them "
                            "(they are the same argument)")
        keepdims = keepdim
    if isinstance(axis, list):
        axis = tuple(axis)
    return axis, bool(keepdims)


def normalize_axes(op: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes, or an IndexError naming ``op``
    (a ValueError too, as it was before the error named the range).

    >>> normalize_axes("sum", (-1, 0), 3)
    (0, 2)
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not isinstance(ax, int) or not -max(ndim, 1) <= ax < max(ndim, 1):
            raise DimError(
                f"{op}: dim {ax!r} is out of range for a tensor with {ndim} dimension(s); "
                f"expected an int in [{-max(ndim, 1)}, {max(ndim, 1) - 1}]"
            )
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated dim in {axis}")
    return tuple(sorted(out))


def one_axis(op: str, axis: int, ndim: int) -> int:
    """One dim as a non-negative int (0 for a 0-d tensor, whose dims 0 and -1 PyTorch allows).

    >>> one_axis("cumsum", -1, 2)
    1
    """
    return normalize_axes(op, axis, ndim)[0]


class DimError(IndexError, ValueError):
    """A dim out of range: an IndexError, as PyTorch raises, and a ValueError, as chainrule did."""

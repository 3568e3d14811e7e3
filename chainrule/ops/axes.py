"""Axis arguments, checked once for every op that takes them."""

from __future__ import annotations

Axis = int | tuple[int, ...] | None


def normalize_axes(op: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes, or a ValueError naming ``op``."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, int) or not -ndim <= ax < max(ndim, 1):
            raise ValueError(
                f"{op}: axis {ax} is out of range for a tensor with {ndim} dimension(s); "
                f"expected an int in [{-ndim}, {ndim - 1}]"
            )
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out))

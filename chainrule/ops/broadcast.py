"""The adjoint of broadcasting, in one place.

When NumPy broadcasts an input of shape ``(3, 1)`` against ``(2, 3, 4)``, the input
is copied along the new and the size-1 axes; in the backward pass each copy's
gradient must be summed back. Every binary op's backward ends with ``sum_to``.
"""

from __future__ import annotations

from typing import Any


def sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """Sum the gradient ``g`` (a Tensor) down to ``shape``, undoing NumPy broadcasting.

    >>> import chainrule as cr
    >>> sum_to(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), (1, 2)).numpy()
    array([[4., 6.]], dtype=float32)
    """
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)

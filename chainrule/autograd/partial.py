"""A gradient that is zero but for one basic index: what a slice's backward hands the walk.

``split`` and ``chunk`` cut a tensor into slices (a GPT layer's q, k and v from one product);
each slice's backward is the zeros of the whole with its gradient at the slice, and the walk
sums the three at the fork: three zero fills and two full sums for what is one array with
three parts written. A ``Partial`` holds the slice's gradient and its index instead; the
walk (``engine``) writes it into the sum it is building (one zero fill in all, each part
added at its index) and makes it whole where anything else would see it: a gate's backward,
hooks, a leaf's ``.grad``, a watcher or a step hook. Only raw arrays (no ``create_graph``).

>>> import numpy as np
>>> p = Partial((slice(1, 3),), np.array([5.0, 6.0]), (4,))
>>> p.dense().tolist()
[0.0, 5.0, 6.0, 0.0]
>>> merge(p, Partial((slice(0, 1),), np.array([1.0]), (4,)), ours=False).tolist()
[1.0, 5.0, 6.0, 0.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module


class Partial:
    """Zeros of ``shape`` but ``values`` at the basic ``index`` (one that never repeats an entry)."""

    __slots__ = ("index", "values", "shape", "dtype")

    def __init__(self, index: Any, values: Any, shape: tuple[int, ...]) -> None:
        self.index, self.values, self.shape, self.dtype = index, values, shape, values.dtype

    def dense(self) -> Any:
        """The whole gradient, a fresh array."""
        out = array_module(self.values).zeros(self.shape, self.dtype)
        out[self.index] = self.values
        return out


def merge(total: Any, ga: Any, ours: bool) -> Any:
    """``total + ga`` where either may be a ``Partial``; ``ours``: ``total`` is an array this walk
    made, which may be written in place (else the sum is a new array).

    >>> total = np.zeros(3)
    >>> merge(total, Partial((slice(0, 1),), np.array([2.0]), (3,)), ours=True) is total
    True
    """
    if type(total) is Partial:
        total, ours = total.dense(), True
    if type(ga) is not Partial:
        if ours and total.dtype == ga.dtype:
            total += ga
            return total
        return total + ga
    dtype = np.result_type(total.dtype, ga.dtype)
    if not ours or total.dtype != dtype:
        total = total.astype(dtype)  # a copy of our own
    part = total[ga.index]
    if getattr(part, "ndim", 0) == 0:  # one entry: a scalar, not a view
        total[ga.index] = part + ga.values
    else:  # a basic index's view, added to in place (no write back of it)
        part += ga.values
    return total


def whole(g: Any) -> Any:
    """``g`` as an array: a ``Partial`` made dense, anything else as it is.

    >>> whole(np.ones(2)).tolist()
    [1.0, 1.0]
    """
    return g.dense() if type(g) is Partial else g

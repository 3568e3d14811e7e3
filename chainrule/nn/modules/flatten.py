"""``Flatten`` and ``Unflatten``, as in ``torch/nn/modules/flatten.py``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor, as_tensor
from .module import Module


class Flatten(Module):
    """Merges dims ``start_dim`` .. ``end_dim`` into one; by default (N, ...) -> (N, rest), keeping the batch axis.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Flatten()(cr.Tensor(np.zeros((2, 3, 4)))).shape
    (2, 12)
    >>> cr.nn.Flatten(0, 1)(cr.Tensor(np.zeros((2, 3, 4)))).shape
    (6, 4)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, input: Any) -> Tensor:
        return as_tensor(input).flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Splits dim ``dim`` into ``unflattened_size`` (a tuple or list of ints, one of them may be -1).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Unflatten(1, (2, 5))(cr.Tensor(np.zeros((3, 10)))).shape
    (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)):
            raise TypeError(f"Unflatten: unflattened_size is a {type(unflattened_size).__name__}; expected a tuple "
                            "or list of ints")  # fmt: skip
        for i, n in enumerate(unflattened_size):
            if isinstance(n, bool) or not isinstance(n, int):
                raise TypeError(f"Unflatten: unflattened_size {unflattened_size!r} has a {type(n).__name__} at "
                                f"position {i}; expected ints")  # fmt: skip
        self.dim, self.unflattened_size = dim, unflattened_size

    def forward(self, input: Any) -> Tensor:
        return as_tensor(input).unflatten(self.dim, tuple(self.unflattened_size))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

"""``Flatten``: (N, ...) -> (N, rest), keeping the batch axis."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .module import Module


class Flatten(Module):
    """(N, ...) -> (N, rest): keeps the batch axis.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Flatten()(cr.Tensor(np.zeros((2, 3, 4)))).shape
    (2, 12)
    """

    def forward(self, x: Any) -> Tensor:
        return x.flatten(1)

    def extra_repr(self) -> str:
        return f"start_dim={getattr(self, 'start_dim', 1)}, end_dim={getattr(self, 'end_dim', -1)}"

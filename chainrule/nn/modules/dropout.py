"""``Dropout``: inverted dropout while training, the identity in eval mode."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class Dropout(Module):
    """Inverted dropout while training; the identity in eval mode.

    >>> import chainrule as cr
    >>> cr.nn.Dropout(0.5).eval()(cr.Tensor([1.0, 2.0])).numpy()
    array([1., 2.], dtype=float32)
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p={p}; expected 0 <= p < 1")
        self.p = p

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={getattr(self, 'inplace', False)}"

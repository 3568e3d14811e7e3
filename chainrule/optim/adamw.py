"""AdamW (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd.tensor import Tensor
from .adam import Adam


class AdamW(Adam):
    """Loshchilov & Hutter (2019): Adam with the weight decay decoupled from the gradient.

    ``w -= lr * wd * w`` happens beside the Adam step, not inside its moment estimates.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, w: Any, dw: Any) -> Any:
        w *= 1 - self.lr * self.weight_decay
        return dw

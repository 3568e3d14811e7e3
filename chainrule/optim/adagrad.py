"""AdaGrad (Duchi et al., 2011)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd.tensor import Tensor
from ..backend import array_module
from .optimizer import Optimizer


class AdaGrad(Optimizer):
    """Duchi et al. (2011): per-weight step sizes that shrink with the sum of squared gradients.

    ``cache += dw^2;  w -= lr * dw / (sqrt(cache) + eps)``
    """

    hyper = ("eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, eps=eps, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        cache = state.setdefault("cache", array_module(w).zeros_like(w))
        cache += dw * dw
        w -= self.lr * dw / (array_module(w).sqrt(cache) + self.eps)

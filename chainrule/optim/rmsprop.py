"""RMSProp (Tieleman & Hinton, 2012)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd.tensor import Tensor
from ..backend import array_module
from .optimizer import Optimizer


class RMSProp(Optimizer):
    """Tieleman & Hinton (2012): AdaGrad with a leaky (moving-average) cache.

    ``cache = alpha * cache + (1 - alpha) * dw^2;  w -= lr * dw / (sqrt(cache) + eps)``
    """

    hyper = ("alpha", "eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        cache = state.setdefault("cache", array_module(w).zeros_like(w))
        cache *= self.alpha
        cache += (1 - self.alpha) * dw * dw
        w -= self.lr * dw / (array_module(w).sqrt(cache) + self.eps)

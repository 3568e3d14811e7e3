"""SGD: the lecture's ``w += -lr * dw``, with momentum and Nesterov's variant."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd.tensor import Tensor
from ..backend import array_module
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent; with no options, the lecture's ``w += -lr * dw``.

    Momentum keeps a velocity ``v = momentum * v + dw`` and steps along it (for a fixed lr
    this is the course's ``v = mu * v - lr * dw; w += v``). Nesterov looks ahead:
    it steps along ``dw + momentum * v``. ``weight_decay`` adds ``wd * w`` to the gradient
    (the gradient of an L2 penalty ``wd/2 * sum w^2``).

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.numpy()
    array([ 0.8, -1.6], dtype=float32)
    """

    hyper = ("momentum", "nesterov", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:  # fmt: skip
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        if self.momentum:
            if "velocity" not in state:
                # first step: the velocity is the gradient (an array even for 0-d w, so *= below is in place)
                state["velocity"] = array_module(w).array(dw, dtype=w.dtype)
            else:
                v = state["velocity"]
                v *= self.momentum
                v += dw
            v = state["velocity"]
            dw = dw + self.momentum * v if self.nesterov else v
        w -= self.lr * dw

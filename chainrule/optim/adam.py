"""Adam (Kingma & Ba, 2015)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..autograd.tensor import Tensor
from ..backend import array_module
from .optimizer import Optimizer


class Adam(Optimizer):
    """Kingma & Ba (2015): momentum on the gradient plus RMSProp's scaling, bias-corrected.

    ``weight_decay`` is added to the gradient (L2, as in the paper's setting); for
    decoupled decay use ``AdamW``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> for _ in range(100):
    ...     opt.zero_grad(); ((w - 1) ** 2).sum().backward(); opt.step()
    >>> round(w.item(), 1)
    1.0
    """

    hyper = ("betas", "eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:  # fmt: skip
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas={betas}; expected two values in [0, 1)")
        super().__init__(params, lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _decay(self, w: Any, dw: Any) -> Any:
        return dw + self.weight_decay * w if self.weight_decay else dw

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        xp = array_module(w)
        dw = self._decay(w, dw)
        b1, b2 = self.betas
        t = state["step"]
        m = state.setdefault("m", xp.zeros_like(w))
        v = state.setdefault("v", xp.zeros_like(w))
        m *= b1
        m += (1 - b1) * dw  # first moment: a running mean of the gradient
        v *= b2
        v += (1 - b2) * dw * dw  # second moment: a running mean of its square
        c1, c2 = 1 - b1**t, 1 - b2**t  # bias correction: both moments start at zero
        if not isinstance(c1, float):  # a traced step count is a 0-d array: keep w's dtype
            c1, c2 = c1.astype(w.dtype), c2.astype(w.dtype)
        m_hat = m / c1
        v_hat = v / c2
        w -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)

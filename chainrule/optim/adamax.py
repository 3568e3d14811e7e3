"""Adamax (Kingma & Ba, 2015, section 7.1)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, scalar


class Adamax(Optimizer):
    """Adam's infinity-norm variant (Kingma & Ba, 2015, section 7.1; PyTorch's
    ``torch.optim.Adamax``): the second moment becomes a decaying maximum of ``|g|``.

    ``m = b1 m + (1 - b1) g``; ``u = max(b2 u, |g| + eps)``; ``w -= lr / (1 - b1^t) * m / u``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> w.grad = cr.Tensor([2.0]); Adamax([w], lr=0.1).step(); round(w.item(), 4)
    0.9
    """

    nonnegative = ("lr", "eps", "weight_decay")

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
                                  "capturable": capturable})  # fmt: skip

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        return {"step": 0, "exp_avg": xp.zeros_like(w), "exp_inf": xp.zeros_like(w)}

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(w)
        (b1, b2), eps, wd = group["betas"], group["eps"], group["weight_decay"]
        g = -dw if group["maximize"] else dw
        t = state["step"] = state["step"] + 1
        if wd:
            g = g + wd * w
        m, u = state["exp_avg"], state["exp_inf"]
        m *= b1
        m += (1 - b1) * g  # m_t = b1 m_{t-1} + (1 - b1) g_t
        u *= b2
        xp.maximum(u, xp.abs(g) + eps, out=u)  # u_t = max(b2 u_{t-1}, |g_t| + eps)
        w -= group["lr"] * (m / scalar(1 - b1**t, w)) / u  # w_t = w_{t-1} - lr / (1 - b1^t) m_t / u_t

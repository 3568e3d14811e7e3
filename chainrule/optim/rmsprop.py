"""RMSprop (Tieleman & Hinton, 2012), with Graves's centered variant (2013)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """Tieleman & Hinton (2012): AdaGrad with a leaky (moving-average) cache (PyTorch's
    ``torch.optim.RMSprop``; ``RMSProp`` is chainrule's older spelling of it).

    ``v = alpha * v + (1 - alpha) * g^2;  w -= lr * g / (sqrt(v) + eps)``. ``centered``
    divides by an estimate of the gradient's variance instead (``v - mean(g)^2``);
    ``momentum`` accumulates ``g / (sqrt(v) + eps)`` in a buffer and steps along it.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> w.grad = cr.Tensor([2.0]); RMSprop([w], lr=0.01).step(); round(w.item(), 4)
    0.9
    """

    nonnegative = ("lr", "alpha", "eps", "weight_decay", "momentum")
    renamed = {"cache": "square_avg"}  # chainrule's name before PyTorch's

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
                 momentum: float = 0.0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False, differentiable: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps, "centered": centered,
                                  "weight_decay": weight_decay, "capturable": capturable, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable})  # fmt: skip

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        state = {"step": 0, "square_avg": xp.zeros_like(w)}
        if group["momentum"] > 0:
            state["momentum_buffer"] = xp.zeros_like(w)
        if group["centered"]:
            state["grad_avg"] = xp.zeros_like(w)
        return state

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(w)
        lr, alpha, eps, wd, mu = group["lr"], group["alpha"], group["eps"], group["weight_decay"], group["momentum"]
        g = -dw if group["maximize"] else dw
        state["step"] = state["step"] + 1
        if wd:
            g = g + wd * w
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * g * g  # v_t = alpha v_{t-1} + (1 - alpha) g_t^2
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg *= alpha
            g_avg += (1 - alpha) * g  # the gradient's mean, to take off: v_t - g_avg_t^2 is its variance
            avg = xp.sqrt(v - g_avg * g_avg) + eps
        else:
            avg = xp.sqrt(v) + eps
        if mu > 0:
            b = state["momentum_buffer"]
            b *= mu
            b += g / avg  # b_t = mu b_{t-1} + g_t / (sqrt(v_t) + eps)
            w -= lr * b
        else:
            w -= lr * (g / avg)

"""Adadelta (Zeiler, 2012)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """Zeiler (2012): steps whose units match the weights', the ratio of two running RMS
    (PyTorch's ``torch.optim.Adadelta``; ``lr`` scales the step, 1.0 in the paper).

    ``E[g^2] = rho E[g^2] + (1 - rho) g^2``; ``dx = sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g``;
    ``E[dx^2] = rho E[dx^2] + (1 - rho) dx^2``; ``w -= lr * dx``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> w.grad = cr.Tensor([2.0]); Adadelta([w]).step(); round(w.item(), 5)
    0.99684
    """

    nonnegative = ("lr", "rho", "eps", "weight_decay")

    def __init__(self, params: Any, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6, weight_decay: float = 0.0,
                 foreach: bool | None = None, *, capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay, "maximize": maximize,
                                  "capturable": capturable, "foreach": foreach, "differentiable": differentiable})  # fmt: skip

    def _check(self, options: dict[str, Any]) -> None:
        super()._check(options)
        if "rho" in options and not 0 <= options["rho"] <= 1:
            raise ValueError(f"Adadelta: rho={options['rho']!r}; expected a number in [0, 1]")

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        return {"step": 0, "square_avg": xp.zeros_like(w), "acc_delta": xp.zeros_like(w)}

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(w)
        rho, eps, wd = group["rho"], group["eps"], group["weight_decay"]
        g = -dw if group["maximize"] else dw
        state["step"] = state["step"] + 1
        if wd:
            g = g + wd * w
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * g * g  # E[g^2]_t
        delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * g  # RMS[dx]_{t-1} / RMS[g]_t * g_t
        u *= rho
        u += (1 - rho) * delta * delta  # E[dx^2]_t
        w -= group["lr"] * delta

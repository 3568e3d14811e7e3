"""RAdam (Liu et al., 2020): Adam with its variance rectified."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, scalar


class RAdam(Optimizer):
    """Liu et al. (2020): Adam whose adaptive step is switched on, and scaled by a
    rectification term, only once the variance of the adaptive rate is tractable (the
    approximated SMA length ``rho_t`` above 5); before that it is momentum SGD (PyTorch's
    ``torch.optim.RAdam``). ``decoupled_weight_decay`` decays the weights as AdamW does.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> w.grad = cr.Tensor([2.0]); RAdam([w], lr=0.1).step(); round(w.item(), 4)  # rho_1 = 1: SGD's step
    0.8
    """

    nonnegative = ("lr", "eps", "weight_decay")

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "decoupled_weight_decay": decoupled_weight_decay,
                                  "differentiable": differentiable})  # fmt: skip

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        return {"step": 0, "exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        xp = array_module(w)
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        g = -dw if group["maximize"] else dw
        t = state["step"] = state["step"] + 1
        if wd and group["decoupled_weight_decay"]:
            w -= lr * (wd * w)  # w *= 1 - lr wd, as AdamW
        elif wd:
            g = g + wd * w
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        m_hat = m / scalar(1 - b1**t, w)
        rho_inf = 2 / (1 - b2) - 1  # the longest SMA the EMA approximates
        if rho_inf <= 5:  # (b2 <= 2/3) the variance is never tractable: always the SGD step
            w -= lr * m_hat
            return
        rho_t = rho_inf - 2 * t * b2**t / (1 - b2**t)  # its length at step t
        # rectification r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t)), used when
        # rho_t > 5 (abs() keeps the unused branch finite); chosen by where, not `if`, so a compiled step
        # (whose t is an array) picks it at every replay
        r = scalar(abs((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5, w)
        adaptive = scalar((1 - b2**t) ** 0.5, w) / (xp.sqrt(v) + eps)  # sqrt(1 - b2^t) / (sqrt(v_t) + eps)
        w -= lr * m_hat * xp.where(xp.asarray(rho_t > 5), adaptive * r, 1.0)

"""NAdam (Dozat, 2016): Adam with Nesterov momentum."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, scalar


class NAdam(Optimizer):
    """Dozat (2016): Adam whose step looks ahead with Nesterov momentum (PyTorch's
    ``torch.optim.NAdam``), the momentum warmed up by the schedule
    ``mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay))``.

    ``w -= lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g / d + lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / d``
    with ``d = sqrt(v / (1 - b2^t)) + eps``. ``decoupled_weight_decay`` takes the decay off the
    weights (as AdamW does) instead of adding it to the gradient.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> w.grad = cr.Tensor([2.0]); NAdam([w], lr=0.1).step(); round(w.item(), 4)  # as torch.optim.NAdam
    0.8944
    """

    nonnegative = ("lr", "eps", "weight_decay", "momentum_decay")
    scalars = ("mu_product",)

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "momentum_decay": momentum_decay, "decoupled_weight_decay": decoupled_weight_decay,
                                  "maximize": maximize, "foreach": foreach, "capturable": capturable,
                                  "differentiable": differentiable})  # fmt: skip

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        return {"step": 0, "mu_product": xp.ones((), dtype=w.dtype), "exp_avg": xp.zeros_like(w),
                "exp_avg_sq": xp.zeros_like(w)}  # fmt: skip

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd, psi = group["lr"], group["betas"], group["eps"], group["weight_decay"], group["momentum_decay"]
        g = -dw if group["maximize"] else dw
        t = state["step"] = state["step"] + 1
        if wd and group["decoupled_weight_decay"]:
            w -= lr * (wd * w)  # w *= 1 - lr wd, as AdamW
        elif wd:
            g = g + wd * w
        mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))  # the momentum schedule at t and t + 1
        mu_next = scalar(b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi)), w)
        prod = state["mu_product"]
        prod *= scalar(mu, w)  # prod_{i<=t} mu_i
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        d = array_module(w).sqrt(v / scalar(1 - b2**t, w)) + eps
        w -= lr * (g / d) * (scalar(1 - mu, w) / (1 - prod))  # the gradient's share of the look-ahead
        w -= lr * (m / d) * (mu_next / (1 - prod * mu_next))  # and the momentum's

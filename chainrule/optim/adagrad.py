"""Adagrad (Duchi et al., 2011)."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer, scalar


class Adagrad(Optimizer):
    """Duchi et al. (2011): per-weight step sizes that shrink with the sum of squared gradients
    (PyTorch's ``torch.optim.Adagrad``; ``AdaGrad`` is chainrule's older spelling of it).

    ``sum += g^2;  w -= lr_t * g / (sqrt(sum) + eps)``, ``lr_t = lr / (1 + (t - 1) * lr_decay)``;
    the sum starts at ``initial_accumulator_value``. As in PyTorch, the state is made when
    the optimizer is.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> opt = Adagrad([w], lr=0.1)
    >>> opt.state[w]["sum"], opt.state[w]["step"]
    (array([0.], dtype=float32), 0)
    """

    nonnegative = ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")
    renamed = {"cache": "sum"}  # chainrule's name before PyTorch's

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False, fused: bool | None = None) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
                                  "maximize": maximize, "differentiable": differentiable, "fused": fused})  # fmt: skip
        for group in self.param_groups:  # (PyTorch's sums all start at the constructor's value, whatever a group says)
            for p in group["params"]:
                self.state[p].update(self._init_state(p.data, {"initial_accumulator_value": initial_accumulator_value}))

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        return {"step": 0, "sum": array_module(w).full_like(w, group["initial_accumulator_value"])}

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        wd, eps = group["weight_decay"], group["eps"]
        g = -dw if group["maximize"] else dw
        t = state["step"] = state["step"] + 1
        if wd:
            g = g + wd * w
        s = state["sum"]
        s += g * g  # sum_t = sum_{t-1} + g_t^2
        # w_t = w_{t-1} - lr_t g_t / (sqrt(sum_t) + eps), the rate decayed: lr_t = lr / (1 + (t - 1) lr_decay)
        w -= group["lr"] * (g / (array_module(w).sqrt(s) + eps)) / scalar(1 + (t - 1) * group["lr_decay"], w)

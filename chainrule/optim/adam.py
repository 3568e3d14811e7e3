"""Adam (Kingma & Ba, 2015), with AMSGrad (Reddi et al., 2018) as an option."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module
from ..ops import kernels
from .optimizer import Optimizer, scalar


class Adam(Optimizer):
    """Kingma & Ba (2015): momentum on the gradient plus RMSProp's scaling, bias-corrected
    (PyTorch's ``torch.optim.Adam``).

    ``weight_decay`` is added to the gradient (L2, as in the paper's setting), or, with
    ``decoupled_weight_decay=True``, taken off the weights beside the step (``AdamW``).
    ``amsgrad`` divides by the largest second moment seen so far; ``maximize`` climbs.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> for _ in range(100):
    ...     opt.zero_grad(); ((w - 1) ** 2).sum().backward(); opt.step()
    >>> round(w.item(), 1)
    1.0
    """

    nonnegative = ("lr", "eps", "weight_decay")
    renamed = {"m": "exp_avg", "v": "exp_avg_sq"}  # chainrule's names before PyTorch's

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                                  "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                                  "capturable": capturable, "differentiable": differentiable, "fused": fused,
                                  "decoupled_weight_decay": decoupled_weight_decay})  # fmt: skip

    def _init_state(self, w: Any, group: dict[str, Any]) -> dict[str, Any]:
        xp = array_module(w)
        state = {"step": 0, "exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)}
        if group["amsgrad"]:
            state["max_exp_avg_sq"] = xp.zeros_like(w)
        return state

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        t = state["step"] = state["step"] + 1
        m, v = state["exp_avg"], state["exp_avg_sq"]
        if not group["amsgrad"] and _one_pass((w, dw, m, v), (lr, b1, b2, eps, wd, t)):  # the passes below, one loop
            kernels.adam(w, dw, m, v, lr, (b1, b2), eps, 1 - b1**t, (1 - b2**t) ** 0.5, wd,
                         group["decoupled_weight_decay"], group["maximize"])  # fmt: skip
            return
        g = -dw if group["maximize"] else dw
        if wd and group["decoupled_weight_decay"]:
            w -= lr * (wd * w)  # AdamW: w *= 1 - lr wd, the decay on the weights, not through the moments
        elif wd:
            g = g + wd * w
        m *= b1
        m += (1 - b1) * g  # first moment: m_t = b1 m_{t-1} + (1 - b1) g_t
        v *= b2
        v += (1 - b2) * g * g  # second moment: v_t = b2 v_{t-1} + (1 - b2) g_t^2
        if group["amsgrad"]:  # the largest v so far: the step size never grows back
            v = array_module(w).maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
        c1, c2 = scalar(1 - b1**t, w), scalar((1 - b2**t) ** 0.5, w)  # bias corrections: both moments start at 0
        # w_t = w_{t-1} - lr m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t)
        w -= lr * (m / c1) / (array_module(w).sqrt(v) / c2 + eps)


def _one_pass(arrays: tuple, numbers: tuple) -> bool:
    """Whether an update runs as ``kernels.adam``'s one loop (0.8M float32 parameters: 2.0 -> 0.7
    ms): eager NumPy arrays (a compiled step's traced ones stay passes, which its replay fuses),
    C-contiguous, of one float dtype and shape, and the options plain Python numbers (an lr
    that is an array is cast by NumPy's rules, not the loop's)."""
    w = arrays[0]
    return (all(type(a) is np.ndarray and a.flags.c_contiguous and a.dtype == w.dtype and a.shape == w.shape
                for a in arrays) and all(type(x) in (int, float) for x in numbers) and kernels.usable(w))  # fmt: skip

"""SGD: the lecture's ``w += -lr * dw``, with momentum, dampening and Nesterov's variant."""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent (PyTorch's ``torch.optim.SGD``); with no options, the
    lecture's ``w += -lr * dw``.

    Momentum keeps a buffer ``b = momentum * b + (1 - dampening) * g`` (``b = g`` on the first
    step) and steps along it; for a fixed lr this is the course's ``v = mu * v - lr * dw;
    w += v``. Nesterov looks ahead: it steps along ``g + momentum * b``. ``weight_decay`` adds
    ``wd * w`` to the gradient (the gradient of an L2 penalty ``wd/2 * sum w^2``); ``maximize``
    climbs. The default lr is PyTorch's, 1e-3.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.numpy()
    array([ 0.8, -1.6], dtype=float32)
    """

    nonnegative = ("lr", "momentum", "weight_decay")
    renamed = {"velocity": "momentum_buffer"}  # chainrule's name before PyTorch's

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False, fused: bool | None = None) -> None:  # fmt: skip
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                                  "nesterov": nesterov, "maximize": maximize, "foreach": foreach,
                                  "differentiable": differentiable, "fused": fused})  # fmt: skip

    def _check(self, options: dict[str, Any]) -> None:
        super()._check(options)
        if options.get("nesterov") and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError(f"SGD: nesterov=True needs momentum > 0 and dampening 0; got momentum={options['momentum']!r}, "
                             f"dampening={options['dampening']!r}")  # fmt: skip

    def _lazy_state(self, group: dict[str, Any]) -> set[str]:
        return {"momentum_buffer"} if group["momentum"] else set()

    def _update(self, w: Any, dw: Any, state: dict[str, Any], group: dict[str, Any]) -> None:
        mu, tau, wd = group["momentum"], group["dampening"], group["weight_decay"]
        g = -dw if group["maximize"] else dw
        if wd:
            g = g + wd * w  # the L2 penalty's gradient
        if mu:
            if "momentum_buffer" not in state:  # b_1 = g_1 (a copy: an array even for 0-d w, so *= is in place)
                state["momentum_buffer"] = array_module(w).array(g, dtype=w.dtype)
            else:  # b_t = mu b_{t-1} + (1 - tau) g_t
                b = state["momentum_buffer"]
                b *= mu
                b += (1 - tau) * g
            b = state["momentum_buffer"]
            g = g + mu * b if group["nesterov"] else b
        w -= group["lr"] * g

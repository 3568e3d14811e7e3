"""AdamW (Loshchilov & Hutter, 2019)."""

from __future__ import annotations

from typing import Any

from .adam import Adam


class AdamW(Adam):
    """Loshchilov & Hutter (2019): Adam with the weight decay decoupled from the gradient
    (PyTorch's ``torch.optim.AdamW``: ``Adam(decoupled_weight_decay=True)``, decay 1e-2).

    ``w *= 1 - lr * wd`` happens beside the Adam step, not inside its moment estimates.

    >>> import chainrule as cr
    >>> w = cr.Tensor([2.0], requires_grad=True)
    >>> w.grad = cr.Tensor([0.0]); AdamW([w], lr=0.1, weight_decay=0.5).step(); w.item()
    1.899999976158142
    """

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach, maximize=maximize,
                         capturable=capturable, differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)  # fmt: skip

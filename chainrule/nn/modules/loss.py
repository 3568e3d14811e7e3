"""The losses as modules, as in ``torch/nn/modules/loss.py``: each holds PyTorch's constructor
arguments, with its defaults, and calls its function of ``nn.functional`` in ``forward``.

Class weights (``weight``, ``pos_weight``) are buffers, as PyTorch's: in ``state_dict`` when
given (absent when None), moved and cast by ``.to()``. Arguments are checked when the module is
made, so a bad reduction fails there, naming the class. The legacy ``size_average``/``reduce``
flags choose the reduction once, by PyTorch's legacy rule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module

_REDUCTIONS = ("mean", "sum", "none")


def _as_buffer(value: Any) -> Any:
    """A weight as the array a buffer holds: a Tensor's values (shared, as PyTorch's buffer is the
    tensor given), an array as it is, a list as float32."""
    if isinstance(value, Tensor):
        return value.detach().data
    return value if hasattr(value, "dtype") and hasattr(value, "shape") else np.asarray(value, dtype=np.float32)


class _Loss(Module):
    """What every loss module holds: ``reduction``, chosen from the legacy flags where given."""

    _allowed: tuple[str, ...] = _REDUCTIONS
    _defaults: dict[str, Any] = {}  # the constructor's other arguments: extra_repr shows those changed

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = F._reduction(type(self).__name__, size_average, reduce, reduction, self._allowed)

    def _weights(self, **weights: Any) -> None:
        """Each given weight a buffer (in ``state_dict``); None stays a plain attribute, as PyTorch's."""
        for name, value in weights.items():
            if value is None:
                setattr(self, name, None)
            else:
                self.register_buffer(name, _as_buffer(value))

    def extra_repr(self) -> str:
        parts = [f"{name} of shape {tuple(getattr(self, name).shape)}" for name in ("weight", "pos_weight")
                 if getattr(self, name, None) is not None]  # fmt: skip
        parts += [f"{name}={getattr(self, name)!r}" for name, default in self._defaults.items()
                  if getattr(self, name) != default]  # fmt: skip
        if self.reduction != "mean":
            parts.append(f"reduction={self.reduction!r}")
        return ", ".join(parts)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of raw scores against class indices or class probabilities
    (``F.cross_entropy``): ``weight`` per class, ``ignore_index``, ``label_smoothing``.

    >>> import chainrule as cr
    >>> loss = cr.nn.CrossEntropyLoss(label_smoothing=0.1)
    >>> loss
    CrossEntropyLoss(label_smoothing=0.1)
    >>> round(loss(cr.Tensor([[0.0, 0.0]]), [1]).item(), 4)
    0.6931
    """

    _defaults = {"ignore_index": -100, "label_smoothing": 0.0}

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing={label_smoothing}; expected a value in [0, 1]")
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing
        self._weights(weight=weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction,
                               label_smoothing=self.label_smoothing)  # fmt: skip


class NLLLoss(_Loss):
    """Negative log-likelihood of class indices under log-probabilities (``F.nll_loss``).

    >>> import chainrule as cr
    >>> cr.nn.NLLLoss(weight=cr.Tensor([1.0, 2.0]), ignore_index=0)
    NLLLoss(weight of shape (2,), ignore_index=0)
    """

    _defaults = {"ignore_index": -100}

    def __init__(self, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
                 reduce: bool | None = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self._weights(weight=weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class MSELoss(_Loss):
    """Mean squared error (``F.mse_loss``).

    >>> import chainrule as cr
    >>> cr.nn.MSELoss(reduction="sum")(cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 1.0])).item()
    5.0
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (``F.l1_loss``).

    >>> import chainrule as cr
    >>> cr.nn.L1Loss()(cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 1.0])).item()
    1.5
    """

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above (``F.smooth_l1_loss``).

    >>> import chainrule as cr
    >>> cr.nn.SmoothL1Loss(beta=0.5)
    SmoothL1Loss(beta=0.5)
    """

    _defaults = {"beta": 1.0}

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 beta: float = 1.0) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if beta < 0:
            raise ValueError(f"SmoothL1Loss: beta={beta}; expected beta >= 0")
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, ``delta``-sloped above (``F.huber_loss``).

    >>> import chainrule as cr
    >>> cr.nn.HuberLoss(delta=2.0)(cr.Tensor([3.0]), cr.Tensor([0.0])).item()
    4.0
    """

    _defaults = {"delta": 1.0}

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if delta <= 0:
            raise ValueError(f"HuberLoss: delta={delta}; expected delta > 0")
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities (``F.binary_cross_entropy``); ``weight`` per entry.

    >>> import chainrule as cr
    >>> round(cr.nn.BCELoss()(cr.Tensor([0.5]), cr.Tensor([1.0])).item(), 4)
    0.6931
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self._weights(weight=weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy(input, target, self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of raw scores, stable (``F.binary_cross_entropy_with_logits``);
    ``pos_weight`` weighs the positives (one per class, broadcast along the last axis).

    >>> import chainrule as cr
    >>> loss = cr.nn.BCEWithLogitsLoss(pos_weight=cr.Tensor([2.0, 1.0]))
    >>> sorted(loss.state_dict())
    ['pos_weight']
    >>> round(loss(cr.Tensor([[0.0, 0.0]]), cr.Tensor([[1.0, 1.0]])).item(), 4)
    1.0397
    """

    def __init__(self, weight: Any = None, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", pos_weight: Any = None) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self._weights(weight=weight, pos_weight=pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)  # fmt: skip


class KLDivLoss(_Loss):
    """KL(target || p) for log-probabilities p (``F.kl_div``); ``reduction="batchmean"`` is the
    divergence per example ('mean' divides by every entry, as PyTorch's).

    >>> import chainrule as cr
    >>> cr.nn.KLDivLoss(reduction="batchmean", log_target=True)
    KLDivLoss(log_target=True, reduction='batchmean')
    """

    _allowed = ("mean", "batchmean", "sum", "none")
    _defaults = {"log_target": False}

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None, reduction: str = "mean",
                 log_target: bool = False) -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.kl_div(input, target, reduction=self.reduction, log_target=self.log_target)


class MultiMarginLoss(_Loss):
    """The multiclass hinge, divided by the number of classes (``F.multi_margin_loss``): the
    lecture's SVM loss in PyTorch's spelling; ``p`` 1 or 2, ``weight`` per class.

    >>> import chainrule as cr
    >>> s = cr.Tensor([[3.2, 5.1, -1.7]])   # the lecture's cat image: 2.9 over 3 classes
    >>> round(cr.nn.MultiMarginLoss()(s, [0]).item(), 4)
    0.9667
    """

    _defaults = {"p": 1, "margin": 1.0}

    def __init__(self, p: int = 1, margin: float = 1.0, weight: Any = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: p={p!r}; expected 1 or 2 (as PyTorch)")
        self.p, self.margin = p, margin
        self._weights(weight=weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return F.multi_margin_loss(input, target, self.p, self.margin, self.weight, reduction=self.reduction)


class CosineEmbeddingLoss(_Loss):
    """1 - cos for similar pairs (target 1), max(0, cos - margin) for dissimilar ones (-1)
    (``F.cosine_embedding_loss``).

    >>> import chainrule as cr
    >>> cr.nn.CosineEmbeddingLoss(margin=0.5)
    CosineEmbeddingLoss(margin=0.5)
    """

    _defaults = {"margin": 0.0}

    def __init__(self, margin: float = 0.0, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:  # fmt: skip
        super().__init__(size_average, reduce, reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.cosine_embedding_loss(input1, input2, target, self.margin, reduction=self.reduction)

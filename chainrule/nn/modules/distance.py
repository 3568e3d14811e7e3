"""``PairwiseDistance`` and ``CosineSimilarity``, as in ``torch/nn/modules/distance.py``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class PairwiseDistance(Module):
    """||x1 - x2 + eps||_p over the last dim (``F.pairwise_distance``); ``p`` is kept as ``norm``, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.PairwiseDistance(eps=0.0)(cr.Tensor([[0.0, 0.0]]), cr.Tensor([[3.0, 4.0]])).tolist()
    [5.0]
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)


class CosineSimilarity(Module):
    """The cosine of the angle between x1 and x2 along ``dim`` (``F.cosine_similarity``).

    >>> import chainrule as cr
    >>> cr.nn.CosineSimilarity(dim=0)(cr.Tensor([1.0, 0.0]), cr.Tensor([2.0, 0.0])).item()
    1.0
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1: Any, x2: Any) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

"""Batch normalization: ``BatchNorm1d`` and ``BatchNorm2d``, with running statistics as buffers."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module


class _BatchNorm(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(num_features)) if affine else None
        self.bias = Parameter(np.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))

    def forward(self, x: Any) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.running_mean.shape[0]}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): batch statistics in training, running ones in eval.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(2)
    >>> bn(cr.Tensor([[1.0, 2.0], [3.0, 6.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel of (N, C, H, W)."""

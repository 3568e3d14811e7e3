"""``LayerNorm``: each example normalized over its trailing axes (batch norm is in ``batchnorm.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module


class LayerNorm(Module):
    """Normalize each example over its trailing ``normalized_shape`` axes, then scale and shift.

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(2)(cr.Tensor([[1.0, 3.0]])).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(np.ones(shape))
        self.bias = Parameter(np.zeros(shape))

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

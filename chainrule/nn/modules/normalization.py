"""``LayerNorm`` and ``RMSNorm``: each example normalized over its trailing axes (batch norm is in
``batchnorm.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _shape(normalized_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)


class LayerNorm(Module):
    """Normalize each example over its trailing ``normalized_shape`` axes, then scale and shift
    (``weight``, ``bias``: PyTorch's arguments say which of them there are).

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(2)(cr.Tensor([[1.0, 3.0]])).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True) -> None:  # fmt: skip
        super().__init__()
        shape = _shape(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape)) if elementwise_affine and bias else None

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` axes, times ``weight``
    (``F.rms_norm``); ``eps=None``: the input dtype's machine epsilon, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.RMSNorm(2, eps=0.0)(cr.Tensor([[3.0, 4.0]])).numpy().round(4)
    array([[0.8485, 1.1314]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float | None = None,
                 elementwise_affine: bool = True) -> None:  # fmt: skip
        super().__init__()
        shape = _shape(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape)) if elementwise_affine else None

    def forward(self, x: Any) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

"""Pooling layers: ``MaxPool2d``, ``AvgPool2d`` and ``AdaptiveAvgPool2d``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class MaxPool2d(Module):
    """Max over k x k windows (stride k unless given); gradients go to each window's first maximum.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.MaxPool2d(2)(cr.Tensor(np.zeros((1, 3, 4, 4)))).shape
    (1, 3, 2, 2)
    """

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: Any) -> Tensor:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
                f"dilation={getattr(self, 'dilation', 1)}, ceil_mode={getattr(self, 'ceil_mode', False)}")


class AvgPool2d(MaxPool2d):
    """Mean over k x k windows (stride k unless given)."""

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average into an ``output_size`` grid of bins, whatever the input's height and width."""

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"

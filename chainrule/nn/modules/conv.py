"""``Conv2d``: 2-D convolution over (N, C, H, W), a shell over ``nn.functional.conv2d``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from ._utils import _as_input, _weight
from .module import Module


class Conv2d(Module):
    """2-D convolution over (N, C, H, W), filters (O, C, k, k): He-initialized, bias zero.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Conv2d(3, 8, 3, padding=1)(cr.Tensor(np.zeros((2, 3, 5, 5)))).shape
    (2, 8, 5, 5)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        bias: bool = True,
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        kh, kw = F._pair("Conv2d", "kernel_size", kernel_size, 1)
        self.stride, self.padding = stride, padding
        self.weight = _weight((out_channels, in_channels, kh, kw), init)
        self.bias = Parameter(np.zeros(out_channels)) if bias else None

    def forward(self, x: Any) -> Tensor:
        return F.conv2d(_as_input(x, self.weight), self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        # PyTorch's: pairs, and the settings that are not their defaults
        def pair(v: Any) -> tuple:
            return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

        o, c, kh, kw = self.weight.shape
        s = f"{c * getattr(self, 'groups', 1)}, {o}, kernel_size=({kh}, {kw}), stride={pair(self.stride)}"
        if isinstance(self.padding, str) or pair(self.padding) != (0, 0):
            s += f", padding={self.padding if isinstance(self.padding, str) else pair(self.padding)}"
        if pair(getattr(self, "dilation", 1)) != (1, 1):
            s += f", dilation={pair(self.dilation)}"
        if getattr(self, "groups", 1) != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if getattr(self, "padding_mode", "zeros") != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

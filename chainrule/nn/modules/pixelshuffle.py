"""``PixelShuffle`` and ``PixelUnshuffle``, as in ``torch/nn/modules/pixelshuffle.py``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class PixelShuffle(Module):
    """(*, C r^2, H, W) -> (*, C, H r, W r) (``F.pixel_shuffle``; sub-pixel convolution's upsampling).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.PixelShuffle(3)(cr.Tensor(np.zeros((1, 9, 4, 4)))).shape
    (1, 1, 12, 12)
    """

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Any) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H r, W r) -> (*, C r^2, H, W) (``F.pixel_unshuffle``), PixelShuffle's inverse.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.PixelUnshuffle(3)(cr.Tensor(np.zeros((1, 1, 12, 12)))).shape
    (1, 9, 4, 4)
    """

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Any) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"

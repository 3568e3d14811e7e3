"""Upsampling layers, as ``torch/nn/modules/upsampling.py``: ``Upsample``, ``UpsamplingNearest2d`` and
``UpsamplingBilinear2d``, shells over ``nn.functional.interpolate``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .conv import _named
from .module import Module


class Upsample(Module):
    """Resize signals (N, C, L) or images (N, C, H, W) to ``size`` or by ``scale_factor``, with
    ``mode`` 'nearest', 'nearest-exact', 'linear', 'bilinear' or 'area' (see ``F.interpolate``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> up = cr.nn.Upsample(scale_factor=2, mode="bilinear")
    >>> up(cr.Tensor(np.zeros((1, 3, 4, 5)))).shape, up
    ((1, 3, 8, 10), Upsample(scale_factor=2.0, mode='bilinear'))
    """

    def __init__(self, size: Any = None, scale_factor: Any = None, mode: str = "nearest",
                 align_corners: bool | None = None, recompute_scale_factor: bool | None = None) -> None:  # fmt: skip
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, tuple):  # PyTorch keeps the factors as floats
            self.scale_factor: Any = tuple(float(f) for f in scale_factor)
        else:
            self.scale_factor = float(scale_factor) if scale_factor else None
        self.mode, self.align_corners, self.recompute_scale_factor = mode, align_corners, recompute_scale_factor

    def forward(self, input: Any) -> Tensor:
        try:
            return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                                 recompute_scale_factor=self.recompute_scale_factor)  # fmt: skip
        except ValueError as e:
            raise _named(self, e) from e

    def extra_repr(self) -> str:
        info = f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None else f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample`` with mode 'nearest', for images.

    >>> import chainrule as cr
    >>> cr.nn.UpsamplingNearest2d(scale_factor=2)(cr.Tensor([[[[1.0, 2.0]]]])).tolist()
    [[[[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0]]]]
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample`` with mode 'bilinear' and ``align_corners=True`` (the corners' values kept), for images.

    >>> import chainrule as cr
    >>> cr.nn.UpsamplingBilinear2d(size=(1, 3))(cr.Tensor([[[[1.0, 2.0]]]])).tolist()
    [[[[1.0, 1.5, 2.0]]]]
    """

    def __init__(self, size: Any = None, scale_factor: Any = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)

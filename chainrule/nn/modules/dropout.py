"""The dropout layers, as in ``torch/nn/modules/dropout.py``: ``Dropout`` (each entry),
``Dropout1d``/``Dropout2d``/``Dropout3d`` (whole channels), ``AlphaDropout`` and
``FeatureAlphaDropout`` (for SELU networks). Each drops while training and is the identity in
eval mode; ``inplace=True`` is taken and computed out of place (``nn.functional``'s dropout notes)."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class _DropoutNd(Module):
    """p and inplace, checked and printed as PyTorch's."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"{type(self).__name__}: p={p}; expected 0 <= p < 1")
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Inverted dropout while training; the identity in eval mode.

    >>> import chainrule as cr
    >>> cr.nn.Dropout(0.5).eval()(cr.Tensor([1.0, 2.0])).numpy()
    array([1., 2.], dtype=float32)
    """

    def forward(self, input: Any) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zeroes whole channels of (N, C, L) or (C, L) while training (``F.dropout1d``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Dropout1d(0.5)(cr.Tensor(np.ones((2, 3, 4)))).shape
    (2, 3, 4)
    """

    def forward(self, input: Any) -> Tensor:
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zeroes whole channels of (N, C, H, W) while training (``F.dropout2d``; a 3-D input is (N, C, L))."""

    def forward(self, input: Any) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) while training (``F.dropout3d``)."""

    def forward(self, input: Any) -> Tensor:
        return F.dropout3d(input, self.p, self.training, self.inplace)


class AlphaDropout(_DropoutNd):
    """Alpha dropout while training (``F.alpha_dropout``): keeps SELU's mean 0 and variance 1.

    >>> import chainrule as cr
    >>> cr.nn.AlphaDropout(0.2)
    AlphaDropout(p=0.2, inplace=False)
    """

    def forward(self, input: Any) -> Tensor:
        return F.alpha_dropout(input, self.p, self.training)


class FeatureAlphaDropout(_DropoutNd):
    """Alpha dropout of whole channels of (N, C, *) while training (``F.feature_alpha_dropout``)."""

    def forward(self, input: Any) -> Tensor:
        return F.feature_alpha_dropout(input, self.p, self.training)

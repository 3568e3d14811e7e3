"""What the layers with weights share: a weight made by its initializer, and a raw input made a Tensor."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import init
from ..parameter import Parameter


def _weight(shape: tuple[int, ...], how: str) -> Parameter:
    """A weight of ``shape``, He- (``"kaiming"``) or Glorot- (``"xavier"``) normal initialized."""
    w = Parameter(np.zeros(shape))
    if how == "kaiming":
        init.kaiming_normal_(w)
    elif how == "xavier":
        init.xavier_normal_(w)
    else:
        raise ValueError(f"init={how!r}; expected 'kaiming' (for ReLU nets) or 'xavier' (for tanh/sigmoid)")
    return w


def _as_input(x: Any, like: Tensor) -> Any:
    """A raw array (or list) given to a layer, as a Tensor of the layer's parameters' dtype: a
    float64 NumPy batch would otherwise run the whole net in float64, silently and slowly.
    Tensors are taken as they are (mixing dtypes then follows NumPy's promotion)."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x, dtype=like.dtype)

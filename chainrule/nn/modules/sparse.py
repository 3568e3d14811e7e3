"""``Embedding``: a table of vectors looked up by integer index (PyTorch's ``sparse.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module


class Embedding(Module):
    """A table of ``num`` vectors of size ``dim``, looked up by integer index; N(0, 1) init.

    >>> import chainrule as cr
    >>> cr.nn.Embedding(10, 4)([[1, 2, 3]]).shape
    (1, 3, 4)
    """

    def __init__(self, num: int, dim: int) -> None:
        super().__init__()
        self.weight = init.normal_(Parameter(np.zeros((num, dim))))

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight)

    def extra_repr(self) -> str:
        num, dim = self.weight.shape
        s = f"{num}, {dim}"
        for name, default in (("padding_idx", None), ("max_norm", None), ("norm_type", 2.0),
                              ("scale_grad_by_freq", False), ("sparse", False)):  # fmt: skip
            if getattr(self, name, default) != default:
                s += f", {name}={getattr(self, name)}"
        return s

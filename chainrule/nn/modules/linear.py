"""``Linear`` (``x W^T + b``) and ``Identity``, as in ``torch/nn/modules/linear.py``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from ._utils import _as_input, _weight
from .module import Module


class Linear(Module):
    """``x W^T + b`` with W (out, in): He-initialized by default, bias zero.

    >>> import chainrule as cr
    >>> cr.nn.Linear(4, 3).weight.shape
    (3, 4)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "kaiming") -> None:
        super().__init__()
        self.weight = _weight((out_features, in_features), init)
        self.bias = Parameter(np.zeros(out_features)) if bias else None

    def forward(self, x: Any) -> Tensor:
        return F.linear(_as_input(x, self.weight), self.weight, self.bias)

    def extra_repr(self) -> str:
        out, inp = self.weight.shape
        return f"in_features={inp}, out_features={out}, bias={self.bias is not None}"


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional).

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0])
    >>> cr.nn.Identity()(x) is x
    True
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # accepts and ignores arguments, as PyTorch's
        super().__init__()

    def forward(self, x: Any) -> Any:
        return x

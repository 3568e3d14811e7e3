"""``Linear`` (``x W^T + b``) and ``Identity``, as in ``torch/nn/modules/linear.py``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from ._utils import _as_input, _bias, _init_bias, _init_weight, _weight
from .module import Module


class Linear(Module):
    """``x W^T + b`` with W (out, in), initialized as PyTorch's by default: W and b from
    U(-1/sqrt(in), 1/sqrt(in)) (``kaiming_uniform_(a=sqrt(5))``). ``init="kaiming"`` (He
    normal, for ReLU nets) and ``init="xavier"`` (Glorot normal, for tanh and sigmoid) are the
    course's schemes, with a zero bias.

    >>> import chainrule as cr
    >>> cr.nn.Linear(4, 3).weight.shape
    (3, 4)
    >>> bool(cr.nn.Linear(100, 3, init="kaiming").bias.numpy().any())
    False
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str | None = None) -> None:
        super().__init__()
        self.init = init  # reset_parameters draws again by the same scheme
        self.weight = _weight((out_features, in_features), init, "Linear")
        self.bias = _bias(out_features, in_features, init) if bias else None

    def reset_parameters(self) -> None:
        """Draw the weight and bias again, in place, by the layer's scheme (``init``).

        >>> import chainrule as cr
        >>> lin = cr.nn.Linear(3, 2)
        >>> w = lin.weight.numpy().copy(); lin.reset_parameters()
        >>> bool((lin.weight.numpy() != w).all())
        True
        """
        _init_weight(self.weight, self.init)
        if self.bias is not None:
            _init_bias(self.bias, self.weight.shape[1], self.init)

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

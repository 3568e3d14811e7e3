"""Layers: each holds its parameters and calls one function of ``nn.functional``.

The activation modules (ReLU, GELU, Softmax, ...) are in ``nn.activation``, as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter


def _weight(shape: tuple[int, ...], how: str) -> Parameter:
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
        return f"{inp}, {out}" + ("" if self.bias is not None else ", bias=False")


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
        o, c, kh, kw = self.weight.shape
        return f"{c}, {o}, kernel_size=({kh}, {kw}), stride={self.stride}, padding={self.padding}"


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
        return f"kernel_size={self.kernel_size}"


class AvgPool2d(MaxPool2d):
    """Mean over k x k windows (stride k unless given)."""

    def forward(self, x: Any) -> Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class AdaptiveAvgPool2d(Module):
    """Average into an ``output_size`` grid of bins, whatever the input's height and width."""

    def __init__(self, output_size: int | tuple[int, int]) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Any) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class _BatchNorm(Module):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True) -> None:
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = Parameter(np.ones(num_features)) if affine else None
        self.bias = Parameter(np.zeros(num_features)) if affine else None
        self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))

    def forward(self, x: Any) -> Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
        )

    def extra_repr(self) -> str:
        return f"{self.running_mean.shape[0]}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): batch statistics in training, running ones in eval.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(2)
    >>> bn(cr.Tensor([[1.0, 2.0], [3.0, 6.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel of (N, C, H, W)."""


class LayerNorm(Module):
    """Normalize each example over its trailing ``normalized_shape`` axes, then scale and shift.

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(2)(cr.Tensor([[1.0, 3.0]])).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(np.ones(shape))
        self.bias = Parameter(np.zeros(shape))

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


class Dropout(Module):
    """Inverted dropout while training; the identity in eval mode.

    >>> import chainrule as cr
    >>> cr.nn.Dropout(0.5).eval()(cr.Tensor([1.0, 2.0])).numpy()
    array([1., 2.], dtype=float32)
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"Dropout: p={p}; expected 0 <= p < 1")
        self.p = p

    def forward(self, x: Any) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Flatten(Module):
    """(N, ...) -> (N, rest): keeps the batch axis.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Flatten()(cr.Tensor(np.zeros((2, 3, 4)))).shape
    (2, 12)
    """

    def forward(self, x: Any) -> Tensor:
        return x.flatten(1)


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

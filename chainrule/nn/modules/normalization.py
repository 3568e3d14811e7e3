"""``LayerNorm``, ``RMSNorm`` and ``GroupNorm``: each example normalized over its trailing axes or
its groups of channels; ``LocalResponseNorm`` across neighbouring channels (batch norm is in
``batchnorm.py``, instance norm in ``instancenorm.py``, as in PyTorch)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor
from .. import functional as F
from ..parameter import Parameter
from .module import Module


def _shape(normalized_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)


def _placed(module: Module, device: Any, dtype: Any) -> None:
    """PyTorch's ``device=``/``dtype=`` of a layer's constructor."""
    if device is not None or dtype is not None:
        module.to(device, dtype)


def _ones_zeros(weight: Parameter | None, bias: Parameter | None) -> None:
    """A norm's affine parameters back to the identity: scale 1, shift 0 (in place)."""
    for p, value in ((weight, 1), (bias, 0)):
        if p is not None:
            write_in_place(p, "reset_parameters")[...] = value


class LayerNorm(Module):
    """Normalize each example over its trailing ``normalized_shape`` axes, then scale and shift
    (``weight``, ``bias``: PyTorch's arguments say which of them there are).

    >>> import chainrule as cr
    >>> cr.nn.LayerNorm(2)(cr.Tensor([[1.0, 3.0]])).numpy().round(3)
    array([[-1.,  1.]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        shape = _shape(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape)) if elementwise_affine and bias else None
        _placed(self, device, dtype)

    def reset_parameters(self) -> None:
        """The scale 1 and the shift 0, as PyTorch's."""
        _ones_zeros(self.weight, self.bias)

    def forward(self, x: Any) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` axes, times ``weight``
    (``F.rms_norm``); ``eps=None``: the input dtype's machine epsilon, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.RMSNorm(2, eps=0.0)(cr.Tensor([[3.0, 4.0]])).numpy().round(4)
    array([[0.8485, 1.1314]], dtype=float32)
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None, dtype: Any = None) -> None:  # fmt: skip
        super().__init__()
        shape = _shape(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        self.weight = Parameter(np.ones(shape)) if elementwise_affine else None
        _placed(self, device, dtype)

    def reset_parameters(self) -> None:
        """The scale 1, as PyTorch's."""
        _ones_zeros(self.weight, None)

    def forward(self, x: Any) -> Tensor:
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalization of (N, C, *): each example's channels in ``num_groups`` groups, normalized
    over each group's channels and positions, then ``weight``/``bias`` per channel (``F.group_norm``).

    >>> import chainrule as cr
    >>> cr.nn.GroupNorm(2, 4)
    GroupNorm(2, 4, eps=1e-05, affine=True, bias=True)
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True,
                 device: Any = None, dtype: Any = None, *, bias: bool = True) -> None:  # fmt: skip
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} in num_groups={num_groups}; expected a positive "
                             "number of groups that divides the channels")  # fmt: skip
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, affine
        self.weight = Parameter(np.ones(num_channels)) if affine else None
        self.bias = Parameter(np.zeros(num_channels)) if affine and bias else None
        _placed(self, device, dtype)

    def reset_parameters(self) -> None:
        """The scale 1 and the shift 0, as PyTorch's."""
        _ones_zeros(self.weight, self.bias)

    def forward(self, input: Any) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LocalResponseNorm(Module):
    """Each channel divided by (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta
    (``F.local_response_norm``; AlexNet's normalization).

    >>> import chainrule as cr
    >>> cr.nn.LocalResponseNorm(2)
    LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, input: Any) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

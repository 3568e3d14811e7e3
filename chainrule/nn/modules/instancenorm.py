"""Instance normalization: ``InstanceNorm1d``, ``InstanceNorm2d`` and ``InstanceNorm3d``, as in
``torch/nn/modules/instancenorm.py``: each (example, channel) normalized over its positions.

PyTorch's defaults: no affine parameters and no running statistics. With
``track_running_stats=True`` the buffers are batch norm's (``running_mean``, ``running_var``,
``num_batches_tracked``, the last never counted, as PyTorch's), updated in training and used in
eval mode. An input without its batch dim ((C, L) for the 1-d layer) is taken as a batch of one.
"""

from __future__ import annotations

import warnings
from typing import Any

from ...autograd.tensor import Tensor, as_tensor
from .. import functional as F
from .batchnorm import _NormBase


class _InstanceNorm(_NormBase):
    spatial = 1  # the positions' dims after (N, C)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:  # fmt: skip
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)

    def forward(self, input: Any) -> Tensor:
        x = as_tensor(input)
        name, unbatched = type(self).__name__, 1 + self.spatial
        if x.ndim not in (unbatched, unbatched + 1):
            raise ValueError(f"{name}: input has shape {x.shape}; expected {unbatched + 1}-D (N, C, ...) or "
                             f"{unbatched}-D (C, ...) without the batch dim")  # fmt: skip
        channels = x.shape[x.ndim - unbatched]
        if channels != self.num_features:
            if self.affine:
                raise ValueError(f"{name}: input has shape {x.shape}, {channels} channels; expected "
                                 f"num_features={self.num_features}")  # fmt: skip
            warnings.warn(f"{name}: input of shape {x.shape} has {channels} channels, not num_features="
                          f"{self.num_features} (unused without affine parameters), as PyTorch warns", stacklevel=2)  # fmt: skip
        if x.ndim == unbatched:
            return self._normalize(x.unsqueeze(0)).squeeze(0)
        return self._normalize(x)

    def _normalize(self, x: Tensor) -> Tensor:
        momentum = 0.0 if self.momentum is None else self.momentum
        return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                               self.training or not self.track_running_stats, momentum, self.eps)  # fmt: skip

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm of (N, C, L) or (C, L).

    >>> import chainrule as cr
    >>> cr.nn.InstanceNorm1d(2)(cr.Tensor([[[1.0, 3.0], [2.0, 6.0]]])).numpy().round(3)
    array([[[-1.,  1.],
            [-1.,  1.]]], dtype=float32)
    """


class InstanceNorm2d(_InstanceNorm):
    """Instance norm of (N, C, H, W) or (C, H, W)."""

    spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm of (N, C, D, H, W) or (C, D, H, W)."""

    spatial = 3

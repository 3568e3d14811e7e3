"""Batch normalization: ``BatchNorm1d`` and ``BatchNorm2d``, with running statistics as buffers.

The buffers are PyTorch's: ``running_mean``, ``running_var`` and ``num_batches_tracked`` (int64,
counted in each training forward), so state_dicts move between the two. ``momentum=None``
makes the running statistics a cumulative average, each batch weighted 1/num_batches_tracked.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor
from ...backend import array_module
from .. import functional as F
from ..parameter import Parameter
from .module import Module


class _NormBase(Module):
    """What batch and instance norm share, as PyTorch's ``_NormBase``: the scale and shift
    (``affine``), the running statistics as buffers (``track_running_stats``; None when not
    tracked) and their resets."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features)) if affine else None
        self.bias = Parameter(np.zeros(num_features)) if affine and bias else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=np.float32))
            self.register_buffer("running_var", np.ones(num_features, dtype=np.float32))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        if device is not None or dtype is not None:
            self.to(device, dtype)

    def reset_running_stats(self) -> None:
        """Running mean 0, variance 1, no batches counted (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0
            self.running_var[...] = 1
            self.num_batches_tracked[...] = 0

    def reset_parameters(self) -> None:
        """The running statistics reset, the scale 1 and the shift 0."""
        self.reset_running_stats()
        for p, value in ((self.weight, 1), (self.bias, 0)):
            if p is not None:
                write_in_place(p, "reset_parameters")[...] = value


class _BatchNorm(_NormBase):
    # a state_dict from before num_batches_tracked existed still loads: the count stays as it is
    _state_defaults = ("num_batches_tracked",)

    def forward(self, x: Any) -> Tensor:
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.num_batches_tracked is not None:
            self.num_batches_tracked += 1  # in place: a compiled step writes the count back
            if self.momentum is None:  # the cumulative average: batch k weighs 1/k
                momentum = 1.0 / self.num_batches_tracked
        mean, var = self.running_mean, self.running_var
        training = self.training or mean is None
        if training and mean is None:  # statistics not tracked: the batch's alone, in scratch the update may write
            xp = array_module(x.data if isinstance(x, Tensor) else np.asarray(x))
            mean, var = xp.zeros(self.num_features, dtype=np.float32), xp.ones(self.num_features, dtype=np.float32)
        return F.batch_norm(x, mean, var, self.weight, self.bias, training, momentum, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L): batch statistics in training, running ones in eval.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(2)
    >>> bn(cr.Tensor([[1.0, 2.0], [3.0, 6.0]])).numpy().round(3)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    >>> bn.num_batches_tracked
    array(1)
    """


class BatchNorm2d(_BatchNorm):
    """Batch norm per channel of (N, C, H, W)."""

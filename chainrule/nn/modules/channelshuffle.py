"""``ChannelShuffle``, as in ``torch/nn/modules/channelshuffle.py``."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .module import Module


class ChannelShuffle(Module):
    """Interleaves the channels of (N, C, *) in ``groups`` groups (``F.channel_shuffle``; ShuffleNet).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.ChannelShuffle(2)(cr.Tensor(np.arange(4.0).reshape(1, 4, 1))).numpy().ravel().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Any) -> Tensor:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"

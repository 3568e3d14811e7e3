"""The sequence tasks' baseline: an LSTM and a linear read-out, about the NTM's size."""

from __future__ import annotations

from typing import Any

from .. import nn
from ..autograd.tensor import Tensor


class LSTMBaseline(nn.Module):
    """The copy task's baseline: an LSTM and a linear read-out.

    The default, one layer of 120 units, has 63,848 parameters for the copy task: about the
    size of the NTM (65,240), so the comparison is between architectures, not sizes.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 120, num_layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers)
        self.out = nn.Linear(hidden_size, output_size, init="xavier")

    def forward(self, x: Any, record: list | None = None) -> Tensor:
        out, _ = self.lstm(x)
        t, b, h = out.shape
        return self.out(out.reshape(t * b, h)).reshape(t, b, -1)

"""The LSTM baselines: an LSTM and a linear read-out, about the NTM's size (the sequence tasks),
and a character LSTM (language modelling) that samples as the GPT does."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from .gpt import sample_logits, sampling


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


class CharLSTM(nn.Module):
    """The language-modelling baseline: embedding, an LSTM, a linear read-out to the vocabulary.

    >>> import chainrule as cr
    >>> CharLSTM(10, hidden_size=8)(cr.tensor([[1, 2, 3]])).shape   # (batch, time) ids -> logits
    (1, 3, 10)
    """

    def __init__(self, vocab_size: int, hidden_size: int = 256, num_layers: int = 1) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers=num_layers, batch_first=True)
        self.out = nn.Linear(hidden_size, vocab_size, init="xavier")

    def forward(self, idx: Any) -> Tensor:
        out, _ = self.lstm(self.embedding(idx))  # (B, T, hidden)
        return self.out(out)  # (B, T, vocab)

    @no_grad()
    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None) -> np.ndarray:  # fmt: skip
        """``idx`` (B, T) continued by ``max_new_tokens`` sampled tokens -> (B, T + new) ids: the
        prompt once, then a token at a time, carrying the LSTM's state (as ``GPT.generate``).

        >>> CharLSTM(10, hidden_size=8).generate([[1, 2]], 3, seed=0).shape
        (1, 5)
        """
        out, g = sampling(idx, temperature, seed)
        was_training = self.training
        self.eval()
        try:
            h, state = self.lstm(self.embedding(out))
            for _ in range(max_new_tokens):
                nxt = sample_logits(self.out(h)[:, -1].numpy(), temperature, top_k, g)  # (B, 1)
                out = np.concatenate([out, nxt], axis=1)
                h, state = self.lstm(self.embedding(nxt), state)
        finally:
            self.train(was_training)
        return out

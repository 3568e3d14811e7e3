"""The sinusoidal positional encoding of "Attention Is All You Need" (Vaswani et al. 2017, 3.5)."""

from __future__ import annotations

import numpy as np

from ...autograd.tensor import Tensor


def sinusoidal_positional_encoding(length: int, d_model: int, base: float = 10000.0) -> Tensor:
    """(length, d_model): PE[pos, 2i] = sin(pos / base^(2i / d_model)) and PE[pos, 2i + 1] =
    cos(pos / base^(2i / d_model)), the sines on the even columns and the cosines on the odd.
    A constant (float32) to add to the embeddings; each position's code is a set of clocks of
    geometrically growing periods, so a fixed offset is a rotation of it.

    >>> import chainrule as cr
    >>> pe = cr.nn.utils.sinusoidal_positional_encoding(50, 6)
    >>> pe.shape, pe.numpy()[0].tolist(), [round(v, 4) for v in pe.numpy()[1, :2].tolist()]
    ((50, 6), [0.0, 1.0, 0.0, 1.0, 0.0, 1.0], [0.8415, 0.5403])
    """
    if length < 0 or d_model <= 0:
        raise ValueError(f"sinusoidal_positional_encoding: length={length}, d_model={d_model}; expected length >= 0 "
                         "and d_model > 0")
    pos = np.arange(length, dtype=np.float64)[:, None]  # (length, 1)
    angles = pos / base ** (np.arange(0, d_model, 2) / d_model)  # (length, ceil(d_model / 2))
    pe = np.empty((length, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])  # an odd d_model has one sine more than cosines
    return Tensor(pe)

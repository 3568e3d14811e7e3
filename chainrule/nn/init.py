"""Weight initialization, in place, from chainrule's seeded generator.

The defaults follow the course: a layer followed by a ReLU starts from Kaiming/He
(variance 2 / fan_in, so the signal's scale survives many ReLU layers); Xavier/Glorot
(variance 2 / (fan_in + fan_out)) suits tanh and sigmoid. ``Linear`` and ``Conv2d`` use
He normal for their weights and zeros for their biases.
"""

from __future__ import annotations

import math

import numpy as np

from .. import rng
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module

_GAINS = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0)}


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight: (out, in) for a matrix, (O, C, kh, kw) for filters.

    >>> fans((64, 3, 3, 3))
    (27, 576)
    """
    if len(shape) < 2:
        raise ValueError(f"init: a weight of shape {shape} has no fan-in; expected 2 or more axes")
    field = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * field, shape[0] * field


def gain(nonlinearity: str) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``."""
    if nonlinearity not in _GAINS:
        raise ValueError(f"init: unknown nonlinearity {nonlinearity!r}; expected one of {sorted(_GAINS)}")
    return _GAINS[nonlinearity]


def _fill(t: Tensor, values: np.ndarray) -> Tensor:
    write_in_place(t, "nn.init")[...] = array_module(t.data).asarray(values.astype(t.dtype))
    return t


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2) samples.

    >>> import chainrule as cr
    >>> normal_(cr.Tensor([0.0, 0.0]), std=0.0).numpy()
    array([0., 0.], dtype=float32)
    """
    return _fill(t, rng.generator().normal(mean, std, size=t.shape))


def uniform_(t: Tensor, low: float = 0.0, high: float = 1.0) -> Tensor:
    """Fill with U(low, high) samples."""
    return _fill(t, rng.generator().uniform(low, high, size=t.shape))


def zeros_(t: Tensor) -> Tensor:
    """Fill with zeros."""
    write_in_place(t, "nn.init.zeros_")[...] = 0
    return t


def ones_(t: Tensor) -> Tensor:
    """Fill with ones."""
    write_in_place(t, "nn.init.ones_")[...] = 1
    return t


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -a, a)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot & Bengio (2010): N(0, gain^2 * 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(t.shape)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def kaiming_normal_(t: Tensor, nonlinearity: str = "relu") -> Tensor:
    """He et al. (2015): N(0, gain^2 / fan_in); for ReLU that is variance 2 / fan_in.

    >>> import chainrule as cr
    >>> w = kaiming_normal_(cr.Tensor(np.zeros((400, 800))))
    >>> round(float(w.numpy().std()) * math.sqrt(800 / 2), 1)
    1.0
    """
    fan_in, _ = fans(t.shape)
    return normal_(t, 0.0, gain(nonlinearity) / math.sqrt(fan_in))


def kaiming_uniform_(t: Tensor, nonlinearity: str = "relu") -> Tensor:
    """He et al. (2015), uniform: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    fan_in, _ = fans(t.shape)
    b = gain(nonlinearity) * math.sqrt(3.0 / fan_in)
    return uniform_(t, -b, b)

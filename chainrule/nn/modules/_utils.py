"""What the layers with weights share: weights and biases made by their initializer, and a raw
input made a Tensor.

``init=None`` is PyTorch's default for ``Linear`` and the convolutions (``reset_parameters``
in ``torch/nn/modules/linear.py``): weights ``kaiming_uniform_(a=sqrt(5))``, i.e.
U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and biases from the same range, so a model ported from
PyTorch starts from the same distributions. ``"kaiming"`` (He normal, for ReLU nets) and
``"xavier"`` (Glorot normal, for tanh and sigmoid) are the course's, with zero biases.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import init
from ..parameter import Parameter

INITS = (None, "kaiming", "xavier")


def _check_init(how: Any, op: str = "") -> None:
    if how not in INITS:
        raise ValueError(f"{op + ': ' if op else ''}init={how!r}; expected None (PyTorch's default), 'kaiming' (He, for ReLU nets) or "
                         "'xavier' (Glorot, for tanh/sigmoid)")  # fmt: skip


def _init_weight(w: Tensor, how: str | None) -> Tensor:
    """Fill ``w`` in place by the scheme ``how`` (one of ``INITS``)."""
    _check_init(how)
    if how is None:
        return init.kaiming_uniform_(w, a=math.sqrt(5))  # PyTorch's: gain sqrt(1/3), bound 1/sqrt(fan_in)
    if how == "kaiming":
        return init.kaiming_normal_(w, nonlinearity="relu")
    return init.xavier_normal_(w)


def _init_bias(b: Tensor, fan_in: int, how: str | None) -> Tensor:
    """Fill a bias in place: PyTorch's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for ``how=None``, else zeros."""
    _check_init(how)
    if how is None:
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return init.uniform_(b, -bound, bound)
    return init.zeros_(b)


def _weight(shape: tuple[int, ...], how: str | None, op: str = "") -> Parameter:
    """A weight of ``shape`` initialized by ``how``: None (PyTorch's), "kaiming" or "xavier".

    >>> w = _weight((300, 100), None)
    >>> bool(abs(w.numpy()).max() <= 0.1)   # 1 / sqrt(fan_in)
    True
    """
    _check_init(how, op)  # before anything is allocated
    return _init_weight(Parameter(np.zeros(shape)), how)


def _bias(size: int, fan_in: int, how: str | None) -> Parameter:
    """A bias of ``size`` for a layer of ``fan_in`` inputs per output, initialized by ``how``."""
    return _init_bias(Parameter(np.zeros(size)), fan_in, how)


def _as_input(x: Any, like: Tensor) -> Any:
    """A raw array (or list) given to a layer, as a Tensor of the layer's parameters' dtype: a
    float64 NumPy batch would otherwise run the whole net in float64, silently and slowly.
    Tensors are taken as they are (mixing dtypes then follows NumPy's promotion)."""
    if isinstance(x, Tensor):
        return x
    return Tensor(x, dtype=like.dtype)

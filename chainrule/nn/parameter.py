"""``Parameter``: the Tensor a module learns (PyTorch keeps it in ``torch/nn/parameter.py``)."""

from __future__ import annotations

from typing import Any

from ..autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a module learns: always ``requires_grad``, float32 unless ``dtype`` says.

    >>> import chainrule as cr
    >>> cr.nn.Parameter([1.0, 2.0]).requires_grad
    True
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]

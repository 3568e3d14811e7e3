"""``Parameter``: the Tensor a module learns (PyTorch keeps it in ``torch/nn/parameter.py``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a module learns: ``requires_grad`` unless told not to, float32 unless ``dtype`` says.

    ``Parameter(data, False)`` is PyTorch's positional ``requires_grad=False`` (a frozen one);
    no data gives an empty parameter, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.Parameter([1.0, 2.0]).requires_grad, cr.nn.Parameter([1.0], requires_grad=False).requires_grad
    (True, False)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, dtype: Any = None, name: str | None = None, *,
                 requires_grad: bool = True) -> None:  # fmt: skip
        if isinstance(dtype, bool):  # PyTorch's second argument is requires_grad
            dtype, requires_grad = None, dtype
        if data is None:
            data = np.empty(0, dtype=np.float32)
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return "Parameter" + super().__repr__()[len("Tensor") :]

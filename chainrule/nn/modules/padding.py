"""The padding layers, as in ``torch/nn/modules/padding.py``: ``ConstantPad``, ``ZeroPad``,
``ReflectionPad``, ``ReplicationPad`` and ``CircularPad``, each 1d, 2d and 3d. Each holds its
widths as PyTorch's (an int is the same width on every side) and calls ``F.pad`` (the
``(left, right, top, bottom, front, back)`` order, last dim first)."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor, as_tensor
from .. import functional as F
from .module import Module


def _widths(layer: str, padding: int | tuple[int, ...], n: int) -> tuple[int, ...]:
    """``padding`` as ``n`` ints: an int repeated, a sequence of ``n`` kept."""
    if isinstance(padding, int) and not isinstance(padding, bool):
        return (padding,) * n
    widths = tuple(padding)
    if len(widths) != n or not all(isinstance(w, int) and not isinstance(w, bool) for w in widths):
        raise ValueError(f"{layer}: padding={padding!r}; expected an int or {n} ints")
    return widths


class _Pad(Module):
    """A padding layer: ``mode`` and the number of padded dims ``dims`` (1, 2 or 3) come from the class."""

    mode = "constant"
    dims = 1

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__()
        self.padding = _widths(type(self).__name__, padding, 2 * self.dims)

    def forward(self, input: Any) -> Tensor:
        x = as_tensor(input)
        if self.mode == "circular" and x.ndim not in (self.dims + 1, self.dims + 2):
            raise ValueError(f"{type(self).__name__}: input has shape {x.shape}; expected {self.dims + 1}-D or "
                             f"{self.dims + 2}-D")  # fmt: skip
        return F.pad(x, self.padding, self.mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding: int | tuple[int, ...], value: float) -> None:
        super().__init__(padding)
        self.value = value

    def forward(self, input: Any) -> Tensor:
        return F.pad(as_tensor(input), self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPad):
    """Pads the last dim with ``value``: (left, right).

    >>> import chainrule as cr
    >>> cr.nn.ConstantPad1d((1, 2), 9.0)(cr.Tensor([[1.0]])).tolist()
    [[9.0, 1.0, 9.0, 9.0]]
    """


class ConstantPad2d(_ConstantPad):
    """Pads the last two dims with ``value``: (left, right, top, bottom)."""

    dims = 2


class ConstantPad3d(_ConstantPad):
    """Pads the last three dims with ``value``: (left, right, top, bottom, front, back)."""

    dims = 3


class ZeroPad1d(ConstantPad1d):
    """Pads the last dim with zeros.

    >>> import chainrule as cr
    >>> cr.nn.ZeroPad1d(1)
    ZeroPad1d((1, 1))
    """

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pads the last two dims with zeros."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pads the last three dims with zeros."""

    def __init__(self, padding: int | tuple[int, ...]) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_Pad):
    """Mirrors the last dim at its edges (the edge itself not repeated).

    >>> import chainrule as cr
    >>> cr.nn.ReflectionPad1d(2)(cr.Tensor([[[1.0, 2.0, 3.0]]])).tolist()
    [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]]]
    """

    mode = "reflect"


class ReflectionPad2d(ReflectionPad1d):
    """Mirrors the last two dims at their edges."""

    dims = 2


class ReflectionPad3d(ReflectionPad1d):
    """Mirrors the last three dims at their edges."""

    dims = 3


class ReplicationPad1d(_Pad):
    """Repeats the last dim's edge values.

    >>> import chainrule as cr
    >>> cr.nn.ReplicationPad1d((1, 2))(cr.Tensor([[[1.0, 2.0]]])).tolist()
    [[[1.0, 1.0, 2.0, 2.0, 2.0]]]
    """

    mode = "replicate"


class ReplicationPad2d(ReplicationPad1d):
    """Repeats the last two dims' edge values."""

    dims = 2


class ReplicationPad3d(ReplicationPad1d):
    """Repeats the last three dims' edge values."""

    dims = 3


class CircularPad1d(_Pad):
    """Wraps the last dim around (2-D or 3-D input).

    >>> import chainrule as cr
    >>> cr.nn.CircularPad1d(1)(cr.Tensor([[[1.0, 2.0, 3.0]]])).tolist()
    [[[3.0, 1.0, 2.0, 3.0, 1.0]]]
    """

    mode = "circular"


class CircularPad2d(CircularPad1d):
    """Wraps the last two dims around (3-D or 4-D input)."""

    dims = 2


class CircularPad3d(CircularPad1d):
    """Wraps the last three dims around (4-D or 5-D input)."""

    dims = 3

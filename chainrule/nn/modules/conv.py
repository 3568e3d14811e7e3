"""Convolutions: ``Conv1d``, ``Conv2d``, ``ConvTranspose1d`` and ``ConvTranspose2d``, shells over
``nn.functional``'s, with PyTorch's arguments, attributes, weight shapes, initialization and repr."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from .. import functional as F
from .. import init as nn_init
from ..parameter import Parameter
from ._utils import _as_input
from .module import Module

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")
_INITS = (None, "kaiming", "xavier")


def _named(layer: Module, e: ValueError) -> ValueError:
    """A layer's error, with the layer as its repr shows it (its settings) before the function's words."""
    return ValueError(f"{type(layer).__name__}({layer.extra_repr()}): {e}")


class _ConvNd(Module):
    """What the convolutions share: PyTorch's attributes (``kernel_size``, ``stride``, ... as
    tuples; ``padding`` may be 'same' or 'valid'), the checks of their arguments, the weight
    (``(out, in/groups, *kernel)``, or ``(in, out/groups, *kernel)`` transposed), the
    initialization (``reset_parameters``) and the repr."""

    _dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
                 transposed: bool, output_padding: Any, groups: int, bias: bool, padding_mode: str, device: Any,
                 dtype: Any, init: str | None) -> None:  # fmt: skip
        super().__init__()
        name, d = type(self).__name__, self._dims
        for what, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{name}: {what}={n!r}; expected a positive int")
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
            raise ValueError(f"{name}: groups={groups!r}; expected a positive int")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} and out_channels={out_channels} with groups={groups}; "
                             "expected both divisible by groups")  # fmt: skip
        self.kernel_size = F._ntuple(name, "kernel_size", kernel_size, d, 1)
        self.stride = F._ntuple(name, "stride", stride, d, 1)
        if isinstance(padding, str):
            if transposed or padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding={padding!r}; expected an int or a tuple of ints"
                                 f"{'' if transposed else ', or the string same or valid'}")  # fmt: skip
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' with stride={self.stride}; expected stride 1 (as in "
                                 "PyTorch, 'same' is not supported for strided convolutions)")  # fmt: skip
            self.padding: str | tuple[int, ...] = padding
        else:
            self.padding = F._ntuple(name, "padding", padding, d, 0)
        self.dilation = F._ntuple(name, "dilation", dilation, d, 1)
        self.output_padding = F._ntuple(name, "output_padding", output_padding, d, 0)
        if padding_mode not in _PADDING_MODES or (transposed and padding_mode != "zeros"):
            allowed = ("zeros",) if transposed else _PADDING_MODES
            raise ValueError(f"{name}: padding_mode={padding_mode!r}; expected one of {', '.join(map(repr, allowed))}")
        if init not in _INITS:
            raise ValueError(f"{name}: init={init!r}; expected None (PyTorch's), 'kaiming' (He, for ReLU nets) or "
                             "'xavier' (Glorot, for tanh/sigmoid)")  # fmt: skip
        self.in_channels, self.out_channels, self.groups = int(in_channels), int(out_channels), int(groups)
        self.transposed, self.padding_mode, self.init = transposed, padding_mode, init
        # F.pad's widths (the last axis first) for the padding modes other than zeros: PyTorch's list for a
        # string padding ('same' splits an odd total, the extra one at the end), its tuple for numbers
        if isinstance(self.padding, str):
            total = [dl * (k - 1) for dl, k in zip(self.dilation, self.kernel_size)]
            pairs = [(t // 2, t - t // 2) if padding == "same" else (0, 0) for t in reversed(total)]
            self._reversed_padding_repeated_twice: Any = [w for pair in pairs for w in pair]
        else:
            self._reversed_padding_repeated_twice = tuple(p for p in reversed(self.padding) for _ in range(2))
        rows, cols = (in_channels, out_channels // groups) if transposed else (out_channels, in_channels // groups)
        self.weight = Parameter(np.zeros((rows, cols, *self.kernel_size)), dtype=dtype)
        self.bias = Parameter(np.zeros(out_channels), dtype=dtype) if bias else None
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self) -> None:
        """Draw the weight and bias again. ``init=None`` (the default) is PyTorch's: both from
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = ``weight.shape[1] * prod(kernel_size)``
        (what ``kaiming_uniform_`` with a = sqrt(5) gives); ``"kaiming"``/``"xavier"`` are the
        lecture's He/Glorot normal weights with zero biases."""
        if self.init is None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn_init.uniform_(self.weight, -bound, bound)
            if self.bias is not None:
                nn_init.uniform_(self.bias, -bound, bound)
            return
        (nn_init.kaiming_normal_ if self.init == "kaiming" else nn_init.xavier_normal_)(self.weight)
        if self.bias is not None:
            nn_init.zeros_(self.bias)

    def extra_repr(self) -> str:
        # PyTorch's: tuples, and the settings that are not their defaults
        d = self._dims
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if isinstance(self.padding, str) or self.padding != (0,) * d:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * d:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * d:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s

    def _conv_forward(self, input: Any, weight: Tensor, bias: Tensor | None) -> Tensor:
        conv = F.conv1d if self._dims == 1 else F.conv2d
        x = _as_input(input, weight)
        if self.padding_mode != "zeros":  # padded by F.pad's modes first, then a convolution without padding
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return conv(x, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv(x, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def forward(self, input: Any) -> Tensor:
        try:
            return self._conv_forward(input, self.weight, self.bias)
        except ValueError as e:
            raise _named(self, e) from e


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L), filters (out, in/groups, k), as ``torch.nn.Conv1d``.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.Conv1d(3, 8, 5, padding="same")(cr.Tensor(np.zeros((2, 3, 20)))).shape
    (2, 8, 20)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int], stride: int | tuple[int] = 1,
                 padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *, init: str | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype, init)  # fmt: skip


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W), filters (out, in/groups, kh, kw), as ``torch.nn.Conv2d``:
    ``padding`` an int, a pair, 'same' or 'valid'; ``padding_mode`` 'zeros', 'reflect',
    'replicate' or 'circular'; PyTorch's initialization unless ``init`` names the lecture's.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> conv = cr.nn.Conv2d(3, 8, 3, padding=1)
    >>> conv(cr.Tensor(np.zeros((2, 3, 5, 5)))).shape, conv
    ((2, 8, 5, 5), Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1)))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] | str = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None, *, init: str | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, False, 0, groups, bias,
                         padding_mode, device, dtype, init)  # fmt: skip


class _ConvTransposeNd(_ConvNd):
    """The transposed convolutions' forward: ``output_size`` picks the output padding, as PyTorch's."""

    def _output_padding(self, x: Tensor, output_size: Any) -> tuple[int, ...]:
        if output_size is None:
            return self.output_padding
        d = self._dims
        sizes = tuple(int(s) for s in output_size)
        sizes = sizes[-d:] if len(sizes) in (d, x.ndim) else ()
        low = tuple((n - 1) * s - 2 * p + dl * (k - 1) + 1 for n, s, p, dl, k in
                    zip(x.shape[-d:], self.stride, self.padding, self.dilation, self.kernel_size))  # fmt: skip
        high = tuple(m + s - 1 for m, s in zip(low, self.stride))
        if len(sizes) != d or any(not lo <= n <= hi for n, lo, hi in zip(sizes, low, high)):
            raise ValueError(f"output_size={output_size!r} for input of shape {x.shape}; expected {d} sizes (or "
                             f"{x.ndim}, the leading ones ignored) from {low} to {high}")  # fmt: skip
        return tuple(n - lo for n, lo in zip(sizes, low))

    def forward(self, input: Any, output_size: Any = None) -> Tensor:
        conv = F.conv_transpose1d if self._dims == 1 else F.conv_transpose2d
        try:
            x = _as_input(input, self.weight)
            output_padding = self._output_padding(x, output_size)
            return conv(x, self.weight, self.bias, self.stride, self.padding, output_padding, self.groups, self.dilation)
        except ValueError as e:
            raise _named(self, e) from e


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution over (N, C, L), weight (in, out/groups, k), as ``torch.nn.ConvTranspose1d``.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.ConvTranspose1d(4, 2, 3, stride=2)(cr.Tensor(np.zeros((1, 4, 5)))).shape
    (1, 2, 11)
    """

    _dims = 1

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int], stride: int | tuple[int] = 1,
                 padding: int | tuple[int] = 0, output_padding: int | tuple[int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int] = 1, padding_mode: str = "zeros", device: Any = None, dtype: Any = None, *,
                 init: str | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype, init)  # fmt: skip


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution over (N, C, H, W), weight (in, out/groups, kh, kw), as
    ``torch.nn.ConvTranspose2d``: the gradient of ``Conv2d`` with respect to its input;
    ``forward(x, output_size=...)`` chooses among the sizes a strided Conv2d maps to x's.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> up = cr.nn.ConvTranspose2d(8, 3, 3, stride=2, padding=1)
    >>> up(cr.Tensor(np.zeros((1, 8, 4, 4)))).shape, up(cr.Tensor(np.zeros((1, 8, 4, 4))), output_size=(8, 8)).shape
    ((1, 3, 7, 7), (1, 3, 8, 8))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 output_padding: int | tuple[int, int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | tuple[int, int] = 1, padding_mode: str = "zeros", device: Any = None,
                 dtype: Any = None, *, init: str | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, True, output_padding,
                         groups, bias, padding_mode, device, dtype, init)  # fmt: skip

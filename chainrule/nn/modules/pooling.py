"""Pooling layers, as ``torch/nn/modules/pooling.py`` has them: ``MaxPool1d``/``MaxPool2d``,
``AvgPool1d``/``AvgPool2d``, the adaptive ``AdaptiveMaxPool1d``/``2d`` and ``AdaptiveAvgPool1d``/``2d``,
and ``MaxUnpool2d``; shells over ``nn.functional``, with PyTorch's arguments, attributes and reprs."""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from .. import functional as F
from .conv import _named
from .module import Module


class _MaxPoolNd(Module):
    """Max pooling's settings, kept as given (``stride`` defaults to ``kernel_size``), as PyTorch's."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")  # fmt: skip


class MaxPool1d(_MaxPoolNd):
    """Max over windows of a signal (N, C, L) or (C, L); see ``nn.functional.max_pool1d``.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.MaxPool1d(3, stride=2)(cr.Tensor(np.zeros((1, 4, 9)))).shape
    (1, 4, 4)
    """

    def forward(self, input: Any) -> Any:
        try:
            return F.max_pool1d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                ceil_mode=self.ceil_mode, return_indices=self.return_indices)  # fmt: skip
        except ValueError as e:
            raise _named(self, e) from e


class MaxPool2d(_MaxPoolNd):
    """Max over windows of an image (N, C, H, W) or (C, H, W); gradients go to each window's first
    maximum; ``return_indices=True`` also gives where the maxima are (for ``MaxUnpool2d``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.MaxPool2d(2)(cr.Tensor(np.zeros((1, 3, 4, 4)))).shape
    (1, 3, 2, 2)
    """

    def forward(self, input: Any) -> Any:
        try:
            return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation,
                                ceil_mode=self.ceil_mode, return_indices=self.return_indices)  # fmt: skip
        except ValueError as e:
            raise _named(self, e) from e


class _AvgPoolNd(Module):
    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows of a signal (N, C, L) or (C, L); its settings kept as 1-tuples, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.AvgPool1d(2)
    AvgPool1d(kernel_size=(2,), stride=(2,), padding=(0,))
    """

    def __init__(self, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
                 padding: int | tuple[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = F._ntuple("AvgPool1d", "kernel_size", kernel_size, 1, 1)
        self.stride = F._ntuple("AvgPool1d", "stride", stride if stride is not None else kernel_size, 1, 1)
        self.padding = F._ntuple("AvgPool1d", "padding", padding, 1, 0)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, input: Any) -> Tensor:
        try:
            return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad)  # fmt: skip
        except ValueError as e:
            raise _named(self, e) from e


class AvgPool2d(_AvgPoolNd):
    """Mean over windows of an image (N, C, H, W) or (C, H, W) (stride = kernel unless given).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)(cr.Tensor(np.ones((1, 1, 5, 5)))).shape
    (1, 1, 3, 3)
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding, self.ceil_mode = padding, ceil_mode
        self.count_include_pad, self.divisor_override = count_include_pad, divisor_override

    def forward(self, input: Any) -> Tensor:
        try:
            return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                                self.count_include_pad, self.divisor_override)  # fmt: skip
        except ValueError as e:
            raise _named(self, e) from e


class _AdaptivePoolNd(Module):
    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptivePoolNd):
    """Average into ``output_size`` bins, whatever the signal's length.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.AdaptiveAvgPool1d(5)(cr.Tensor(np.zeros((1, 3, 8)))).shape
    (1, 3, 5)
    """

    def forward(self, input: Any) -> Tensor:
        try:
            return F.adaptive_avg_pool1d(input, self.output_size)
        except ValueError as e:
            raise _named(self, e) from e


class AdaptiveAvgPool2d(_AdaptivePoolNd):
    """Average into an ``output_size`` grid of bins, whatever the input's height and width
    (a None in ``output_size`` keeps that axis).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.AdaptiveAvgPool2d((None, 2))(cr.Tensor(np.zeros((1, 3, 5, 7)))).shape
    (1, 3, 5, 2)
    """

    def forward(self, input: Any) -> Tensor:
        try:
            return F.adaptive_avg_pool2d(input, self.output_size)
        except ValueError as e:
            raise _named(self, e) from e


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = return_indices


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over ``output_size`` bins, whatever the signal's length.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.AdaptiveMaxPool1d(3)(cr.Tensor(np.zeros((2, 4, 7)))).shape
    (2, 4, 3)
    """

    def forward(self, input: Any) -> Any:
        try:
            return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)
        except ValueError as e:
            raise _named(self, e) from e


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over an ``output_size`` grid of bins, whatever the input's height and width.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.AdaptiveMaxPool2d((2, 3))(cr.Tensor(np.zeros((1, 3, 5, 7)))).shape
    (1, 3, 2, 3)
    """

    def forward(self, input: Any) -> Any:
        try:
            return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)
        except ValueError as e:
            raise _named(self, e) from e


class MaxUnpool2d(Module):
    """The partial inverse of ``MaxPool2d``: values back at their indices, zeros elsewhere.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> pool, unpool = cr.nn.MaxPool2d(2, return_indices=True), cr.nn.MaxUnpool2d(2)
    >>> out, idx = pool(cr.Tensor(np.arange(25.0).reshape(1, 1, 5, 5)))  # (1, 1, 2, 2): the last row and column unused
    >>> unpool(out, idx, output_size=(5, 5)).shape  # 4x4 without output_size, too small for those indices
    (1, 1, 5, 5)
    """

    def __init__(self, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0) -> None:  # fmt: skip
        super().__init__()
        self.kernel_size = F._ntuple("MaxUnpool2d", "kernel_size", kernel_size, 2, 1)
        self.stride = F._ntuple("MaxUnpool2d", "stride", stride if stride is not None else kernel_size, 2, 1)
        self.padding = F._ntuple("MaxUnpool2d", "padding", padding, 2, 0)

    def forward(self, input: Any, indices: Any, output_size: Any = None) -> Tensor:
        try:
            return F.max_unpool2d(input, indices, self.kernel_size, self.stride, self.padding, output_size)
        except ValueError as e:
            raise _named(self, e) from e

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

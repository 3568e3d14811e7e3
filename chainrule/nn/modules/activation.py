"""Activation modules, one per function of ``nn.functional``, with PyTorch's constructor arguments.

Each holds its arguments and calls its function; ``inplace=True`` is accepted, shown in the
repr as PyTorch shows it, and computed out of place (see ``nn.functional``'s activations).
"""

from __future__ import annotations

from typing import Any

from ...autograd.tensor import Tensor
from ...ops.axes import dims
from .. import functional as F
from .module import Module


def _inplace(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


def _with_inplace(text: str, inplace: bool) -> str:
    return text + (", inplace=True" if inplace else "")


class ReLU(Module):
    """max(0, x), elementwise.

    >>> import chainrule as cr
    >>> cr.nn.ReLU()(cr.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x: Any) -> Tensor:
        return F.relu(x)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class LeakyReLU(Module):
    """x for x > 0, ``negative_slope * x`` otherwise.

    >>> import chainrule as cr
    >>> cr.nn.LeakyReLU(0.2)
    LeakyReLU(negative_slope=0.2)
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return _with_inplace(f"negative_slope={self.negative_slope}", self.inplace)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise (computed stably)."""

    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x), elementwise."""

    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class GELU(Module):
    """x * Phi(x) (``approximate="tanh"`` for the tanh formula).

    >>> import chainrule as cr
    >>> cr.nn.GELU()
    GELU(approximate='none')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x: Any) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``axis`` (stable: shifted by the max); ``dim=`` is PyTorch's name for it.

    Unlike PyTorch's (whose dim=None picks a dim with a deprecation warning), the default is
    the last axis, as it has always been here.

    >>> import chainrule as cr
    >>> cr.nn.Softmax(axis=-1)(cr.Tensor([[0.0, 0.0]])).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """

    def __init__(self, axis: int = -1, *, dim: int | None = None) -> None:
        super().__init__()
        self.axis = axis if dim is None else dim

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class _Dim(Module):
    """A module over one dim (PyTorch's ``dim``, or NumPy's ``axis``): None picks PyTorch's."""

    def __init__(self, dim: int | None = None, *, axis: int | None = None) -> None:
        super().__init__()
        self.dim = dims(type(self).__name__, axis, dim)[0]

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(_Dim):
    """log(softmax(x)) along ``dim``.

    >>> import chainrule as cr
    >>> cr.nn.LogSoftmax(dim=1)(cr.Tensor([[0.0, 0.0]])).numpy().round(4)
    array([[-0.6931, -0.6931]], dtype=float32)
    """

    def forward(self, x: Any) -> Tensor:
        return F.log_softmax(x, self.dim, _stacklevel=5)


class Softmin(_Dim):
    """softmax(-x) along ``dim``.

    >>> import chainrule as cr
    >>> cr.nn.Softmin(dim=1)
    Softmin(dim=1)
    """

    def forward(self, x: Any) -> Tensor:
        return F.softmin(x, self.dim, _stacklevel=5)


class GLU(Module):
    """a * sigmoid(b), a and b the halves of the input along ``dim``.

    >>> import chainrule as cr
    >>> cr.nn.GLU()(cr.Tensor([[2.0, 0.0]])).numpy()
    array([[1.]], dtype=float32)
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Any) -> Tensor:
        return F.glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class _Inplace(Module):
    """An activation with no argument but PyTorch's ``inplace`` (computed out of place)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class SiLU(_Inplace):
    """x * sigmoid(x).

    >>> import chainrule as cr
    >>> cr.nn.SiLU(inplace=True)
    SiLU(inplace=True)
    """

    def forward(self, x: Any) -> Tensor:
        return F.silu(x)


class Mish(_Inplace):
    """x * tanh(softplus(x))."""

    def forward(self, x: Any) -> Tensor:
        return F.mish(x)


class SELU(_Inplace):
    """scale * elu(x, alpha), the self-normalizing constants."""

    def forward(self, x: Any) -> Tensor:
        return F.selu(x)


class Hardsigmoid(_Inplace):
    """relu6(x + 3) / 6. (PyTorch's repr shows no ``inplace``, and neither does this one.)"""

    def forward(self, x: Any) -> Tensor:
        return F.hardsigmoid(x)

    def extra_repr(self) -> str:
        return ""


class Hardswish(_Inplace):
    """x relu6(x + 3) / 6. (PyTorch's repr shows no ``inplace``, and neither does this one.)"""

    def forward(self, x: Any) -> Tensor:
        return F.hardswish(x)

    def extra_repr(self) -> str:
        return ""


class ELU(Module):
    """x for x > 0, else alpha (exp(x) - 1).

    >>> import chainrule as cr
    >>> cr.nn.ELU(alpha=0.5)
    ELU(alpha=0.5)
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x: Any) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return _with_inplace(f"alpha={self.alpha}", self.inplace)


class CELU(ELU):
    """x for x > 0, else alpha (exp(x / alpha) - 1)."""

    def forward(self, x: Any) -> Tensor:
        return F.celu(x, self.alpha)


class Hardtanh(Module):
    """x clamped to [min_val, max_val] (gradient 0 at the bounds, as PyTorch's).

    >>> import chainrule as cr
    >>> cr.nn.Hardtanh(-2.0, 2.0)
    Hardtanh(min_val=-2.0, max_val=2.0)
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val={min_val} is greater than max_val={max_val}; expected min_val <= max_val")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x: Any) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return _with_inplace(f"min_val={self.min_val}, max_val={self.max_val}", self.inplace)


class ReLU6(Hardtanh):
    """min(max(0, x), 6): ``Hardtanh(0, 6)``, as in PyTorch.

    >>> import chainrule as cr
    >>> cr.nn.ReLU6()(cr.Tensor([-1.0, 7.0])).numpy()
    array([0., 6.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace(self.inplace)


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x: Any) -> Tensor:
        return F.softsign(x)


class LogSigmoid(Module):
    """log(sigmoid(x)), computed stably."""

    def forward(self, x: Any) -> Tensor:
        return F.logsigmoid(x)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta, linear where beta x > threshold.

    >>> import chainrule as cr
    >>> cr.nn.Softplus(beta=2.0)
    Softplus(beta=2.0, threshold=20.0)
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Any) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

"""Stateless neural-network functions: layers, activations, attention, losses and penalties.

Everything here is composed from chainrule's primitives, so none of it has a backward
of its own to get wrong (exact GELU is one gate, for speed: ``chainrule.ops.special``;
scaled dot-product attention is one gate, for memory and speed: ``chainrule.ops.attention``).
Images are (N, C, H, W) as in PyTorch; convolution and pooling work on a channels-last view
inside (see ``chainrule.ops.window``) and hand back an (N, C, H, W) *view* of channels-last
memory, so a stack of conv/relu/pool layers never pays for a layout change between layers.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .. import devices, ops, rng
from ..autograd.grad_mode import check_values
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from ..ops.attention import ScaledDotProductAttention
from ..ops.axes import dims, one_axis
from ..ops.fused import CrossEntropy, LayerNorm, Linear
from ..ops.index import one_hot  # noqa: F401 - nn.functional.one_hot, as PyTorch
from ..ops.movement import pad_sides as pad  # noqa: F401 - nn.functional.pad: PyTorch's widths and modes
from ..ops.reduce import normalize  # noqa: F401 - nn.functional.normalize
from ..ops.special import Gelu
from ..ops.window import Convolution, MaxPool, Unfold

# -- activations ---------------------------------------------------------------------
# PyTorch's names, arguments and defaults. Each is composed from primitives (where() picks
# PyTorch's side of every kink), except exact GELU, one gate for speed (``ops.special.Gelu``).
# ``inplace=True`` is accepted and computed out of place: the result is a new tensor and the
# input keeps its values. Written into a tensor of the graph, an activation would lose its
# gradient (``chainrule.ops.mutate``'s rules); use the returned tensor, as ``x = F.relu(x)``.

sigmoid = ops.sigmoid
tanh = ops.tanh


def relu(input: Any, inplace: bool = False) -> Tensor:
    """max(0, x); the gradient at 0 is 0, as PyTorch's. ``inplace``: computed out of place (above).

    >>> import chainrule as cr
    >>> cr.nn.functional.relu(cr.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return ops.relu(input)


def leaky_relu(input: Any, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else ``negative_slope * x`` (at 0 the gradient is the slope, as in PyTorch).

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.leaky_relu(cr.Tensor([-2.0, 3.0]), 0.1).numpy()
    array([-0.2,  3. ], dtype=float32)
    """
    x = as_tensor(input)
    return ops.where(x > 0, x, x * negative_slope)


def _elu_negative(x: Tensor, alpha: float, input_scale: float = 1.0) -> Tensor:
    """alpha (exp(x input_scale) - 1), the side of elu and celu that where() takes for x <= 0.

    PyTorch's first derivative takes this side at 0 (alpha input_scale) and its second takes
    the other (0, its double backward tests x < 0): so the exp sees x only where x < 0, and at
    0 a linear term carries the slope. The exp never sees a large x either: in the branch that
    where() leaves out, exp(800) would be inf and its gradient 0 * inf NaN.
    """
    below = x < 0
    return alpha * (ops.exp(ops.where(below, x, 0.0) * input_scale) - 1 + input_scale * ops.where(below, 0.0, x))


def elu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (exp(x) - 1); at 0 the gradient is alpha, as PyTorch's.

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.elu(cr.Tensor([-1.0, 2.0])).numpy().round(4)
    array([-0.6321,  2.    ], dtype=float32)
    """
    x = as_tensor(input)
    return ops.where(x > 0, x, _elu_negative(x, alpha))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Any, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalizing constants (alpha 1.6733, scale 1.0507).

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.selu(cr.Tensor([-1.0, 1.0])).numpy().round(4)
    array([-1.1113,  1.0507], dtype=float32)
    """
    return _SELU_SCALE * elu(input, _SELU_ALPHA)


def celu(input: Any, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (exp(x / alpha) - 1): continuously differentiable (slope 1 at 0).

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.celu(cr.Tensor([-1.0, 2.0]), alpha=2.0).numpy().round(4)
    array([-0.7869,  2.    ], dtype=float32)
    """
    if alpha == 0:
        raise ValueError("celu: alpha=0; expected a nonzero alpha (CELU divides by it)")
    x = as_tensor(input)
    return ops.where(x > 0, x, _elu_negative(x, alpha, 1 / alpha))


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF; ``approximate="tanh"`` uses the tanh formula.

    Exact GELU is one gate (``chainrule.ops.special.Gelu``, fused for speed, no SciPy);
    the tanh form is composed.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.gelu(cr.Tensor(1.0)).item(), 4)
    0.8413
    """
    x = as_tensor(input)
    if approximate == "none":
        return Gelu.apply(x)
    if approximate == "tanh":
        return 0.5 * x * (1 + ops.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))
    raise ValueError(f"gelu: approximate={approximate!r}; expected 'none' or 'tanh'")


def silu(input: Any, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (swish). ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> round(cr.nn.functional.silu(cr.Tensor(1.0)).item(), 4)
    0.7311
    """
    x = as_tensor(input)
    return x * ops.sigmoid(x)


def mish(input: Any, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)). ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> round(cr.nn.functional.mish(cr.Tensor(1.0)).item(), 4)
    0.8651
    """
    x = as_tensor(input)
    return x * ops.tanh(ops.softplus(x))


def softsign(input: Any) -> Tensor:
    """x / (1 + |x|).

    >>> import chainrule as cr
    >>> cr.nn.functional.softsign(cr.Tensor([-3.0, 1.0])).numpy()
    array([-0.75,  0.5 ], dtype=float32)
    """
    x = as_tensor(input)
    return x / (1 + ops.abs(x))


def logsigmoid(input: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), computed stably.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.logsigmoid(cr.Tensor(0.0)).item(), 4)
    -0.6931
    """
    return -ops.softplus(-as_tensor(input))


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold, as PyTorch's.

    At beta x == threshold exactly the smooth side is taken, and its second derivative (PyTorch
    takes 0 there, a difference of sigmoid'(threshold): 2e-9 at the default 20).

    >>> import chainrule as cr
    >>> cr.nn.functional.softplus(cr.Tensor([0.0, 30.0])).numpy().round(4)
    array([ 0.6931, 30.    ], dtype=float32)
    """
    x = as_tensor(input)
    smooth = ops.softplus(x * beta) / beta if beta != 1 else ops.softplus(x)
    return ops.where(x * beta > threshold, x, smooth)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]. The gradient is 0 at the bounds themselves, as PyTorch's
    hardtanh (``clamp``/``clip`` pass it there). ``inplace``: computed out of place (see above).

    >>> import chainrule as cr
    >>> cr.nn.functional.hardtanh(cr.Tensor([-2.0, 0.5, 3.0])).numpy()
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val={min_val} is greater than max_val={max_val}; expected min_val <= max_val")
    x = as_tensor(input)
    return ops.where(x <= min_val, min_val, ops.where(x >= max_val, max_val, x))


def relu6(input: Any, inplace: bool = False) -> Tensor:
    """min(max(0, x), 6): ``hardtanh(x, 0, 6)``, so the gradient is 0 at 0 and at 6, as PyTorch's.

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.relu6(cr.Tensor([-1.0, 3.0, 8.0])).numpy()
    array([0., 3., 6.], dtype=float32)
    """
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input: Any, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6; the gradient 1/6 inside (-3, 3) and 0 at -3 and 3, as PyTorch's.

    ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.hardsigmoid(cr.Tensor([-4.0, 0.0, 4.0])).numpy()
    array([0. , 0.5, 1. ], dtype=float32)
    """
    x = as_tensor(input)
    return ops.where(x <= -3, 0.0, ops.where(x >= 3, 1.0, (x + 3) / 6))


def hardswish(input: Any, inplace: bool = False) -> Tensor:
    """x relu6(x + 3) / 6. The gradient is x/3 + 1/2 inside (-3, 3), and 0 at -3 and 1 at 3 (the
    outer sides), as PyTorch's. ``inplace``: computed out of place (see the section's comment).

    >>> import chainrule as cr
    >>> cr.nn.functional.hardswish(cr.Tensor([-4.0, 1.0, 4.0])).numpy().round(4)
    array([0.    , 0.6667, 4.    ], dtype=float32)
    """
    x = as_tensor(input)
    return ops.where(x <= -3, 0.0, ops.where(x >= 3, x, x * (x + 3) / 6))


def glu(input: Any, dim: int = -1, *, axis: int | None = None) -> Tensor:
    """The gated linear unit: a * sigmoid(b), a and b the two halves of x along ``dim`` (``axis``).

    >>> import chainrule as cr
    >>> cr.nn.functional.glu(cr.Tensor([[2.0, 0.0]])).numpy()
    array([[1.]], dtype=float32)
    """
    x = as_tensor(input)
    if axis is not None:
        dim = dims("glu", axis, None if dim == -1 else dim)[0]
    if x.ndim == 0:
        raise ValueError("glu: the input is 0-d; expected a dim of even size to halve")
    ax = one_axis("glu", dim, x.ndim)
    n = x.shape[ax]
    if n % 2:
        raise ValueError(f"glu: dim {dim} of the input of shape {x.shape} has size {n}; expected an even size to halve")
    lead = (slice(None),) * ax
    return x[lead + (slice(0, n // 2),)] * ops.sigmoid(x[lead + (slice(n // 2, None),)])


def _implicit_dim(op: str, ndim: int) -> int:
    """The dim when none is given: the last, as chainrule has always done and as ``cr.softmax``
    does (PyTorch's deprecated implicit choice would take dim 0 of a 3-d input, silently)."""
    return -1


def _softmax_input(op: str, input: Any, dim: Any, axis: Any, dtype: Any) -> tuple[Tensor, int]:
    x = as_tensor(input)
    axis, _ = dims(op, axis, dim)
    if dtype is not None:
        x = ops.astype(x, dtype)
    return x, axis


def softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:  # fmt: skip
    """exp(x) / sum(exp(x)) along ``dim`` (``axis``), stable (shifted by the max); ``dtype``
    casts the input first. Without a dim, the last (PyTorch's deprecated implicit choice differs).

    >>> import chainrule as cr
    >>> cr.nn.functional.softmax(cr.Tensor([[0.0, 0.0]]), dim=1).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    x, axis = _softmax_input("softmax", input, dim, axis, dtype)
    return ops.softmax(x, _implicit_dim("softmax", x.ndim) if axis is None else axis)


def log_softmax(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
                axis: int | None = None) -> Tensor:  # fmt: skip
    """log(softmax(x)) along ``dim`` (``axis``), without forming the softmax (one fused gate).

    >>> import chainrule as cr
    >>> cr.nn.functional.log_softmax(cr.Tensor([[0.0, 0.0]]), dim=1).numpy().round(4)
    array([[-0.6931, -0.6931]], dtype=float32)
    """
    x, axis = _softmax_input("log_softmax", input, dim, axis, dtype)
    return ops.log_softmax(x, _implicit_dim("log_softmax", x.ndim) if axis is None else axis)


def softmin(input: Any, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None, *,
            axis: int | None = None) -> Tensor:  # fmt: skip
    """softmax(-x) along ``dim`` (``axis``).

    >>> import chainrule as cr
    >>> cr.nn.functional.softmin(cr.Tensor([[0.0, 0.0]]), dim=1).numpy()
    array([[0.5, 0.5]], dtype=float32)
    """
    x, axis = _softmax_input("softmin", input, dim, axis, dtype)
    return ops.softmax(-x, _implicit_dim("softmin", x.ndim) if axis is None else axis)


# -- layers ----------------------------------------------------------------------------


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """The score function ``s = x W^T + b`` for a batch of row vectors x (N, in) -> (N, out).

    ``weight`` is (out, in), as in PyTorch: row k is class k's template.

    >>> import chainrule as cr
    >>> cr.nn.functional.linear(cr.Tensor([[1.0, 2.0]]), cr.Tensor([[1.0, 1.0]]), cr.Tensor([0.5])).numpy()
    array([[3.5]], dtype=float32)
    """
    x = as_tensor(x)
    if weight.ndim != 2 or x.shape[-1:] != weight.shape[1:]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape}; "
            f"expected the input's last axis to be {weight.shape[-1]}"
        )
    if x.ndim >= 2 and (bias is None or bias.shape == weight.shape[:1]):  # extra batch axes: rows, in the gate
        return Linear.apply(x, weight) if bias is None else Linear.apply(x, weight, bias)
    out = x @ weight.T  # other shapes (a single vector, a bias that broadcasts): composed
    return out if bias is None else out + bias


def _pair(op: str, name: str, v: int | tuple[int, int], low: int) -> tuple[int, int]:
    pair = (v, v) if isinstance(v, (int, np.integer)) else tuple(v)
    if len(pair) != 2 or any(not isinstance(p, (int, np.integer)) or p < low for p in pair):
        raise ValueError(f"{op}: {name}={v!r}; expected an int >= {low} or a pair of them")
    return (int(pair[0]), int(pair[1]))


def _windows(op: str, x: Tensor, kernel: tuple, stride: tuple, padding: tuple, fill: float) -> Tensor:
    """(N, C, H, W) -> (N, Ho, Wo, kh, kw, C) windows, channels last."""
    return Unfold.apply(_channels_last(op, x, kernel, padding, fill), kernel=kernel, stride=stride)


def _channels_last(op: str, x: Tensor, kernel: tuple, padding: tuple, fill: float) -> Tensor:
    """(N, C, H, W) -> padded (N, H, W, C), checked against the kernel."""
    if x.ndim != 4:
        raise ValueError(f"{op}: input has shape {x.shape}; expected 4 axes (N, C, H, W)")
    h, w = x.shape[2] + 2 * padding[0], x.shape[3] + 2 * padding[1]
    if h < kernel[0] or w < kernel[1]:
        raise ValueError(
            f"{op}: input of shape {x.shape} with padding {padding} is smaller than the kernel "
            f"{kernel}; expected height and width of at least the kernel's"
        )
    xh = x.permute(0, 2, 3, 1)  # (N, H, W, C): a free view when x came from a conv
    if padding != (0, 0):
        xh = ops.pad(xh, ((0, 0), (padding[0], padding[0]), (padding[1], padding[1]), (0, 0)), value=fill)
    return xh


def conv2d(
    x: Any,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> Tensor:
    """2-D convolution (cross-correlation, as every framework): (N, C, H, W) -> (N, O, Ho, Wo).

    Computed as one matrix product: the windows of x (im2col, channels last) times the
    filters flattened to rows (see ``chainrule.ops.window.Convolution``). ``weight`` is
    (O, C, kh, kw).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor(np.ones((1, 1, 3, 3)))
    >>> cr.nn.functional.conv2d(x, cr.Tensor(np.ones((1, 1, 2, 2)))).numpy()[0, 0]
    array([[4., 4.],
           [4., 4.]], dtype=float32)
    """
    x = as_tensor(x)
    if x.ndim != 4:
        one = " (one image? add the batch axis: x.unsqueeze(0))" if x.ndim == 3 else ""
        raise ValueError(f"conv2d: input has shape {x.shape}, {x.ndim} axes; expected 4 axes (N, C, H, W){one}")
    if weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input of shape {x.shape} does not fit weight of shape {weight.shape}; "
            "expected input (N, C, H, W) and weight (O, C, kh, kw) with the same C"
        )
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ValueError(f"conv2d: bias has shape {bias.shape}; expected ({weight.shape[0]},)")
    stride, padding = _pair("conv2d", "stride", stride, 1), _pair("conv2d", "padding", padding, 0)
    _channels_last("conv2d", x, weight.shape[2:], padding, 0.0)  # checks the sizes
    if bias is None:
        return Convolution.apply(x, weight, stride=stride, padding=padding)
    return Convolution.apply(x, weight, bias, stride=stride, padding=padding)


def max_pool2d(
    x: Any, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None, padding: int = 0
) -> Tensor:
    """Max over each window: a router, each window's gradient goes to its maximum.

    ``stride`` defaults to the kernel size. On a tie inside a window the gradient goes to
    the first maximum (in row-major window order), as in PyTorch. (The reductions
    ``max``/``amax`` split it evenly instead, as PyTorch's do.)

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> cr.nn.functional.max_pool2d(x, 2).numpy()[0, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    x = as_tensor(x)
    kernel = _pair("max_pool2d", "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair("max_pool2d", "stride", stride, 1)
    padding = _pair("max_pool2d", "padding", padding, 0)
    xh = _channels_last("max_pool2d", x, kernel, padding, -np.inf)
    return MaxPool.apply(xh, kernel=kernel, stride=stride).permute(0, 3, 1, 2)


def avg_pool2d(
    x: Any, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None, padding: int = 0
) -> Tensor:
    """Mean over each window (padding zeros count, as PyTorch's default).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.avg_pool2d(cr.Tensor(np.arange(4.0).reshape(1, 1, 2, 2)), 2).numpy().ravel()
    array([1.5], dtype=float32)
    """
    x = as_tensor(x)
    kernel = _pair("avg_pool2d", "kernel_size", kernel_size, 1)
    stride = kernel if stride is None else _pair("avg_pool2d", "stride", stride, 1)
    padding = _pair("avg_pool2d", "padding", padding, 0)
    return _windows("avg_pool2d", x, kernel, stride, padding, 0.0).mean(axis=(3, 4)).permute(0, 3, 1, 2)


def adaptive_avg_pool2d(x: Any, output_size: int | tuple[int, int]) -> Tensor:
    """Average over a grid of ``output_size`` bins covering the image, whatever its size.

    Bin i along an axis of length L spans [floor(i L / n), ceil((i + 1) L / n)), as in
    PyTorch. When the size divides evenly this is ``avg_pool2d``; otherwise each bin is a
    slice and a mean (composed).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.adaptive_avg_pool2d(cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).numpy()[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    x = as_tensor(x)
    oh, ow = _pair("adaptive_avg_pool2d", "output_size", output_size, 1)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: input has shape {x.shape}; expected 4 axes (N, C, H, W)")
    h, w = x.shape[2:]
    if h % oh == 0 and w % ow == 0:
        if (h, w) == (oh, ow):
            return x
        return avg_pool2d(x, (h // oh, w // ow))
    rows = []
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        cols = [x[:, :, r0:r1, (j * w) // ow : -((-(j + 1) * w) // ow)].mean(axis=(2, 3)) for j in range(ow)]
        rows.append(ops.stack(cols, axis=-1))  # (N, C, ow)
    return ops.stack(rows, axis=-2)  # (N, C, oh, ow)


def _channel_shape(op: str, x: Tensor, c: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes batch norm averages over, and the shape its per-channel values broadcast as."""
    if x.ndim not in (2, 3, 4) or x.shape[1] != c:
        raise ValueError(f"{op}: input has shape {x.shape}; expected (N, {c}), (N, {c}, L) or (N, {c}, H, W)")
    axes = (0,) + tuple(range(2, x.ndim))
    return axes, (1, c) + (1,) * (x.ndim - 2)


def batch_norm(
    x: Any,
    running_mean: Any,
    running_var: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each channel by the batch's statistics (training) or the running ones (eval).

    In training the running mean and variance (raw arrays) are updated in place, the
    variance with Bessel's correction, as PyTorch does. Composed of primitives, so its
    backward (the one derivations make long) is the chain rule through mean and var.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor([[1.0], [3.0]])
    >>> out = cr.nn.functional.batch_norm(x, np.zeros(1), np.ones(1), training=True)
    >>> np.round(out.numpy().ravel(), 3)
    array([-1.,  1.], dtype=float32)
    """
    x = as_tensor(x)
    c = running_mean.shape[0]
    axes, shape = _channel_shape("batch_norm", x, c)
    if training:
        count = x.numel() // c
        if count < 2:
            raise ValueError(f"batch_norm: input of shape {x.shape} has one value per channel; expected more than 1 in training")
        mean = x.mean(axis=axes, keepdims=True)
        xc = x - mean
        var = (xc * xc).mean(axis=axes, keepdims=True)  # biased, for normalizing
        xhat = xc / ops.sqrt(var + eps)
        running_mean *= 1 - momentum
        running_mean += momentum * mean.data.reshape(c).astype(running_mean.dtype)
        running_var *= 1 - momentum
        running_var += momentum * var.data.reshape(c).astype(running_var.dtype) * (count / (count - 1))
    else:
        xp = array_module(x.data)
        inv_std = 1 / xp.sqrt(running_var.reshape(shape) + eps)
        xhat = (x - running_mean.reshape(shape).astype(x.dtype)) * inv_std.astype(x.dtype)
    if weight is not None:
        xhat = xhat * weight.reshape(shape)
    if bias is not None:
        xhat = xhat + bias.reshape(shape)
    return xhat


def layer_norm(
    x: Any,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize each example over its last ``len(normalized_shape)`` axes.

    >>> import chainrule as cr
    >>> out = cr.nn.functional.layer_norm(cr.Tensor([[1.0, 3.0]]), (2,))
    >>> [round(v, 3) for v in out.numpy().ravel().tolist()]
    [-1.0, 1.0]
    """
    x = as_tensor(x)
    axes = _normalized_axes("layer_norm", x, normalized_shape)
    shape = x.shape[len(x.shape) - len(axes) :]
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != shape:
            raise ValueError(f"layer_norm: {name} of shape {tuple(t.shape)}; expected the normalized shape {shape}")
    return LayerNorm.apply(x, weight, bias, axes=axes, eps=eps)  # one gate (ops/fused.py)


def _normalized_axes(op: str, x: Tensor, normalized_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    """The trailing axes a layer norm or RMS norm normalizes over, checked against the input's shape."""
    shape = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    k = len(shape)
    if tuple(x.shape[x.ndim - k :]) != shape or k == 0:
        raise ValueError(f"{op}: input has shape {x.shape}; expected it to end in {shape}")
    return tuple(range(x.ndim - k, x.ndim))


def rms_norm(input: Any, normalized_shape: int | tuple[int, ...], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:  # fmt: skip
    """x / sqrt(mean(x^2) + eps) over the trailing ``normalized_shape`` axes, times ``weight``
    (Zhang & Sennrich 2019: layer norm without the mean). ``eps=None``: the input dtype's
    machine epsilon, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.functional.rms_norm(cr.Tensor([[3.0, 4.0]]), (2,), eps=0.0).numpy().round(4)
    array([[0.8485, 1.1314]], dtype=float32)
    """
    x = as_tensor(input)
    axes = _normalized_axes("rms_norm", x, normalized_shape)
    if eps is None:
        eps = float(np.finfo(x.dtype).eps)
    out = x / ops.sqrt((x * x).mean(axis=axes, keepdims=True) + eps)
    return out if weight is None else out * weight


def dropout(x: Any, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each entry with probability p and scale the rest by 1/(1-p).

    The scaling happens at training time, so evaluation is the identity. The mask comes
    from chainrule's generator (``chainrule.manual_seed``).

    >>> import chainrule as cr
    >>> cr.nn.functional.dropout(cr.Tensor([1.0, 2.0]), 0.5, training=False).numpy()
    array([1., 2.], dtype=float32)
    """
    if not 0 <= p < 1:
        raise ValueError(f"dropout: p={p}; expected 0 <= p < 1")
    x = as_tensor(x)
    if not training or p == 0:
        return x
    keep = rng.uniform(x.shape, like=x.data) >= p  # drawn where x is: no host round trip on a GPU
    mask = keep.astype(x.dtype) / np.asarray(1 - p, dtype=x.dtype)[()]
    return x * mask


def embedding(indices: Any, weight: Tensor) -> Tensor:
    """Rows of ``weight`` picked by integer ``indices`` (any shape): (..., dim).

    >>> import chainrule as cr
    >>> cr.nn.functional.embedding([2, 0], cr.Tensor([[0.0], [1.0], [2.0]])).numpy()
    array([[2.],
           [0.]], dtype=float32)
    """
    idx = devices.like(_int_array("embedding", indices), weight.data)  # the rows' device
    check_values(functools.partial(_check_rows, weight.shape[0]), idx)
    return weight[idx]


def _check_rows(n: int, idx: Any) -> None:
    if idx.size and bool((idx.min() < 0) | (idx.max() >= n)):  # one read (on a GPU, one wait)
        raise IndexError(f"embedding: indices range over [{int(idx.min())}, {int(idx.max())}]; expected 0 <= index < {n}")


# -- attention -------------------------------------------------------------------------


def scaled_dot_product_attention(query: Any, key: Any, value: Any, attn_mask: Any = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None) -> Tensor:  # fmt: skip
    """softmax(q k^T * scale + mask) v with PyTorch's arguments: query (..., L, E), key (..., S, E)
    and value (..., S, Ev) give (..., L, Ev); the leading (batch, head) axes broadcast.

    ``attn_mask``: booleans, True where a key takes part, or floats added to the scores (which
    may require grad), broadcast to (..., L, S). ``is_causal``: query i sees keys 0..i (top-left
    aligned when L != S, as PyTorch's); not together with ``attn_mask``. ``scale``: 1/sqrt(E) by
    default. ``dropout_p`` > 0 drops probabilities with a mask from chainrule's generator, always
    (pass 0 in eval mode, as with PyTorch's). One fused gate (``chainrule.ops.attention``). A
    query whose keys are all masked gets zeros, output and gradients, never NaN (a plain softmax,
    PyTorch's math path before 2.5 and its MultiheadAttention weights give NaN there).

    >>> import chainrule as cr
    >>> q = cr.Tensor([[[1.0, 0.0], [0.0, 1.0]]])
    >>> cr.nn.functional.scaled_dot_product_attention(q, q, q, is_causal=True).numpy().round(3)
    array([[[1.  , 0.  ],
            [0.33, 0.67]]], dtype=float32)
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    mask = attn_mask
    if mask is not None and not isinstance(mask, Tensor):
        mask = devices.like(mask, q.data)  # a host mask goes to the queries' device
    scores = _attention_shapes(q, k, v, mask)
    if is_causal and mask is not None:
        raise ValueError("scaled_dot_product_attention: is_causal=True and an attn_mask were both given; expected "
                         "one of them (as PyTorch)")
    if not 0 <= dropout_p < 1:
        raise ValueError(f"scaled_dot_product_attention: dropout_p={dropout_p}; expected 0 <= dropout_p < 1")
    keep = None
    if dropout_p > 0:  # drawn here, where a compiled step replays it, and where the queries are
        keep = devices.like(rng.uniform(scores, like=q.data), q.data) >= dropout_p
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(q, k, v, mask, keep, causal=bool(is_causal), scale=scale,
                                           dropout_p=float(dropout_p))  # fmt: skip


def _attention_shapes(q: Tensor, k: Tensor, v: Tensor, mask: Any) -> tuple[int, ...]:
    """The scores' shape (..., L, S), once query, key, value and mask are checked against each other."""
    op = "scaled_dot_product_attention"
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(f"{op}: query of shape {q.shape}, key {k.shape}, value {v.shape}; expected (..., L, E), "
                         "(..., S, E) and (..., S, Ev), each with at least 2 axes")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: query of shape {q.shape} and key of shape {k.shape}; expected the same last axis E "
                         f"(query {q.shape[-1]}, key {k.shape[-1]})")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{op}: key of shape {k.shape} and value of shape {v.shape}; expected the same number of "
                         f"keys S on the second-to-last axis ({k.shape[-2]} and {v.shape[-2]})")
    if q.dtype.kind != "f" or not q.dtype == k.dtype == v.dtype:
        raise TypeError(f"{op}: query, key and value of dtypes {q.dtype}, {k.dtype}, {v.dtype}; expected one float dtype")
    try:
        np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        scores = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    except ValueError:
        raise ValueError(f"{op}: the leading axes of query {q.shape}, key {k.shape} and value {v.shape} do not "
                         "broadcast; expected batch and head axes that do") from None
    if mask is not None:
        if mask.dtype not in (bool, q.dtype):
            raise TypeError(f"{op}: attn_mask of dtype {mask.dtype}; expected bool or the query's dtype {q.dtype}")
        try:
            fits = np.broadcast_shapes(mask.shape, scores) == scores
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{op}: attn_mask of shape {mask.shape} does not broadcast to the scores' shape "
                             f"(..., L, S) = {scores}; expected a mask that does")
    return scores


# -- losses ----------------------------------------------------------------------------


def _int_array(op: str, y: Any) -> Any:
    data = y.data if isinstance(y, Tensor) else y
    xp = array_module(data)
    arr = xp.asarray(data)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: labels have dtype {arr.dtype}; expected integers")
    return arr


def _labels(op: str, scores: Tensor, y: Any) -> Any:
    """Check (N, K) scores against N integer labels in [0, K)."""
    labels = devices.like(_int_array(op, y), scores.data)  # host labels go to the scores' device
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(
            f"{op}: scores of shape {scores.shape} and labels of shape {labels.shape}; "
            "expected scores (N, K) and labels (N,)"
        )
    check_values(functools.partial(_check_classes, op, scores.shape[1]), labels)
    return labels


def _check_classes(op: str, k: int, labels: Any) -> None:
    """Labels must be classes 0..k-1 (checked at every call, also when compiled)."""
    if labels.size and bool((labels.min() < 0) | (labels.max() >= k)):  # one read (on a GPU, one wait)
        raise ValueError(f"{op}: labels range over [{int(labels.min())}, {int(labels.max())}]; expected classes 0..{k - 1}")


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction={reduction!r}; expected 'mean', 'sum' or 'none'")


def _reduce(op: str, losses: Tensor, reduction: str) -> Tensor:
    _check_reduction(op, reduction)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def svm_loss(scores: Any, y: Any, delta: float = 1.0, reduction: str = "mean") -> Tensor:
    """The lecture's multiclass SVM (hinge) loss: L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + delta).

    Averaged over the batch. (PyTorch's ``multi_margin_loss`` also divides by the number
    of classes.) At a margin of exactly 0 the hinge passes no gradient.

    >>> import chainrule as cr
    >>> s = cr.Tensor([[3.2, 5.1, -1.7]])   # the lecture's cat image
    >>> round(cr.nn.functional.svm_loss(s, [0]).item(), 2)
    2.9
    """
    scores = as_tensor(scores)
    labels = _labels("svm_loss", scores, y)
    xp = array_module(scores.data)
    rows = xp.arange(scores.shape[0])
    correct = scores[rows, labels].reshape(-1, 1)  # (N, 1): s_{y_i}
    others = xp.ones(scores.shape, dtype=scores.dtype)
    others[rows, labels] = 0  # j != y_i
    margins = ops.relu(scores - correct + delta) * others  # (N, K)
    return _reduce("svm_loss", margins.sum(axis=1), reduction)


def cross_entropy(scores: Any, y: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw scores: L_i = -log(exp(s_{y_i}) / sum_j exp(s_j)).

    Stable: the fused log-softmax shifts by the max, so large scores do not overflow.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.cross_entropy(cr.Tensor([[0.0, 0.0]]), [1]).item(), 4)
    0.6931
    """
    scores = as_tensor(scores)
    labels = _labels("cross_entropy", scores, y)
    _check_reduction("cross_entropy", reduction)
    return CrossEntropy.apply(scores, labels=labels, reduction=reduction)


def nll_loss(log_probs: Any, y: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of the labels under (N, K) log-probabilities.

    >>> import chainrule as cr
    >>> import math
    >>> round(cr.nn.functional.nll_loss(cr.Tensor([[math.log(0.25), math.log(0.75)]]), [1]).item(), 4)
    0.2877
    """
    log_probs = as_tensor(log_probs)
    labels = _labels("nll_loss", log_probs, y)
    rows = array_module(log_probs.data).arange(log_probs.shape[0])
    return _reduce("nll_loss", -log_probs[rows, labels], reduction)


def _same_shape(op: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{op}: input of shape {a.shape} and target of shape {b.shape}; expected equal shapes")


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Mean squared error.

    >>> import chainrule as cr
    >>> cr.nn.functional.mse_loss(cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 1.0])).item()
    2.5
    """
    pred, target = as_tensor(pred), as_tensor(target)
    _same_shape("mse_loss", pred, target)
    d = pred - target
    return _reduce("mse_loss", d * d, reduction)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Tensor:
    """-[t log sigmoid(z) + (1-t) log(1 - sigmoid(z))], computed as softplus(z) - t z.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.binary_cross_entropy_with_logits(cr.Tensor([0.0]), cr.Tensor([1.0])).item(), 4)
    0.6931
    """
    logits, target = as_tensor(logits), as_tensor(target)
    _same_shape("binary_cross_entropy_with_logits", logits, target)
    return _reduce("binary_cross_entropy_with_logits", ops.softplus(logits) - target * logits, reduction)


# -- regularization ----------------------------------------------------------------------


def _penalized(params: Any, include_bias: bool) -> list[Tensor]:
    if hasattr(params, "parameters"):
        params = params.parameters()
    ps = [p for p in params if include_bias or p.ndim >= 2]
    if not ps:
        raise ValueError("regularization: no weights to penalize; expected parameters with 2 or more axes")
    return ps


def l2_penalty(params: Any, include_bias: bool = False) -> Tensor:
    """R(W) = sum_k W_k^2 over the weights of a module (or an iterable of tensors).

    Weights are the parameters with two or more axes (matrices, conv filters): biases
    and normalization scales are left out unless ``include_bias=True``, as the course
    notes do. Add ``lam * l2_penalty(model)`` to the data loss; its gradient 2*lam*W
    then flows through the graph like any other.

    >>> import chainrule as cr
    >>> cr.nn.functional.l2_penalty([cr.Tensor([[1.0, 2.0]]), cr.Tensor([5.0])]).item()
    5.0
    """
    return ops.stack([(p * p).sum() for p in _penalized(params, include_bias)]).sum()


def l1_penalty(params: Any, include_bias: bool = False) -> Tensor:
    """R(W) = sum_k |W_k| over the weights (as ``l2_penalty`` chooses them).

    >>> import chainrule as cr
    >>> cr.nn.functional.l1_penalty([cr.Tensor([[1.0, -2.0]])]).item()
    3.0
    """
    return ops.stack([ops.abs(p).sum() for p in _penalized(params, include_bias)]).sum()

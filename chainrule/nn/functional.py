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
from ..ops.fused import BatchNorm, CrossEntropy, LayerNorm, Linear
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
    variance with Bessel's correction, as PyTorch does; training is one fused gate
    (``ops.fused.BatchNorm``: its backward is the long derivation folded into three sums),
    evaluation is composed.

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
        w = weight.reshape(shape) if weight is not None else None
        b = bias.reshape(shape) if bias is not None else None
        stats = (running_mean, running_var, momentum) if running_mean is not None else None
        return BatchNorm.apply(x, w, b, axes=axes, eps=eps, stats=stats)  # one gate (ops.fused)
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
# PyTorch's names, arguments and defaults. ``reduction`` is 'mean', 'sum' or 'none'; the legacy
# ``size_average``/``reduce`` flags, when given, choose it by PyTorch's legacy rule. chainrule's
# older calls gave the reduction third (``cross_entropy(s, y, "sum")``, also nll_loss, mse_loss and
# binary_cross_entropy_with_logits): a string in that slot is still taken as the reduction.
# Class weights (``weight`` of the classification losses, ``pos_weight``) are constants, as in
# PyTorch, which gives them no gradient; the elementwise ``weight`` of mse/l1/huber is an operand.
# Plain cross-entropy is one fused gate (``ops.fused.CrossEntropy``, for speed and stability);
# every other case is composed, from log_softmax where probabilities are involved.
# mse/l1/smooth_l1/huber refuse a target of another shape, where PyTorch warns and broadcasts
# (the warning's "likely incorrect results"): chainrule has always raised there.


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


def _check_classes(op: str, k: int, labels: Any, ignore_index: int | None = None) -> None:
    """Labels must be classes 0..k-1, or ``ignore_index`` (checked at every call, also when compiled)."""
    bad = (labels < 0) | (labels >= k)
    if ignore_index is not None:
        bad &= labels != ignore_index
    if labels.size and bool(bad.any()):  # one read (on a GPU, one wait)
        seen = labels if ignore_index is None else labels[labels != ignore_index]
        also = "" if ignore_index is None else f" (or ignore_index={ignore_index})"
        raise ValueError(f"{op}: labels range over [{int(seen.min())}, {int(seen.max())}]; expected classes "
                         f"0..{k - 1}{also}")  # fmt: skip


def _check_reduction(op: str, reduction: str, allowed: tuple[str, ...] = ("mean", "sum", "none")) -> None:
    if reduction not in allowed:
        names = ", ".join(repr(a) for a in allowed[:-1]) + f" or {allowed[-1]!r}"
        raise ValueError(f"{op}: reduction={reduction!r}; expected {names}")


def _reduction(op: str, size_average: bool | None, reduce: bool | None, reduction: str,
               allowed: tuple[str, ...] = ("mean", "sum", "none")) -> str:  # fmt: skip
    """``reduction``, or where a legacy flag is given, PyTorch's legacy rule: ``reduce=False`` gives
    'none', else ``size_average=False`` 'sum', else 'mean' (with PyTorch's deprecation warning)."""
    if size_average is not None or reduce is not None:
        keep_size, keep_reduce = size_average is None or bool(size_average), reduce is None or bool(reduce)
        reduction = "mean" if keep_size and keep_reduce else "sum" if keep_reduce else "none"
        import warnings  # here, not beside the file's imports, which every section shares

        warnings.warn(f"{op}: size_average and reduce are deprecated, as in PyTorch; use reduction={reduction!r}",
                      UserWarning, stacklevel=3)  # fmt: skip
    _check_reduction(op, reduction, allowed)
    return reduction


def _reduce(op: str, losses: Tensor, reduction: str) -> Tensor:
    _check_reduction(op, reduction)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


def _divide(total: Tensor, count: Any) -> Tensor:
    """``total / count`` for a count that may be 0 (every target ignored): NaN then, as PyTorch's, and
    no warning. The reciprocal is NaN there, so the gradient reaching the (ignored) entries is 0, as
    PyTorch's, where ``1 / 0`` would send them inf * 0."""
    xp = array_module(count)
    some = count > 0
    return total * xp.where(some, 1 / xp.where(some, count, 1), xp.nan).astype(total.dtype)


def _as_array(x: Any) -> Any:
    """A target given as a list or a number, as a NumPy array; an array (NumPy, CuPy, traced) as it is."""
    return np.asarray(x) if isinstance(x, (list, tuple, int, float, bool, np.generic)) else x


def _target(target: Any, like: Tensor) -> Tensor:
    """A float target: a Tensor as it is (it may require grad); an array or a list goes to the
    input's device first, as labels do."""
    return target if isinstance(target, Tensor) else as_tensor(devices.like(_as_array(target), like.data))


def _constant(value: Any, like: Tensor) -> Any:
    """A class weight (a Tensor's values, an array or a list) as an array of ``like``'s dtype on its device."""
    data = value.detach().data if isinstance(value, Tensor) else value
    return devices.like(data, like.data).astype(like.dtype, copy=False)


def _class_weight(op: str, weight: Any, c: int, like: Tensor) -> Any:
    w = _constant(weight, like)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight of shape {w.shape}; expected one weight per class, shape ({c},)")
    return w


def _broadcast_weight(op: str, name: str, weight: Any, like: Tensor) -> Any:
    """A weight that must broadcast to ``like``'s shape (bce's ``weight`` and ``pos_weight``)."""
    w = _constant(weight, like)
    try:
        fits = np.broadcast_shapes(w.shape, like.shape) == like.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{op}: {name} of shape {w.shape} does not broadcast to the input's shape {like.shape}")
    return w


def _class_targets(op: str, x: Tensor, target: Any, ignore_index: int | None) -> tuple[Tensor, Any, tuple]:
    """Scores (C,), (N, C) or (N, C, d1, ...) and class indices of shape (), (N,) or (N, d1, ...),
    checked, as (M, C) rows, M labels and the shape of the per-entry losses."""
    labels = devices.like(_int_array(op, target), x.data)  # host labels go to the scores' device
    if x.ndim == 0:
        raise ValueError(f"{op}: input is 0-d; expected scores (C,), (N, C) or (N, C, d1, ...)")
    shape = () if x.ndim == 1 else (x.shape[0], *x.shape[2:])
    if labels.shape != shape:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {labels.shape}; expected class "
                         f"indices of shape {shape}")  # fmt: skip
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    check_values(functools.partial(_check_classes, op, c, ignore_index=ignore_index), labels)
    if x.ndim > 2:  # (N, C, d1, ...) -> (N, d1, ..., C): the classes last, one row per entry
        x = x.permute(0, *range(2, x.ndim), 1)
    return (x if x.ndim == 2 else x.reshape(-1, c)), labels.reshape(-1), shape


def _picked(logp: Tensor, labels: Any, weight: Any, ignore_index: int) -> tuple[Tensor, Any]:
    """-w[y] log p[y] for each of the (M, C) rows of log-probabilities, 0 where the label is
    ``ignore_index``; and the weights w[y] (1 without class weights, 0 where ignored), whose sum
    is the mean's denominator, as PyTorch's."""
    xp = array_module(logp.data)
    keep = labels != ignore_index
    safe = xp.where(keep, labels, 0)  # an ignored entry picks class 0, then counts 0
    picked = -logp[xp.arange(safe.shape[0]), safe]  # (M,)
    if weight is None:
        return ops.where(keep, picked, 0.0), keep.astype(logp.dtype)
    w = xp.where(keep, weight[safe], 0).astype(logp.dtype)
    return ops.where(keep, picked * w, 0.0), w


def _weighted_reduce(losses: Tensor, counted: Any, reduction: str, shape: tuple) -> Tensor:
    """Per-entry losses reduced: 'mean' divides by the sum of the counted entries' weights."""
    if reduction == "none":
        return losses if losses.shape == shape else losses.reshape(shape)
    return losses.sum() if reduction == "sum" else _divide(losses.sum(), counted.sum())


def _hinges(scores: Tensor, labels: Any, margin: float) -> Tensor:
    """max(0, s_j - s_{y_i} + margin) for each class j != y_i of (N, K) scores, 0 at j = y_i. At a
    margin of exactly 0 the hinge passes no gradient."""
    xp = array_module(scores.data)
    rows = xp.arange(scores.shape[0])
    correct = scores[rows, labels].reshape(-1, 1)  # (N, 1): s_{y_i}
    others = xp.ones(scores.shape, dtype=scores.dtype)
    others[rows, labels] = 0  # j != y_i
    return ops.relu(scores - correct + margin) * others  # (N, K)


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
    return _reduce("svm_loss", _hinges(scores, labels, delta).sum(axis=1), reduction)


def multi_margin_loss(input: Any, target: Any, p: int = 1, margin: float = 1.0, weight: Any = None,
                      size_average: bool | None = None, reduce: bool | None = None,
                      reduction: str = "mean") -> Tensor:  # fmt: skip
    """PyTorch's multiclass hinge: L_i = sum_{j != y_i} w[y_i] max(0, margin - x_{y_i} + x_j)^p / C,
    the lecture's SVM (``svm_loss``) divided by the number of classes C; ``p`` is 1 or 2. Input
    (N, C) with target (N,), or (C,) with a target of shape () or (1,).

    >>> import chainrule as cr
    >>> s = cr.Tensor([[3.2, 5.1, -1.7]])   # the lecture's cat image: 2.9 over 3 classes
    >>> round(cr.nn.functional.multi_margin_loss(s, [0]).item(), 4)
    0.9667
    """
    op = "multi_margin_loss"
    reduction = _reduction(op, size_average, reduce, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: p={p!r}; expected 1 or 2 (as PyTorch)")
    x = as_tensor(input)
    if x.ndim not in (1, 2):
        raise ValueError(f"{op}: input of shape {x.shape}; expected scores (C,) or (N, C)")
    labels = devices.like(_int_array(op, target), x.data)
    wanted = ((), (1,)) if x.ndim == 1 else (x.shape[:1],)
    if labels.shape not in wanted:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {labels.shape}; expected class "
                         f"indices of shape {' or '.join(str(w) for w in wanted)}")  # fmt: skip
    c = x.shape[-1]
    check_values(functools.partial(_check_classes, op, c), labels)
    rows, flat = x.reshape(-1, c), labels.reshape(-1)
    hinge = _hinges(rows, flat, margin)
    if p == 2:
        hinge = hinge * hinge
    if weight is not None:
        hinge = hinge * _class_weight(op, weight, c, x)[flat].reshape(-1, 1)  # row i: w[y_i]
    losses = hinge.sum(axis=1) / c
    return _reduce(op, losses.reshape(labels.shape) if labels.ndim == 0 else losses, reduction)


def cross_entropy(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:  # fmt: skip
    """Softmax cross-entropy from raw scores: L_i = -log(exp(s_{y_i}) / sum_j exp(s_j)).

    Stable: the fused log-softmax shifts by the max, so large scores do not overflow.
    ``input`` is (N, C), (N, C, d1, ...) or unbatched (C,); ``target`` holds class indices of
    shape (N,), (N, d1, ...) or (), or class probabilities of the input's shape. ``weight``: one
    per class (the mean divides by the summed weights of the counted targets, as PyTorch's);
    targets equal to ``ignore_index`` count 0 and leave the mean (all ignored: NaN, as PyTorch);
    ``label_smoothing`` mixes the target with the uniform distribution. The plain case
    (class indices, no weight, no smoothing) is one fused gate.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.cross_entropy(cr.Tensor([[0.0, 0.0]]), [1]).item(), 4)
    0.6931
    >>> s = cr.Tensor([[2.0, 0.0]])
    >>> round(cr.nn.functional.cross_entropy(s, [0], label_smoothing=0.2).item(), 4)
    0.3269
    >>> round(cr.nn.functional.cross_entropy(s, cr.Tensor([[0.5, 0.5]])).item(), 4)  # probabilities
    1.1269
    """
    op = "cross_entropy"
    if isinstance(weight, str):  # chainrule's older spelling: cross_entropy(scores, y, "sum")
        weight, reduction = None, weight
    reduction = _reduction(op, size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing={label_smoothing}; expected a value in [0, 1]")
    x = as_tensor(input)
    soft = _as_array(target.data if isinstance(target, Tensor) else target)
    if soft.dtype.kind == "f":
        if soft.shape == x.shape:
            return _cross_entropy_probabilities(x, target, weight, ignore_index, reduction, label_smoothing)
        raise TypeError(f"{op}: labels have dtype {soft.dtype}; expected integers (class indices), or class "
                        f"probabilities of the input's shape {x.shape} (got {soft.shape})")  # fmt: skip
    rows, labels, shape = _class_targets(op, x, target, ignore_index)
    if weight is None and label_smoothing == 0:  # one fused gate (ops.fused), for speed and stability
        losses = CrossEntropy.apply(rows, labels=labels, reduction=reduction, ignore_index=ignore_index)
        return losses.reshape(shape) if reduction == "none" and losses.shape != shape else losses
    c = rows.shape[1]
    w = None if weight is None else _class_weight(op, weight, c, x)
    logp = ops.log_softmax(rows, 1)  # (M, C)
    losses, counted = _picked(logp, labels, w, ignore_index)
    if label_smoothing:  # PyTorch's: (1 - eps) nll + eps / C * sum over classes of -w_c log p_c
        spread = -(logp.sum(axis=1) if w is None else (logp * w).sum(axis=1))  # (M,)
        spread = ops.where(labels != ignore_index, spread, 0.0)
        losses = (1 - label_smoothing) * losses + (label_smoothing / c) * spread
    return _weighted_reduce(losses, counted, reduction, shape)


def _cross_entropy_probabilities(x: Tensor, target: Any, weight: Any, ignore_index: int, reduction: str,
                                 label_smoothing: float) -> Tensor:  # fmt: skip
    """-sum_c w_c t_c log softmax(x)_c over the class axis, ``target`` t of the input's shape
    (it may require grad); the mean is over the entries, as PyTorch's."""
    op = "cross_entropy"
    if ignore_index >= 0:
        raise ValueError(f"{op}: ignore_index={ignore_index} with class probabilities as the target; expected "
                         "a negative ignore_index (probabilities ignore none, as PyTorch's)")  # fmt: skip
    if x.ndim == 0:
        raise ValueError(f"{op}: input is 0-d; expected scores (C,), (N, C) or (N, C, d1, ...)")
    axis = 0 if x.ndim == 1 else 1
    c = x.shape[axis]
    t = target if isinstance(target, Tensor) else _constant(target, x)
    if label_smoothing:
        t = t * (1 - label_smoothing) + label_smoothing / c
    terms = ops.log_softmax(x, axis) * t
    if weight is not None:  # w along the class axis: (C, 1, ..., 1)
        terms = terms * _class_weight(op, weight, c, x).reshape((c,) + (1,) * (x.ndim - axis - 1))
    losses = -terms.sum(axis=axis)
    if reduction == "mean":
        n = math.prod(x.shape) // c if c else 0
        return losses.sum() / n if n else losses.sum() * float("nan")
    return losses.sum() if reduction == "sum" else losses


def nll_loss(input: Any, target: Any, weight: Any = None, size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:  # fmt: skip
    """Negative log-likelihood of the targets under log-probabilities (C,), (N, C) or (N, C, d1, ...),
    with ``weight`` and ``ignore_index`` as in ``cross_entropy``.

    >>> import chainrule as cr
    >>> import math
    >>> round(cr.nn.functional.nll_loss(cr.Tensor([[math.log(0.25), math.log(0.75)]]), [1]).item(), 4)
    0.2877
    """
    op = "nll_loss"
    if isinstance(weight, str):  # chainrule's older spelling: nll_loss(log_probs, y, "sum")
        weight, reduction = None, weight
    reduction = _reduction(op, size_average, reduce, reduction)
    x = as_tensor(input)
    rows, labels, shape = _class_targets(op, x, target, ignore_index)
    w = None if weight is None else _class_weight(op, weight, rows.shape[1], x)
    losses, counted = _picked(rows, labels, w, ignore_index)
    return _weighted_reduce(losses, counted, reduction, shape)


def _same_shape(op: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"{op}: input of shape {a.shape} and target of shape {b.shape}; expected equal shapes")


def _elementwise(op: str, input: Any, target: Any, size_average: Any, reduce: Any, reduction: str) -> tuple:
    """Input and target of one shape, and the reduction (a string given third: chainrule's older spelling)."""
    if isinstance(size_average, str):
        size_average, reduction = None, size_average
    reduction = _reduction(op, size_average, reduce, reduction)
    x = as_tensor(input)
    t = _target(target, x)
    _same_shape(op, x, t)
    return x, t, reduction


def _weighted(op: str, losses: Tensor, weight: Any, reduction: str, mean_by_weight: bool = True) -> Tensor:
    """Elementwise losses times ``weight`` (of their shape, as PyTorch asks), reduced; 'mean'
    divides by the sum of the weights (huber: by the count, as PyTorch's)."""
    if weight is None:
        return _reduce(op, losses, reduction)
    w = weight if isinstance(weight, Tensor) else _constant(weight, losses)
    if tuple(w.shape) != losses.shape:
        raise ValueError(f"{op}: weight of shape {tuple(w.shape)}; expected the input's shape {losses.shape}")
    losses = losses * w
    if reduction == "mean" and mean_by_weight:
        return losses.sum() / w.sum()
    return _reduce(op, losses, reduction)


def mse_loss(input: Any, target: Any, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Any = None) -> Tensor:  # fmt: skip
    """Mean squared error (x - t)^2; ``weight`` (the input's shape) weighs each entry.

    >>> import chainrule as cr
    >>> cr.nn.functional.mse_loss(cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 1.0])).item()
    2.5
    """
    x, t, reduction = _elementwise("mse_loss", input, target, size_average, reduce, reduction)
    d = x - t
    return _weighted("mse_loss", d * d, weight, reduction)


def l1_loss(input: Any, target: Any, size_average: bool | None = None, reduce: bool | None = None,
            reduction: str = "mean", weight: Any = None) -> Tensor:  # fmt: skip
    """Mean absolute error |x - t| (gradient 0 where x = t, as PyTorch's); ``weight`` as in ``mse_loss``.

    >>> import chainrule as cr
    >>> cr.nn.functional.l1_loss(cr.Tensor([1.0, 3.0]), cr.Tensor([0.0, 1.0])).item()
    1.5
    """
    x, t, reduction = _elementwise("l1_loss", input, target, size_average, reduce, reduction)
    return _weighted("l1_loss", ops.abs(x - t), weight, reduction)


def smooth_l1_loss(input: Any, target: Any, size_average: bool | None = None, reduce: bool | None = None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:  # fmt: skip
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - t); ``beta=0`` is the L1 loss.
    At |d| = beta the linear side is taken, as PyTorch's (the same slope; second derivative 0).

    >>> import chainrule as cr
    >>> cr.nn.functional.smooth_l1_loss(cr.Tensor([0.5, 3.0]), cr.Tensor([0.0, 0.0]), reduction="none").numpy()
    array([0.125, 2.5  ], dtype=float32)
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta={beta}; expected beta >= 0")
    x, t, reduction = _elementwise("smooth_l1_loss", input, target, size_average, reduce, reduction)
    d = x - t
    a = ops.abs(d)
    losses = a if beta == 0 else ops.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)
    return _reduce("smooth_l1_loss", losses, reduction)


def huber_loss(input: Any, target: Any, reduction: str = "mean", delta: float = 1.0, weight: Any = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta): ``delta * smooth_l1_loss(beta=delta)``.
    ``weight`` (the input's shape) weighs each entry; its 'mean' divides by the count, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.functional.huber_loss(cr.Tensor([0.5, 3.0]), cr.Tensor([0.0, 0.0]), reduction="none").numpy()
    array([0.125, 2.5  ], dtype=float32)
    """
    if delta <= 0:
        raise ValueError(f"huber_loss: delta={delta}; expected delta > 0")
    x, t, reduction = _elementwise("huber_loss", input, target, None, None, reduction)
    d = x - t
    a = ops.abs(d)
    return _weighted("huber_loss", ops.where(a < delta, 0.5 * d * d, delta * (a - 0.5 * delta)), weight, reduction,
                     mean_by_weight=False)  # fmt: skip


def _check_probabilities(op: str, x: Any) -> None:
    if x.size and bool(((x < 0) | (x > 1)).any()):  # one read (on a GPU, one wait)
        raise ValueError(f"{op}: input ranges over [{float(x.min())}, {float(x.max())}]; expected probabilities "
                         "in [0, 1] (for raw scores: binary_cross_entropy_with_logits)")  # fmt: skip


def _clamped_logs(x: Tensor) -> tuple[Tensor, Tensor]:
    """max(log x, -100) and max(log(1 - x), -100) (the second by log1p), PyTorch's clamps. 0 and 1
    are kept out of the logs, so log(0)'s inf never meets a blocked gradient (inf * 0 is NaN)."""
    above, below = x > 0, x < 1
    log_x = ops.where(above, ops.clip(ops.log(ops.where(above, x, 1.0)), -100.0), -100.0)
    log_rest = ops.where(below, ops.clip(ops.pointwise.log1p(-ops.where(below, x, 0.0)), -100.0), -100.0)
    return log_x, log_rest


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:  # fmt: skip
    """-w [t log x + (1 - t) log(1 - x)] for probabilities x, each log clamped at -100 as PyTorch's
    (x = 0 or 1 costs 100, not inf). The gradient is (x - t) / (x (1 - x)); where x is within 1e-12 of
    0 or 1 PyTorch divides by 1e-12 instead (chainrule: the clamped log's own slope). ``weight``
    broadcasts to the input's shape.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.binary_cross_entropy(cr.Tensor([0.5]), cr.Tensor([1.0])).item(), 4)
    0.6931
    """
    op = "binary_cross_entropy"
    reduction = _reduction(op, size_average, reduce, reduction)
    x = as_tensor(input)
    t = _target(target, x)
    _same_shape(op, x, t)
    w = None if weight is None else _broadcast_weight(op, "weight", weight, x)
    check_values(functools.partial(_check_probabilities, op), x.data)
    log_x, log_rest = _clamped_logs(x)
    losses = -(t * log_x + (1 - t) * log_rest)
    return _reduce(op, losses if w is None else losses * w, reduction)


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:  # fmt: skip
    """-[t log sigmoid(z) + (1-t) log(1 - sigmoid(z))], computed as softplus(z) - t z (stable).

    ``pos_weight`` (broadcast along the last axes, e.g. one per class) weighs the positive term:
    (1 - t) z + (1 + (pos_weight - 1) t) softplus(-z); ``weight`` weighs each entry.

    >>> import chainrule as cr
    >>> round(cr.nn.functional.binary_cross_entropy_with_logits(cr.Tensor([0.0]), cr.Tensor([1.0])).item(), 4)
    0.6931
    """
    op = "binary_cross_entropy_with_logits"
    if isinstance(weight, str):  # chainrule's older spelling: binary_cross_entropy_with_logits(z, t, "sum")
        weight, reduction = None, weight
    reduction = _reduction(op, size_average, reduce, reduction)
    z = as_tensor(input)
    t = _target(target, z)
    _same_shape(op, z, t)
    if pos_weight is None:
        losses = ops.softplus(z) - t * z
    else:
        pw = _broadcast_weight(op, "pos_weight", pos_weight, z)
        losses = (1 - t) * z + (1 + t * (pw - 1)) * ops.softplus(-z)
    if weight is not None:
        losses = losses * _broadcast_weight(op, "weight", weight, z)
    return _reduce(op, losses, reduction)


def kl_div(input: Any, target: Any, size_average: bool | None = None, reduce: bool | None = None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:  # fmt: skip
    """KL(target || p) with ``input`` = log p: t (log t - x) per entry, 0 where t = 0 (or, with
    ``log_target``, exp(t) (t - x)). 'batchmean' divides the sum by the batch size (the KL divergence
    itself); 'mean', by the number of entries, as PyTorch's. Input and target broadcast.
    The target's gradient is -x where t = 0 (PyTorch's: NaN).

    >>> import chainrule as cr
    >>> import math
    >>> p = cr.Tensor([[math.log(0.5), math.log(0.5)]])
    >>> round(cr.nn.functional.kl_div(p, cr.Tensor([[0.25, 0.75]]), reduction="batchmean").item(), 4)
    0.1308
    """
    op = "kl_div"
    reduction = _reduction(op, size_average, reduce, reduction, ("mean", "batchmean", "sum", "none"))
    x = as_tensor(input)
    t = _target(target, x)
    try:
        np.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise ValueError(f"{op}: input of shape {x.shape} and target of shape {t.shape} do not broadcast; "
                         "expected shapes that do") from None  # fmt: skip
    if log_target:
        losses = ops.exp(t) * (t - x)
    else:
        some = t != 0  # xlogy(t, t): 0 where t = 0, log kept off 0
        losses = ops.where(some, t * ops.log(ops.where(some, t, 1.0)), 0.0) - t * x
    if reduction == "batchmean":
        return losses.sum() / x.shape[0] if x.ndim else losses.sum()
    return _reduce(op, losses, reduction)


_COSINE_EPS = 1e-12  # PyTorch's, added to each squared norm


def cosine_embedding_loss(input1: Any, input2: Any, target: Any, margin: float = 0.0,
                          size_average: bool | None = None, reduce: bool | None = None,
                          reduction: str = "mean") -> Tensor:  # fmt: skip
    """1 - cos(x1, x2) where the target is 1, max(0, cos(x1, x2) - margin) where it is -1 (0 for
    other targets, as PyTorch's). Inputs (N, D) with target (N,), or (D,) with a 0-d target.

    >>> import chainrule as cr
    >>> a, b = cr.Tensor([[1.0, 0.0], [1.0, 0.0]]), cr.Tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> cr.nn.functional.cosine_embedding_loss(a, b, [1, -1], reduction="none").numpy().round(4)
    array([1.    , 0.7071], dtype=float32)
    """
    op = "cosine_embedding_loss"
    reduction = _reduction(op, size_average, reduce, reduction)
    a, b = as_tensor(input1), as_tensor(input2)
    y = target.data if isinstance(target, Tensor) else target
    y = devices.like(_as_array(y), a.data)  # no gradient: it only selects
    fits = y.ndim <= 1 and a.ndim == y.ndim + 1 and a.shape[: y.ndim] == y.shape
    if not fits or a.shape != b.shape:
        raise ValueError(f"{op}: inputs of shapes {a.shape} and {b.shape} with a target of shape {y.shape}; expected "
                         "inputs (N, D) with a target (N,), or inputs (D,) with a 0-d target")  # fmt: skip
    axis = y.ndim  # the feature axis
    norms = ((a * a).sum(axis=axis) + _COSINE_EPS) * ((b * b).sum(axis=axis) + _COSINE_EPS)
    cos = (a * b).sum(axis=axis) / ops.sqrt(norms)
    losses = ops.where(y == 1, 1 - cos, 0.0) + ops.where(y == -1, ops.clip(cos - margin, 0.0), 0.0)
    return _reduce(op, losses, reduction)


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

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
from ..backend import array_module, is_array
from ..ops import sampling
from ..ops.attention import ScaledDotProductAttention
from ..ops.axes import dims, one_axis
from ..ops.fused import BatchNorm, CrossEntropy, LayerNorm, Linear
from ..ops.index import Scatter, one_hot  # noqa: F401 - nn.functional.one_hot, as PyTorch
from ..ops.movement import pad_sides as pad  # noqa: F401 - nn.functional.pad: PyTorch's widths and modes
from ..ops.reduce import normalize  # noqa: F401 - nn.functional.normalize
from ..ops.shape import GetItem, _along, gather_along
from ..ops.special import Gelu
from ..ops.window import Convolution, ConvTranspose, MaxPool, Unfold, pool_indices

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


# -- convolution and pooling --------------------------------------------------------------
# PyTorch's names, arguments, defaults and output shapes. All of it runs on the 2-D gates of
# ``ops.window`` over channels-last arrays: a signal (N, C, L) is an image of height 1 (the 1-d
# functions add that axis and take it off the result). Transposed convolution is the
# convolution's input gradient as a gate of its own (``ConvTranspose``). The pools also take an
# unbatched (C, H, W) or (C, L), as PyTorch's do; the convolutions ask for the batch axis.

_SHAPES = {1: "(N, C, L)", 2: "(N, C, H, W)"}
_UNBATCHED = {1: "(C, L)", 2: "(C, H, W)"}


def _ntuple(op: str, name: str, v: Any, n: int, low: int) -> tuple[int, ...]:
    """An int, or a sequence of 1 or ``n`` ints, each >= ``low``, as an ``n``-tuple."""
    t = (v,) if isinstance(v, (int, np.integer)) else tuple(v) if isinstance(v, (tuple, list)) else ()
    t = t * n if len(t) == 1 else t
    if len(t) != n or any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < low for p in t):
        raise ValueError(f"{op}: {name}={v!r}; expected an int >= {low} or {n} of them")
    return tuple(int(p) for p in t)


def _lift(v: tuple[int, ...], d: int, fill: int) -> tuple[int, ...]:
    """A 1-d setting as the 2-d one of a height-1 image: (k,) -> (1, k)."""
    return (fill, *v) if d == 1 else v


def _conv_input(op: str, input: Any, d: int) -> Tensor:
    x = as_tensor(input)
    if x.ndim != d + 2:
        one = f" (one {'signal' if d == 1 else 'image'}? add the batch axis: x.unsqueeze(0))" if x.ndim == d + 1 else ""
        raise ValueError(f"{op}: input has shape {x.shape}, {x.ndim} axes; expected {d + 2} axes {_SHAPES[d]}{one}")
    return x


def _groups(op: str, groups: Any) -> int:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups={groups!r}; expected a positive int")
    return int(groups)


def _check_bias(op: str, bias: Any, n: int) -> Tensor | None:
    if bias is None:
        return None
    bias = as_tensor(bias)
    if bias.shape != (n,):
        raise ValueError(f"{op}: bias has shape {bias.shape}; expected ({n},)")
    return bias


def _same_padding(op: str, x: Tensor, padding: str, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """'valid' (none) or 'same' (each output axis as long as the input's): the padding, and the
    input with one more zero at the end of an axis whose total padding is odd (PyTorch's split)."""
    if padding not in ("same", "valid"):
        raise ValueError(f"{op}: padding={padding!r}; expected an int, a tuple of ints, 'same' or 'valid'")
    if padding == "valid":
        return x, (0,) * len(kernel)
    if any(s != 1 for s in stride):
        raise ValueError(f"{op}: padding='same' with stride={stride}; expected stride 1 (as in PyTorch, 'same' is "
                         "not supported for strided convolutions)")  # fmt: skip
    total = [dl * (k - 1) for k, dl in zip(kernel, dilation)]
    if any(t % 2 for t in total):
        x = pad(x, [w for t in reversed(total) for w in (0, t % 2)])  # F.pad's order: the last axis first
    return x, tuple(t // 2 for t in total)


def _check_fits(op: str, shape: tuple, kernel: tuple, padding: tuple, dilation: tuple) -> None:
    span = tuple(dl * (k - 1) + 1 for k, dl in zip(kernel, dilation))
    if any(n + 2 * p < s for n, p, s in zip(shape[2:], padding, span)):
        wide = f" (dilation {dilation}: {span} wide)" if any(dl > 1 for dl in dilation) else ""
        raise ValueError(f"{op}: input of shape {shape} with padding {padding} is smaller than the kernel "
                         f"{kernel}{wide}; expected each spatial size (padded) at least the kernel's span")  # fmt: skip


def _convolution(op: str, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, groups: Any,
                 d: int) -> Tensor:  # fmt: skip
    x, weight, groups = _conv_input(op, input, d), as_tensor(weight), _groups(op, groups)
    if weight.ndim != d + 2 or weight.shape[1] * groups != x.shape[1] or weight.shape[0] % groups:
        k = "k" if d == 1 else "kh, kw"
        raise ValueError(f"{op}: input of shape {x.shape} does not fit weight of shape {weight.shape} with "
                         f"groups={groups}; expected input {_SHAPES[d]} and weight (O, C/groups, {k}), O divisible "
                         "by groups")  # fmt: skip
    bias = _check_bias(op, bias, weight.shape[0])
    stride, dilation = _ntuple(op, "stride", stride, d, 1), _ntuple(op, "dilation", dilation, d, 1)
    kernel = tuple(weight.shape[2:])
    if isinstance(padding, str):
        x, padding = _same_padding(op, x, padding, kernel, stride, dilation)
    else:
        padding = _ntuple(op, "padding", padding, d, 0)
    _check_fits(op, x.shape, kernel, padding, dilation)
    if d == 1:  # a height-1 image
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    out = Convolution.apply(*inputs, stride=_lift(stride, d, 1), padding=_lift(padding, d, 0),
                            dilation=_lift(dilation, d, 1), groups=groups)  # fmt: skip
    return out.squeeze(2) if d == 1 else out


def conv1d(input: Any, weight: Any, bias: Any = None, stride: int | tuple[int] = 1,
           padding: int | tuple[int] | str = 0, dilation: int | tuple[int] = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """1-D convolution (cross-correlation): (N, C, L) -> (N, O, Lo), ``weight`` (O, C/groups, k).
    Runs as ``conv2d`` on an image of height 1; the arguments are ``conv2d``'s, one number each.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[[0.0, 1.0, 3.0, 6.0]]])
    >>> cr.nn.functional.conv1d(x, cr.Tensor([[[-1.0, 1.0]]]), padding="same").tolist()  # differences, a zero after
    [[[1.0, 2.0, 3.0, -6.0]]]
    """
    return _convolution("conv1d", input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: int | tuple[int, int] = 1,
           padding: int | tuple[int, int] | str = 0, dilation: int | tuple[int, int] = 1, groups: int = 1) -> Tensor:  # fmt: skip
    """2-D convolution (cross-correlation, as every framework): (N, C, H, W) -> (N, O, Ho, Wo).

    ``weight`` is (O, C/groups, kh, kw). ``padding`` is an int, a pair, 'valid' (none) or
    'same' (stride 1; an odd total puts the extra zero at the end, as PyTorch); ``dilation``
    spaces a window's taps; ``groups`` splits the channels into blocks that see only each
    other (``groups == C``: depthwise). Ho = floor((H + 2 padding - dilation (kh - 1) - 1) /
    stride) + 1. Computed as matrix products: the windows of x (im2col, channels last) times
    the filters flattened to rows (``chainrule.ops.window.Convolution``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor(np.ones((1, 1, 3, 3)))
    >>> cr.nn.functional.conv2d(x, cr.Tensor(np.ones((1, 1, 2, 2)))).numpy()[0, 0]
    array([[4., 4.],
           [4., 4.]], dtype=float32)
    >>> cr.nn.functional.conv2d(cr.Tensor(np.ones((1, 4, 5, 5))), cr.Tensor(np.ones((4, 1, 3, 3))), groups=4,
    ...                         padding="same").shape  # depthwise
    (1, 4, 5, 5)
    """
    return _convolution("conv2d", input, weight, bias, stride, padding, dilation, groups, 2)


def _transposed(op: str, input: Any, weight: Any, bias: Any, stride: Any, padding: Any, output_padding: Any,
                groups: Any, dilation: Any, d: int) -> Tensor:  # fmt: skip
    x, weight, groups = _conv_input(op, input, d), as_tensor(weight), _groups(op, groups)
    if weight.ndim != d + 2 or weight.shape[0] != x.shape[1] or x.shape[1] % groups:
        k = "k" if d == 1 else "kh, kw"
        raise ValueError(f"{op}: input of shape {x.shape} does not fit weight of shape {weight.shape} with "
                         f"groups={groups}; expected input {_SHAPES[d]} and weight (C, O/groups, {k}) with C the "
                         "input's channels, divisible by groups")  # fmt: skip
    bias = _check_bias(op, bias, weight.shape[1] * groups)
    stride, padding = _ntuple(op, "stride", stride, d, 1), _ntuple(op, "padding", padding, d, 0)
    output_padding, dilation = _ntuple(op, "output_padding", output_padding, d, 0), _ntuple(op, "dilation", dilation, d, 1)
    if any(o >= s and o >= dl for o, s, dl in zip(output_padding, stride, dilation)):
        raise ValueError(f"{op}: output_padding={output_padding}; expected each smaller than its stride {stride} "
                         f"or its dilation {dilation}")  # fmt: skip
    size = tuple((n - 1) * s - 2 * p + dl * (k - 1) + o + 1
                 for n, s, p, dl, k, o in zip(x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))  # fmt: skip
    if any(n < 1 for n in size):
        raise ValueError(f"{op}: input of shape {x.shape} with kernel {tuple(weight.shape[2:])}, stride {stride} and "
                         f"padding {padding} gives output size {size}; expected sizes >= 1")  # fmt: skip
    if d == 1:
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    out = ConvTranspose.apply(*inputs, stride=_lift(stride, d, 1), padding=_lift(padding, d, 0),
                              dilation=_lift(dilation, d, 1), groups=groups, size=_lift(size, d, 1))  # fmt: skip
    return out.squeeze(2) if d == 1 else out


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: int | tuple[int] = 1,
                     padding: int | tuple[int] = 0, output_padding: int | tuple[int] = 0, groups: int = 1,
                     dilation: int | tuple[int] = 1) -> Tensor:  # fmt: skip
    """1-D transposed convolution: (N, C, L) -> (N, O, Lo), ``weight`` (C, O/groups, k); as
    ``conv_transpose2d`` on an image of height 1.

    >>> import chainrule as cr
    >>> cr.nn.functional.conv_transpose1d(cr.Tensor([[[1.0, 2.0]]]), cr.Tensor([[[1.0, 1.0, 1.0]]]), stride=2).tolist()
    [[[1.0, 1.0, 3.0, 2.0, 2.0]]]
    """
    return _transposed("conv_transpose1d", input, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: int | tuple[int, int] = 1,
                     padding: int | tuple[int, int] = 0, output_padding: int | tuple[int, int] = 0, groups: int = 1,
                     dilation: int | tuple[int, int] = 1) -> Tensor:  # fmt: skip
    """2-D transposed convolution ("deconvolution"): (N, C, H, W) -> (N, O, Ho, Wo), the gradient
    of ``conv2d`` with respect to its input. ``weight`` is (C, O/groups, kh, kw), as PyTorch's;
    Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1, where
    ``output_padding`` (< stride or < dilation) picks among the input sizes a strided
    convolution maps to H. One gate (``chainrule.ops.window.ConvTranspose``).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.conv_transpose2d(cr.Tensor(np.ones((1, 1, 2, 2))), cr.Tensor(np.ones((1, 1, 2, 2))))[0, 0].tolist()
    [[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]
    """
    return _transposed("conv_transpose2d", input, weight, bias, stride, padding, output_padding, groups, dilation, 2)


def _pool_input(op: str, input: Any, d: int) -> tuple[Tensor, bool]:
    """A pool's input with its batch axis, and whether one was added (an unbatched input)."""
    x = as_tensor(input)
    if x.ndim == d + 2:
        return x, False
    if x.ndim == d + 1:
        return x.unsqueeze(0), True
    raise ValueError(f"{op}: input has shape {x.shape}; expected {d + 2} axes {_SHAPES[d]} or {d + 1} {_UNBATCHED[d]}")


def _pooled(t: Tensor, d: int, unbatched: bool) -> Tensor:
    """A pool's 2-d result back in the input's form: the height-1 axis of a signal, the batch axis of an unbatched input, taken off."""
    t = t.squeeze(2) if d == 1 else t
    return t.squeeze(0) if unbatched else t


def _pool_geometry(op: str, kernel_size: Any, stride: Any, padding: Any, dilation: Any, d: int) -> tuple:
    kernel = _ntuple(op, "kernel_size", kernel_size, d, 1)
    none = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)  # PyTorch's [] is None too
    stride = kernel if none else _ntuple(op, "stride", stride, d, 1)
    padding, dilation = _ntuple(op, "padding", padding, d, 0), _ntuple(op, "dilation", dilation, d, 1)
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{op}: padding={padding} with kernel_size={kernel}; expected padding at most half the "
                         "kernel size")  # fmt: skip
    return kernel, stride, padding, dilation


def _pool_size(op: str, shape: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple,
               ceil_mode: bool) -> tuple[int, ...]:  # fmt: skip
    """PyTorch's output size: floor (ceil) of (n + 2 padding - span) / stride, plus 1; in ceil
    mode a last window that would start in the right padding is dropped."""
    out = []
    for n, k, s, p, dl in zip(shape[2:], kernel, stride, padding, dilation):
        room = n + 2 * p - dl * (k - 1) - 1
        o = (-(-room // s) if ceil_mode else room // s) + 1
        out.append(o - 1 if ceil_mode and (o - 1) * s >= n + p else o)
    if any(o < 1 for o in out):
        raise ValueError(f"{op}: input of shape {shape} gives output size {tuple(out)} with kernel_size={kernel}, "
                         f"stride={stride}, padding={padding}, dilation={dilation}; expected sizes >= 1 (the input "
                         "is too small)")  # fmt: skip
    return tuple(out)


def _pool_image(x: Tensor, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, size: tuple,
                fill: float) -> Tensor:  # fmt: skip
    """(N, C, H, W) -> padded (N, Hp, Wp, C): ``padding`` before each axis, and after it as much
    as the last window reaches (ceil mode may reach further than ``padding``), of ``fill``."""
    xh = x.permute(0, 2, 3, 1)  # (N, H, W, C): a free view when x came from a conv
    widths = [(p, max(0, (o - 1) * s + dl * (k - 1) + 1 - n - p))
              for n, k, s, p, dl, o in zip(x.shape[2:], kernel, stride, padding, dilation, size)]  # fmt: skip
    if any(a or b for a, b in widths):
        xh = ops.pad(xh, ((0, 0), *widths, (0, 0)), value=fill)
    return xh


def _max_pool(op: str, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
              return_indices: bool, d: int) -> Any:  # fmt: skip
    x, unbatched = _pool_input(op, input, d)
    kernel, stride, padding, dilation = _pool_geometry(op, kernel_size, stride, padding, dilation, d)
    size = _pool_size(op, x.shape, kernel, stride, padding, dilation, ceil_mode)
    if d == 1:
        x, kernel, stride, padding, dilation, size = (x.unsqueeze(2), (1, *kernel), (1, *stride), (0, *padding),
                                                      (1, *dilation), (1, *size))  # fmt: skip
    xh = _pool_image(x, kernel, stride, padding, dilation, size, -np.inf)
    out = _pooled(MaxPool.apply(xh, kernel=kernel, stride=stride, dilation=dilation).permute(0, 3, 1, 2), d, unbatched)
    if not return_indices:
        return out
    idx = pool_indices(xh.data, kernel, stride, dilation, padding, x.shape[3])  # (N, Ho, Wo, C)
    return out, _pooled(Tensor._make(array_module(idx).ascontiguousarray(idx.transpose(0, 3, 1, 2))), d, unbatched)


def max_pool1d(input: Any, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
               padding: int | tuple[int] = 0, dilation: int | tuple[int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """Max over windows of a signal (N, C, L) or (C, L); ``max_pool2d``'s rules, one number each.

    >>> import chainrule as cr
    >>> cr.nn.functional.max_pool1d(cr.Tensor([[[1.0, 5.0, 2.0, 4.0, 3.0]]]), 2, ceil_mode=True).tolist()
    [[[5.0, 4.0, 3.0]]]
    """
    return _max_pool("max_pool1d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(input: Any, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, dilation: int | tuple[int, int] = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:  # fmt: skip
    """Max over each window: a router, each window's gradient goes to its maximum.

    ``stride`` defaults to the kernel size; ``padding`` (at most half the kernel) adds -inf
    around the image; ``dilation`` spaces a window's taps; ``ceil_mode`` rounds the output
    size up (a last, partial window, if it starts inside the image or the left padding). On
    a tie inside a window the gradient goes to the first maximum (in row-major window
    order), as in PyTorch. (The reductions ``max``/``amax`` split it evenly instead, as
    PyTorch's do.) ``return_indices=True`` also gives each maximum's position as PyTorch
    does, ``row * W + column`` in its input plane (int64), which ``max_unpool2d`` takes.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> cr.nn.functional.max_pool2d(x, 2).numpy()[0, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    >>> cr.nn.functional.max_pool2d(x, 2, return_indices=True)[1][0, 0].tolist()
    [[5, 7], [13, 15]]
    """
    return _max_pool("max_pool2d", input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def _pool_divisors(shape: tuple, size: tuple, kernel: tuple, stride: tuple, padding: tuple, count_include_pad: bool,
                   divisor_override: int | None) -> np.ndarray:  # fmt: skip
    """What each window's sum is divided by, (Ho, Wo), as PyTorch's average pooling counts: the
    window clipped to the padded input (``count_include_pad``) or to the input itself."""
    if divisor_override is not None:
        return np.full(size, float(divisor_override))
    counts = []
    for n, o, k, s, p in zip(shape[2:], size, kernel, stride, padding):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, n + p)  # a ceil-mode window past the right padding: not counted there
        counts.append(end - start if count_include_pad else np.minimum(end, n) - np.maximum(start, 0))
    return np.multiply.outer(*counts).astype(np.float64)


def _avg_pool(op: str, input: Any, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: Any, d: int) -> Tensor:  # fmt: skip
    x, unbatched = _pool_input(op, input, d)
    kernel, stride, padding, _ = _pool_geometry(op, kernel_size, stride, padding, 1, d)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(divisor_override, (int, np.integer))
                                         or divisor_override == 0):  # fmt: skip
        raise ValueError(f"{op}: divisor_override={divisor_override!r}; expected a nonzero int or None")
    size = _pool_size(op, x.shape, kernel, stride, padding, (1,) * d, ceil_mode)
    if d == 1:
        x, kernel, stride, padding, size = x.unsqueeze(2), (1, *kernel), (1, *stride), (0, *padding), (1, *size)
    windows = Unfold.apply(_pool_image(x, kernel, stride, padding, (1, 1), size, 0.0), kernel=kernel, stride=stride)
    divisor = _pool_divisors(x.shape, size, kernel, stride, padding, count_include_pad, divisor_override)
    if (divisor == kernel[0] * kernel[1]).all():  # every window counts its kh * kw entries: a mean
        out = windows.mean(axis=(3, 4))
    else:
        out = windows.sum(axis=(3, 4)) / devices.like(divisor[:, :, None].astype(x.dtype), x.data)
    return _pooled(out.permute(0, 3, 1, 2), d, unbatched)


def avg_pool1d(input: Any, kernel_size: int | tuple[int], stride: int | tuple[int] | None = None,
               padding: int | tuple[int] = 0, ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:  # fmt: skip
    """Mean over windows of a signal (N, C, L) or (C, L); ``avg_pool2d``'s rules, one number each.

    >>> import chainrule as cr
    >>> cr.nn.functional.avg_pool1d(cr.Tensor([[[1.0, 2.0, 3.0]]]), 2, padding=1, count_include_pad=False).tolist()
    [[[1.0, 2.5]]]
    """
    return _avg_pool("avg_pool1d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input: Any, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:  # fmt: skip
    """Mean over each window. Padding zeros count in the mean unless ``count_include_pad=False``
    (PyTorch's rule, ceil-mode windows past the padding included); ``divisor_override``
    divides every sum by that number instead.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.avg_pool2d(cr.Tensor(np.arange(4.0).reshape(1, 1, 2, 2)), 2).numpy().ravel()
    array([1.5], dtype=float32)
    """
    return _avg_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, 2)


def _adaptive_size(op: str, output_size: Any, shape: tuple, d: int) -> tuple[int, ...]:
    """``output_size`` as ``d`` ints; a None keeps that axis's input size (PyTorch's)."""
    sizes = (output_size,) if output_size is None or isinstance(output_size, (int, np.integer)) else tuple(output_size)
    sizes = sizes * d if len(sizes) == 1 else sizes
    if len(sizes) != d or any(s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1)
                              for s in sizes):  # fmt: skip
        raise ValueError(f"{op}: output_size={output_size!r}; expected an int >= 1 (or None) or {d} of them")
    return tuple(n if s is None else int(s) for s, n in zip(sizes, shape[2:]))


def _adaptive_avg(op: str, input: Any, output_size: Any, d: int) -> Tensor:
    x, unbatched = _pool_input(op, input, d)
    size = _adaptive_size(op, output_size, x.shape, d)
    if d == 1:
        x, size = x.unsqueeze(2), (1, *size)
    (h, w), (oh, ow) = x.shape[2:], size
    if (h, w) == (oh, ow):
        return _pooled(x, d, unbatched)
    if h % oh == 0 and w % ow == 0:  # bins of one size: average pooling
        return _pooled(avg_pool2d(x, (h // oh, w // ow)), d, unbatched)
    # each bin's sum as products with 0/1 rows (the bins overlap where the sizes do not divide), then / its size
    (rows_h, n_h), (rows_w, n_w) = sampling.bin_sums(h, oh), sampling.bin_sums(w, ow)
    out = x
    if oh != h:
        out = as_tensor(devices.like(rows_h.astype(x.dtype), x.data)) @ out  # (N, C, oh, W)
    if ow != w:
        out = out @ as_tensor(devices.like(rows_w.T.astype(x.dtype), x.data))  # (N, C, oh, ow)
    return _pooled(out / devices.like(np.multiply.outer(n_h, n_w).astype(x.dtype), x.data), d, unbatched)


def adaptive_avg_pool1d(input: Any, output_size: int | tuple[int]) -> Tensor:
    """Average over ``output_size`` bins covering the signal (N, C, L) or (C, L), whatever its length.

    >>> import chainrule as cr
    >>> cr.nn.functional.adaptive_avg_pool1d(cr.Tensor([[[1.0, 2.0, 3.0]]]), 2).tolist()
    [[[1.5, 2.5]]]
    """
    return _adaptive_avg("adaptive_avg_pool1d", input, output_size, 1)


def adaptive_avg_pool2d(input: Any, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average over a grid of ``output_size`` bins covering the image, whatever its size.

    Bin i along an axis of length L spans [floor(i L / n), ceil((i + 1) L / n)), as in
    PyTorch (a None size keeps the axis). When the size divides evenly this is
    ``avg_pool2d``; otherwise each bin's sum is a product with 0/1 rows, divided by its size.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.adaptive_avg_pool2d(cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4)), 2).numpy()[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    return _adaptive_avg("adaptive_avg_pool2d", input, output_size, 2)


def _adaptive_max(op: str, input: Any, output_size: Any, return_indices: bool, d: int) -> Any:
    x, unbatched = _pool_input(op, input, d)
    size = _adaptive_size(op, output_size, x.shape, d)
    if d == 1:
        x, size = x.unsqueeze(2), (1, *size)
    (n, c, h, w), (oh, ow) = x.shape, size
    if h % oh == 0 and w % ow == 0:  # bins of one size, side by side: max pooling
        out = max_pool2d(x, (h // oh, w // ow), return_indices=return_indices)
    else:
        flat = x.reshape(n, c, h * w)
        table = sampling.bin_table(h, w, oh, ow)  # (oh*ow, Lh*Lw): each bin's entries, row-major
        start, end = sampling.bins(w, ow)
        lw = int((end - start).max())
        pick = flat.data[:, :, devices.like(table, flat.data)].argmax(axis=-1)  # (N, C, oh*ow): each first maximum
        # its flat index in the plane (a constant): the bin's corner plus (row, column) of the pick in the bin; a
        # pick is never a padding repeat, which comes after the entry it repeats
        idx = devices.like(table[:, 0], pick) + (pick // lw) * w + pick % lw
        values = gather_along(flat, idx, 2).reshape(n, c, oh, ow)  # indexing: the gradient to that entry
        out = (values, Tensor._make(idx.reshape(n, c, oh, ow))) if return_indices else values
    if return_indices:
        return _pooled(out[0], d, unbatched), _pooled(out[1], d, unbatched)
    return _pooled(out, d, unbatched)


def adaptive_max_pool1d(input: Any, output_size: int | tuple[int], return_indices: bool = False) -> Any:
    """Max over ``output_size`` bins covering the signal (N, C, L) or (C, L) (bins as ``adaptive_avg_pool1d``'s).

    >>> import chainrule as cr
    >>> cr.nn.functional.adaptive_max_pool1d(cr.Tensor([[[1.0, 3.0, 2.0]]]), 2).tolist()
    [[[3.0, 3.0]]]
    """
    return _adaptive_max("adaptive_max_pool1d", input, output_size, return_indices, 1)


def adaptive_max_pool2d(input: Any, output_size: int | tuple[int | None, int | None], return_indices: bool = False) -> Any:
    """Max over a grid of ``output_size`` bins (``adaptive_avg_pool2d``'s); the gradient goes to
    each bin's first maximum in row-major order, and ``return_indices`` gives its flat index,
    as PyTorch's.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.adaptive_max_pool2d(cr.Tensor(np.arange(9.0).reshape(1, 1, 3, 3)), 2)[0, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]
    """
    return _adaptive_max("adaptive_max_pool2d", input, output_size, return_indices, 2)


def _unpool_range(op: str, plane: tuple[int, int], idx: Any) -> None:
    n = plane[0] * plane[1]
    if idx.size and bool((idx.min() < 0) | (idx.max() >= n)):  # one read (on a GPU, one wait)
        raise ValueError(f"{op}: indices range over [{int(idx.min())}, {int(idx.max())}] but the output planes have "
                         f"{plane[0]}x{plane[1]} = {n} entries; expected 0 <= index < {n}")  # fmt: skip


def max_unpool2d(input: Any, indices: Any, kernel_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
                 padding: int | tuple[int, int] = 0, output_size: Any = None) -> Tensor:  # fmt: skip
    """The partial inverse of ``max_pool2d``: each value written at its index (``row * W + column``
    in its output plane, as ``max_pool2d(..., return_indices=True)`` gives, PyTorch's too),
    zeros elsewhere. The output is (H - 1) stride - 2 padding + kernel_size high (and wide), or
    ``output_size`` (within a stride of that). Each value's gradient is read back at its index.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> x = cr.Tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    >>> out, idx = cr.nn.functional.max_pool2d(x, 2, return_indices=True)
    >>> cr.nn.functional.max_unpool2d(out, idx, 2)[0, 0].tolist()[1]
    [0.0, 5.0, 0.0, 7.0]
    """
    op = "max_unpool2d"
    x, unbatched = _pool_input(op, input, 2)
    idx = indices.data if isinstance(indices, Tensor) else indices if is_array(indices) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices have dtype {idx.dtype}; expected integers (int64), as max_pool2d(..., "
                        "return_indices=True) gives")  # fmt: skip
    if idx.shape != as_tensor(input).shape:
        raise ValueError(f"{op}: indices of shape {idx.shape} for input of shape {as_tensor(input).shape}; expected "
                         "the same shape")  # fmt: skip
    kernel = _ntuple(op, "kernel_size", kernel_size, 2, 1)
    stride = kernel if stride is None else _ntuple(op, "stride", stride, 2, 1)
    padding = _ntuple(op, "padding", padding, 2, 0)
    default = tuple((n - 1) * s + k - 2 * p for n, s, k, p in zip(x.shape[2:], stride, kernel, padding))
    if output_size is None:
        size = default
    else:
        size = tuple(int(s) for s in output_size)[-2:] if len(output_size) in (2, 4) else ()
        if len(size) != 2 or any(not d - s < o < d + s for o, d, s in zip(size, default, stride)):
            raise ValueError(f"{op}: output_size={output_size!r}; expected 2 sizes (or 4, N and C first), each "
                             f"within a stride of {default}, exclusive")  # fmt: skip
    if min(size) < 1:
        raise ValueError(f"{op}: output size {size} for input of shape {x.shape}; expected sizes >= 1")
    n, c = x.shape[:2]
    flat = devices.like(idx, x.data).reshape(n, c, -1)
    check_values(functools.partial(_unpool_range, op, size), flat)
    zeros = Tensor._make(array_module(x.data).zeros((n, c, size[0] * size[1]), dtype=x.dtype))
    out = Scatter.apply(zeros, x.reshape(n, c, -1), index=_along(flat, 2, 3)).reshape(n, c, *size)
    return out.squeeze(0) if unbatched else out


# -- interpolation ---------------------------------------------------------------------------
# PyTorch's interpolate for 'nearest', 'nearest-exact', 'linear' and 'bilinear' (and 'area',
# which is adaptive average pooling): indexing with the tables of ``ops.sampling`` (PyTorch's
# index and weight rules to the last rounding), so the backward scatter-adds as PyTorch's does.

_INTERPOLATION = ("nearest", "nearest-exact", "linear", "bilinear", "area")


def _interpolation_sizes(shape: tuple, size: Any, scale_factor: Any, recompute: bool | None,
                         d: int) -> tuple[tuple[int, ...], tuple[float | None, ...]]:  # fmt: skip
    """The output sizes, and the scale factors the index rules use (None: in / out)."""
    if size is not None and scale_factor is not None:
        raise ValueError("interpolate: got both size and scale_factor; expected only one of them")
    if size is not None:
        if recompute:
            raise ValueError("interpolate: recompute_scale_factor=True with an explicit size; expected it only "
                             "with scale_factor")  # fmt: skip
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * d
        if len(sizes) != d:
            raise ValueError(f"interpolate: size={size!r} for input of shape {shape}; expected {d} sizes")
        if any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
            raise TypeError(f"interpolate: size={size!r}; expected ints")
        scales: tuple = (None,) * d
    elif scale_factor is not None:
        factors = tuple(scale_factor) if isinstance(scale_factor, (tuple, list)) else (scale_factor,) * d
        if len(factors) != d:
            raise ValueError(f"interpolate: scale_factor={scale_factor!r} for input of shape {shape}; expected {d} factors")
        sizes = tuple(math.floor(n * float(f)) for n, f in zip(shape[2:], factors))
        scales = (None,) * d if recompute else tuple(float(f) for f in factors)
    else:
        raise ValueError("interpolate: got neither size nor scale_factor; expected one of them")
    sizes = tuple(int(s) for s in sizes)
    if any(s < 1 for s in sizes):
        raise ValueError(f"interpolate: output size {sizes} for input of shape {shape}; expected sizes >= 1")
    return sizes, scales


def _along_axis(t: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    return GetItem.apply(t, index=(slice(None),) * axis + (devices.like(idx, t.data),))


def interpolate(input: Any, size: int | tuple[int, ...] | None = None, scale_factor: float | tuple[float, ...] | None = None,
                mode: str = "nearest", align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> Tensor:  # fmt: skip
    """Resize a signal (N, C, L) or an image (N, C, H, W) to ``size``, or by ``scale_factor``
    (the size then floor(n * factor)), as PyTorch's ``interpolate``.

    Modes: 'nearest' reads input floor(i * scale), 'nearest-exact' floor((i + 0.5) * scale)
    (Pillow's and scikit-image's choice), 'linear' (3-d) and 'bilinear' (4-d) mix the two
    inputs around (i + 0.5) * scale - 0.5, or i * (in - 1) / (out - 1) with
    ``align_corners=True``; 'area' is ``adaptive_avg_pool``. The scale is in / out, or
    1 / scale_factor when a factor is given and ``recompute_scale_factor`` is not True.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[[1.0, 2.0]]])
    >>> cr.nn.functional.interpolate(x, scale_factor=2).tolist()
    [[[1.0, 1.0, 2.0, 2.0]]]
    >>> cr.nn.functional.interpolate(x, size=4, mode="linear").tolist()
    [[[1.0, 1.25, 1.75, 2.0]]]
    >>> cr.nn.functional.interpolate(x, size=3, mode="linear", align_corners=True).tolist()
    [[[1.0, 1.5, 2.0]]]
    """
    x = as_tensor(input)
    if mode not in _INTERPOLATION:
        known = mode in ("bicubic", "trilinear", "lanczos")
        raise (NotImplementedError if known else ValueError)(
            f"interpolate: mode {mode!r}{' is not available in chainrule' if known else ''}; expected one of "
            f"{', '.join(map(repr, _INTERPOLATION))}")  # fmt: skip
    if mode in ("nearest", "nearest-exact", "area"):
        if align_corners is not None:
            raise ValueError(f"interpolate: align_corners={align_corners!r} with mode {mode!r}; expected None "
                             "(align_corners is for the interpolating modes 'linear' and 'bilinear')")  # fmt: skip
    elif align_corners is None:
        align_corners = False
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not available in chainrule; expected False")
    if x.ndim not in (3, 4) or (mode == "linear" and x.ndim != 3) or (mode == "bilinear" and x.ndim != 4):
        want = {"linear": "3 axes (N, C, L)", "bilinear": "4 axes (N, C, H, W)"}.get(mode, "3 axes (N, C, L) or 4 (N, C, H, W)")
        raise ValueError(f"interpolate: mode {mode!r} on input of shape {x.shape}; expected {want}")
    d = x.ndim - 2
    sizes, scales = _interpolation_sizes(x.shape, size, scale_factor, recompute_scale_factor, d)
    if mode == "area":
        return adaptive_avg_pool1d(x, sizes) if d == 1 else adaptive_avg_pool2d(x, sizes)
    if mode.startswith("nearest"):
        idx = [sampling.nearest(n, m, s, mode == "nearest-exact", x.dtype) for n, m, s in zip(x.shape[2:], sizes, scales)]
        index = (idx[0],) if d == 1 else (idx[0][:, None], idx[1][None, :])
        return GetItem.apply(x, index=(slice(None), slice(None), *(devices.like(i, x.data) for i in index)))
    out = x
    for axis in reversed(range(d)):  # the last axis first, as PyTorch's kernel nests them
        n, m = x.shape[2 + axis], sizes[axis]
        if n == m:
            continue
        i0, i1, w0, w1 = sampling.linear(n, m, scales[axis], align_corners, x.dtype)
        shape = (-1,) + (1,) * (d - 1 - axis)  # the weights along the axis
        w0, w1 = (devices.like(w.astype(x.dtype).reshape(shape), x.data) for w in (w0, w1))
        out = _along_axis(out, 2 + axis, i0) * w0 + _along_axis(out, 2 + axis, i1) * w1
    return out if out is not x else x.clone()


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


def group_norm(input: Any, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:  # fmt: skip
    """Normalize each example's channels in ``num_groups`` groups (Wu & He 2018): (N, C, *) with
    the statistics of each (example, group) over its C / G channels and all positions; then
    ``weight`` and ``bias`` per channel. One ``LayerNorm`` gate over the groups' rows.

    >>> import chainrule as cr
    >>> x = cr.Tensor([[[1.0], [3.0], [0.0], [4.0]]])  # (N=1, C=4, L=1)
    >>> cr.nn.functional.group_norm(x, 2).numpy().ravel().round(3)
    array([-1.,  1., -1.,  1.], dtype=float32)
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"group_norm: input has shape {x.shape}; expected (N, C, *): at least 2 dims")
    n, c = x.shape[:2]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: {c} channels (input of shape {x.shape}) in num_groups={num_groups}; "
                         "expected a positive number of groups that divides the channels")  # fmt: skip
    per_group = n * c // num_groups * math.prod(x.shape[2:])
    if per_group == 1:  # PyTorch's check: one example, one channel per group, one position
        raise ValueError(f"group_norm: input of shape {x.shape} with {num_groups} groups has 1 value per group; "
                         "expected more than 1")  # fmt: skip
    _check_channel_params("group_norm", c, weight, bias)
    y = LayerNorm.apply(x.reshape(n, num_groups, -1), None, None, axes=(2,), eps=eps)  # (N, G, C/G * positions)
    return _channel_affine(y.reshape(x.shape), weight, bias)


def _check_channel_params(op: str, c: int, weight: Any, bias: Any) -> None:
    for name, t in (("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"{op}: {name} of shape {tuple(t.shape)}; expected ({c},), one per channel")


def _channel_affine(y: Tensor, weight: Any, bias: Any) -> Tensor:
    """y * weight + bias, each (C,) broadcast along channel axis 1 of y."""
    shape = (1, y.shape[1]) + (1,) * (y.ndim - 2)
    if weight is not None:
        y = y * weight.reshape(shape)
    if bias is not None:
        y = y + bias.reshape(shape)
    return y


def instance_norm(input: Any, running_mean: Any = None, running_var: Any = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:  # fmt: skip
    """Normalize each (example, channel) of (N, C, *) over its positions (Ulyanov et al. 2016), then
    ``weight``/``bias`` per channel. With ``use_input_stats=False`` the running statistics normalize
    instead; with it and running statistics given, they are updated in place as PyTorch's: by the
    batch's average of each instance's mean and unbiased variance.

    >>> import chainrule as cr
    >>> cr.nn.functional.instance_norm(cr.Tensor([[[1.0, 3.0], [2.0, 6.0]]])).numpy().round(3)
    array([[[-1.,  1.],
            [-1.,  1.]]], dtype=float32)
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"instance_norm: input has shape {x.shape}; expected (N, C, *): at least 2 dims")
    n, c = x.shape[:2]
    positions = math.prod(x.shape[2:])
    _check_channel_params("instance_norm", c, weight, bias)
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is not None and tuple(r.shape) != (c,):
            raise ValueError(f"instance_norm: {name} of shape {tuple(r.shape)}; expected ({c},), one per channel")
    if not use_input_stats:
        if running_mean is None or running_var is None:
            raise ValueError("instance_norm: use_input_stats=False normalizes by the running statistics; expected "
                             "running_mean and running_var")  # fmt: skip
        shape = (1, c) + (1,) * (x.ndim - 2)
        xp = array_module(x.data)
        inv_std = (1 / xp.sqrt(running_var.reshape(shape) + eps)).astype(x.dtype)
        return _channel_affine((x - running_mean.reshape(shape).astype(x.dtype)) * inv_std, weight, bias)
    if positions == 1:
        raise ValueError(f"instance_norm: input of shape {x.shape} has 1 position per channel; expected more than 1 "
                         "(its statistics are of each example's positions)")  # fmt: skip
    rows = x.reshape(n, c, positions)
    if running_mean is not None and running_var is not None:
        data = rows.data
        mean = data.mean(axis=2).mean(axis=0)  # (C,): the batch's average of the instances' means
        var = data.var(axis=2, ddof=1).mean(axis=0)  # ... and of their unbiased variances
        running_mean *= 1 - momentum
        running_mean += momentum * mean.astype(running_mean.dtype)
        running_var *= 1 - momentum
        running_var += momentum * var.astype(running_var.dtype)
    y = LayerNorm.apply(rows, None, None, axes=(2,), eps=eps)  # one row per (example, channel)
    return _channel_affine(y.reshape(x.shape), weight, bias)


def local_response_norm(input: Any, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """x / (k + alpha * mean of x^2 over ``size`` neighbouring channels)^beta (AlexNet's, PyTorch's
    window: size // 2 channels before, (size - 1) // 2 after, zeros past the ends, always / size).

    >>> import chainrule as cr
    >>> cr.nn.functional.local_response_norm(cr.Tensor([[[2.0], [0.0]]]), 2, alpha=1.0, beta=1.0).numpy().ravel()
    array([0.6666667, 0.       ], dtype=float32)
    """
    x = as_tensor(input)
    if x.ndim < 3:
        raise ValueError(f"local_response_norm: input has shape {x.shape}; expected (N, C, *): at least 3 dims")
    if size < 1:
        raise ValueError(f"local_response_norm: size={size}; expected a window of at least 1 channel")
    if x.numel() == 0:
        return x
    c = x.shape[1]
    widths = (0, 0) * (x.ndim - 2) + (size // 2, (size - 1) // 2)  # F.pad's order: last dim first
    sq = pad(x * x, widths)  # (N, C + size - 1, *)
    window = sq[:, 0:c]
    for j in range(1, size):  # the window's channels, one shifted slice each
        window = window + sq[:, j : j + c]
    return x / (window * (alpha / size) + k) ** beta


# -- dropout ---------------------------------------------------------------------------
# PyTorch's dropout family. Masks come from chainrule's generator (``chainrule.manual_seed``), drawn where the
# input is (a compiled step draws them anew at each replay). ``inplace=True`` is accepted and computed
# out of place, as the activations are (above). p = 1 is refused, as chainrule's dropout always has
# (PyTorch returns zeros there). The channel-wise forms draw one number per (example, channel) and
# broadcast it over the positions: a whole channel is zeroed (Tompson et al. 2015).


def _check_p(op: str, p: float) -> None:
    if not 0 <= p < 1:
        raise ValueError(f"{op}: p={p}; expected 0 <= p < 1")


_ALPHA = 1.7580993408473766  # -SELU's negative saturation (scale * alpha), PyTorch's constant


def _masked(x: Tensor, p: float, shape: tuple[int, ...], alpha: bool = False) -> Tensor:
    """x times a keep mask of ``shape`` (x's, or one entry per channel), kept with probability 1 - p."""
    keep = rng.uniform(shape, like=x.data) >= p  # drawn where x is: no host round trip on a GPU
    if not alpha:
        return x * (keep.astype(x.dtype) / np.asarray(1 - p, dtype=x.dtype)[()])
    # alpha dropout (Klambauer et al. 2017): a dropped entry becomes SELU's saturation -alpha', then
    # a (.) + b keeps mean 0 and variance 1: a = ((alpha'^2 p + 1)(1 - p))^-1/2, b = a alpha' (keep - 1 + p)
    a = 1.0 / math.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    kept = keep.astype(x.dtype)
    b = (kept - 1) * (_ALPHA * a) + _ALPHA * a * p
    return x * (kept * a) + b


def dropout(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zero each entry with probability p and scale the rest by 1/(1-p).

    The scaling happens at training time, so evaluation is the identity. The mask comes
    from chainrule's generator (``chainrule.manual_seed``).

    >>> import chainrule as cr
    >>> cr.nn.functional.dropout(cr.Tensor([1.0, 2.0]), 0.5, training=False).numpy()
    array([1., 2.], dtype=float32)
    """
    _check_p("dropout", p)
    x = as_tensor(input)
    if not training or p == 0:
        return x
    return _masked(x, p, x.shape)


def _channels(op: str, x: Tensor, p: float, training: bool, batched: bool, alpha: bool = False) -> Tensor:
    """Channel-wise dropout: one draw per channel of (N, C, *) (``batched``) or (C, *)."""
    if not training or p == 0 or x.numel() == 0:
        return x
    lead = 2 if batched else 1
    if x.ndim < lead:
        raise ValueError(f"{op}: input has shape {x.shape}; expected (N, C, *) with a channel dim")
    return _masked(x, p, x.shape[:lead] + (1,) * (x.ndim - lead), alpha)


def _deprecated_dims(op: str, x: Tensor, dims_: tuple[int, int]) -> None:
    import warnings  # here, not beside the file's imports, which every section shares

    if x.ndim not in dims_:
        warnings.warn(f"{op}: a {x.ndim}-D input (shape {x.shape}) is deprecated, as in PyTorch; expected "
                      f"{dims_[0]}-D or {dims_[1]}-D (use dropout for element-wise dropout)", UserWarning, stacklevel=3)  # fmt: skip


def dropout1d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) with probability p, scaling the rest by 1/(1-p).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.manual_seed(0)
    >>> y = cr.nn.functional.dropout1d(cr.Tensor(np.ones((2, 8, 5))), 0.5).numpy()
    >>> bool(((y == 0).all(axis=2) | (y == 2).all(axis=2)).all())   # each channel kept or zeroed whole
    True
    """
    _check_p("dropout1d", p)
    x = as_tensor(input)
    if x.ndim not in (2, 3):
        raise ValueError(f"dropout1d: input has shape {x.shape}; expected (N, C, L) or (C, L): channel-wise "
                         "dropout over one spatial dim")  # fmt: skip
    return _channels("dropout1d", x, p, training, batched=x.ndim == 3)


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) with probability p, scaling the rest by 1/(1-p). A 3-D
    input is taken as (N, C, L), with PyTorch's warning (it is not read as an unbatched (C, H, W))."""
    import warnings  # here, not beside the file's imports, which every section shares

    _check_p("dropout2d", p)
    x = as_tensor(input)
    _deprecated_dims("dropout2d", x, (3, 4))
    if x.ndim == 3:
        warnings.warn("dropout2d: a 3-D input is taken as (N, C, L), channel-wise 1-D dropout, as PyTorch does "
                      "for now; use dropout1d for that", UserWarning, stacklevel=2)  # fmt: skip
    return _channels("dropout2d", x, p, training, batched=True)


def dropout3d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) with probability p, scaling the rest by 1/(1-p)."""
    _check_p("dropout3d", p)
    x = as_tensor(input)
    _deprecated_dims("dropout3d", x, (4, 5))
    return _channels("dropout3d", x, p, training, batched=x.ndim == 5)


def alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped entries take SELU's saturation value and an affine map
    keeps the mean and variance (Klambauer et al. 2017). ``training`` is False by default, as PyTorch's.

    >>> import chainrule as cr
    >>> cr.nn.functional.alpha_dropout(cr.Tensor([1.0, 2.0]), 0.5).numpy()   # not training: the identity
    array([1., 2.], dtype=float32)
    """
    _check_p("alpha_dropout", p)
    x = as_tensor(input)
    if not training or p == 0 or x.numel() == 0:
        return x
    return _masked(x, p, x.shape, alpha=True)


def feature_alpha_dropout(input: Any, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels of (N, C, *); ``training`` is False by default, as PyTorch's."""
    _check_p("feature_alpha_dropout", p)
    return _channels("feature_alpha_dropout", as_tensor(input), p, training, batched=True, alpha=True)


# -- embedding ---------------------------------------------------------------------------


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:  # fmt: skip
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``input`` (any shape): (..., dim).

    As PyTorch's: the ``padding_idx`` row gets no gradient; ``max_norm`` first rescales, in place
    and outside the graph, each looked-up row whose ``norm_type``-norm exceeds it to that norm;
    ``scale_grad_by_freq`` divides each lookup's gradient by how often its index occurs in
    ``input``. ``sparse=True`` is refused: chainrule has no sparse gradients.

    >>> import chainrule as cr
    >>> cr.nn.functional.embedding([2, 0], cr.Tensor([[0.0], [1.0], [2.0]])).numpy()
    array([[2.],
           [0.]], dtype=float32)
    """
    if sparse:
        raise ValueError("embedding: sparse=True asks for a sparse gradient, which chainrule does not have; expected "
                         "sparse=False (the same gradient, dense)")  # fmt: skip
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight has shape {tuple(weight.shape)}; expected (num_embeddings, embedding_dim)")
    num = weight.shape[0]
    padding_idx = _padding_idx("embedding", padding_idx, num)
    idx = devices.like(_int_array("embedding", input), weight.data)  # the rows' device
    check_values(functools.partial(_check_rows, num), idx)
    if max_norm is not None:
        _renorm(weight, idx, max_norm, norm_type)
    out = weight[idx]
    if out.requires_grad and (padding_idx is not None or scale_grad_by_freq):
        # each lookup's gradient times c (0 at padding_idx, else 1 or 1 / its count); the values stay
        # out's exactly: out.detach() + (s - s.detach()) is out + 0, with the gradient of s = out * c
        scaled = out * _lookup_scale(idx, num, padding_idx, scale_grad_by_freq, out.dtype)
        out = out.detach() + (scaled - scaled.detach())
    return out


def _padding_idx(op: str, padding_idx: int | None, num: int) -> int | None:
    """``padding_idx`` as a row number (a negative one counts from the end), checked against ``num`` rows."""
    if padding_idx is None:
        return None
    if not -num <= padding_idx < num:
        raise ValueError(f"{op}: padding_idx={padding_idx} for {num} embeddings; expected {-num} <= padding_idx < {num}")
    return padding_idx + num if padding_idx < 0 else padding_idx


def _lookup_scale(idx: Any, num: int, padding_idx: int | None, by_freq: bool, dtype: Any) -> Any:
    """(..., 1): the factor of each lookup's gradient."""
    xp = array_module(idx)
    if by_freq:
        scale = 1 / xp.bincount(idx.reshape(-1), minlength=num)[idx].astype(dtype)
    else:
        scale = xp.ones(idx.shape, dtype=dtype)
    if padding_idx is not None:
        scale = xp.where(idx == padding_idx, xp.zeros((), dtype=dtype), scale)
    return scale[..., None]


def _renorm(weight: Tensor, idx: Any, max_norm: float, norm_type: float) -> None:
    """PyTorch's ``embedding_renorm_``: each looked-up row whose norm exceeds ``max_norm`` is scaled
    by max_norm / (norm + 1e-7), in place, outside the graph. Every lookup of a row writes the same
    values, so repeated indices need no deduplication."""
    # here, not beside the file's imports, which every section shares
    from ..autograd.grad_mode import no_grad
    from ..autograd.inplace import write_in_place

    flat = idx.reshape(-1)
    with no_grad():
        rows = weight[flat]  # (K, dim); through a gate, so a compiled step binds the weight before the write
        norms = ops.norm(rows, norm_type, axis=1).data
    xp = array_module(norms)
    scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0).astype(rows.dtype)
    write_in_place(weight, "embedding(max_norm)")[flat] = rows.data * scale[:, None]


def _check_rows(n: int, idx: Any) -> None:
    if idx.size and bool((idx.min() < 0) | (idx.max() >= n)):  # one read (on a GPU, one wait)
        raise IndexError(f"embedding: indices range over [{int(idx.min())}, {int(idx.max())}]; expected 0 <= index < {n}")


# -- distances, pixel and channel shuffles ------------------------------------------------


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim (the inputs broadcast), as PyTorch's: eps is added to
    every difference, so equal inputs are eps * D^(1/p) apart and the gradient there is defined.

    >>> import chainrule as cr
    >>> cr.nn.functional.pairwise_distance(cr.Tensor([[0.0, 0.0]]), cr.Tensor([[3.0, 4.0]]), eps=0.0).tolist()
    [5.0]
    """
    a, b = as_tensor(x1), as_tensor(x2)
    _broadcast("pairwise_distance", a, b)
    last = max(a.ndim, b.ndim) - 1
    d = a - b + eps
    if d.ndim == 0:  # 0-d inputs: PyTorch's norm over "dim -1" of a scalar, 0-d with keepdim too
        return ops.norm(d.reshape(1), p, axis=0)
    return ops.norm(d, p, axis=last, keepdims=keepdim)


def _broadcast(op: str, a: Tensor, b: Tensor) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(a.shape, b.shape))
    except ValueError:
        raise ValueError(f"{op}: inputs of shapes {a.shape} and {b.shape} do not broadcast; expected shapes that "
                         "broadcast") from None  # fmt: skip


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 x2) / (max(||x1||, eps) max(||x2||, eps)) along ``dim`` (the inputs broadcast first).

    As PyTorch's: each input is divided by its norm before the product (the result stays in
    [-1, 1]), and the clamp at ``eps`` changes the value only: the gradient goes through the
    norm as if unclamped (PyTorch clamps in place under no_grad).

    >>> import chainrule as cr
    >>> cr.nn.functional.cosine_similarity(cr.Tensor([[1.0, 0.0]]), cr.Tensor([[1.0, 1.0]])).numpy().round(4)
    array([0.7071], dtype=float32)
    """
    a, b = as_tensor(x1), as_tensor(x2)
    shape = _broadcast("cosine_similarity", a, b)
    a, b = (t if t.shape == shape else t.expand(shape) for t in (a, b))
    axis = one_axis("cosine_similarity", dim, len(shape))
    units = []
    for t in (a, b):
        n = ops.norm(t, 2, axis=axis, keepdims=True)
        clamped = n + (ops.clip(n.detach(), lo=eps) - n.detach())  # the clamp's value, the norm's gradient
        units.append(t / clamped)
    return (units[0] * units[1]).sum(axis=axis)


def _check_factor(op: str, name: str, r: int) -> None:
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r <= 0:
        raise ValueError(f"{op}: {name}={r!r}; expected a positive integer")


def pixel_shuffle(input: Any, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): each channel block of r^2 becomes an r x r patch (Shi et al. 2016).

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.pixel_shuffle(cr.Tensor(np.arange(4.0).reshape(1, 4, 1, 1)), 2).tolist()
    [[[[0.0, 1.0], [2.0, 3.0]]]]
    """
    x = as_tensor(input)
    r = upscale_factor
    _check_factor("pixel_shuffle", "upscale_factor", r)
    if x.ndim < 3 or x.shape[-3] % (r * r):
        raise ValueError(f"pixel_shuffle: input has shape {x.shape}; expected (*, C * {r * r}, H, W): at least 3 dims "
                         f"with channels divisible by upscale_factor^2 = {r * r}")  # fmt: skip
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (*, C, H, r, W, r)
    return y.reshape(*lead, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Any, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): pixel_shuffle's inverse.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.pixel_unshuffle(cr.Tensor(np.arange(4.0).reshape(1, 1, 2, 2)), 2).numpy().ravel().tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    x = as_tensor(input)
    r = downscale_factor
    _check_factor("pixel_unshuffle", "downscale_factor", r)
    if x.ndim < 3 or x.shape[-2] % r or x.shape[-1] % r:
        raise ValueError(f"pixel_unshuffle: input has shape {x.shape}; expected (*, C, H, W): at least 3 dims with "
                         f"H and W divisible by downscale_factor={r}")  # fmt: skip
    *lead, c, h, w = x.shape
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (*, C, r, r, H / r, W / r)
    return y.reshape(*lead, c * r * r, h // r, w // r)


def channel_shuffle(input: Any, groups: int) -> Tensor:
    """(N, C, *): the channels in ``groups`` groups, interleaved (ShuffleNet): channel g * C/G + i goes to i * G + g.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> cr.nn.functional.channel_shuffle(cr.Tensor(np.arange(4.0).reshape(1, 4, 1)), 2).numpy().ravel().tolist()
    [0.0, 2.0, 1.0, 3.0]
    """
    x = as_tensor(input)
    _check_factor("channel_shuffle", "groups", groups)
    if x.ndim < 3 or x.shape[1] % groups:
        raise ValueError(f"channel_shuffle: input has shape {x.shape}; expected (N, C, *): at least 3 dims with "
                         f"channels divisible by groups={groups}")  # fmt: skip
    n, c, *rest = x.shape
    y = x.reshape(n, groups, c // groups, *rest).transpose(1, 2)  # (N, C/G, G, *)
    return y.reshape(x.shape)


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

"""Weight initialization in place, as ``torch.nn.init``: the same functions, arguments, defaults
and distributions, each returning the tensor it filled.

Two families of schemes live here. PyTorch's layers start from ``kaiming_uniform_(w,
a=math.sqrt(5))``, which is U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and so do chainrule's
``Linear`` and the attention layers by default, so a model ported from PyTorch starts from
the same distributions and trains the same way. The course's schemes are one argument away:
He (``kaiming_normal_``, variance 2 / fan_in, so the signal's scale survives many ReLU layers)
and Glorot (``xavier_normal_``, variance 2 / (fan_in + fan_out), for tanh and sigmoid), which
``Linear(..., init="kaiming")`` and ``init="xavier"`` use with zero biases.

Random numbers come from chainrule's one seeded stream (``chainrule.manual_seed``) or from the
NumPy ``Generator`` passed as ``generator=``. The distributions are PyTorch's; the numbers are
not, and cannot be: PyTorch's generator is its own. To start from a PyTorch model's very
weights, load its ``state_dict``. Nothing here records a graph (PyTorch runs these under
``no_grad``): the values are written straight into the tensor's array, through the same
door as optimizer steps, so a backward that saved the old values refuses to run.

>>> import chainrule as cr
>>> w = kaiming_uniform_(cr.nn.Parameter(np.zeros((256, 64))), a=math.sqrt(5))  # Linear(64, 256)'s
>>> bool(abs(w.numpy()).max() <= 1 / 8)
True
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import rng
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_NONLINEARITIES = (*_LINEAR, "sigmoid", "tanh", "relu", "leaky_relu", "selu")


# -- the helpers: where the numbers come from, and the one door they go in by --------------------------


def _generator(who: str, generator: Any) -> np.random.Generator:
    if generator is None:
        return rng.generator()
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"nn.init.{who}: generator={generator!r}; expected a NumPy Generator "
                    "(np.random.default_rng(seed)) or None for chainrule's seeded stream")  # fmt: skip


def _target(who: str, tensor: Any, floating: bool = False) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"nn.init.{who}: got a {type(tensor).__name__}; expected a Tensor (or Parameter)")
    if floating and tensor.dtype.kind not in "fc":
        raise TypeError(f"nn.init.{who}: a tensor of dtype {tensor.dtype}; expected a floating-point tensor")


def _fill(who: str, tensor: Tensor, values: Any) -> Tensor:
    """Write ``values`` (an array of the tensor's shape, or a scalar) into ``tensor`` in place."""
    array = write_in_place(tensor, f"nn.init.{who}")
    array[...] = array_module(array).asarray(np.asarray(values).astype(array.dtype))
    return tensor


# -- gains and fans ---------------------------------------------------------------------------------------


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor that keeps activations' variance steady through ``nonlinearity``: 1 for the
    linear ones and sigmoid, 5/3 for tanh, sqrt(2) for relu, sqrt(2 / (1 + slope^2)) for
    leaky_relu (``param``, 0.01 by default) and 3/4 for selu, as PyTorch's.

    >>> calculate_gain("relu") == math.sqrt(2), calculate_gain("leaky_relu", 0.2)
    (True, 1.3867504905630728)
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (isinstance(param, int) and not isinstance(param, bool)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"nn.init.calculate_gain: negative_slope {param!r} is not a valid number; "
                             "expected an int or a float")  # fmt: skip
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4  # found empirically by PyTorch (pytorch/pytorch#50664)
    raise ValueError(f"nn.init.calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join(_NONLINEARITIES)}")  # fmt: skip


def gain(nonlinearity: str, param: float | None = None) -> float:
    """chainrule's older name of ``calculate_gain``.

    >>> gain("tanh")
    1.6666666666666667
    """
    return calculate_gain(nonlinearity, param)


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight's shape: (out, in) for a matrix, (O, C, kh, kw) for filters.

    >>> fans((64, 3, 3, 3))
    (27, 576)
    """
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"nn.init: fan in and fan out of a weight of shape {shape} cannot be computed; "
                         "expected 2 or more dimensions")  # fmt: skip
    field = math.prod(shape[2:])  # the receptive field of a filter (1 for a matrix)
    return shape[1] * field, shape[0] * field


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """PyTorch's private name (users' code calls it): ``fans`` of the tensor's shape.

    >>> import chainrule as cr
    >>> _calculate_fan_in_and_fan_out(cr.zeros(8, 4))
    (4, 8)
    """
    return fans(tensor.shape)


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower() if isinstance(mode, str) else mode
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"nn.init: mode {mode!r} not supported; expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = fans(tensor.shape)
    return fan_in if mode == "fan_in" else fan_out


# -- fills --------------------------------------------------------------------------------------------------


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: np.random.Generator | None = None, *,
             low: float | None = None, high: float | None = None) -> Tensor:  # fmt: skip
    """Fill with U(a, b) samples (``low=`` and ``high=`` are chainrule's older names of a and b).

    >>> import chainrule as cr
    >>> w = uniform_(cr.zeros(1000), -0.5, 0.5)
    >>> bool(w.numpy().min() >= -0.5 and w.numpy().max() <= 0.5)
    True
    """
    a, b = a if low is None else low, b if high is None else high
    _target("uniform_", tensor, floating=True)
    if not a <= b:
        raise ValueError(f"nn.init.uniform_: a={a} > b={b}; expected a <= b")
    return _fill("uniform_", tensor, _generator("uniform_", generator).uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0,
            generator: np.random.Generator | None = None) -> Tensor:  # fmt: skip
    """Fill with N(mean, std^2) samples.

    >>> import chainrule as cr
    >>> normal_(cr.Tensor([0.0, 0.0]), std=0.0).numpy()
    array([0., 0.], dtype=float32)
    """
    _target("normal_", tensor, floating=True)
    if std < 0:
        raise ValueError(f"nn.init.normal_: std={std}; expected std >= 0")
    return _fill("normal_", tensor, _generator("normal_", generator).normal(mean, std, size=tensor.shape))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: np.random.Generator | None = None) -> Tensor:  # fmt: skip
    """Fill with N(mean, std^2) truncated to [a, b]: values outside are drawn again, as PyTorch's.

    When [a, b] holds most of the mass, normal draws outside it are redrawn; otherwise (a
    narrow interval, or one in a tail) uniform draws on [a, b] are kept with probability
    pdf(x) / pdf(mode), so a far tail does not take millions of rounds.

    >>> import chainrule as cr
    >>> w = trunc_normal_(cr.zeros(10_000), std=0.02, a=-0.04, b=0.04)
    >>> bool(abs(w.numpy()).max() <= 0.04)
    True
    """
    _target("trunc_normal_", tensor, floating=True)
    if not std > 0 or not a < b:
        raise ValueError(f"nn.init.trunc_normal_: std={std}, a={a}, b={b}; expected std > 0 and a < b")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)  # fmt: skip
    g, shape = _generator("trunc_normal_", generator), tensor.shape

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    # the bounds as the tensor's dtype holds them, so no value lands outside after the cast
    lo, hi = (float(np.asarray(v).astype(tensor.dtype)) for v in (a, b))
    if cdf((b - mean) / std) - cdf((a - mean) / std) > 0.3:
        x = g.normal(mean, std, size=shape)
        out = (x < lo) | (x > hi)
        while out.any():
            x[out] = g.normal(mean, std, size=int(out.sum()))
            out = (x < lo) | (x > hi)
        return _fill("trunc_normal_", tensor, x)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"nn.init.trunc_normal_: a={a}, b={b} hold under 30% of N({mean}, {std}^2) and one is "
                         "infinite; expected finite bounds for an interval in a tail")  # fmt: skip
    log_peak = -0.5 * ((max(a, min(mean, b)) - mean) / std) ** 2  # the density's log at its top on [a, b]
    x = np.empty(shape)
    pending = np.ones(shape, dtype=bool)
    while pending.any():
        n = int(pending.sum())
        c = g.uniform(a, b, size=n)
        keep = np.log(g.random(n)) <= -0.5 * ((c - mean) / std) ** 2 - log_peak
        where = np.flatnonzero(pending)[keep]
        x.flat[where] = c[keep]
        pending.flat[where] = False
    return _fill("trunc_normal_", tensor, x)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with ``val``.

    >>> import chainrule as cr
    >>> constant_(cr.zeros(2), 0.3).numpy()
    array([0.3, 0.3], dtype=float32)
    """
    _target("constant_", tensor)
    return _fill("constant_", tensor, val)


def ones_(tensor: Tensor) -> Tensor:
    """Fill with ones.

    >>> import chainrule as cr
    >>> ones_(cr.zeros(2)).numpy()
    array([1., 1.], dtype=float32)
    """
    _target("ones_", tensor)
    return _fill("ones_", tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with zeros.

    >>> import chainrule as cr
    >>> zeros_(cr.ones(2)).numpy()
    array([0., 0.], dtype=float32)
    """
    _target("zeros_", tensor)
    return _fill("zeros_", tensor, 0)


def eye_(tensor: Tensor) -> Tensor:
    """Fill a matrix with the identity (ones on the diagonal of a non-square one): a Linear
    layer that passes as many of its inputs through as it can.

    >>> import chainrule as cr
    >>> eye_(cr.zeros(2, 3)).numpy().tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    _target("eye_", tensor)
    if tensor.ndim != 2:
        raise ValueError(f"nn.init.eye_: a tensor of shape {tensor.shape}; expected 2 dimensions")
    return _fill("eye_", tensor, np.eye(*tensor.shape))


def dirac_(tensor: Tensor, groups: int = 1) -> Tensor:
    """Fill a convolution's filters (3, 4 or 5 dims) with Dirac deltas: output channel d of each
    of the ``groups`` copies picks input channel d at the kernel's centre, so the layer passes
    as many input channels through unchanged as it can.

    >>> import chainrule as cr
    >>> w = dirac_(cr.zeros(2, 2, 3))
    >>> w.numpy()[:, :, 1].tolist(), float(w.numpy().sum())
    ([[1.0, 0.0], [0.0, 1.0]], 2.0)
    """
    _target("dirac_", tensor)
    shape = tensor.shape
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"nn.init.dirac_: a tensor of shape {shape}; expected 3, 4 or 5 dimensions")
    if not (isinstance(groups, (int, np.integer)) and groups > 0 and shape[0] % groups == 0):
        raise ValueError(f"nn.init.dirac_: groups={groups} with {shape[0]} output channels; expected a positive "
                         "divisor of dim 0")  # fmt: skip
    per_group = shape[0] // groups
    values = np.zeros(shape)
    centre = tuple(s // 2 for s in shape[2:])
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            values[(g * per_group + d, d, *centre)] = 1
    return _fill("dirac_", tensor, values)


# -- the papers' schemes ------------------------------------------------------------------------------------


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    >>> import chainrule as cr
    >>> w = xavier_uniform_(cr.zeros(300, 100))
    >>> bool(abs(w.numpy()).max() <= math.sqrt(6 / 400))
    True
    """
    _target("xavier_uniform_", tensor, floating=True)
    fan_in, fan_out = fans(tensor.shape)
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * gain * math.sqrt(2.0 / (fan_in + fan_out))  # the bounds of that std
    return _fill("xavier_uniform_", tensor, _generator("xavier_uniform_", generator).uniform(-bound, bound, tensor.shape))


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator: np.random.Generator | None = None) -> Tensor:
    """Glorot & Bengio (2010): N(0, gain^2 * 2 / (fan_in + fan_out)).

    >>> import chainrule as cr
    >>> w = xavier_normal_(cr.zeros(400, 800))
    >>> round(float(w.numpy().std()) * math.sqrt(1200 / 2), 1)
    1.0
    """
    _target("xavier_normal_", tensor, floating=True)
    fan_in, fan_out = fans(tensor.shape)
    if tensor.numel() == 0:
        return tensor
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill("xavier_normal_", tensor, _generator("xavier_normal_", generator).normal(0.0, std, tensor.shape))


def _kaiming_std(who: str, tensor: Tensor, a: Any, mode: str, nonlinearity: str) -> float | None:
    """He's std gain / sqrt(fan), or None for an empty tensor (PyTorch warns and leaves it)."""
    _target(who, tensor, floating=True)
    if isinstance(a, str):  # chainrule's older kaiming_normal_(t, "relu"): the nonlinearity, in a's slot
        if nonlinearity != "leaky_relu":
            raise TypeError(f"nn.init.{who}: a={a!r} and nonlinearity={nonlinearity!r}; expected a number as a "
                            "(the negative slope) and the nonlinearity once")  # fmt: skip
        a, nonlinearity = 0, a
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    return calculate_gain(nonlinearity, a) / math.sqrt(_calculate_correct_fan(tensor, mode))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: np.random.Generator | None = None) -> Tensor:  # fmt: skip
    """He et al. (2015), uniform: U(-b, b) with b = gain * sqrt(3 / fan), the gain of
    ``nonlinearity`` with negative slope ``a``; ``mode`` picks fan_in (the forward pass's scale)
    or fan_out (the backward's). The defaults (leaky_relu, a = 0) are ReLU's sqrt(2); PyTorch's
    layers use a = sqrt(5), which makes b = 1 / sqrt(fan_in).

    >>> import chainrule as cr
    >>> w = kaiming_uniform_(cr.zeros(32, 16, 3, 3), nonlinearity="relu")
    >>> bool(abs(w.numpy()).max() <= math.sqrt(6 / 144))
    True
    """
    std = _kaiming_std("kaiming_uniform_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return _fill("kaiming_uniform_", tensor, _generator("kaiming_uniform_", generator).uniform(-bound, bound, tensor.shape))


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: np.random.Generator | None = None) -> Tensor:  # fmt: skip
    """He et al. (2015): N(0, gain^2 / fan); for ReLU (the default's a = 0) variance 2 / fan_in.

    >>> import chainrule as cr
    >>> w = kaiming_normal_(cr.Tensor(np.zeros((400, 800))))
    >>> round(float(w.numpy().std()) * math.sqrt(800 / 2), 1)
    1.0
    """
    std = _kaiming_std("kaiming_normal_", tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return _fill("kaiming_normal_", tensor, _generator("kaiming_normal_", generator).normal(0.0, std, tensor.shape))


def orthogonal_(tensor: Tensor, gain: float = 1, generator: np.random.Generator | None = None) -> Tensor:
    """Saxe et al. (2013): a (semi-)orthogonal matrix times ``gain``, trailing dims flattened:
    Q of the QR of a Gaussian matrix, its columns' signs fixed by R's diagonal so that Q is
    uniformly distributed (Mezzadri, 2007).

    >>> import chainrule as cr
    >>> q = orthogonal_(cr.zeros(3, 5)).numpy()
    >>> bool(np.allclose(q @ q.T, np.eye(3), atol=1e-6))
    True
    """
    _target("orthogonal_", tensor, floating=True)
    if tensor.ndim < 2:
        raise ValueError(f"nn.init.orthogonal_: a tensor of shape {tensor.shape}; expected 2 or more dimensions")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _generator("orthogonal_", generator).normal(0.0, 1.0, (rows, cols))
    wide = rows < cols
    q, r = np.linalg.qr(flat.T if wide else flat)  # (max, min) @ (min, min)
    q = q * np.sign(np.diag(r))  # column j times sign(R_jj)
    return _fill("orthogonal_", tensor, gain * (q.T if wide else q).reshape(tensor.shape))


def sparse_(tensor: Tensor, sparsity: float, std: float = 0.01, generator: np.random.Generator | None = None) -> Tensor:
    """Martens (2010): N(0, std^2) entries with ceil(sparsity * rows) of each column zero.

    >>> import chainrule as cr
    >>> w = sparse_(cr.zeros(10, 4), sparsity=0.3)
    >>> (w.numpy() == 0).sum(axis=0).tolist()
    [3, 3, 3, 3]
    """
    _target("sparse_", tensor, floating=True)
    if tensor.ndim != 2:
        raise ValueError(f"nn.init.sparse_: a tensor of shape {tensor.shape}; expected 2 dimensions")
    if not 0 <= sparsity <= 1:
        raise ValueError(f"nn.init.sparse_: sparsity={sparsity}; expected a fraction in [0, 1]")
    g = _generator("sparse_", generator)
    rows, cols = tensor.shape
    values = g.normal(0.0, std, (rows, cols))
    zero_rows = g.random((rows, cols)).argsort(axis=0)[: math.ceil(sparsity * rows)]  # a random permutation per column
    np.put_along_axis(values, zero_rows, 0.0, axis=0)
    return _fill("sparse_", tensor, values)


# -- PyTorch's deprecated names without the trailing underscore -------------------------------------------


def _deprecated(fill: Callable[..., Tensor]) -> Callable[..., Tensor]:
    old = fill.__name__[:-1]

    def deprecated(*args: Any, **kwargs: Any) -> Tensor:
        warnings.warn(f"`nn.init.{old}` is now deprecated in favor of `nn.init.{fill.__name__}`.", FutureWarning,
                      stacklevel=2)  # fmt: skip
        return fill(*args, **kwargs)

    deprecated.__name__ = deprecated.__qualname__ = old
    deprecated.__doc__ = f"Deprecated (as in PyTorch): use ``{fill.__name__}``."
    return deprecated


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)

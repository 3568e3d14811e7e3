"""chainrule's ops, and the Tensor methods and operators that call them.

Primitives (each a ``Function`` with its own backward):

- elementwise: Add, Sub, Mul, Div, Pow, Neg, Exp, Log, Sqrt, Abs, Tanh, Erf, Relu,
  Maximum, Where, Clip (clip and clamp; number or tensor bounds), Cast (astype between float dtypes); Sigmoid and Softplus (fused
  for stability)
- pointwise math (``pointwise.py``): the trigonometric and hyperbolic functions and their
  inverses, Expm1, Log2, Log10, Log1p, Rsqrt, Reciprocal, Atan2, Hypot, Copysign, Logaddexp,
  Lerp; Sign, Floor, Ceil, Round, Trunc (gradient 0, even for an infinite upstream)
- reductions: Sum, Max, Prod (its gradient is the products before and after, so zeros need no
  division); Softmax and LogSoftmax (fused for stability); Norm of any p (for its subgradient
  0 at 0, which a root of a sum lacks)
- special (``special.py``): Gelu (exact GELU, fused for speed), with GeluGrad and NormalPdf
  for higher orders
- cumulative (``scan.py``): Cumsum, Cumprod, LogCumSumExp; sorting (``sort.py``) is composed of
  a stable argsort and indexing
- shape: Reshape, Permute, Expand, Concatenate, Pad, GetItem, IndexAdd, Copy (clone)
- index (``index.py``): Scatter, ScatterExtreme (the amax/amin router), ScatterProd
- windows: Unfold (im2col on channels-last images) and its adjoint Fold (fused for speed);
  MaxPool (a router over strided views, dilated too) with its linear pair PoolScatter/PoolGather;
  Convolution (fused for memory: it re-makes its windows in the backward; dilation, groups) and
  ConvTranspose (its adjoint)
- fused layers (for speed): Linear (x W^T + b), CrossEntropy (log-softmax + pick + mean, ignore_index),
  LayerNorm and BatchNorm (training; its backward three sums a channel)
- attention (``attention.py``): ScaledDotProductAttention, softmax(q k^T * scale + mask) v with
  dropout (fused for memory and speed; ``attention_weights`` is its softmax, composed)
- linear algebra: MatMul, Einsum (its backward is an einsum)

Composed from those, so they need no backward of their own: minimum, min, mean, var,
std, norm's ord=1 and ord=inf, tensordot, outer, mm, bmm, mv, dot, squeeze, unsqueeze, flatten, transpose, stack. Comparisons (``<``, ``==``, ...)
return boolean tensors, and argmax/argmin integer tensors, that carry no gradient.

Every ``Tensor`` method below is one plain assignment: grep ``Tensor.<name> =``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from . import index, movement, pointwise, scan, sort  # noqa: F401 - each ends with its Tensor methods
from .broadcast import sum_to
from .elementwise import (
    abs,
    add,
    astype,
    bitwise_and,
    bitwise_or,
    bitwise_xor,
    clip,
    div,
    eq,
    erf,
    exp,
    float16,
    float32,
    float64,
    ge,
    gt,
    int32,
    int64,
    invert,
    le,
    log,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    lt,
    maximum,
    minimum,
    mul,
    ne,
    neg,
    pow,
    relu,
    sigmoid,
    softplus,
    sqrt,
    sub,
    tanh,
    to_bool,
    where,
)
from .linalg import bmm, dot, einsum, matmul, mm, mv, outer, tensordot
from .mutate import (
    add_,
    clamp_,
    copy_,
    div_,
    fill_,
    iadd,
    imul,
    isub,
    itruediv,
    mul_,
    normal_,
    setitem,
    sub_,
    uniform_,
    zero_,
)
from .reduce import (
    amax,
    amin,
    argmax,
    argmin,
    log_softmax,
    logsumexp,
    max,
    mean,
    min,
    norm,
    normalize,
    prod,
    softmax,
    std,
    std_mean,
    sum,
    var,
    var_mean,
)
from .shape import (
    concatenate,
    expand,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    t,
    transpose,
    unsqueeze,
)
from .transfer import cpu, cuda, to

__all__ = [
    "logical_and", "logical_not", "logical_or", "logical_xor",
    "logsumexp", "normalize", "prod", "std_mean", "var_mean",
    "abs", "add", "amax", "amin", "argmax", "argmin", "astype", "bmm", "clip", "dot", "einsum", "mm", "mv", "outer", "tensordot", "concatenate", "div", "eq", "erf", "exp", "expand", "flatten", "ge",
    "getitem", "gt", "le", "log", "log_softmax", "lt", "matmul", "max", "maximum", "mean",
    "min", "minimum", "mul", "ne", "neg", "norm", "pad", "permute", "pow", "relu", "reshape",
    "sigmoid", "softmax", "softplus", "sqrt", "squeeze", "stack", "std", "sub", "sum", "sum_to", "tanh",
    "transpose", "unsqueeze", "var", "where",
]  # fmt: skip


def _swap(fn: Any) -> Any:
    def reflected(self: Tensor, other: Any) -> Tensor:
        return fn(other, self)

    reflected.__name__ = reflected.__qualname__ = f"__r{fn.__name__}__"
    return reflected


# A NumPy operand meets a Tensor: ``ndarray * t`` is the op (a Tensor, as ``t * ndarray``); ``arr += t``
# (and ``p.data -= lr * p.grad``, an older PyTorch idiom) writes into NumPy's array with the Tensor's values.
_UFUNC_OPS = {np.add: add, np.subtract: sub, np.multiply: mul, np.true_divide: div, np.power: pow,
              np.matmul: matmul, np.less: lt, np.less_equal: le, np.greater: gt, np.greater_equal: ge,
              np.equal: eq, np.not_equal: ne, np.bitwise_and: bitwise_and, np.bitwise_or: bitwise_or,
              np.bitwise_xor: bitwise_xor}  # fmt: skip


def _array_ufunc(self: Tensor, ufunc: Any, method: str, *inputs: Any, out: Any = None, **kwargs: Any) -> Any:
    if out is not None:
        if any(isinstance(o, Tensor) for o in out):
            return NotImplemented
        raw = [x.data if isinstance(x, Tensor) else x for x in inputs]
        return getattr(ufunc, method)(*raw, out=out, **kwargs)
    op = _UFUNC_OPS.get(ufunc)
    if op is None or method != "__call__" or kwargs:
        return NotImplemented  # NumPy then says the ufunc does not take a Tensor: use chainrule's function
    return op(*inputs)


Tensor.__array_ufunc__ = _array_ufunc
Tensor.__add__ = add
Tensor.__radd__ = _swap(add)
Tensor.__sub__ = sub
Tensor.__rsub__ = _swap(sub)
Tensor.__mul__ = mul
Tensor.__rmul__ = _swap(mul)
Tensor.__truediv__ = div
Tensor.__rtruediv__ = _swap(div)
Tensor.__pow__ = pow
Tensor.__rpow__ = _swap(pow)
Tensor.__matmul__ = matmul
Tensor.__rmatmul__ = _swap(matmul)
Tensor.__neg__ = neg
Tensor.__abs__ = abs
Tensor.__getitem__ = getitem
Tensor.__setitem__ = setitem
Tensor.__iadd__ = iadd
Tensor.__isub__ = isub
Tensor.__imul__ = imul
Tensor.__itruediv__ = itruediv
Tensor.__lt__ = lt
Tensor.__le__ = le
Tensor.__gt__ = gt
Tensor.__ge__ = ge
Tensor.__eq__ = eq
Tensor.__ne__ = ne
Tensor.__invert__ = invert
Tensor.__and__ = bitwise_and
Tensor.__rand__ = _swap(bitwise_and)
Tensor.__or__ = bitwise_or
Tensor.__ror__ = _swap(bitwise_or)
Tensor.__xor__ = bitwise_xor
Tensor.__rxor__ = _swap(bitwise_xor)
# PyTorch's method spellings of the operators: ``pred.eq(target).sum()``, ``a.add(b)``
Tensor.eq = eq
Tensor.ne = ne
Tensor.lt = lt
Tensor.le = le
Tensor.gt = gt
Tensor.ge = ge
Tensor.add = add
Tensor.sub = sub
Tensor.mul = mul
Tensor.div = div
Tensor.logical_not = logical_not
Tensor.logical_and = logical_and
Tensor.logical_or = logical_or
Tensor.logical_xor = logical_xor

Tensor.exp = exp
Tensor.log = log
Tensor.sqrt = sqrt
Tensor.abs = abs
Tensor.tanh = tanh
Tensor.erf = erf
Tensor.sigmoid = sigmoid
Tensor.softplus = softplus
Tensor.relu = relu
Tensor.maximum = maximum
Tensor.minimum = minimum
Tensor.clip = clip
Tensor.matmul = matmul
Tensor.sum = sum
Tensor.mean = mean
Tensor.max = max
Tensor.min = min
Tensor.var = var
Tensor.std = std
Tensor.norm = norm
Tensor.argmax = argmax
Tensor.argmin = argmin
Tensor.astype = astype
Tensor.to = to
Tensor.cuda = cuda
Tensor.cpu = cpu
Tensor.float = float32
Tensor.double = float64
Tensor.half = float16
Tensor.long = int64
Tensor.int = int32
Tensor.bool = to_bool
Tensor.amax = amax
Tensor.amin = amin

# in place (``chainrule.ops.mutate``: PyTorch's rules)
Tensor.add_ = add_
Tensor.sub_ = sub_
Tensor.mul_ = mul_
Tensor.div_ = div_
Tensor.zero_ = zero_
Tensor.fill_ = fill_
Tensor.copy_ = copy_
Tensor.clamp_ = clamp_
Tensor.normal_ = normal_
Tensor.uniform_ = uniform_
Tensor.softmax = softmax
Tensor.log_softmax = log_softmax
Tensor.reshape = reshape
Tensor.permute = permute
Tensor.transpose = transpose
Tensor.t = t
Tensor.expand = expand
Tensor.squeeze = squeeze
Tensor.unsqueeze = unsqueeze
Tensor.flatten = flatten
Tensor.pad = pad
Tensor.T = property(lambda self: permute(self, tuple(reversed(range(self.ndim)))))
Tensor.mT = property(transpose)

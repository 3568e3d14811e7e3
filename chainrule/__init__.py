"""chainrule: computational graphs and backpropagation, as a small, fast library.

>>> import chainrule as cr
>>> w = cr.Tensor([2.0, -3.0, -3.0], requires_grad=True)
>>> x = cr.Tensor([-1.0, -2.0, 1.0])
>>> f = cr.sigmoid((w * x).sum())
>>> f.backward()
>>> f"{f.item():.2f}", [f"{v:.2f}" for v in w.grad.tolist()]
('0.73', ['-0.20', '-0.39', '0.20'])
"""

from . import (
    allocator,
    autograd,
    backend,
    compiler,
    cuda,
    data,
    devices,
    distributed,
    factories,
    models,
    nn,
    ops,
    optim,
    rng,
    tasks,
    threads,
    training,
    viz,
)
from .autograd.anomaly import AnomalyError
from .autograd.engine import grad
from .autograd.function import Context, Function
from .autograd.grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .autograd.gradcheck import (
    GradcheckError,
    GradcheckResult,
    gradcheck,
    numerical_gradient,
    value_and_grad,
)
from .autograd.tensor import Tensor
from .compiler import TraceError, compile
from .devices import Device, cuda_available, device
from .dtypes import (  # PyTorch's short names float, int and bool are set at the end (they hide Python's)
    bool_,
    complex64,
    complex128,
    double,
    float16,
    float32,
    float64,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .factories import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    multinomial,
    normal,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .models import ntm  # the Neural Turing Machine, as chainrule.ntm (its tasks: chainrule.tasks)
from .ops import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    astype,
    bmm,
    clip,
    concatenate,
    div,
    dot,
    einsum,
    erf,
    exp,
    expand,
    flatten,
    log,
    log_softmax,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    mv,
    neg,
    norm,
    outer,
    pad,
    permute,
    pow,
    prod,
    relu,
    reshape,
    sigmoid,
    softmax,
    softplus,
    sqrt,
    squeeze,
    stack,
    std,
    std_mean,
    sub,
    sum,
    tanh,
    tensordot,
    transpose,
    unsqueeze,
    var,
    var_mean,
    where,
)
from .ops.index import (
    gather,
    index_select,
    masked_fill,
    masked_scatter,
    scatter,
    scatter_add,
    scatter_reduce,
    take_along_dim,
)
from .ops.movement import (
    cat,
    chunk,
    clone,
    concat,
    contiguous,
    diag,
    diagonal,
    dstack,
    expand_as,
    flip,
    hstack,
    moveaxis,
    movedim,
    narrow,
    repeat,
    repeat_interleave,
    roll,
    split,
    tile,
    tril,
    triu,
    unbind,
    unflatten,
    view,
    view_as,
    vstack,
)
from .ops.pointwise import (
    acos,
    acosh,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    ceil,
    clamp,
    copysign,
    cos,
    cosh,
    exp2,
    expm1,
    floor,
    frac,
    hypot,
    lerp,
    log1p,
    log2,
    log10,
    logaddexp,
    reciprocal,
    rsqrt,
    sign,
    sin,
    sinh,
    square,
    tan,
    trunc,
)
from .ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from .ops.sort import argsort, kthvalue, median, sort, topk
from .rng import manual_seed
from .serialization import load, load_checkpoint, load_metadata, save, save_checkpoint
from .threads import get_num_threads, set_num_threads
from .viz.explainer import explain

__version__ = "0.1.0"

allocator.tune()  # glibc's malloc keeps what a step frees for the next step (see chainrule.allocator)

__all__ = [
    "get_num_threads", "set_num_threads", "threads",
    "AnomalyError", "Context", "Function", "GradcheckError", "GradcheckResult", "Tensor", "abs", "add", "argmax", "argmin", "as_tensor", "astype",
    "allocator", "backend", "clip", "data", "distributed", "detect_anomaly", "models", "ntm", "tasks", "training", "concatenate", "div", "enable_grad", "erf", "explain", "exp", "expand", "flatten",
    "grad", "gradcheck", "is_grad_enabled", "log", "log_softmax", "matmul", "max",
    "load", "load_checkpoint", "load_metadata", "manual_seed", "maximum", "mean", "min", "minimum", "mul", "neg", "nn", "no_grad", "numerical_gradient",
    "ops", "optim", "pad", "viz", "permute", "pow", "relu", "reshape", "rng", "save", "save_checkpoint", "sigmoid", "softmax", "softplus", "sqrt",
    "squeeze", "stack", "sub", "sum", "tanh", "transpose", "unsqueeze", "value_and_grad",
    "where", "compile", "compiler", "TraceError", "norm", "std", "var",
    "Device", "cuda", "cuda_available", "device", "devices", "tensor", "amax", "amin",
    "bool_", "complex64", "complex128", "double", "float16", "float32", "float64", "half", "int8", "int16", "int32",
    "int64", "long", "short", "uint8",
    "autograd", "factories", "arange", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
    "linspace", "logspace", "multinomial", "normal", "ones", "ones_like", "rand", "rand_like", "randint",
    "randint_like", "randn", "randn_like", "randperm", "zeros", "zeros_like",
    "bmm", "dot", "einsum", "mm", "mv", "outer", "tensordot",
    "gather", "index_select", "masked_fill", "masked_scatter", "scatter", "scatter_add", "scatter_reduce",
    "take_along_dim", "cat", "chunk", "clone", "concat", "contiguous", "diag", "diagonal", "dstack", "expand_as",
    "flip", "hstack", "moveaxis", "movedim", "narrow", "repeat", "repeat_interleave", "roll", "split", "tile",
    "tril", "triu", "unbind", "unflatten", "view", "view_as", "vstack",
    "logical_and", "logical_not", "logical_or", "logical_xor",
    "logsumexp", "prod", "std_mean", "var_mean", "cummax", "cummin", "cumprod", "cumsum",
    "logcumsumexp", "argsort", "kthvalue", "median", "sort", "topk",
    "acos", "acosh", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "asin", "asinh", "atan",
    "atan2", "atanh", "ceil", "clamp", "copysign", "cos", "cosh", "exp2", "expm1", "floor", "frac", "hypot", "lerp",
    "log1p", "log2", "log10", "logaddexp", "reciprocal", "rsqrt", "sign", "sin", "sinh", "square", "tan", "trunc",
]  # fmt: skip

# PyTorch's names that hide Python's builtins: here at the very end (nothing below may need Python's own),
# and left out of __all__, so ``from chainrule import *`` leaves a user's float, int, bool, round, all, any alone
float = float32  # noqa: A001
int = int32  # noqa: A001
bool = bool_  # noqa: A001
from .ops.pointwise import round  # noqa: A004, E402, F401 - PyTorch's names; they hide Python's in this module
from .ops.reduce import all, any  # noqa: A004, E402, F401

"""chainrule: computational graphs and backpropagation, as a small, fast library.

>>> import chainrule as cr
>>> w = cr.Tensor([2.0, -3.0, -3.0], requires_grad=True)
>>> x = cr.Tensor([-1.0, -2.0, 1.0])
>>> f = cr.sigmoid((w * x).sum())
>>> f.backward()
>>> round(f.item(), 2), [round(v, 2) for v in w.grad.numpy().tolist()]
(0.73, [-0.2, -0.39, 0.2])
"""

from . import (
    autograd,
    backend,
    compiler,
    data,
    devices,
    distributed,
    factories,
    models,
    nn,
    ntm,
    ops,
    optim,
    rng,
    viz,
)
from .anomaly import AnomalyError
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
from .engine import (
    Context,
    Function,
    Tensor,
    detect_anomaly,
    enable_grad,
    grad,
    is_grad_enabled,
    no_grad,
)
from .explainer import explain
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
from .gradcheck import (
    GradcheckError,
    GradcheckResult,
    gradcheck,
    numerical_gradient,
    value_and_grad,
)
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
from .ops.scan import cummax, cummin, cumprod, cumsum, logcumsumexp
from .ops.shape import (
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
from .ops.sort import argsort, kthvalue, median, sort, topk
from .rng import manual_seed
from .serialization import load, load_checkpoint, load_metadata, save, save_checkpoint

__version__ = "0.1.0"

__all__ = [
    "AnomalyError", "Context", "Function", "GradcheckError", "GradcheckResult", "Tensor", "abs", "add", "argmax", "argmin", "as_tensor", "astype",
    "backend", "clip", "data", "distributed", "detect_anomaly", "models", "ntm", "concatenate", "div", "enable_grad", "erf", "explain", "exp", "expand", "flatten",
    "grad", "gradcheck", "is_grad_enabled", "log", "log_softmax", "matmul", "max",
    "load", "load_checkpoint", "load_metadata", "manual_seed", "maximum", "mean", "min", "minimum", "mul", "neg", "nn", "no_grad", "numerical_gradient",
    "ops", "optim", "pad", "viz", "permute", "pow", "relu", "reshape", "rng", "save", "save_checkpoint", "sigmoid", "softmax", "softplus", "sqrt",
    "squeeze", "stack", "sub", "sum", "tanh", "transpose", "unsqueeze", "value_and_grad",
    "where", "compile", "compiler", "TraceError", "norm", "std", "var",
    "Device", "cuda_available", "device", "devices", "tensor", "amax", "amin",
    "bool_", "complex64", "complex128", "double", "float16", "float32", "float64", "half", "int8", "int16", "int32",
    "int64", "long", "short", "uint8", "float", "int", "bool",
    "autograd", "factories", "arange", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
    "linspace", "logspace", "multinomial", "normal", "ones", "ones_like", "rand", "rand_like", "randint",
    "randint_like", "randn", "randn_like", "randperm", "zeros", "zeros_like",
    "bmm", "dot", "einsum", "mm", "mv", "outer", "tensordot",
    "gather", "index_select", "masked_fill", "masked_scatter", "scatter", "scatter_add", "scatter_reduce",
    "take_along_dim", "cat", "chunk", "clone", "concat", "contiguous", "diag", "diagonal", "dstack", "expand_as",
    "flip", "hstack", "moveaxis", "movedim", "narrow", "repeat", "repeat_interleave", "roll", "split", "tile",
    "tril", "triu", "unbind", "unflatten", "view", "view_as", "vstack",
    "logsumexp", "prod", "std_mean", "var_mean", "all", "any", "cummax", "cummin", "cumprod", "cumsum",
    "logcumsumexp", "argsort", "kthvalue", "median", "sort", "topk",
]  # fmt: skip

float = float32  # noqa: A001 - PyTorch's names, at the very end: nothing below may need Python's own
int = int32  # noqa: A001
bool = bool_  # noqa: A001
from .ops.reduce import all, any  # noqa: A004, E402 - PyTorch's names; they hide Python's in this module

"""Elementwise gates: arithmetic, the lecture's nonlinearities, max/min/where/clip.

Each gate's backward is the lecture's "upstream gradient times local gradient",
followed by ``sum_to`` to undo broadcasting. Backward formulas use operators, array
methods shared by Tensors and arrays, and ``call(Gate, ...)`` for anything else, so
the same line runs on raw arrays (fast) or on Tensors (``create_graph=True``). The
backward-flow patterns of the lecture are visible here: ``Add`` distributes, ``Mul``
swaps, ``Maximum`` routes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from . import special
from .broadcast import sum_to


class Add(Function):
    """a + b. Gradient distributor: both inputs receive the upstream gradient."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a + b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.inputs  # an input that needs a gradient is a Tensor: it knows its shape
        na, nb = ctx.needs_input_grad
        return (sum_to(grad_out, a.shape) if na else None, sum_to(grad_out, b.shape) if nb else None)


class Sub(Function):
    """a - b."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        return a - b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (sum_to(grad_out, a.shape) if na else None, sum_to(-grad_out, b.shape) if nb else None)


class Mul(Function):
    """a * b. Gradient switcher: each input gets the upstream gradient times the other."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (
            sum_to(grad_out * b, a.shape) if na else None,
            sum_to(grad_out * a, b.shape) if nb else None,
        )


class Div(Function):
    """a / b."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        # d(a/b)/db = -a / b^2, as -(a / b) / b: b * b underflows to 0 for |b| < 1e-154 (PyTorch's order)
        return (
            sum_to(grad_out / b, a.shape) if na else None,
            sum_to(-grad_out * (a / b) / b, b.shape) if nb else None,
        )


class Pow(Function):
    """a ** b."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        out = a**b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b, out = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # d(a^b)/da = b a^(b-1), and 0 where b == 0 (a^0 is 1 for every a, so 0^-1 = inf never enters)
            if isinstance(b, (int, float)):
                ga = grad_out * 0.0 if b == 0 else grad_out * b * a ** (b - 1)
            else:
                ga = grad_out * b * call(Where, b == 0, 1.0, a) ** (b - 1)
            ga = sum_to(ga, a.shape)
        if nb:
            # d(a^b)/db = a^b log(a); where a == 0 it is 0 for b >= 0 and -inf for b < 0 (PyTorch's
            # values: a^b log a -> 0 as a -> 0+ for b > 0, and inf * -inf for b < 0)
            if isinstance(a, (int, float)):  # a number as the base (2 ** x): its log is a number too
                if a == 0:
                    gb = grad_out * out * call(Where, b >= 0, 0.0, -math.inf)
                else:
                    with np.errstate(invalid="ignore"):
                        gb = grad_out * out * float(np.log(np.float64(a)))
            else:
                at_zero = a == 0
                log_a = call(Where, at_zero, call(Where, b >= 0, 0.0, -math.inf), call(Log, call(Where, at_zero, 1.0, a)))
                gb = grad_out * out * log_a
            gb = sum_to(gb, b.shape)
        return ga, gb


class Neg(Function):
    """-a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return -a

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return -grad_out


class Exp(Function):
    """exp(a); its local gradient is its own output."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out * out


class Log(Function):
    """Natural logarithm."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).log(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / a


class Sqrt(Function):
    """Square root."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out / (2 * out)


class Abs(Function):
    """|a|; the gradient at the kink a == 0 is 0 (sign(0) = 0, as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = array_module(a)
        ctx.save_for_backward(xp.sign(a))
        return xp.abs(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (sign,) = ctx.saved_tensors
        return grad_out * sign


def _erf(a: Any) -> Any:
    """erf without SciPy (``chainrule.ops.special``; CuPy's arrays: cupyx.scipy)."""
    return special.erf(a)


class Erf(Function):
    """The error function; local gradient 2/sqrt(pi) * exp(-a^2). Used by exact GELU."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return _erf(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * (2 / math.sqrt(math.pi)) * call(Exp, -(a * a))


class Softplus(Function):
    """log(1 + exp(a)); local gradient sigmoid(a).

    Fused for stability and for the kink: max(a, 0) + log1p(exp(-|a|)) never
    overflows, but composed from relu and abs it would get gradient 0 instead of 1/2
    at a = 0, where the two kinks cancel mathematically but not in autodiff.
    """

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = array_module(a)
        ctx.save_for_backward(a)
        return xp.maximum(a, 0) + xp.log1p(xp.exp(-xp.abs(a)))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Sigmoid, a)


class Tanh(Function):
    """tanh(a); local gradient 1 - tanh(a)^2."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out * (1 - out * out)


class Sigmoid(Function):
    """The lecture's sigmoid gate: s = 1 / (1 + exp(-a)), local gradient (1 - s) s.

    Fused (rather than composed of exp, add and reciprocal) for stability and speed: for
    very negative a, exp(-a) overflows to inf and 1 / (1 + inf) is exactly 0, the right
    limit, so the overflow warning is silenced rather than avoided with a second branch
    (four in-place passes instead of eight).
    """

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        xp = array_module(a)
        out = xp.asarray(xp.negative(a))  # a 0-d input gives a NumPy scalar: make it an array
        if out.dtype.kind != "f":
            out = out.astype(np.float64)
        with np.errstate(over="ignore"):
            xp.exp(out, out=out)
        out += 1
        xp.reciprocal(out, out=out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (s,) = ctx.saved_tensors
        return grad_out * (1 - s) * s


class Cast(Function):
    """The same values in another dtype; the gradient goes back in the input's dtype."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, dtype: Any) -> Any:
        ctx.in_dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Cast, grad_out, dtype=ctx.in_dtype)


class Relu(Function):
    """max(0, a). The gradient at the kink a == 0 is 0 (as in PyTorch)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).maximum(a, 0)
        ctx.save_for_backward(out)  # the output, not a mask: it is kept alive anyway, a mask is extra memory
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out * (out > 0)


class Maximum(Function):
    """Elementwise max(a, b). Gradient router: the larger input gets the whole gradient.

    On a tie (a == b) the gradient is split evenly, half to each (as PyTorch does).
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        xp = array_module(a)
        out = xp.maximum(a, b)
        # share of the gradient that goes to a: 1 where a wins, 0.5 on a tie, else 0
        share = (a > b) + 0.5 * (a == b)
        ctx.save_for_backward(xp.asarray(share, dtype=out.dtype))
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        (share,) = ctx.saved_tensors
        a, b = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (
            sum_to(grad_out * share, a.shape) if na else None,
            sum_to(grad_out * (1 - share), b.shape) if nb else None,
        )


class Where(Function):
    """where(cond, a, b): a where cond is true, else b. ``cond`` gets no gradient."""

    @staticmethod
    def forward(ctx: Context, cond: Any, a: Any, b: Any) -> Any:
        ctx.save_for_backward(cond)
        return array_module(a).where(cond, a, b)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        (cond,) = ctx.saved_tensors
        _, a, b = ctx.inputs
        _, na, nb = ctx.needs_input_grad
        return (
            None,
            sum_to(call(Where, cond, grad_out, 0.0), a.shape) if na else None,
            sum_to(call(Where, cond, 0.0, grad_out), b.shape) if nb else None,
        )


class Clip(Function):
    """a clamped into [lo, hi]; each bound a number, a tensor or None (``clip``, ``clamp``).

    PyTorch's subgradients: a gets the gradient where lo <= a <= hi, bounds included; a tensor
    bound where it wins (lo where a < lo < hi; hi where a > hi, or everywhere hi < lo, since the
    output is then hi). Routed with Where, not a mask product, so an infinite upstream gradient
    gives 0 where it is blocked, as PyTorch's.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, lo: Any, hi: Any) -> Any:
        xp = array_module(a)
        out, keep, to_lo, to_hi = a, True, None, None
        if lo is not None:
            out, keep = xp.maximum(out, lo), a >= lo
        if hi is not None:
            out, keep = xp.minimum(out, hi), keep & (a <= hi)
        # where a tensor bound wins (a number needs no mask); where lo > hi the output is hi, and lo gets nothing
        if lo is not None and not isinstance(lo, (int, float)):
            to_lo = a < lo if hi is None else (a < lo) & (lo < hi)
        if hi is not None and not isinstance(hi, (int, float)):
            to_hi = a > hi if lo is None else (a > hi) | (hi < lo)
        ctx.save_for_backward(keep, to_lo, to_hi)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        keep, to_lo, to_hi = ctx.saved_tensors
        return tuple(sum_to(call(Where, mask, grad_out, 0.0), t.shape) if needed else None
                     for t, mask, needed in zip(ctx.inputs, (keep, to_lo, to_hi), ctx.needs_input_grad))  # fmt: skip


# -- public functions -------------------------------------------------------------


_PASS = (Tensor, int, float)  # operands used as they are; arrays and lists become Tensors


def _tensor_or_scalar(x: Any) -> Any:
    """Leave Tensors and Python numbers alone; wrap arrays and lists as Tensors."""
    return x if isinstance(x, _PASS) else as_tensor(x)


def add(a: Any, b: Any) -> Tensor:
    """Elementwise a + b with NumPy broadcasting (also ``a + b`` on Tensors).

    >>> import chainrule as cr
    >>> (cr.Tensor([1.0, 2.0]) + 1.0).numpy()
    array([2., 3.], dtype=float32)
    """
    return Add.apply(_tensor_or_scalar(a), _tensor_or_scalar(b))


def sub(a: Any, b: Any) -> Tensor:
    """Elementwise a - b (also ``a - b``).

    >>> import chainrule as cr
    >>> cr.sub(cr.Tensor([3.0]), 1.0).numpy()
    array([2.], dtype=float32)
    """
    return Sub.apply(_tensor_or_scalar(a), _tensor_or_scalar(b))


def mul(a: Any, b: Any) -> Tensor:
    """Elementwise a * b (also ``a * b``).

    >>> import chainrule as cr
    >>> cr.mul(cr.Tensor([3.0]), 2.0).numpy()
    array([6.], dtype=float32)
    """
    return Mul.apply(_tensor_or_scalar(a), _tensor_or_scalar(b))


def div(a: Any, b: Any) -> Tensor:
    """Elementwise a / b (also ``a / b``).

    >>> import chainrule as cr
    >>> cr.div(cr.Tensor([3.0]), 2.0).numpy()
    array([1.5], dtype=float32)
    """
    return Div.apply(_tensor_or_scalar(a), _tensor_or_scalar(b))


def pow(input: Any, exponent: Any) -> Tensor:  # noqa: A001, A002 - mirrors ``a ** b``; PyTorch's names
    """Elementwise input ** exponent (also ``a ** b`` and ``t.pow(exponent=2)``).

    >>> import chainrule as cr
    >>> cr.pow(cr.Tensor([3.0]), 2).numpy()
    array([9.], dtype=float32)
    """
    return Pow.apply(_tensor_or_scalar(input), _tensor_or_scalar(exponent))


def neg(a: Any) -> Tensor:
    """-a.

    >>> import chainrule as cr
    >>> cr.neg(cr.Tensor([3.0])).numpy()
    array([-3.], dtype=float32)
    """
    return Neg.apply(_tensor_or_scalar(a))


def exp(a: Any) -> Tensor:
    """Elementwise e**a.

    >>> import chainrule as cr
    >>> cr.exp(cr.Tensor(0.0)).item()
    1.0
    """
    return Exp.apply(_tensor_or_scalar(a))


def log(a: Any) -> Tensor:
    """Elementwise natural logarithm.

    >>> import chainrule as cr
    >>> cr.log(cr.Tensor([1.0])).numpy()
    array([0.], dtype=float32)
    """
    return Log.apply(_tensor_or_scalar(a))


def sqrt(a: Any) -> Tensor:
    """Elementwise square root.

    >>> import chainrule as cr
    >>> cr.sqrt(cr.Tensor([4.0])).numpy()
    array([2.], dtype=float32)
    """
    return Sqrt.apply(_tensor_or_scalar(a))


def abs(a: Any) -> Tensor:  # noqa: A001 - the natural name
    """Elementwise |a|.

    >>> import chainrule as cr
    >>> cr.abs(cr.Tensor([-2.0, 0.0])).numpy()
    array([2., 0.], dtype=float32)
    """
    return Abs.apply(_tensor_or_scalar(a))


def tanh(a: Any) -> Tensor:
    """Elementwise hyperbolic tangent.

    >>> import chainrule as cr
    >>> cr.tanh(cr.Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return Tanh.apply(_tensor_or_scalar(a))


def erf(a: Any) -> Tensor:
    """Elementwise error function (2/sqrt(pi) times the integral of exp(-t^2) from 0 to a).

    >>> import chainrule as cr
    >>> cr.erf(cr.Tensor([0.0])).numpy()
    array([0.], dtype=float32)
    """
    return Erf.apply(_tensor_or_scalar(a))


def softplus(a: Any) -> Tensor:
    """Elementwise log(1 + exp(a)), computed stably; a smooth relu.

    >>> import chainrule as cr
    >>> round(cr.softplus(cr.Tensor(0.0)).item(), 4)
    0.6931
    """
    return Softplus.apply(_tensor_or_scalar(a))


def sigmoid(a: Any) -> Tensor:
    """Elementwise 1 / (1 + exp(-a)), computed stably.

    >>> import chainrule as cr
    >>> cr.sigmoid(cr.Tensor(0.0)).item()
    0.5
    """
    return Sigmoid.apply(_tensor_or_scalar(a))


def relu(a: Any) -> Tensor:
    """Elementwise max(0, a).

    >>> import chainrule as cr
    >>> cr.relu(cr.Tensor([-1.0, 2.0])).numpy()
    array([0., 2.], dtype=float32)
    """
    return Relu.apply(_tensor_or_scalar(a))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max of a and b; on ties the gradient is split evenly.

    >>> import chainrule as cr
    >>> a, b = cr.Tensor(2.0, requires_grad=True), cr.Tensor(2.0, requires_grad=True)
    >>> cr.maximum(a, b).backward()
    >>> a.grad.item(), b.grad.item()
    (0.5, 0.5)
    """
    return Maximum.apply(_tensor_or_scalar(a), _tensor_or_scalar(b))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min of a and b (composed: -max(-a, -b)); ties split the gradient evenly.

    >>> import chainrule as cr
    >>> cr.minimum(cr.Tensor([1.0, 5.0]), 3.0).numpy()
    array([1., 3.], dtype=float32)
    """
    return -maximum(-_tensor_or_scalar(a), -_tensor_or_scalar(b))


def where(cond: Any, a: Any, b: Any) -> Tensor:
    """Elementwise ``a if cond else b``; the condition carries no gradient.

    >>> import chainrule as cr
    >>> x = cr.Tensor([-1.0, 2.0])
    >>> cr.where(x > 0, x, 0.0).numpy()
    array([0., 2.], dtype=float32)
    """
    c = cond.data if isinstance(cond, Tensor) else cond
    return Where.apply(c, _tensor_or_scalar(a), _tensor_or_scalar(b))


def clip(a: Any, lo: float | None = None, hi: float | None = None) -> Tensor:
    """Clamp to ``[lo, hi]`` (either bound may be None).

    >>> import chainrule as cr
    >>> cr.clip(cr.Tensor([-2.0, 0.5, 3.0]), -1.0, 1.0).numpy()
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    if lo is None and hi is None:
        raise ValueError("clip: both bounds are None; expected lo, hi or both")
    if lo is not None and hi is not None and lo > hi:
        raise ValueError(f"clip: lo={lo} is greater than hi={hi}; expected lo <= hi")
    return Clip.apply(_tensor_or_scalar(a), lo, hi)


def astype(a: Any, dtype: Any) -> Tensor:
    """The values in ``dtype``; differentiable between float dtypes (the gradient is cast back).

    A cast to an integer or boolean dtype gives a tensor without gradient, as rounding has none.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.5], requires_grad=True)
    >>> y = x.astype("float64")
    >>> (y * y).sum().backward()
    >>> y.dtype, x.grad.dtype, x.grad.item()
    (dtype('float64'), dtype('float32'), 3.0)
    """
    a = as_tensor(a)
    try:
        target = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"astype: {dtype!r} is not a dtype; expected e.g. 'float32', 'float64' or 'int64'") from None
    if target.kind not in "fc":
        return Tensor._make(a.data.astype(target))
    if target == a.dtype:
        return a
    return Cast.apply(a, dtype=target)


def _converter(dtype: str, method: str) -> Any:
    def convert(a: Any) -> Tensor:
        return astype(a, dtype)

    convert.__name__ = convert.__qualname__ = method
    convert.__doc__ = f"``a.astype('{dtype}')``: PyTorch's ``Tensor.{method}()``."
    return convert


float32 = _converter("float32", "float")
float64 = _converter("float64", "double")  # the CS231n gradient checks run in double
float16 = _converter("float16", "half")
int64 = _converter("int64", "long")  # class labels and indices, as PyTorch keeps them
int32 = _converter("int32", "int")
to_bool = _converter("bool", "bool")


# -- comparisons: results carry no gradient ---------------------------------------


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _compare(name: str) -> Any:
    def compare(a: Any, b: Any) -> Tensor:
        return Tensor._make(getattr(_data(a), name)(_data(b)))

    compare.__name__ = compare.__qualname__ = name
    compare.__doc__ = f"Elementwise comparison ``{name}``; a boolean Tensor without gradient."
    return compare


lt = _compare("__lt__")
le = _compare("__le__")
gt = _compare("__gt__")
ge = _compare("__ge__")
eq = _compare("__eq__")
ne = _compare("__ne__")


def _logical(name: str, ufunc: str, doc: str) -> Any:
    def logical(a: Any, b: Any = None) -> Tensor:
        xp = array_module(_data(a))
        f = getattr(xp, ufunc)
        return Tensor._make(f(_data(a)) if b is None else f(_data(a), _data(b)))

    logical.__name__ = logical.__qualname__ = name
    logical.__doc__ = f"Elementwise {doc}, as booleans (any nonzero value is true); no gradient."
    return logical


logical_not = _logical("logical_not", "logical_not", "not a")
logical_and = _logical("logical_and", "logical_and", "a and b")
logical_or = _logical("logical_or", "logical_or", "a or b")
logical_xor = _logical("logical_xor", "logical_xor", "a xor b")


def _bitwise(name: str, ufunc: str) -> Any:
    """``~t``, ``t & u``, ``t | u``, ``t ^ u``: logical on booleans, bitwise on integers (NumPy's
    and PyTorch's), an error naming the operator on floats."""

    def bitwise(a: Any, b: Any = None) -> Tensor:
        args = (_data(a),) if b is None else (_data(a), _data(b))
        for x in args:
            if getattr(x, "dtype", None) is not None and x.dtype.kind not in "biu":
                raise TypeError(f"{name}: got dtype {x.dtype}; expected a boolean or integer tensor "
                                "(compare first, e.g. ~(t > 0))")
        return Tensor._make(getattr(array_module(args[0]), ufunc)(*args))

    bitwise.__name__ = bitwise.__qualname__ = name
    return bitwise


invert = _bitwise("__invert__", "invert")
bitwise_and = _bitwise("__and__", "bitwise_and")
bitwise_or = _bitwise("__or__", "bitwise_or")
bitwise_xor = _bitwise("__xor__", "bitwise_xor")

"""PyTorch's elementwise math: trigonometry, logs and exponentials, rounding, clamp, lerp.

Primitives (one gate each, its backward PyTorch's formula from ``derivatives.yaml``): Sin, Cos,
Tan, Asin, Acos, Atan, Sinh, Cosh, Asinh, Acosh, Atanh, Expm1, Log2, Log10, Log1p, Rsqrt,
Reciprocal; the flat ones Sign, Floor, Ceil, Round, Trunc (gradient 0 everywhere, as
PyTorch's); the binary Atan2, Hypot, Copysign, Logaddexp, Lerp. ``clamp`` is elementwise.py's Clip
gate (number or tensor bounds).

Composed, so they need no backward: ``exp2`` (``2 ** a``), ``square`` (``a * a``) and ``frac``
(``a - trunc(a)``). Binary ops broadcast; their backward ends with ``sum_to``.

Dtypes as PyTorch's: the float functions of an integer tensor give float32 (its default
dtype); floor, ceil, round, trunc and sign of an integer tensor stay integers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from .broadcast import sum_to
from .elementwise import Clip, Sigmoid, Where, neg, pow

LN2, LN10 = math.log(2.0), math.log(10.0)


# -- operands ---------------------------------------------------------------------


def _tensor(op: str, name: str, x: Any) -> Tensor:
    """``x`` as a Tensor, or an error naming the op and the argument."""
    if isinstance(x, Tensor):
        return x
    try:
        return as_tensor(x.item() if isinstance(x, np.generic) else x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{op}: {name} must be a Tensor or numbers, got {type(x).__name__} ({e})") from None


def _floats(op: str, name: str, x: Any) -> Tensor:
    """``x`` as a float Tensor: integer and boolean data become float32 (PyTorch's default
    dtype), a constant without gradient (an integer tensor never requires one)."""
    t = _tensor(op, name, x)
    return t if t.dtype.kind in "fc" else Tensor._make(t.data.astype(np.float32))


def _operand(op: str, name: str, x: Any) -> Any:
    """A second operand: Python numbers stay numbers (they do not widen a float32 tensor)."""
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (int, float)):
        return float(x) if isinstance(x, bool) else x
    return _floats(op, name, x)


def _broadcasts(op: str, **operands: Any) -> None:
    """Check up front that the operands broadcast, so the error names the op and the arguments."""
    shapes = {k: getattr(v, "shape", ()) for k, v in operands.items()}
    try:
        np.broadcast_shapes(*shapes.values())
    except ValueError:
        said = ", ".join(f"{k} {s}" for k, s in shapes.items())
        raise ValueError(f"{op}: shapes {said} do not broadcast; expected sizes that are equal or 1 in "
                         "each dim, counted from the last") from None


def _zeros_like(g: Any) -> Any:
    """Zeros of ``g``'s shape on its device: a constant gradient (never NaN, even where g is inf)."""
    data = g.data if isinstance(g, Tensor) else g
    return array_module(data).zeros_like(data)


# -- trigonometric and hyperbolic ----------------------------------------------------


class Sin(Function):
    """sin(a); local gradient cos(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).sin(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Cos, a)


class Cos(Function):
    """cos(a); local gradient -sin(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).cos(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * -call(Sin, a)


class Tan(Function):
    """tan(a); local gradient 1 + tan(a)^2, from the saved output."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).tan(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out * (1 + out * out)


class Asin(Function):
    """asin(a); local gradient 1 / sqrt(1 - a^2) (inf at |a| = 1, as PyTorch's)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arcsin(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Rsqrt, 1 - a * a)


class Acos(Function):
    """acos(a); local gradient -1 / sqrt(1 - a^2)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arccos(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return -grad_out * call(Rsqrt, 1 - a * a)


class Atan(Function):
    """atan(a); local gradient 1 / (1 + a^2)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arctan(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / (a * a + 1)


class Sinh(Function):
    """sinh(a); local gradient cosh(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).sinh(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Cosh, a)


class Cosh(Function):
    """cosh(a); local gradient sinh(a)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).cosh(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Sinh, a)


class Asinh(Function):
    """asinh(a); local gradient 1 / sqrt(a^2 + 1)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arcsinh(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Rsqrt, a * a + 1)


class Acosh(Function):
    """acosh(a) for a >= 1; local gradient 1 / sqrt(a^2 - 1) (inf at a = 1)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arccosh(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out * call(Rsqrt, a * a - 1)


class Atanh(Function):
    """atanh(a) for |a| < 1; local gradient 1 / (1 - a^2)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).arctanh(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / (1 - a * a)


# -- exponentials, logarithms, powers ------------------------------------------------


class Expm1(Function):
    """exp(a) - 1, exact for small a; local gradient exp(a) = out + 1."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = array_module(a).expm1(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return grad_out * (out + 1)


class Log2(Function):
    """log2(a); local gradient 1 / (a ln 2)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).log2(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / (a * LN2)


class Log10(Function):
    """log10(a); local gradient 1 / (a ln 10)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).log10(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / (a * LN10)


class Log1p(Function):
    """log(1 + a), exact for small a; local gradient 1 / (a + 1)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        ctx.save_for_backward(a)
        return array_module(a).log1p(a)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (a,) = ctx.saved_tensors
        return grad_out / (a + 1)


class Rsqrt(Function):
    """1 / sqrt(a); local gradient -out^3 / 2, from the output: -inf at a = 0, as PyTorch's
    (the composite 1 / sqrt(a) would give the same, at twice the passes)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = 1 / array_module(a).sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return -0.5 * grad_out * (out * out * out)


class Reciprocal(Function):
    """1 / a; local gradient -out^2 (-inf at a = 0, as PyTorch's)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        out = 1 / a
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (out,) = ctx.saved_tensors
        return -grad_out * (out * out)


# -- flat: rounding and sign, gradient 0 everywhere (PyTorch's zeros_like(grad)) ----------


class Flat(Function):
    """Base of the piecewise-constant gates: zero gradient, even at the jumps (PyTorch's choice)."""

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return _zeros_like(grad_out)


class Sign(Flat):
    """sign(a): -1, 0 or 1 (NaN for NaN)."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return array_module(a).sign(a)


class Floor(Flat):
    """The largest integer <= a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return array_module(a).floor(a)


class Ceil(Flat):
    """The smallest integer >= a."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return array_module(a).ceil(a)


class Trunc(Flat):
    """a rounded toward 0."""

    @staticmethod
    def forward(ctx: Context, a: Any) -> Any:
        return array_module(a).trunc(a)


class Round(Flat):
    """a rounded to ``decimals`` places, halves to even (PyTorch's and NumPy's rule)."""

    @staticmethod
    def forward(ctx: Context, a: Any, *, decimals: int) -> Any:
        return array_module(a).round(a, decimals)


# -- binary, broadcasting --------------------------------------------------------------


class Atan2(Function):
    """atan2(a, b), the angle of the point (b, a); PyTorch's gradient, 0 at the origin."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return array_module(a).arctan2(a, b)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        ta, tb = ctx.inputs
        na, nb = ctx.needs_input_grad
        # d atan2(a, b) = (b da - a db) / (a^2 + b^2); where a^2 + b^2 is 0, PyTorch takes 1/0 as 0
        r2 = a * a + b * b
        origin = r2 == 0
        recip = call(Where, origin, 0.0, 1 / call(Where, origin, 1.0, r2))
        return (
            sum_to(grad_out * b * recip, ta.shape) if na else None,
            sum_to(grad_out * -a * recip, tb.shape) if nb else None,
        )


class Hypot(Function):
    """sqrt(a^2 + b^2) without overflow; local gradients a / out and b / out (NaN at the
    origin, as PyTorch's)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        out = array_module(a).hypot(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b, out = ctx.saved_tensors
        ta, tb = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (
            sum_to(grad_out * a / out, ta.shape) if na else None,
            sum_to(grad_out * b / out, tb.shape) if nb else None,
        )


class Copysign(Function):
    """|a| with the sign of b. PyTorch's gradients: to a, out / a (+-1, and 0 where a == 0);
    to b, 0 (only b's sign is used)."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        out = array_module(a).copysign(a, b)
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, out = ctx.saved_tensors
        ta, tb = ctx.inputs
        na, nb = ctx.needs_input_grad
        # out / a, from the graph's values as PyTorch's (its second order is then PyTorch's, not NaN at 0)
        zero = a == 0
        ratio = call(Where, zero, 0.0, out / call(Where, zero, 1.0, a))
        return (sum_to(grad_out * ratio, ta.shape) if na else None, _zeros_like(tb) if nb else None)


class Logaddexp(Function):
    """log(exp(a) + exp(b)) without overflow (NumPy's max(a, b) + log1p(exp(-|a - b|)));
    local gradients sigmoid(a - b) and sigmoid(b - a), fused for that stability."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ctx.save_for_backward(a, b)
        return array_module(a).logaddexp(a, b)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        ta, tb = ctx.inputs
        na, nb = ctx.needs_input_grad
        return (
            sum_to(grad_out * call(Sigmoid, a - b), ta.shape) if na else None,
            sum_to(grad_out * call(Sigmoid, b - a), tb.shape) if nb else None,
        )


class Lerp(Function):
    """a + w (b - a). Forward in PyTorch's two forms (exact at w = 0 and w = 1); gradients
    1 - w to a, w to b, b - a to w."""

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any, w: Any) -> Any:
        ctx.save_for_backward(a, b, w)
        diff = b - a
        if isinstance(w, (int, float)):  # PyTorch's switch between the two forms, at |w| = 0.5
            return a + w * diff if abs(w) < 0.5 else b - diff * (1 - w)
        xp = array_module(a)
        return xp.where(xp.abs(w) < 0.5, a + w * diff, b - diff * (1 - w))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b, w = ctx.saved_tensors
        ta, tb, tw = ctx.inputs
        na, nb, nw = ctx.needs_input_grad
        return (
            sum_to(grad_out * (1 - w), ta.shape) if na else None,
            sum_to(grad_out * w, tb.shape) if nb else None,
            sum_to(grad_out * (b - a), tw.shape) if nw else None,
        )


# -- public functions ----------------------------------------------------------------


def _unary(gate: type[Function], op: str, input: Any) -> Tensor:  # noqa: A002 - PyTorch's name
    return gate.apply(_floats(op, "input", input))


def sin(input: Any) -> Tensor:  # noqa: A002 - PyTorch's argument names, here and below
    """Elementwise sine (radians).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.sin(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Sin, "sin", input)


def cos(input: Any) -> Tensor:  # noqa: A002
    """Elementwise cosine (radians).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.cos(cr.Tensor([0.0])).tolist()
    [1.0]
    """
    return _unary(Cos, "cos", input)


def tan(input: Any) -> Tensor:  # noqa: A002
    """Elementwise tangent (radians).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.tan(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Tan, "tan", input)


def asin(input: Any) -> Tensor:  # noqa: A002
    """Elementwise arcsine, for inputs in [-1, 1] (NaN outside, as PyTorch). Alias ``arcsin``.

    >>> import chainrule as cr
    >>> x = cr.Tensor([0.0], requires_grad=True)
    >>> cr.ops.pointwise.asin(x).sum().backward()
    >>> x.grad.tolist()
    [1.0]
    """
    return _unary(Asin, "asin", input)


def acos(input: Any) -> Tensor:  # noqa: A002
    """Elementwise arccosine, for inputs in [-1, 1]. Alias ``arccos``.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.acos(cr.Tensor([1.0])).tolist()
    [0.0]
    """
    return _unary(Acos, "acos", input)


def atan(input: Any) -> Tensor:  # noqa: A002
    """Elementwise arctangent. Alias ``arctan``.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.atan(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Atan, "atan", input)


def sinh(input: Any) -> Tensor:  # noqa: A002
    """Elementwise hyperbolic sine.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.sinh(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Sinh, "sinh", input)


def cosh(input: Any) -> Tensor:  # noqa: A002
    """Elementwise hyperbolic cosine.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.cosh(cr.Tensor([0.0])).tolist()
    [1.0]
    """
    return _unary(Cosh, "cosh", input)


def asinh(input: Any) -> Tensor:  # noqa: A002
    """Elementwise inverse hyperbolic sine. Alias ``arcsinh``.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.asinh(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Asinh, "asinh", input)


def acosh(input: Any) -> Tensor:  # noqa: A002
    """Elementwise inverse hyperbolic cosine, for inputs >= 1. Alias ``arccosh``.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.acosh(cr.Tensor([1.0])).tolist()
    [0.0]
    """
    return _unary(Acosh, "acosh", input)


def atanh(input: Any) -> Tensor:  # noqa: A002
    """Elementwise inverse hyperbolic tangent, for inputs in (-1, 1). Alias ``arctanh``.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.atanh(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Atanh, "atanh", input)


def exp2(input: Any) -> Tensor:  # noqa: A002
    """Elementwise 2 ** input (composed: ``Pow`` with the base 2).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.exp2(cr.Tensor([3, -1])).tolist()
    [8.0, 0.5]
    """
    return pow(2.0, _floats("exp2", "input", input))


def expm1(input: Any) -> Tensor:  # noqa: A002
    """Elementwise exp(input) - 1, without the rounding of exp near 0.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.expm1(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Expm1, "expm1", input)


def log2(input: Any) -> Tensor:  # noqa: A002
    """Elementwise base-2 logarithm.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.log2(cr.Tensor([8.0])).tolist()
    [3.0]
    """
    return _unary(Log2, "log2", input)


def log10(input: Any) -> Tensor:  # noqa: A002
    """Elementwise base-10 logarithm.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.log10(cr.Tensor([10.0, 0.1])).tolist()
    [1.0, -1.0]
    """
    return _unary(Log10, "log10", input)


def log1p(input: Any) -> Tensor:  # noqa: A002
    """Elementwise log(1 + input), without the rounding of log near 1.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.log1p(cr.Tensor([0.0])).tolist()
    [0.0]
    """
    return _unary(Log1p, "log1p", input)


def rsqrt(input: Any) -> Tensor:  # noqa: A002
    """Elementwise 1 / sqrt(input); at 0, inf with gradient -inf (as PyTorch).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.rsqrt(cr.Tensor([4.0])).tolist()
    [0.5]
    """
    return _unary(Rsqrt, "rsqrt", input)


def reciprocal(input: Any) -> Tensor:  # noqa: A002
    """Elementwise 1 / input; at 0, inf with gradient -inf (as PyTorch).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.reciprocal(cr.Tensor([4, 2])).tolist()
    [0.25, 0.5]
    """
    return _unary(Reciprocal, "reciprocal", input)


def square(input: Any) -> Tensor:  # noqa: A002
    """Elementwise input * input (composed); an integer tensor stays integer, as in PyTorch.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.square(cr.Tensor([-3, 2])).tolist()
    [9, 4]
    """
    a = _tensor("square", "input", input)
    if a.dtype == np.bool_:  # PyTorch squares booleans as int64
        a = Tensor._make(a.data.astype(np.int64))
    return a * a


def _flat(gate: type[Function], op: str, input: Any, **kwargs: Any) -> Tensor:  # noqa: A002
    a = _tensor(op, "input", input)
    if a.dtype.kind in "biu":  # integers: PyTorch keeps the dtype (floor... hand back the same values)
        if gate is Sign and a.dtype.kind != "b":
            return Tensor._make(array_module(a.data).sign(a.data))
        return Tensor._make(a.data.copy())
    return gate.apply(a, **kwargs)


def sign(input: Any) -> Tensor:  # noqa: A002
    """Elementwise sign: -1, 0 or 1; the gradient is 0 everywhere (PyTorch's).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.sign(cr.Tensor([-2.0, 0.0, 3.0])).tolist()
    [-1.0, 0.0, 1.0]
    """
    return _flat(Sign, "sign", input)


def floor(input: Any) -> Tensor:  # noqa: A002
    """Elementwise floor; gradient 0 everywhere; integers come back unchanged.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.floor(cr.Tensor([-1.5, 1.5])).tolist()
    [-2.0, 1.0]
    """
    return _flat(Floor, "floor", input)


def ceil(input: Any) -> Tensor:  # noqa: A002
    """Elementwise ceiling; gradient 0 everywhere; integers come back unchanged.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.ceil(cr.Tensor([-1.5, 1.5])).tolist()
    [-1.0, 2.0]
    """
    return _flat(Ceil, "ceil", input)


def trunc(input: Any) -> Tensor:  # noqa: A002
    """Elementwise rounding toward 0; gradient 0 everywhere; integers come back unchanged.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.trunc(cr.Tensor([-1.5, 1.5])).tolist()
    [-1.0, 1.0]
    """
    return _flat(Trunc, "trunc", input)


def round(input: Any, *, decimals: int = 0) -> Tensor:  # noqa: A001, A002 - PyTorch's names
    """Elementwise rounding to ``decimals`` places (negative: to tens, hundreds...), halves to
    even; gradient 0 everywhere. Integers come back unchanged (``decimals`` must then be 0).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.round(cr.Tensor([0.5, 1.5, 2.5])).tolist()
    [0.0, 2.0, 2.0]
    >>> cr.ops.pointwise.round(cr.Tensor([1.2345, 1250.0], dtype="float64"), decimals=2).tolist()
    [1.23, 1250.0]
    """
    if isinstance(decimals, bool) or not isinstance(decimals, (int, np.integer)):
        raise TypeError(f"round: decimals must be an int, got {type(decimals).__name__} {decimals!r}")
    a = _tensor("round", "input", input)
    if decimals != 0 and a.dtype.kind in "biu":
        raise TypeError(f"round: decimals={decimals} needs a floating-point tensor, got dtype {a.dtype} "
                        "(as in PyTorch); convert with .float() first")
    return _flat(Round, "round", a, decimals=int(decimals))


def frac(input: Any) -> Tensor:  # noqa: A002
    """Elementwise fractional part, input - trunc(input) (composed: gradient 1, as PyTorch's).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.frac(cr.Tensor([-1.5, 2.25])).tolist()
    [-0.5, 0.25]
    """
    a = _tensor("frac", "input", input)
    if a.dtype.kind in "biu":
        raise TypeError(f"frac: needs a floating-point tensor, got dtype {a.dtype} (as in PyTorch); "
                        "the fractional part of an integer is 0")
    return a - trunc(a)


def atan2(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise angle of the point (other, input), in (-pi, pi]; broadcasts. Alias ``arctan2``.
    The gradient at the origin is 0 (PyTorch's).

    >>> import chainrule as cr
    >>> cr.ops.pointwise.atan2(cr.Tensor([0.0, 1.0]), cr.Tensor([-1.0, 0.0])).numpy().round(4)
    array([3.1416, 1.5708], dtype=float32)
    """
    a, b = _floats("atan2", "input", input), _operand("atan2", "other", other)
    _broadcasts("atan2", input=a, other=b)
    return Atan2.apply(a, b)


def hypot(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise sqrt(input^2 + other^2), without overflow; broadcasts.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.hypot(cr.Tensor([3.0]), cr.Tensor([4.0])).tolist()
    [5.0]
    """
    a, b = _floats("hypot", "input", input), _operand("hypot", "other", other)
    _broadcasts("hypot", input=a, other=b)
    return Hypot.apply(a, b)


def copysign(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise |input| with the sign of ``other`` (-0.0 counts as negative); broadcasts.
    ``other`` gets gradient 0, ``input`` +-1 (0 where input is 0), as in PyTorch.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.copysign(cr.Tensor([1.0, -2.0]), -1.0).tolist()
    [-1.0, -2.0]
    """
    a, b = _floats("copysign", "input", input), _operand("copysign", "other", other)
    _broadcasts("copysign", input=a, other=b)
    return Copysign.apply(a, b)


def logaddexp(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise log(exp(input) + exp(other)), without overflow; broadcasts.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.logaddexp(cr.Tensor([1000.0]), cr.Tensor([1000.0])).tolist()
    [1000.6931762695312]
    """
    a, b = _floats("logaddexp", "input", input), _operand("logaddexp", "other", other)
    _broadcasts("logaddexp", input=a, other=b)
    return Logaddexp.apply(a, b)


def lerp(input: Any, end: Any, weight: Any) -> Tensor:  # noqa: A002
    """Linear interpolation input + weight * (end - input); ``weight`` a number or a tensor;
    all three broadcast.

    >>> import chainrule as cr
    >>> cr.ops.pointwise.lerp(cr.Tensor([0.0, 10.0]), cr.Tensor([10.0, 20.0]), 0.25).tolist()
    [2.5, 12.5]
    """
    a = _floats("lerp", "input", input)
    b, w = _operand("lerp", "end", end), _operand("lerp", "weight", weight)
    _broadcasts("lerp", input=a, end=b, weight=w)
    return Lerp.apply(a, b, w)


def _bound(name: str, x: Any) -> Any:
    if x is None or isinstance(x, Tensor):
        return x
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, (int, float)) and not isinstance(x, bool):
        return x
    if isinstance(x, (str, bytes, bool)):
        raise TypeError(f"clamp: {name} must be a number, a Tensor or None, got {type(x).__name__} {x!r}")
    return _tensor("clamp", name, x)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Elementwise clamp into [min, max]; either bound may be None, a number or a tensor that
    broadcasts. Where min > max the output is max (PyTorch's rule).

    The gradient passes where min <= input <= max, bounds included; a tensor bound gets the
    gradient where it wins (as PyTorch's ``clamp``).

    >>> import chainrule as cr
    >>> x = cr.Tensor([-2.0, 0.5, 3.0], requires_grad=True)
    >>> y = cr.ops.pointwise.clamp(x, min=-1.0, max=1.0)
    >>> y.sum().backward()
    >>> y.tolist(), x.grad.tolist()
    ([-1.0, 0.5, 1.0], [0.0, 1.0, 0.0])
    """
    if min is None and max is None:
        raise ValueError("clamp: min and max are both None; expected at least one bound (a number or a Tensor)")
    lo, hi = _bound("min", min), _bound("max", max)
    a = _tensor("clamp", "input", input)
    if a.dtype.kind in "biu" and any(isinstance(v, float) or (isinstance(v, Tensor) and v.dtype.kind in "fc")
                                     for v in (lo, hi)):  # fmt: skip
        a = _floats("clamp", "input", a)  # a float bound makes an integer input float32, as in PyTorch
    _broadcasts("clamp", input=a, min=lo, max=hi)
    return Clip.apply(a, lo, hi)


arcsin, arccos, arctan, arctan2 = asin, acos, atan, atan2  # the NumPy names PyTorch also has
arcsinh, arccosh, arctanh = asinh, acosh, atanh


# Tensor methods (grep "Tensor.<name> =")
Tensor.sin = sin
Tensor.cos = cos
Tensor.tan = tan
Tensor.asin = asin
Tensor.acos = acos
Tensor.atan = atan
Tensor.atan2 = atan2
Tensor.sinh = sinh
Tensor.cosh = cosh
Tensor.asinh = asinh
Tensor.acosh = acosh
Tensor.atanh = atanh
Tensor.arcsin = arcsin
Tensor.arccos = arccos
Tensor.arctan = arctan
Tensor.arctan2 = arctan2
Tensor.arcsinh = arcsinh
Tensor.arccosh = arccosh
Tensor.arctanh = arctanh
Tensor.exp2 = exp2
Tensor.expm1 = expm1
Tensor.log2 = log2
Tensor.log10 = log10
Tensor.log1p = log1p
Tensor.rsqrt = rsqrt
Tensor.reciprocal = reciprocal
Tensor.square = square
Tensor.sign = sign
Tensor.floor = floor
Tensor.ceil = ceil
Tensor.round = round
Tensor.trunc = trunc
Tensor.frac = frac
Tensor.lerp = lerp
Tensor.logaddexp = logaddexp
Tensor.hypot = hypot
Tensor.copysign = copysign
Tensor.clamp = clamp
Tensor.pow = pow
Tensor.neg = neg

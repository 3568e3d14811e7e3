"""In-place changes of a tensor, under PyTorch's rules: ``t += v``, ``add_``, ``zero_``, ``t[i] = v``.

A change in place writes into the tensor's own array (the same object, the same memory)
through the write clock (``chainrule.autograd.inplace.write_in_place``), so a gate that saved the
tensor refuses its backward and names the writer, and the leaves' write protection is
lifted for that write alone. Where it is allowed:

- under ``no_grad()`` (the manual update ``W -= lr * W.grad`` of the lecture), and on
  tensors that need no gradient (``t.grad.zero_()``, a buffer, data);
- not on a leaf that requires grad with grad mode on: PyTorch's error, at that line;
- with grad mode on, on a computed tensor of the graph (or with an operand that requires
  grad), the operators ``t += v`` become ``t = t + v``: the name is bound to the new
  value, which the graph records, and any other name for the old tensor keeps the old
  values (in PyTorch it sees the change). The methods (``t.add_(v)``) and ``t[i] = v``
  would lose the gradient there, so they are an error instead that says what to write.

Every check runs before anything is written: a refused change changes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import devices, rng
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module
from .elementwise import add, div, mul, sub


def _value(v: Any, t: Tensor) -> Any:
    """An operand as an array (or Python number) on ``t``'s device."""
    if isinstance(v, Tensor):
        v = v.data
    if isinstance(v, (int, float, bool)):
        return v
    v = array_module(t.data).asarray(v) if not hasattr(v, "shape") else v
    return devices.like(v, t.data) if type(v) is not type(t.data) else v


def _check(op: str, t: Tensor, operands: tuple = ()) -> None:
    """PyTorch's rules for changing ``t`` in place, checked before anything is written."""
    if not is_grad_enabled():
        return
    if t.requires_grad and t._ctx is None:
        raise RuntimeError(f"{op}: a leaf Variable that requires grad is being used in an in-place operation "
                           f"(tensor of shape {t.shape}); wrap the update in `with chainrule.no_grad():`")
    if t.requires_grad or any(isinstance(v, Tensor) and v.requires_grad for v in operands):
        raise RuntimeError(f"{op}: an in-place change of a tensor of the graph (shape {t.shape}) would lose its "
                           "gradient; write it out of place (t = t + v; torch.where or masked_fill for t[i] = v), "
                           "or under no_grad()")


def _fits(op: str, v: Any, shape: tuple[int, ...], dtype: Any, result_dtype: Any = None, what: str = "an operand",
          into: str = "the tensor's shape") -> None:  # fmt: skip
    """``v`` broadcasts to ``shape`` (the tensor's, or a selection's), and the result (NumPy's
    promotion of ``dtype`` and ``v``'s, unless given) casts to ``dtype`` (PyTorch's rule)."""
    vshape = getattr(v, "shape", ())
    try:
        joint = np.broadcast_shapes(shape, vshape)
    except ValueError:
        joint = None
    if joint != shape:
        raise ValueError(f"{op}: {what} of shape {vshape} does not broadcast to {into} {shape}; "
                         "expected a shape that broadcasts to it (an in-place result keeps the tensor's shape)")
    if result_dtype is None:
        result_dtype = np.result_type(dtype, v if isinstance(v, (int, float, bool)) else v.dtype)
    if not np.can_cast(result_dtype, dtype, "same_kind"):
        raise TypeError(f"{op}: the result type {np.dtype(result_dtype)} can't be cast to the tensor's dtype {dtype}; "
                        "expected an operand that keeps the tensor's kind (convert the tensor first, e.g. .float())")


_UFUNCS = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.true_divide}
_OUT_OF_PLACE = {"add_": add, "sub_": sub, "mul_": mul, "div_": div}


def _arith(op: str, t: Tensor, v: Any, alpha: Any = None) -> Tensor:
    _check(op, t, (v,))
    raw = _value(v, t)
    if alpha is not None:
        raw = raw * alpha
    dtype = np.result_type(t.dtype, raw if isinstance(raw, (int, float, bool)) else raw.dtype)
    if op == "div_" and dtype.kind in "biu":
        dtype = np.dtype(np.float64)  # true division of integers is a float, as in PyTorch
    _fits(op, raw, t.shape, t.dtype, dtype)
    arr = write_in_place(t, f"Tensor.{op}")
    xp = array_module(arr)
    getattr(xp, _UFUNCS[op].__name__)(arr, raw, out=arr, casting="same_kind")
    return t


def add_(t: Tensor, other: Any, alpha: Any = None) -> Tensor:
    """``t += alpha * other`` in place (``alpha`` as in PyTorch); returns ``t``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> w.grad = cr.Tensor([1.0, 1.0])
    >>> with cr.no_grad():
    ...     _ = w.add_(w.grad, alpha=-0.5)
    >>> w.tolist()
    [0.5, 1.5]
    """
    return _arith("add_", t, other, alpha)


def sub_(t: Tensor, other: Any, alpha: Any = None) -> Tensor:
    """``t -= alpha * other`` in place; returns ``t``."""
    return _arith("sub_", t, other, alpha)


def mul_(t: Tensor, other: Any) -> Tensor:
    """``t *= other`` in place; returns ``t``."""
    return _arith("mul_", t, other)


def div_(t: Tensor, other: Any) -> Tensor:
    """``t /= other`` in place (a float tensor); returns ``t``."""
    return _arith("div_", t, other)


def _operator(op: str) -> Any:
    """``t op= v``: in place where PyTorch's rules allow it, else ``t = t op v`` on the graph."""
    out_of_place = _OUT_OF_PLACE[op]

    def operator(t: Tensor, v: Any) -> Tensor:
        if is_grad_enabled() and (t._ctx is not None or (isinstance(v, Tensor) and v.requires_grad)):
            return out_of_place(t, v)  # recorded by the graph; Python binds the name to the result
        return _arith(op, t, v)

    operator.__name__ = operator.__qualname__ = f"__i{op[:-1]}__"
    operator.__doc__ = f"``t {'+-*/'['add_ sub_ mul_ div_'.split().index(op)]}= v``: see ``chainrule.ops.mutate``."
    return operator


iadd, isub, imul, itruediv = (_operator(op) for op in ("add_", "sub_", "mul_", "div_"))


def fill_(t: Tensor, value: Any) -> Tensor:
    """Set every entry to ``value`` (a number or a one-element tensor); returns ``t``.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0]).fill_(7).tolist()
    [7.0, 7.0]
    """
    _check("fill_", t, (value,))
    raw = _value(value, t)
    if getattr(raw, "size", 1) != 1:
        raise ValueError(f"fill_: got a value of shape {raw.shape}; expected a number or a one-element tensor")
    write_in_place(t, "Tensor.fill_")[...] = raw
    return t


def zero_(t: Tensor) -> Tensor:
    """Set every entry to 0 (``t.grad.zero_()`` clears a gradient in place); returns ``t``.

    >>> import chainrule as cr
    >>> cr.Tensor([1.0, 2.0]).zero_().tolist()
    [0.0, 0.0]
    """
    return fill_(t, 0)


def copy_(t: Tensor, src: Any) -> Tensor:
    """Copy ``src``'s values into ``t`` (broadcast to ``t``'s shape, cast to its dtype, from any
    device); returns ``t``.

    >>> import chainrule as cr
    >>> cr.Tensor([0.0, 0.0]).copy_(cr.Tensor([1.0, 2.0])).tolist()
    [1.0, 2.0]
    """
    _check("copy_", t, (src,))
    raw = _value(src, t)
    _fits("copy_", raw, t.shape, t.dtype, t.dtype)
    write_in_place(t, "Tensor.copy_")[...] = raw
    return t


def clamp_(t: Tensor, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 - PyTorch's names
    """Clamp every entry to ``[min, max]`` in place; returns ``t``.

    >>> import chainrule as cr
    >>> cr.Tensor([-2.0, 0.5, 3.0]).clamp_(-1, 1).tolist()
    [-1.0, 0.5, 1.0]
    """
    if min is None and max is None:
        raise ValueError("clamp_: both bounds are None; expected min, max or both")
    _check("clamp_", t, (min, max))
    lo, hi = (None if b is None else _value(b, t) for b in (min, max))
    for b in (lo, hi):
        if b is not None:
            _fits("clamp_", b, t.shape, t.dtype)
    arr = write_in_place(t, "Tensor.clamp_")
    array_module(arr).clip(arr, lo, hi, out=arr)
    return t


def _draw(op: str, t: Tensor, values: np.ndarray) -> Tensor:
    _check(op, t)
    if t.dtype.kind not in "fc":
        raise TypeError(f"{op}: the tensor's dtype is {t.dtype}; expected a floating-point tensor")
    write_in_place(t, f"Tensor.{op}")[...] = devices.like(values.astype(t.dtype), t.data)
    return t


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with N(mean, std^2) samples from chainrule's seeded stream; returns ``t``.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); a = cr.zeros(3).normal_().tolist()
    >>> cr.manual_seed(0); a == cr.zeros(3).normal_().tolist()
    True
    """
    return _draw("normal_", t, rng.generator().normal(mean, std, size=t.shape))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with U(a, b) samples from chainrule's seeded stream; returns ``t``."""
    return _draw("uniform_", t, rng.generator().uniform(a, b, size=t.shape))


def setitem(t: Tensor, index: Any, value: Any) -> None:
    """``t[index] = value`` in place, under the rules above (and PyTorch's reading of an index
    that mixes integers with index arrays, as ``getitem``).

    >>> import chainrule as cr
    >>> t = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> t[0] = 0.0; t[:, 1] = cr.Tensor([5.0, 6.0])
    >>> t.tolist()
    [[0.0, 5.0], [3.0, 6.0]]
    """
    from .shape import _index_data, _torch_order

    _check("setitem", t, (value,))
    index = _index_data(index, t.data)
    raw = _value(value, t)
    steps = _torch_order(index, t.ndim)
    arr = t.data
    try:
        target = arr[steps[0]] if steps is not None else arr  # a view: the integers select first
        where = steps[1] if steps is not None else index
        selection = target[where].shape
    except IndexError as e:
        raise IndexError(f"setitem: index {index!r} does not fit shape {t.shape}: {e}") from e
    _fits("setitem", raw, selection, t.dtype, None if isinstance(raw, (int, float, bool)) else raw.dtype,
          what="a value", into="the selection's shape")  # fmt: skip
    arr = write_in_place(t, "Tensor.__setitem__")  # lifts the write protection: take the view anew
    (arr[steps[0]] if steps is not None else arr)[where] = raw

"""PyTorch's ``torch.autograd.Function``: a custom gate whose forward and backward see Tensors.

chainrule's own gate base (``chainrule.Function``, in ``function.py``) hands its forward and
backward raw arrays, so that no Tensor machinery runs inside a built-in op. A PyTorch program's
custom function is written against Tensors instead (``x.clamp(lo, hi)``, ``torch.where``,
``grad_output.clone()``), so ``chainrule.autograd.Function`` is this class: each subclass gets a
raw gate of its own name (``_gate``) that wraps the arrays in Tensors around the user's code:

- forward: the inputs that were Tensors arrive as Tensors (the rest as they were given), under
  ``no_grad`` as in PyTorch; the Tensors given to ``ctx.save_for_backward`` and the Tensor
  returned are kept as their arrays, so the engine's version checks, write protection and
  ``create_graph`` see them as they see any gate's;
- backward: the upstream gradient and ``ctx.saved_tensors`` arrive as Tensors; an ordinary
  backward runs with grad mode off (the gradients returned become raw arrays), and under
  ``create_graph=True`` they are the graph's own Tensors, so a backward written with
  differentiable ops gives gradients of gradients.

One output per function (a Tensor), as every chainrule gate has; ``ctx.needs_input_grad`` and
attributes set on ``ctx`` work as in PyTorch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend
from . import function
from .grad_mode import no_grad
from .tensor import Tensor


def _tensor(v: Any) -> Any:
    """A saved array as a constant Tensor (anything else as it is)."""
    return Tensor._make(v) if backend.is_array(v) or isinstance(v, np.generic) else v


def _array(v: Any) -> Any:
    return v._data if isinstance(v, Tensor) else v


class _TensorGate(function.Function):
    """The raw gate behind one PyTorch-style function (``user``): arrays outside, Tensors inside."""

    user: type

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        # which arguments were Tensors (the base apply hands the forward their arrays), and which
        # require grad: PyTorch's forward reads ctx.needs_input_grad too, in any grad mode
        tensors = tuple(isinstance(a, Tensor) for a in args)
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        return super().apply(*args, _tensors=tensors, _needs=needs, **kwargs)

    @classmethod
    def forward(cls, ctx: function.Context, *datas: Any, _tensors: tuple[bool, ...], _needs: tuple[bool, ...],
                **kwargs: Any) -> Any:  # fmt: skip
        args = [Tensor._make(d) if was else d for d, was in zip(datas, _tensors)]
        ctx.needs_input_grad = _needs  # the base apply sets the same tuple again when it records the gate
        with no_grad():
            out = cls.user.forward(ctx, *args, **kwargs)
        if isinstance(out, (tuple, list)):
            raise TypeError(f"{cls.__name__}.forward returned {len(out)} outputs; a chainrule Function "
                            "returns one Tensor")  # fmt: skip
        saved = ctx.saved_tensors
        if saved:
            ctx.saved_tensors = tuple([_array(v) for v in saved])
        return _array(out)

    @classmethod
    def backward(cls, ctx: function.Context, grad_out: Any) -> Any:
        if isinstance(grad_out, Tensor):  # create_graph: saved values are already the graph's Tensors
            return cls.user.backward(ctx, grad_out)
        saved = ctx.saved_tensors
        if not saved:
            return cls.user.backward(ctx, Tensor._make(grad_out))
        ctx.saved_tensors = tuple([_tensor(v) for v in saved])
        try:
            return cls.user.backward(ctx, Tensor._make(grad_out))  # Tensors back: the engine takes their arrays
        finally:
            ctx.saved_tensors = saved


class Function:
    """A custom differentiable function written as in PyTorch (``torch.autograd.Function``).

    Subclass it with static ``forward(ctx, *inputs)`` and ``backward(ctx, grad_output)``, and
    call ``apply``. The forward gets Tensors and returns one Tensor, saving what the backward
    needs with ``ctx.save_for_backward``; the backward gets the upstream gradient and
    ``ctx.saved_tensors`` as Tensors and returns one gradient per input (None where
    ``ctx.needs_input_grad`` says none is needed). chainrule's own gates subclass
    ``chainrule.Function`` instead, which works on raw arrays.

    >>> import chainrule as cr
    >>> class StraightThroughClamp(cr.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, lo, hi):
    ...         ctx.save_for_backward(x)
    ...         return x.clamp(lo, hi)
    ...     @staticmethod
    ...     def backward(ctx, grad_output):
    ...         (x,) = ctx.saved_tensors
    ...         return grad_output.clone(), None, None     # the gradient passes straight through
    >>> x = cr.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    >>> y = StraightThroughClamp.apply(x, -1.0, 1.0)
    >>> (y * y).sum().backward()
    >>> y.tolist(), x.grad.tolist()
    ([-1.0, 0.5, 1.0], [-2.0, 1.0, 2.0])
    """

    _gate: type[_TensorGate]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # the raw gate the engine records, named as the user's class (errors, pictures, Tensor.op)
        cls._gate = type(cls.__name__, (_TensorGate,), {"user": cls, "__qualname__": cls.__qualname__})

    @staticmethod
    def forward(ctx: function.Context, *inputs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: function.Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run the function on ``args`` and record it as one gate of the graph."""
        if cls is Function:
            raise TypeError("Function.apply: subclass chainrule.autograd.Function with a forward and a backward")
        return cls._gate.apply(*args, **kwargs)

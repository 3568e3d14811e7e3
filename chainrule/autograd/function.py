"""``Function``, the gate base class, and ``Context``, one node of the graph.

``Op.apply(...)`` runs a gate's forward on raw arrays and, when grad mode is on and an
input requires grad, records a ``Context`` on the output: the gate, its inputs, which of
them need gradients, a sequence number (the walk's order) and the saved values.
``call(Gate, ...)`` runs a gate inside a backward formula, in that backward's currency.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .. import backend, devices
from . import grad_mode, hooks, inplace, tensor
from .inplace import _clock

# Bound by assignment, not by ``from ... import``: CPython 3.11 compiles ``name.method()`` on an
# imported name as an attribute load (it takes the name for a module), which makes a bound-method
# object per call; an assigned name gets the direct method call. On every op, that is 6% of apply.
Tensor, _grad_mode, _watch = tensor.Tensor, grad_mode._grad_mode, grad_mode._watch


class Context:
    """What a gate keeps between its forward and its backward: one node of the graph.

    Gates store small metadata as attributes (``ctx.axis = axis``) and arrays through
    ``save_for_backward``. ``saved_tensors`` gives them back in the form the backward
    is running in: the raw arrays when no graph is being built (the usual, fast case),
    or Tensors under ``create_graph=True`` - a saved input or output then becomes that
    very tensor, so higher-order gradients flow through it, and any other array a
    constant.
    """

    # class-level defaults instead of an __init__: a Context is made per op call
    _freed = False
    clock = 1 << 62  # the write clock when the gate saved its values (never behind, if it saved none)
    hooks: hooks.Hooks | None = None  # gradient hooks on the gate's output (``chainrule.autograd.hooks``)
    site: str | None = None  # where the gate was created, under detect_anomaly
    fn: type
    seq: int
    inputs: tuple
    needs_input_grad: tuple[bool, ...]
    hold: Any = None  # keeps the saved leaves' arrays read-only (``chainrule.autograd.inplace.protect``)

    def save_for_backward(self, *values: Any) -> None:
        # a plain instance attribute: reading it in backward costs nothing; it hides
        # the class-level ``saved_tensors`` below until the graph is freed
        self.saved_tensors = values

    def _in_graph(self, v: Any, output: Tensor) -> Any:
        """A saved value as a node of the graph: the input or output it is, else a constant."""
        for a in self.inputs:
            if v is a or (isinstance(a, Tensor) and v is a._data):
                return a
        if v is output._data:
            return output
        if backend.is_array(v) or isinstance(v, np.generic):
            return Tensor._make(v)
        return v


class _NothingSaved:
    """``ctx.saved_tensors`` when no value is saved: empty, or an error once freed.

    A non-data descriptor, so the instance attribute that ``save_for_backward`` sets
    takes precedence over it.
    """

    def __get__(self, ctx: Context | None, owner: type) -> Any:
        if ctx is None:
            return self
        if ctx._freed:
            raise RuntimeError(
                f"{ctx.fn.__name__}.backward: the graph's saved buffers were already freed by "
                "an earlier backward(); call backward(retain_graph=True) the first time to "
                "backpropagate through the same graph twice"
            )
        return ()


Context.saved_tensors = _NothingSaved()


_RAW = (np.ndarray, np.generic)  # what a raw backward's gradients are, on the CPU

# Every recorded gate gets a number that grows with time. A gate's inputs were all
# made before it, so running pending gates newest-first is a topological order.
_sequence = itertools.count()


def sequence_mark() -> int:
    """A number above every gate recorded so far and below every gate recorded later.

    Tools use two marks to tell which gates a call recorded (``Module.__call__`` does,
    so pictures can fold a module into one node).
    """
    return next(_sequence)


_new = object.__new__


class Function:
    """A gate: subclass it with a ``forward`` and a ``backward``, call it with ``apply``.

    ``forward(ctx, *inputs)`` receives raw arrays (and Python scalars) and returns an
    array, saving what the backward needs with ``ctx.save_for_backward``.
    ``backward(ctx, grad_out)`` returns one gradient per input (None where no gradient
    is needed; ``ctx.needs_input_grad[i]`` tells which are), each of that input's shape.
    It receives the upstream gradient and ``ctx.saved_tensors`` as raw arrays in an
    ordinary backward, and as Tensors under ``create_graph=True``; written with
    operators (and ``call(Gate, ...)`` for other gates) it serves both, and is then
    differentiable itself. This is the one way ops are defined; every built-in op is
    such a class.

    The lecture's sigmoid gate, whose local gradient is ``(1 - s) * s``:

    >>> import numpy as np
    >>> import chainrule as cr
    >>> class Sigmoid(cr.Function):
    ...     @staticmethod
    ...     def forward(ctx, t):
    ...         s = 1 / (1 + np.exp(-t))
    ...         ctx.save_for_backward(s)
    ...         return s
    ...     @staticmethod
    ...     def backward(ctx, grad_out):
    ...         (s,) = ctx.saved_tensors
    ...         return grad_out * (1 - s) * s
    >>> t = cr.Tensor(1.0, requires_grad=True)
    >>> Sigmoid.apply(t).backward()
    >>> round(t.grad.item(), 4)
    0.1966
    """

    @staticmethod
    def forward(ctx: Context, *inputs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run the gate on ``args`` (Tensors, arrays or Python numbers) and record it."""
        # The hot path of every op: one plain loop, no helper calls.
        datas = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                datas.append(a._data)
                needs.append(a.requires_grad)
            else:
                datas.append(a)
                needs.append(False)
        ctx = _new(Context)
        watch = _watch.get()
        if watch is not None:
            datas = watch.enter(cls, args, datas)
        try:
            out = cls.forward(ctx, *datas, **kwargs)
        except (ValueError, TypeError, IndexError) as e:
            mixed = devices.mismatch(cls.__name__, datas)  # CuPy and NumPy refuse each other's arrays
            if mixed is not None:
                raise ValueError(mixed) from e
            # re-raised as the plain built-in kind: NumPy's subclasses take other arguments
            kind = ValueError if isinstance(e, ValueError) else TypeError if isinstance(e, TypeError) else IndexError
            shapes = ", ".join(str(getattr(d, "shape", type(d).__name__)) for d in datas)
            raise kind(f"{cls.__name__}: {e} (input shapes: {shapes})") from e
        raw = out
        if type(out) is not np.ndarray:  # NumPy returns 0-d results as scalars
            if isinstance(out, np.generic):
                out = np.asarray(out)
            else:
                out = backend.asarray(out)
                if backend._cupy is not None and len(datas) > 1:
                    # a GPU's output: were its inputs all on that GPU? (CuPy may read another
                    # GPU's memory, or copy a host array in, without saying so)
                    devices.check_same(cls.__name__, out, datas)
        result = _new(Tensor)
        result._data = out
        result.grad = None
        result.name = None
        result._hooks = None
        if watch is not None:
            watch.leave(cls, datas, out)
        if not _grad_mode.get() or True not in needs:
            result._ctx = None
            result.requires_grad = False
            return result
        ctx.fn = cls
        ctx.seq = next(_sequence)
        ctx.inputs = args
        # a tuple, not the list: a tuple of bools leaves the garbage collector's watch at its
        # first pass, so a big graph's old generation holds one object less per node
        ctx.needs_input_grad = tuple(needs)
        # read as an attribute, never through ``ctx.__dict__``: Python (3.11+) keeps an
        # instance's attributes inline until something asks for the dict, which would then
        # be one more object per node for the garbage collector to walk on every pass
        saved = ctx.saved_tensors
        if saved:
            if raw is not out:
                for v in saved:
                    if v is raw:  # the output, saved as a NumPy scalar: save the array it became
                        ctx.saved_tensors = saved = tuple([out if v is raw else v for v in saved])
                        break
            ctx.clock = _clock[0]  # the version check: writes after this moment are refused below
            _protect_leaves(ctx, saved)
        if watch is not None:
            watch.recorded(ctx)
        result._ctx = ctx
        result.requires_grad = True
        return result


def _protect_leaves(ctx: Context, saved: tuple) -> None:
    """Make the arrays of the leaves this gate saved read-only while it holds them
    (``chainrule.autograd.inplace.protect``)."""
    found = None
    for a in ctx.inputs:  # plain loops: this runs for most recorded gates
        if isinstance(a, Tensor) and a._ctx is None:
            d = a._data
            for v in saved:
                if v is d:
                    if found is None:
                        found = [d]
                    else:
                        found.append(d)
                    break
    if found is not None:
        hold = inplace.protect(found)
        if hold is not None:
            ctx.hold = hold


def _check_writes(ctx: Context, output: Tensor) -> None:
    """Something was written in place since this gate's forward (the write clock moved):
    refuse to run its backward if it was one of the arrays the gate saved."""
    saved = ctx.saved_tensors
    for i, t in [*enumerate(ctx.inputs), (-1, output)]:
        if isinstance(t, Tensor) and getattr(t, "_written_at", 0) > ctx.clock and any(v is t._data for v in saved):
            what = "its output" if i < 0 else f"input {i}"
            name = f" {t.name!r}" if t.name else ""
            raise RuntimeError(
                f"backward: {ctx.fn.__name__} saved {what}{name} (shape {t.shape}) in the forward, and it "
                f"was then changed in place by {t._writer}, so its gradient would be wrong; run the "
                "forward again after the change, or make the change after backward()"
            )


def call(fn: type[Function], *args: Any, **kwargs: Any) -> Any:
    """Run gate ``fn`` inside a backward formula, in the backward's own currency.

    On Tensors (a graph-building backward) this is ``fn.apply``, recorded so the
    gradient is itself differentiable; on raw arrays it is just ``fn.forward``. Either
    way the math is the gate's one forward.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> from chainrule.ops.elementwise import Exp
    >>> call(Exp, np.zeros(2))
    array([1., 1.])
    >>> call(Exp, cr.Tensor([0.0], requires_grad=True)).op
    'Exp'
    """
    for a in args:
        if isinstance(a, Tensor):
            return fn.apply(*args, **kwargs)
    return fn.forward(Context(), *args, **kwargs)


# ---------------------------------------------------------------------------------
# The backward pass
# ---------------------------------------------------------------------------------


# Called as on_step(tensor, upstream, downstream) for each gate of a backward pass,
# before its buffers are freed: the hook for explainers (``chainrule.viz.tour``).

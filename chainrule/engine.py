"""The engine: ``Tensor``, the ``Function`` (gate) base, and reverse-mode backpropagation.

This module knows no particular op. Every op in ``chainrule.ops`` is a ``Function``
subclass with a ``forward`` on raw arrays and a ``backward`` formula; calling
``Op.apply(...)`` runs the forward and, when a gradient is wanted, records a node of
the computational graph (a ``Context``) on the output tensor.

``backward()`` is the lecture's recursive chain rule, run without recursion:

1. topological order: every recorded gate gets a sequence number when it runs; its
   inputs were made before it, so running the pending gates newest-first (a heap)
   visits a tensor only after every gate that used it (PyTorch orders its engine
   the same way). No recursion: graph depth is limited by memory alone;
2. reverse walk: each gate multiplies the gradient that arrived from above
   (upstream) by its local gradient (its ``backward``) and hands one gradient to each
   of its inputs (downstream);
3. a tensor used by several gates (a fork) receives the *sum* of their gradients
   before its own gate runs, which that order guarantees.

A backward formula is written once, with operators, the array methods Tensors share
with ndarrays (``sum``, ``reshape``, indexing) and ``call(Gate, ...)`` for anything
else, and runs in one of two currencies: on raw arrays (the usual case, no graph built,
no Tensor per intermediate gradient - this is what makes small graphs fast), or, with
``create_graph=True``, on Tensors whose ops record a graph of their own, so gradients
of gradients come for free.
"""

from __future__ import annotations

import contextvars
import functools
import heapq
import itertools
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import anomaly, backend, devices, hooks, inplace
from .inplace import _clock

# Modes, per thread: a ContextVar is per thread (and per asyncio task), and its get() is
# C-level, so reading it on every op costs about as little as reading a global did.
_grad_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule.grad_mode", default=True)


class Watcher:
    """Something that watches every gate of this thread: anomaly mode, or a trace.

    The engine calls these around each forward and backward when a watcher is set
    (``_watch``, per thread); with none set, each op pays one ``ContextVar.get``. The
    base class does nothing: a watcher overrides what it needs.
    """

    def enter(self, fn: type, args: tuple, datas: list) -> list:
        """Before gate ``fn``'s forward; returns the arrays the forward will see."""
        return datas

    def leave(self, fn: type, datas: list, out: Any) -> None:
        """After the forward produced ``out``."""

    def recorded(self, ctx: Context) -> None:
        """The gate was recorded as a node of the graph."""

    def backward_begin(self, ctx: Context, grad_out: Any) -> None:
        """Before the gate's backward runs on ``grad_out``."""

    def backward_end(self, ctx: Context, downstream: tuple) -> None:
        """After it handed on ``downstream``, one gradient per input."""

    def leaves(self) -> None:
        """The pass is done with the gates and writes the leaves' gradients."""

    def uses_state(self, owner: Any) -> None:
        """An optimizer's step or a module's call is about to use its state (None: it is done)."""

    def resets_grads(self, tensors: Any) -> None:
        """``zero_grad`` is about to set these tensors' ``.grad`` to None."""


_watch: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar("chainrule.watch", default=None)


def watcher() -> Watcher | None:
    """This thread's watcher (None outside anomaly mode and traces)."""
    return _watch.get()


def is_grad_enabled() -> bool:
    """Whether operations record a graph in this thread (False inside ``no_grad``)."""
    return _grad_mode.get()


class _Mode:
    """Context manager and decorator that sets one per-thread mode inside its block.

    ``also`` makes a context manager entered with the mode (anomaly mode's NumPy error
    state). One instance may be entered by several threads at once: what restores each
    thread's previous state is kept under that thread's id.
    """

    def __init__(self, var: contextvars.ContextVar[Any], value: Any, also: Callable[[], Any] | None = None) -> None:
        self.var, self.value, self.also = var, value, also
        self._undo: dict[int, list[tuple[contextvars.Token, Any]]] = {}

    def __enter__(self) -> None:
        extra = self.also() if self.also is not None else None
        if extra is not None:
            extra.__enter__()
        self._undo.setdefault(threading.get_ident(), []).append((self.var.set(self.value), extra))

    def __exit__(self, *exc: Any) -> None:
        stack = self._undo[threading.get_ident()]
        token, extra = stack.pop()
        if not stack:
            del self._undo[threading.get_ident()]
        self.var.reset(token)
        if extra is not None:
            extra.__exit__(*exc)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:  # safe to share: the undo stacks are per thread
                return fn(*args, **kwargs)

        return wrapper


def no_grad() -> _Mode:
    """Build no graph inside: as ``with chainrule.no_grad():`` or as ``@chainrule.no_grad()``.

    The mode is per thread: another thread keeps recording while this one is inside.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _Mode(_grad_mode, False)


def enable_grad() -> _Mode:
    """Record a graph again inside an outer ``no_grad``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> with cr.no_grad(), cr.enable_grad():
    ...     y = w * 2
    >>> y.requires_grad
    True
    """
    return _Mode(_grad_mode, True)


def detect_anomaly() -> _Mode:
    """Inside, the first NaN or Inf a gate produces is an error that says where it came from.

    The forward records where each gate was created (the file and line of your code);
    a forward output or a backward gradient that is not finite raises ``AnomalyError``
    naming the gate, its input shapes, the direction and that line (see
    ``chainrule.anomaly``). NumPy's own warnings for the same event are silenced inside,
    since the error says it. Off by default; per thread; costs nothing when off.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 0.0], requires_grad=True)
    >>> with cr.detect_anomaly():
    ...     y = x.log()
    Traceback (most recent call last):
    ...
    chainrule.anomaly.AnomalyError: Log (forward) produced -inf from inputs of shape (2,); the gate was created at <doctest chainrule.engine.detect_anomaly[2]>:2: y = x.log()
    """
    return _Mode(_watch, anomaly.WATCHER, also=anomaly.quiet_numpy)


# ---------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------

_FLOAT_KINDS = "fc"


class Tensor:
    """An array that remembers how it was computed, so gradients can flow back to it.

    Float data defaults to float32; pass ``dtype`` (e.g. ``"float64"``) to keep
    another precision. Integer and boolean data are allowed but cannot require grad.
    Operators, math methods and reductions are attached by ``chainrule.ops``.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True)
    >>> y = cr.Tensor(5.0, requires_grad=True)
    >>> z = cr.Tensor(-4.0, requires_grad=True)
    >>> f = (x + y) * z
    >>> f.backward()
    >>> f.item(), x.grad.item(), y.grad.item(), z.grad.item()
    (-12.0, -4.0, -4.0, 3.0)
    """

    # _written_at, _writer: the write clock at the last in-place write and who made it (``chainrule.inplace``);
    # set only by a write
    # _hooks: a leaf's gradient hooks (``chainrule.hooks``), None until one is registered; set on every
    # Tensor, since reading an unset slot with a default costs an exception per leaf of a backward
    __slots__ = ("_data", "grad", "requires_grad", "_ctx", "name", "_written_at", "_writer", "_hooks", "__weakref__")
    # Make ``ndarray * Tensor`` defer to ``Tensor.__rmul__`` instead of NumPy
    # broadcasting the Tensor as an object.
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data._data
        try:
            if dtype is not None:
                arr = backend.asarray(data, dtype=np.dtype(dtype))
            else:
                arr = backend.asarray(data)
                if arr.dtype.kind == "f" and arr.dtype != np.float32:
                    arr = arr.astype(np.float32)
        except ValueError as e:  # NumPy's words for a ragged list are about "inhomogeneous" shapes
            raise ValueError(f"Tensor: cannot make an array of {type(data).__name__} data ({e}); expected a number, "
                             "a nested list of numbers with one length per level, or an array") from None
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"Tensor: got {type(data).__name__} data (NumPy dtype {arr.dtype}); expected numbers: a "
                            "number, a nested list of numbers or a numeric array")
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"Tensor: requires_grad=True needs floating-point data, got dtype {arr.dtype}; "
                "expected float32/float64 (pass dtype='float32' to convert)"
            )
        self._data = arr
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Context | None = None
        self.name = name
        self._hooks: hooks.Hooks | None = None

    @classmethod
    def _make(cls, data: Any) -> Tensor:
        """Wrap an array as a constant, without the checks and conversions of ``__init__``."""
        t = object.__new__(cls)
        if type(data) is not np.ndarray:
            data = backend.asarray(data)  # NumPy returns 0-d results as scalars
        t._data = data
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t.name = None
        t._hooks = None
        return t

    # -- plain properties ---------------------------------------------------------
    @property
    def data(self) -> Any:
        """The values: a NumPy (or CuPy) array.

        Writing into it between a forward and its backward would make the gradient wrong,
        so such writes are caught (``chainrule.inplace`` lists which): a leaf's array is
        read-only while a recorded gate holds it, and ``t.data op= ...`` counts as an
        in-place change that the backward refuses.
        """
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if value is self._data:  # ``t.data += d`` and friends: the array was changed in place
            inplace.record_write(self, "an in-place operation on .data (t.data op= ...)")
        elif isinstance(value, Tensor):  # ``t.data = other``: PyTorch's way to swap the values
            value = value._data
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None) -> Any:
        """The shape (PyTorch's ``t.size()``), or the length of one dim (``t.size(0)``).
        ``numel()`` counts the entries.

        >>> import chainrule as cr
        >>> t = cr.Tensor([[1.0, 2.0, 3.0]])
        >>> t.size(), t.size(-1), t.numel()
        ((1, 3), 3, 3)
        """
        shape = self._data.shape
        if dim is None:
            return shape
        n = max(len(shape), 1)
        if isinstance(dim, bool) or not isinstance(dim, int) or not -n <= dim < n:
            raise IndexError(f"size: dim {dim!r} is out of range for a tensor with {len(shape)} dimension(s); "
                             f"expected an int in [{-n}, {n - 1}]")
        return shape[dim] if shape else 1

    @property
    def device(self) -> devices.Device:
        """Where the values live: ``device('cpu')`` for NumPy data, ``device('cuda:K')`` for CuPy
        data on GPU K (read off the array, so it cannot go stale). ``.to(device)`` moves."""
        return devices.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (no gate produced them)."""
        return self._ctx is None

    @property
    def op(self) -> str | None:
        """Name of the gate that produced this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.fn.__name__

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: tensor has shape {self.shape}; expected exactly one element")
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy from the GPU for CuPy data)."""
        return backend.to_numpy(self._data)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory, requires no grad)."""
        return Tensor._make(self._data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (same as ``t.grad = None``)."""
        watch = _watch.get()
        if watch is not None:
            watch.resets_grads([self])
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking of a leaf on (or off) in place; returns the tensor.

        >>> import chainrule as cr
        >>> cr.Tensor([1.0]).requires_grad_().requires_grad
        True
        """
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_: this tensor was computed by a gate, so its requires_grad follows "
                               "its inputs; expected a leaf (use .detach() for a copy cut from the graph)")
        if requires_grad and self._data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"requires_grad_: needs floating-point data, got dtype {self._data.dtype}; "
                            "expected float32/float64 (convert with .float() or .double() first)")
        if self._ctx is None:
            self.requires_grad = bool(requires_grad)
        return self

    def register_hook(self, fn: Callable[[Tensor], Any]) -> hooks.RemovableHandle:
        """Call ``fn(grad)`` with this tensor's gradient in every backward pass (``chainrule.hooks``).

        ``fn`` may return a replacement gradient; ``.remove()`` on the returned handle
        unregisters it.

        >>> import chainrule as cr
        >>> x = cr.Tensor(2.0, requires_grad=True)
        >>> _ = x.register_hook(lambda g: print("upstream", g.item()))
        >>> (x * 3).backward()
        upstream 3.0
        """
        return hooks.register_hook(self, fn)

    def register_post_accumulate_grad_hook(self, fn: Callable[[Tensor], None]) -> hooks.RemovableHandle:
        """Call ``fn(self)`` once this leaf's ``.grad`` holds a backward's gradient, during the
        pass (``chainrule.hooks``; distributed training's cue to send the gradient)."""
        return hooks.register_post_accumulate_grad_hook(self, fn)

    def retain_grad(self) -> None:
        """Keep this computed tensor's gradient in ``.grad`` after ``backward()`` (``chainrule.hooks``)."""
        hooks.retain_grad(self)

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers.

        >>> import chainrule as cr
        >>> cr.Tensor([[1.0, 2.0]]).tolist()
        [[1.0, 2.0]]
        """
        return backend.to_numpy(self._data).tolist()

    def dim(self) -> int:
        """The number of dims (``t.ndim``), PyTorch's ``t.dim()``."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of entries."""
        return int(self._data.size)

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; "
                "expected one element (use .numpy().any() or .all())"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._ctx is not None:
            extra += f", op={self._ctx.fn.__name__}"
        if self.name:
            extra += f", name={self.name!r}"
        if type(self._data) is not np.ndarray and self.device.type != "cpu":
            extra += f", device='{self.device}'"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    __hash__ = object.__hash__  # ``==`` is elementwise (an op), identity stays hashable

    # -- backpropagation ----------------------------------------------------------
    def backward(
        self,
        grad: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Apply the chain rule from this tensor back to every leaf that requires grad.

        Leaves' ``.grad`` *accumulate* across calls (as in PyTorch) until reset with
        ``zero_grad()`` or ``t.grad = None``. ``grad`` is the upstream gradient; it may
        be omitted only for a one-element output (then it is 1). The graph's saved
        buffers are freed afterwards unless ``retain_graph=True`` (the default when
        ``create_graph=True``, which also makes the gradients differentiable).
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input of the graph has "
                "requires_grad=True, or it was computed under no_grad)"
            )
        seed = _seed_gradient(self, grad, "backward")
        if retain_graph is None:
            retain_graph = create_graph
        _run_backward([self], [seed], retain_graph, create_graph, accumulate=True)


def as_tensor(x: Any) -> Tensor:
    """``x`` as an operand of an op: Tensors as they are, arrays wrapped *keeping their
    dtype* (so float64 NumPy data mixed into float64 math stays float64, as NumPy's
    promotion would have it), anything else through ``Tensor()`` and its float32 default.

    >>> as_tensor([1.0]).dtype, as_tensor(np.ones(1)).dtype
    (dtype('float32'), dtype('float64'))
    """
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor._make(x)
    return Tensor(x)


def _seed_gradient(out: Tensor, grad: Any, who: str) -> Any:
    """The upstream gradient that starts a backward pass, checked against ``out``: the
    caller's Tensor as it is, anything else as an array."""
    if grad is None:
        if out._data.size != 1:
            raise ValueError(
                f"{who}: output has shape {out.shape}; an implicit gradient exists only for a "
                "one-element output - pass grad= with the output's shape"
            )
        data = out._data
        xp = np if type(data) is np.ndarray else backend.array_module(data)
        one = xp.asarray(1, dtype=data.dtype)  # C-level, unlike xp.ones
        return one if data.ndim == 0 else one.reshape(data.shape)
    g = grad if isinstance(grad, Tensor) else backend.asarray(grad, out.dtype)
    if type(out._data) is not np.ndarray or type(getattr(g, "_data", g)) is not np.ndarray:
        where, want = devices.device_of(getattr(g, "_data", g)), devices.device_of(out._data)
        if where != want:
            raise ValueError(f"{who}: the gradient is on {where} but the output is on {want}; "
                             "expected the same device (move it with .to(device))")
    if g.shape != out.shape:
        raise ValueError(
            f"{who}: gradient has shape {g.shape} but the output has shape {out.shape}; "
            "expected the same shape"
        )
    return g


# ---------------------------------------------------------------------------------
# Function (a gate) and its Context (a node of the graph)
# ---------------------------------------------------------------------------------

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
    hooks: hooks.Hooks | None = None  # gradient hooks on the gate's output (``chainrule.hooks``)
    site: str | None = None  # where the gate was created, under detect_anomaly
    fn: type
    seq: int
    inputs: tuple
    needs_input_grad: tuple[bool, ...]
    hold: Any = None  # keeps the saved leaves' arrays read-only (``chainrule.inplace.protect``)

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
    (``chainrule.inplace.protect``)."""
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
# before its buffers are freed: the hook for explainers (``chainrule.tour``).
StepHook = Callable[[Tensor, Any, tuple], None]


def _run_backward(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    accumulate: bool,
    wanted: Sequence[Tensor] = (),
    on_step: StepHook | None = None,
) -> dict[int, Tensor]:
    """Backpropagate ``seeds`` from ``roots``; return the gradients of ``wanted``.

    With ``accumulate`` the gradients of leaves are added into their ``.grad``.
    """
    # Without create_graph the pass runs on raw arrays (no Tensor per gradient, no op
    # machinery); with it, on Tensors whose ops record the graph of the gradient.
    raw = not create_graph
    grads: dict[int, Any] = {}  # id(tensor) -> the gradient summed so far
    pending: list[tuple[int, Tensor]] = []  # heap of gates to run, newest first
    leaves: list[Tensor] = []
    wanted_ids = set(map(id, wanted)) if wanted else None
    found: dict[int, Any] = {}
    arrivals = []
    owned = set()  # arrays a leaf's .grad may not take as its own
    summed: set[int] = set()  # tensors whose gradient is already a sum this pass made
    for r, s in zip(roots, seeds):
        if raw:
            s = s._data if isinstance(s, Tensor) else s
            owned.add(id(s))
        elif not isinstance(s, Tensor):
            s = Tensor._make(s)
        arrivals.append((r, s))
    push, pop = heapq.heappush, heapq.heappop
    # leaves with post-accumulate hooks: how many gradients each will still receive
    ready = hooks.ready_counts(roots) if accumulate and hooks.post_hooks_live() else None
    early: set[int] = set()  # leaves already written by the pass (their hooks fired)

    mode = _grad_mode.set(create_graph)  # this thread's; a backward's own ops record only for create_graph
    watch = _watch.get()
    try:
        while True:
            # deliver gradients; a tensor seen for the first time joins the queue
            for a, ga in arrivals:
                key = id(a)
                if key in grads:
                    # a fork: the gradients of all uses add up. The first sum is a fresh array
                    # of ours, so later ones can go into it in place (a weight used at every
                    # step of a sequence would otherwise make a new array per step)
                    total = grads[key]
                    if raw and key in summed and total.dtype == ga.dtype:
                        total += ga
                        grads[key] = total  # a 0-d sum is a NumPy scalar: += rebinds it
                    else:
                        grads[key] = total + ga
                        summed.add(key)
                else:
                    grads[key] = ga
                    if a._ctx is None:
                        leaves.append(a)
                    else:
                        push(pending, (-a._ctx.seq, a))
                if ready is not None and key in ready:
                    ready[key] -= 1
                    if ready[key] == 0:  # no gate left to run adds to this leaf: write it now
                        _store(a, hooks.run(a._hooks, grads[key], raw, a._data.shape), raw, owned, copy=True)
                        early.add(key)
                        hooks.run_post(a._hooks, a)
            if not pending:
                break
            t = pop(pending)[1]
            g = grads.pop(id(t))
            ctx = t._ctx
            if ctx._freed:
                raise RuntimeError(
                    f"backward: the graph through {ctx.fn.__name__} was already freed by an "
                    "earlier backward(); pass retain_graph=True to the first call to "
                    "backpropagate through it twice"
                )
            if ctx.hooks is not None:  # t's gradient is complete here: its hooks see it
                g = hooks.run(ctx.hooks, g, raw, t._data.shape)
            if wanted_ids and id(t) in wanted_ids:
                found[id(t)] = g
            if ctx.clock < _clock[0]:  # an in-place write happened since this gate's forward
                _check_writes(ctx, t)
            saved = None if raw else ctx.saved_tensors
            if watch is not None:
                watch.backward_begin(ctx, g)
            if not saved:
                downstream = ctx.fn.backward(ctx, g)
            else:
                # a graph-building backward sees its saved values as tensors of the graph
                ctx.saved_tensors = tuple([ctx._in_graph(v, t) for v in saved])
                try:
                    downstream = ctx.fn.backward(ctx, g)
                finally:
                    ctx.saved_tensors = saved
            if type(downstream) is not tuple:
                downstream = (downstream,)
            if len(downstream) != len(ctx.inputs):
                _check_count(ctx, downstream)
            if watch is not None:
                watch.backward_end(ctx, downstream)
            arrivals = []
            for a, needed, ga in zip(ctx.inputs, ctx.needs_input_grad, downstream):
                if needed and ga is not None:
                    if (not isinstance(ga, _RAW) if raw else type(ga) is not Tensor) or ga.shape != a._data.shape:
                        ga = _check_gradient(ctx, a, ga, raw)
                    arrivals.append((a, ga))
            if on_step is not None:
                on_step(t, g, downstream)
            if not retain_graph:
                if ctx.saved_tensors:  # () from the class when the gate saved nothing
                    del ctx.saved_tensors
                if ctx.hold is not None:
                    del ctx.hold  # the leaves' arrays become writable again
                ctx._freed = True
        if watch is not None:
            watch.leaves()
        for leaf in leaves:
            if early and id(leaf) in early:
                continue
            g = grads[id(leaf)]
            leaf_hooks = leaf._hooks
            if leaf_hooks is not None:
                g = hooks.run(leaf_hooks, g, raw, leaf._data.shape)
            if wanted_ids and id(leaf) in wanted_ids:
                found[id(leaf)] = g
            if accumulate:
                _store(leaf, g, raw, owned)
                if leaf_hooks is not None and leaf_hooks.post:  # its count never reached zero: a gate that
                    hooks.run_post(leaf_hooks, leaf)  # used it handed it None; its .grad is final now all the same
    finally:
        _grad_mode.reset(mode)
    if raw and found:  # hand back Tensors of the inputs' dtypes, as leaves' .grad are
        found = {id(w): Tensor._make(backend.asarray(found[id(w)]).astype(w.dtype, copy=False))
                 for w in wanted if id(w) in found}
    return found


def _store(leaf: Tensor, g: Any, raw: bool, owned: set[int], copy: bool = False) -> None:
    """Add a pass's gradient ``g`` into ``leaf.grad``. ``copy``: ``g`` may still be in use by the
    pass (a leaf written before the pass ended), so ``.grad`` gets memory of its own."""
    if not raw:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    elif leaf.grad is not None:
        _accumulate(leaf, g)
    else:
        # .grad must own writable memory of the leaf's dtype: ``g`` may share its
        # memory with another leaf's (an add gate hands the same gradient to both
        # inputs; a reshape hands on a view), with the seed, be a read-only
        # broadcast view, or a NumPy scalar. Memory is tracked by its root array,
        # so a fresh temporary (or a view of one) is taken without a copy.
        if isinstance(g, np.generic):
            g = np.asarray(g)  # a fresh 0-d array of its own
        root = g
        if g.base is None:  # the common case: a fresh array
            shared = copy or id(g) in owned
        else:
            while root.base is not None:
                root = root.base
            shared = copy or id(root) in owned or not getattr(g.flags, "writeable", True)
        if shared:
            g = root = g.copy()
        if g.dtype != leaf._data.dtype:
            g = root = g.astype(leaf._data.dtype)
        owned.add(id(root))
        leaf.grad = Tensor._make(g)


def _accumulate(leaf: Tensor, g: Any) -> None:
    """leaf.grad += g. In place when nothing but the leaf holds its gradient (as PyTorch's
    AccumulateGrad decides): a large weight's gradient then costs no second copy. Someone
    holding the old ``.grad`` (or its array) keeps it unchanged: the sum is a new array."""
    old = leaf.grad
    data = old._data
    # references: leaf.grad, ``old`` and getrefcount's own argument; the array: old._data, ``data``, argument
    if (type(data) is np.ndarray and data.flags.writeable and data.dtype == g.dtype and data.shape == g.shape
            and sys.getrefcount(old) <= 3 and sys.getrefcount(data) <= 3):  # fmt: skip
        data += g
    else:
        leaf.grad = Tensor._make(data + g)


def _check_count(ctx: Context, downstream: tuple) -> None:
    if len(downstream) != len(ctx.inputs):
        raise ValueError(
            f"{ctx.fn.__name__}.backward returned {len(downstream)} gradient(s) for "
            f"{len(ctx.inputs)} input(s); expected one per input (None where an input needs "
            "no gradient)"
        )


def _check_gradient(ctx: Context, a: Tensor, ga: Any, raw: bool) -> Any:
    """A gate's gradient for input ``a`` in the pass's currency (raw array or Tensor),
    or an error naming the gate."""
    if raw:
        ga = backend.asarray(ga._data if isinstance(ga, Tensor) else ga)
    elif not isinstance(ga, Tensor):
        ga = Tensor._make(backend.asarray(ga))
    if ga.shape != a._data.shape:
        i = next(i for i, x in enumerate(ctx.inputs) if x is a)
        raise ValueError(
            f"{ctx.fn.__name__}.backward returned a gradient of shape {ga.shape} for input {i}, "
            f"which has shape {a.shape}; expected the input's shape"
        )
    return ga


def _call_backward(ctx: Context, g: Any) -> tuple:
    """Run one gate's backward alone, checked: one gradient per input that needs one,
    None for the others (explainers use it for local gradients). ``g`` is a raw array
    when grad mode is off, a Tensor when it is on."""
    out = ctx.fn.backward(ctx, g)
    if type(out) is not tuple:
        out = (out,)
    _check_count(ctx, out)
    raw = not _grad_mode.get()
    return tuple(
        _check_gradient(ctx, a, ga, raw) if needed and ga is not None else None
        for a, needed, ga in zip(ctx.inputs, ctx.needs_input_grad, out)
    )


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    With ``create_graph=True`` the returned gradients are themselves differentiable,
    so gradients of gradients follow.

    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True)
    >>> (dx,) = cr.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = cr.grad(dx, x)
    >>> dx.item(), d2x.item()
    (27.0, 18.0)
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs)
    if len(grad_outputs) != len(outs):
        raise ValueError(
            f"grad: got {len(grad_outputs)} grad_outputs for {len(outs)} outputs; expected one each"
        )
    for i, o in enumerate(outs):
        if not o.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: input {i} is not a Tensor that requires grad")
    seeds = [_seed_gradient(o, g, "grad") for o, g in zip(outs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    found = _run_backward(outs, seeds, retain_graph, create_graph, accumulate=False, wanted=ins)
    result = []
    for i, t in enumerate(ins):
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise ValueError(
                f"grad: input {i} (shape {t.shape}) is not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(g)
    return tuple(result)

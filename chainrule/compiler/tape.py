"""Tracing: run the ordinary code once on arrays that write down every operation.

A ``Traced`` array is a NumPy array (it holds the real values, so every branch of the
traced code runs as in eager mode) whose operations - ufuncs and NumPy functions through
NumPy's ``__array_ufunc__``/``__array_function__`` protocols, and the array methods the ops
use - are recorded on a ``Tape`` as one ``Op`` each: a flat, three-address list like
JAX's jaxpr. Nothing about any op is written twice: the tape is what the gates' own
forwards and backwards did.

Where tracing cannot see, it says so instead of recording a wrong program: turning a
traced value into a Python number (``bool``, ``float``, ``.item()``: control flow that
depends on values) raises ``TraceError`` naming the user's line; an array that reached
the code by a path the tape did not see (a view made outside it) is refused when used.
"""

from __future__ import annotations

import contextvars
import operator
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import anomaly
from ..autograd.grad_mode import _watch


class TraceError(RuntimeError):
    """The traced function did something a replay could not repeat."""


# The tape being recorded in this thread (creation functions such as zeros need it).
_active: contextvars.ContextVar[Tape | None] = contextvars.ContextVar("chainrule.tape", default=None)


@dataclass(frozen=True)
class Ref:
    """An operand that is a value of the tape (slot ``n``)."""

    n: int


@dataclass(frozen=True)
class Const:
    """An operand that is an array from outside the traced code, used as it is (slot-free)."""

    k: int


@dataclass
class Op:
    """One array operation: ``outs = what(*args, **kwargs)``.

    ``kind`` is "ufunc" (``what`` a ufunc, ``method`` its method: __call__, reduce, at...),
    "func" (a NumPy function), "method"/"attr" (``what`` a method or attribute name on
    args[0]), "getitem"/"setitem". ``writes`` are the slots it changes in place;
    ``group`` is the index of the gate section it ran in.
    """

    kind: str
    what: Any
    args: tuple
    kwargs: dict
    outs: tuple[int, ...]
    writes: tuple[int, ...] = ()
    method: str = "__call__"
    group: int = 0
    tuple_result: bool = False  # what returned a tuple or list of arrays (the outs), even of one


@dataclass
class Group:
    """A stretch of the tape: a gate's forward or backward, a fork's sums, an optimizer step."""

    kind: str  # "forward", "backward", "fork", "leaves", "optimizer", "code"
    name: str = ""
    gate: int = -1  # the gate's number (forward and backward of one gate share it)
    upstream: int | None = None  # backward: the slot of the gradient that arrived
    downstream: list = field(default_factory=list)  # backward: (input index, slot, ' at <index>' of a slice's)
    inputs: list = field(default_factory=list)  # forward: operand slots
    output: int | None = None  # forward: the output slot


class Layout:
    """What the code writer and the fuser read of a value once it is made: its shape, dtype and
    strides, not its memory. The tape keeps these, not the arrays, so a value the traced code
    drops is freed as in eager mode (a trace's memory is then the eager step's, not the sum of
    every value the step ever made)."""

    __slots__ = ("dtype", "shape", "strides")

    def __init__(self, a: np.ndarray) -> None:
        self.shape, self.dtype, self.strides = a.shape, a.dtype, a.strides

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _raw(x: np.ndarray) -> np.ndarray:
    return np.ndarray.view(x, np.ndarray)


class Traced(np.ndarray):
    """A NumPy array whose operations are recorded on a tape (see the module docstring)."""

    _tape: Tape | None = None  # set by the tape on arrays it made; None: made where it could not see
    _slot: int | None = None

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if _foreign(inputs) or _foreign(kwargs.get("out", ())):
            return NotImplemented  # NumPy's protocol: a type of its own (a chainrule Tensor) handles it
        tape = _tape_of((inputs, kwargs))
        return tape.record("ufunc", ufunc, inputs, kwargs, method=method)

    def __array_function__(self, func: Any, types: Any, args: tuple, kwargs: dict) -> Any:
        tape = _tape_of((args, kwargs))
        if func in _STATIC_FUNCTIONS:  # answers from shapes and dtypes alone
            return func(*tape.lower(args)[0], **tape.lower(kwargs)[0])
        return tape.record("func", func, args, kwargs)

    # -- value-dependent Python: refused with the user's line ------------------------------
    def _refuse(self, what: str) -> Any:
        raise TraceError(
            f"compile: {what} of a traced array (shape {self.shape}) turns a value of the step into "
            "a Python value; a replay would reuse the value seen while tracing. Keep the step free of "
            "control flow that depends on values (compute it outside, or with array ops such as "
            f"np.where); at {anomaly.user_site()}"
        )

    def __bool__(self) -> bool:
        return self._refuse("bool()")

    def __float__(self) -> float:
        return self._refuse("float()")

    def __int__(self) -> int:
        return self._refuse("int()")

    def __index__(self) -> int:
        return self._refuse("using as an index")

    def __complex__(self) -> complex:
        return self._refuse("complex()")

    def item(self, *args: Any) -> Any:
        return self._refuse(".item()")

    def tolist(self) -> Any:
        return self._refuse(".tolist()")

    def tobytes(self, *args: Any, **kwargs: Any) -> bytes:
        return self._refuse(".tobytes()")

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index: Any) -> Any:
        return _tape_of((self, index)).record("getitem", None, (self, index), {})

    def __setitem__(self, index: Any, value: Any) -> None:
        _tape_of((self, index, value)).record("setitem", None, (self, index, value), {})

    def __reduce__(self) -> Any:
        return self._refuse("pickling")

    def __copy__(self) -> Any:
        return self.copy()

    def __deepcopy__(self, memo: Any) -> Any:
        return self.copy()

    @property
    def T(self) -> Any:  # noqa: N802 - NumPy's name
        return _tape_of(self).record("attr", "T", (self,), {})

    @property
    def real(self) -> Any:
        return _tape_of(self).record("attr", "real", (self,), {})


def _method(name: str) -> Any:
    def recorded(self: Traced, *args: Any, **kwargs: Any) -> Any:
        return _tape_of((self, args, kwargs)).record("method", name, (self, *args), kwargs)

    recorded.__name__ = name
    return recorded


# The array methods ops and optimizers use; each is recorded as itself (``a.sum(axis=0)``)
for _name in ("reshape", "transpose", "swapaxes", "astype", "copy", "sum", "mean", "max", "min", "prod",
              "argmax", "argmin", "any", "all", "ravel", "flatten", "squeeze", "fill", "dot", "clip",
              "cumsum", "var", "std", "repeat", "take", "round", "conj", "view", "nonzero", "sort",
              "argsort", "trace", "diagonal", "put", "compress", "choose", "searchsorted", "cumprod",
              "ptp", "partition", "argpartition", "byteswap", "conjugate", "setflags", "resize"):
    setattr(Traced, _name, _method(_name))

# NumPy functions that look at shapes and dtypes only: run, not recorded
_STATIC_FUNCTIONS = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory,
                     np.iscomplexobj, np.isrealobj, np.can_cast, np.min_scalar_type}


def check_values(check: Any, *arrays: Any) -> None:
    """Run ``check(*arrays)``, which raises on values it refuses; in a trace, every replay
    runs it again on that call's arrays (so a compiled step validates as the eager one does).

    >>> import numpy as np
    >>> def nonnegative(a):
    ...     if a.min() < 0:
    ...         raise ValueError("negative")
    >>> check_values(nonnegative, np.array([1, 2]))
    """
    if not any(isinstance(a, Traced) for a in arrays):
        check(*arrays)
        return
    _tape_of(arrays).record("check", check, arrays, {})


def recorded_call(fn: Any, *args: Any) -> Any:
    """``fn(*args)``, and in a trace an operation of the step: each replay calls ``fn`` again
    (a random draw is made anew at every call instead of frozen at tracing time)."""
    tape = _active.get()
    if tape is None:
        return fn(*args)
    return tape.record("call", fn, args, {})


def _unwatched(fn: Any, args: tuple, kwargs: dict) -> Any:
    """``fn(*args, **kwargs)`` on raw arrays with no trace and no watcher: a recorded call is one
    operation of the tape, so what it does inside (a product, a compiled loop that ``replayed``
    would record) is not recorded again; each replay runs all of it."""
    watch, tape = _watch.set(None), _active.set(None)
    try:
        return fn(*args, **kwargs)
    finally:
        _active.reset(tape)
        _watch.reset(watch)


def _tape_of(obj: Any) -> Tape:
    """The tape of the traced arrays inside ``obj`` (nested tuples, lists, dicts)."""
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, Traced):
            if x._tape is not None:
                return x._tape
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, dict):
            stack.extend(x.values())
    tape = _active.get()
    if tape is None:
        raise TraceError("compile: a traced array was used outside its trace (keep no arrays of a step for later)")
    return tape


class Tape:
    """The record of one trace: values by slot, operations, constants, gate sections."""

    def __init__(self) -> None:
        self.values: list[Layout] = []  # slot -> the layout of the array it held while tracing
        self.root: list[int] = []  # slot -> the slot whose memory it is a view of (itself if none)
        self.producer: list[int] = []  # slot -> index of the op that made it (-1: an input)
        self.ops: list[Op] = []
        self.consts: list[Any] = []
        self._const_ids: dict[int, int] = {}
        # id of a root buffer -> (a slot that holds it, a weak reference to the buffer): an id is
        # only an array's while it lives, so an entry counts only if its buffer is that array
        self._memory: dict[int, tuple[int, weakref.ref]] = {}
        self.groups: list[Group] = [Group("code")]
        self.made: list[weakref.ref] = []  # the traced arrays made, to find values a step kept
        self.group = 0

    # -- slots -------------------------------------------------------------------------
    def new_slot(self, raw: np.ndarray, producer: int, root: int | None = None) -> Traced:
        n = len(self.values)
        self.values.append(Layout(raw))
        self.root.append(n if root is None else root)
        self.producer.append(producer)
        base = raw
        while isinstance(base.base, np.ndarray):
            base = base.base
        if self._slot_of(base) is None:
            self._memory[id(base)] = (n, weakref.ref(base))
        t = raw.view(Traced)
        t._tape, t._slot = self, n
        self.made.append(weakref.ref(t))
        return t

    def _slot_of(self, base: np.ndarray) -> int | None:
        """The slot whose memory ``base`` (a root buffer) is, if a traced value's."""
        entry = self._memory.get(id(base))
        return entry[0] if entry is not None and entry[1]() is base else None

    def slot_or_const(self, x: Any) -> int:
        """``x``'s slot, or for an array from outside the trace ``-1 - k``, its constant number."""
        sym = self.lower(x)[1]
        return sym.n if isinstance(sym, Ref) else -1 - sym.k

    def section(self, kind: str, name: str = "", gate: int = -1) -> Group:
        """Start a new stretch of the tape (what the following ops belong to)."""
        g = Group(kind, name, gate)
        self.groups.append(g)
        self.group = len(self.groups) - 1
        return g

    # -- operands ----------------------------------------------------------------------
    def lower(self, obj: Any) -> tuple[Any, Any]:
        """(the raw object to compute with, its symbolic form for the tape)."""
        if isinstance(obj, Traced):
            if obj._tape is not self or obj._slot is None:
                raise TraceError(
                    f"compile: an array of shape {obj.shape} was made by an operation the tracer could not "
                    "see (a NumPy path outside __array_ufunc__/__array_function__ and the recorded array "
                    f"methods); at {anomaly.user_site()}"
                )
            return _raw(obj), Ref(obj._slot)
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if base is not obj and self._slot_of(base) is not None:
                raise TraceError(
                    f"compile: an array of shape {obj.shape} is an untraced view of a traced value (made by "
                    f"np.asarray or .view(np.ndarray) inside the step?); at {anomaly.user_site()}"
                )
            k = self._const_ids.get(id(obj))
            if k is None:
                k = self._const_ids[id(obj)] = len(self.consts)
                self.consts.append(obj)
            return obj, Const(k)
        if isinstance(obj, tuple):
            pairs = [self.lower(x) for x in obj]
            return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
        if isinstance(obj, list):
            pairs = [self.lower(x) for x in obj]
            return [p[0] for p in pairs], [p[1] for p in pairs]
        if isinstance(obj, dict):
            pairs = {k: self.lower(v) for k, v in obj.items()}
            return {k: p[0] for k, p in pairs.items()}, {k: p[1] for k, p in pairs.items()}
        return obj, obj

    # -- recording ---------------------------------------------------------------------
    def record(self, kind: str, what: Any, args: tuple, kwargs: dict, method: str = "__call__") -> Any:
        raw_args, sym_args = self.lower(tuple(args))
        raw_kwargs, sym_kwargs = self.lower(dict(kwargs))
        writes: list[int] = []
        out_given = kwargs.get("out")
        if kind == "ufunc":
            fn = what if method == "__call__" else getattr(what, method)
            if method == "at":
                writes.append(self._target(args[0]))
            if out_given is not None:
                outs = out_given if isinstance(out_given, tuple) else (out_given,)
                writes.extend(self._target(o) for o in outs)
            result = fn(*raw_args, **raw_kwargs)
        elif kind == "func":
            if out_given is not None:
                writes.append(self._target(out_given))
            result = what(*raw_args, **raw_kwargs)
        elif kind == "method":
            if what in ("fill", "put", "sort", "partition", "setflags", "resize"):
                writes.append(self._target(args[0]))
            result = getattr(raw_args[0], what)(*raw_args[1:], **raw_kwargs)
        elif kind == "attr":
            result = getattr(raw_args[0], what)
        elif kind == "getitem":
            result = operator.getitem(raw_args[0], raw_args[1])
        elif kind == "setitem":
            writes.append(self._target(args[0]))
            operator.setitem(raw_args[0], raw_args[1], raw_args[2])
            result = None
        elif kind == "check":
            what(*raw_args)
            result = None
        else:  # "call": a creation function (zeros, arange, ...) or a function ``replayed`` records
            result = _unwatched(what, raw_args, raw_kwargs)
        index = len(self.ops)
        op = Op(kind, what, sym_args, sym_kwargs, (), tuple(writes), method, self.group)
        self.ops.append(op)
        if writes and out_given is not None:
            op.outs = ()  # an out= call returns its out arrays (a ufunc gets them as a tuple)
            if isinstance(out_given, tuple) and len(out_given) == 1:
                return out_given[0]
            return out_given
        if result is None:
            return None
        if isinstance(result, (tuple, list)):  # np.split gives a list, np.nonzero a tuple: each array traced
            wrapped = [self._wrap(r, index, raw_args) for r in result]
            op.outs, op.tuple_result = tuple(w._slot for w in wrapped), True
            return wrapped if isinstance(result, list) else tuple(wrapped)
        if not isinstance(result, (np.ndarray, np.generic)) and kind != "call":
            if isinstance(result, (bool, int, float, complex)):
                raise TraceError(
                    f"compile: {getattr(what, '__name__', what)} returned a Python value computed from traced "
                    f"arrays; a replay could not repeat it; at {anomaly.user_site()}"
                )
            return result
        w = self._wrap(result, index, raw_args)
        op.outs = (w._slot,)
        return w

    def _target(self, x: Any) -> int:
        """The slot an in-place write goes into (an outside array becomes a constant written in place)."""
        if isinstance(x, Traced):
            return self.lower(x)[1].n
        sym = self.lower(x)[1]
        return -1 - sym.k  # constants written in place: negative numbers

    def _wrap(self, r: Any, index: int, raw_args: tuple) -> Traced:
        r = np.asarray(r)
        root = None
        if r.base is not None:  # a view: of which slot's memory?
            for a in _arrays(raw_args):
                if np.may_share_memory(r, a):
                    base = a
                    while isinstance(base.base, np.ndarray):
                        base = base.base
                    n = self._slot_of(base)
                    if n is not None:
                        root = self.root[n]
                        break
        return self.new_slot(r, index, root)


def _foreign(objs: Any) -> bool:
    """Whether an operand is of a type with its own ``__array_ufunc__`` that is no NumPy array (a
    chainrule Tensor: ``traced * t`` must become the Tensor's op, which then records its arrays)."""
    objs = objs if isinstance(objs, tuple) else (objs,)
    return any(not isinstance(x, (np.ndarray, np.generic)) and getattr(type(x), "__array_ufunc__", None) is not None
               for x in objs)  # fmt: skip


def _arrays(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        yield obj
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            yield from _arrays(x)


class _Namespace:
    """What ``array_module`` answers for a traced array: NumPy, with the creation
    functions recorded (``zeros`` inside a step is made anew at each replay, and writes
    into it are seen)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def _create(fn: Any, *args: Any, **kwargs: Any) -> Any:
        tape = _active.get()
        if tape is None:
            return fn(*args, **kwargs)
        return tape.record("call", fn, args, kwargs)

    def zeros(self, *args: Any, **kwargs: Any) -> Any:
        return self._create(np.zeros, *args, **kwargs)

    def ones(self, *args: Any, **kwargs: Any) -> Any:
        return self._create(np.ones, *args, **kwargs)

    def empty(self, *args: Any, **kwargs: Any) -> Any:
        return self._create(np.empty, *args, **kwargs)

    def full(self, *args: Any, **kwargs: Any) -> Any:
        if isinstance(args[1] if len(args) > 1 else kwargs.get("fill_value"), Traced):
            return np.full(*args, **kwargs)  # dispatches through __array_function__
        return self._create(np.full, *args, **kwargs)

    def arange(self, *args: Any, **kwargs: Any) -> Any:
        return self._create(np.arange, *args, **kwargs)

    def eye(self, *args: Any, **kwargs: Any) -> Any:
        return self._create(np.eye, *args, **kwargs)

    def asarray(self, x: Any, dtype: Any = None, **kwargs: Any) -> Any:
        if isinstance(x, Traced):
            return x if dtype is None or x.dtype == np.dtype(dtype) else x.astype(dtype)
        return np.asarray(_untraced(x), dtype=dtype, **kwargs)

    def array(self, x: Any, dtype: Any = None, copy: bool = True, **kwargs: Any) -> Any:
        if isinstance(x, Traced):
            return x.astype(x.dtype if dtype is None else dtype, copy=True)
        return np.array(_untraced(x), dtype=dtype, copy=copy, **kwargs)

    def ascontiguousarray(self, x: Any, dtype: Any = None) -> Any:
        # like asarray and array, NumPy's C function does not dispatch on its argument
        if isinstance(x, Traced):
            return _tape_of(x).record("func", np.ascontiguousarray, (x,), {} if dtype is None else {"dtype": dtype})
        return np.ascontiguousarray(_untraced(x), dtype=dtype)

    @property
    def lib(self) -> Any:
        return _LIB


def _untraced(x: Any) -> Any:
    """``x``, refused if it is a plain view of a traced array's memory (a copy made from it
    would be a value frozen at tracing time)."""
    tape = _active.get()
    if tape is not None and isinstance(x, np.ndarray) and not isinstance(x, Traced):
        tape.lower(x)
    return x


def _as_strided(x: Any, *args: Any, **kwargs: Any) -> Any:
    if isinstance(x, Traced):
        return _tape_of(x).record("func", np.lib.stride_tricks.as_strided, (x, *args), kwargs)
    return np.lib.stride_tricks.as_strided(x, *args, **kwargs)


class _Lib:
    """``np.lib`` for traced arrays: ``as_strided`` (no ``__array_function__`` of its own) recorded."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np.lib, name)

    @property
    def stride_tricks(self) -> Any:
        return self

    as_strided = staticmethod(_as_strided)
    sliding_window_view = staticmethod(np.lib.stride_tricks.sliding_window_view)


_LIB = _Lib()


NAMESPACE = _Namespace()
Traced._array_namespace = NAMESPACE

"""``compile(fn)``: trace a step once per input signature, then replay its source.

The first call with given input shapes and dtypes runs ``fn`` with its arrays traced
(``tape.Traced``) and the engine watched (``_Watch``: which gate each operation belongs
to, and which state the step reads). The state - parameters and their ``.grad``, an
optimizer's buffers and step counts, a module's buffers - is bound by where it lives, so a
replay reads it afresh; what the step changed is written back the same way. Later calls
check the guards (the state's shapes, which gradients exist, hyperparameters, training
mode) and run the generated function: no Tensor, no Context, no heap. A step on a GPU
(its arguments CuPy arrays) is traced on host copies (``_Watch.device``, ``copies``): what
the trace writes goes back to the device at its end, its constants are copied over, and
the replay runs the same text with ``np`` bound to CuPy.
"""

from __future__ import annotations

import collections
import functools
import gc
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import devices
from ..autograd import grad_mode
from ..autograd.grad_mode import Watcher, _watch
from ..autograd.partial import Partial
from ..autograd.tensor import Tensor
from ..backend import _cupy_module, array_module, is_array, to_numpy
from ..devices import device_of
from ..ops import kernels as cpu_loops
from . import codegen
from . import fuse as _fuse
from .tape import Tape, Traced, TraceError, _active, _raw, check_values, recorded_call

_log = logging.getLogger("chainrule.compile")


class _Watch(Watcher):
    """The engine's watcher during a trace: sections of the tape per gate, and the state."""

    def __init__(self, tape: Tape, outer: Watcher | None) -> None:
        self.tape, self.outer = tape, outer
        # a slice's gradient reaches the trace as the Partial the walk merges (one zero fill for
        # split's q, k and v, not three and two sums); an outer watcher (anomaly mode) sees it whole
        self.sees_partials = outer is None
        self.traces = True
        self.gates = 0
        self.names: dict[int, str] = {}  # id(tensor) -> its name in the source
        self.tensors: dict[int, list] = {}  # id(tensor) -> [tensor, array, view, grad tensor, grad array, grad view]
        self.inputs: list[tuple[str, int, Callable[[], Any]]] = []  # (name, slot, read it at replay)
        self.guards: list[tuple[Callable[[], Any], Any, str]] = []  # (read, value it had, what it is)
        self.stores: list[tuple[Any, Any, Any, Any, str]] = []  # (owner, key, original, view, kind)
        self.modules: set[int] = set()
        self.dicts: list[dict] = []  # optimizer state dicts: keys the step adds are state too
        self.reset: set[int] = set()  # tensors whose .grad the step set to None (zero_grad)
        self.taken: set[str] = {"np", "consts"}  # the names the step's parameters have taken
        # a step whose arguments are on a GPU: one of its arrays (the trace runs on host copies;
        # what it hands back goes to that device, and the replay runs there)
        self.device: Any = None
        self.copies: list[tuple[Any, np.ndarray]] = []  # (a device array, the host copy traced in its place)

    # -- the engine's calls --------------------------------------------------------------
    def enter(self, fn: type, args: tuple, datas: list) -> list:
        group = self.tape.section("forward", fn.__name__, self.gates)
        self.gates += 1
        for i, a in enumerate(args):
            if isinstance(a, Tensor) and not isinstance(a._data, Traced):
                self.bind_tensor(a)
                datas[i] = a._data
        group.inputs = [d._slot if isinstance(d, Traced) else None for d in datas]
        return self.outer.enter(fn, args, datas) if self.outer is not None else datas

    def leave(self, fn: type, datas: list, out: Any) -> None:
        self.tape.groups[self.tape.group].output = out._slot if isinstance(out, Traced) else None
        gate = self.tape.groups[self.tape.group].gate
        self.tape.section("code")
        self.last_gate = gate
        if self.outer is not None:
            self.outer.leave(fn, datas, out)

    def recorded(self, ctx: Any) -> None:
        ctx.gate = self.last_gate
        if self.outer is not None:
            self.outer.recorded(ctx)

    def backward_begin(self, ctx: Any, grad_out: Any) -> None:
        group = self.tape.section("backward", ctx.fn.__name__, ctx.__dict__.get("gate", -1))
        group.upstream = self.tape.slot_or_const(grad_out) if isinstance(grad_out, np.ndarray) else None

    def backward_end(self, ctx: Any, downstream: tuple) -> None:
        self.tape.groups[self.tape.group].downstream = [
            (i, self.tape.slot_or_const(g), "") if isinstance(g, np.ndarray) else
            (i, self.tape.slot_or_const(g.values), f" at {codegen.index_text(g.index)}")
            for i, g in enumerate(downstream) if isinstance(g, (np.ndarray, Partial))
        ]  # fmt: skip
        self.tape.section("fork")
        if self.outer is not None:
            self.outer.backward_end(ctx, downstream)

    def leaves(self) -> None:
        self.tape.section("leaves")

    def resets_grads(self, tensors: Any) -> None:
        self.reset.update(id(t) for t in tensors)

    def replays(self, fn: Callable[..., Any], *args: Any) -> Any:
        return recorded_call(fn, *args)

    def checks(self, check: Callable[..., Any], *arrays: Any) -> None:
        check_values(check, *arrays)

    def back_in_code(self) -> None:
        self.tape.section("code")

    def uses_optimizer(self, optimizer: Any) -> None:
        self.tape.section("optimizer", f"{type(optimizer).__name__}.step")
        self.bind_optimizer(optimizer)

    def uses_module(self, module: Any) -> None:
        if id(module) not in self.modules:
            self.bind_module(module)

    # -- binding state -------------------------------------------------------------------
    def _input(self, name: str, array: Any, read: Callable[[], Any] | None) -> Traced:
        if type(array) is not np.ndarray:
            if self.device is None or not _same_place(array, self.device):
                here = f"{type(array).__name__} on {device_of(array)}" if is_array(array) else type(array).__name__
                want = "NumPy arrays" if self.device is None else f"arrays on {device_of(self.device)} as its arguments are"
                raise TraceError(f"compile: {name} is a {here}; the compiled step takes {want}")
            host = to_numpy(array)  # traced on a host copy; the replay reads the device's arrays
            self.copies.append((array, host))  # what the trace writes into it goes back at its end
            array = host
        elif self.device is not None and read is not None:
            # state that lives on the host (the learning rate, step counts): at each replay, copied over
            read = functools.partial(_placed, read, self.device)
        view = self.tape.new_slot(array, -1)
        self.inputs.append((codegen.identifier(name, self.taken), view._slot, read))
        return view

    def bind_tensor(self, t: Tensor, name: str | None = None, arg: int | None = None) -> None:
        """Trace ``t``'s array (and its gradient's) as an input: state read at each replay, or,
        for the step's argument number ``arg``, the array of that call."""
        if id(t) in self.tensors:
            return
        name = name or self.names.get(id(t)) or t.name or f"p{len(self.tensors)}"
        array = t._data
        view = self._input(name, array, (lambda t=t: t._data) if arg is None else None)
        t._data = view
        record = [t, array, view, t.grad, None, None, arg]
        if arg is None:
            self.guards.append((lambda t=t: (t._data.shape, t._data.dtype, t._data.strides, _place(t._data)),
                                (array.shape, array.dtype, array.strides, _place(array)),
                                f"the shape, dtype or device of {name}"))
            if id(t) not in self.reset:  # a gradient the step resets itself is not read
                self.guards.append((lambda t=t: t.grad is None, t.grad is None,
                                    f"whether {name} has a gradient (reset it with zero_grad() inside the step)"))
            if t.grad is not None:
                record[4] = t.grad._data
                record[5] = self._input(name + ".grad", t.grad._data, lambda t=t: t.grad._data)
                t.grad._data = record[5]
        self.tensors[id(t)] = record

    def bind_module(self, m: Any) -> None:
        for prefix, sub in m.named_modules():
            if id(sub) in self.modules:
                continue
            self.modules.add(id(sub))
            self.guards.append((lambda sub=sub: sub.training, sub.training, f"the training mode of {prefix or 'the model'}"))
            for attr in getattr(sub, "_buffer_names", ()):
                array = getattr(sub, attr)
                if array is None or isinstance(array, Traced):  # None: a buffer not kept (batch norm's, untracked)
                    continue
                name = f"{prefix}.{attr}" if prefix else attr
                if isinstance(array, Tensor):  # a buffer registered as a Tensor: bound as parameters are
                    self.bind_tensor(array, name)
                    continue
                view = self._input(name, array, lambda sub=sub, attr=attr: getattr(sub, attr))
                setattr(sub, attr, view)
                self.stores.append((sub, attr, array, view, "attr"))
        for name, p in m.named_parameters():
            self.names.setdefault(id(p), name)

    def bind_optimizer(self, opt: Any) -> None:
        kind, name = type(opt).__name__.lower(), type(opt).__name__
        options = tuple(k for k in opt.defaults if k != "lr")

        def groups() -> tuple:  # constants of the trace: each group's parameters and options but lr
            return tuple((tuple(map(id, g["params"])), tuple(g.get(k) for k in options)) for g in opt.param_groups)

        self.guards.append((groups, groups(), f"{name}'s hyperparameters or parameter groups"))
        for i, group in enumerate(opt.param_groups):
            if not isinstance(group["lr"], Traced):
                # each group's learning rate is state, read at every replay, not a constant of the trace:
                # a schedule that changes it (per step or per epoch) then needs no new trace. A 0-d
                # array of the group's parameters' dtype, so ``lr * dw`` computes as the eager float does.
                dtypes = {p._data.dtype for p in group["params"]}
                dtype = dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64)
                dtype = dtype if dtype.kind == "f" else np.dtype(np.float64)
                lr = functools.partial(_group_lr, opt, i, dtype)
                view = self._input(f"{kind}_lr{i or ''}", lr(), lr)
                self.stores.append((group, "lr", group["lr"], view, "hyper"))
                group["lr"] = view
        for j, p in enumerate(opt.params):
            state = opt.state[p]  # (made here if the step has not made it yet: the step adds its keys)
            self.bind_tensor(p)
            self.guards.append((lambda s=state: tuple(s), tuple(state), f"the keys of {name}'s state"))
            self.dicts.append(state)
            for key, v in list(state.items()):
                if isinstance(v, Traced):
                    continue
                if type(v) is int or _is_count(v):  # a step count: an array inside the step, an int after it
                    # (on a GPU, after a replay, a 0-d array there: reading it would wait for the GPU)
                    array = np.asarray(v, dtype=np.int64) if type(v) is int else to_numpy(v)
                    view = self._input(f"{kind}_{key}{j}", array, lambda s=state, k=key: _count(s[k]))
                    self.stores.append((state, key, v, view, "count"))
                elif isinstance(v, np.ndarray) or is_array(v):
                    view = self._input(f"{kind}_{key}{j}", v, lambda s=state, k=key: s[k])
                    self.stores.append((state, key, v, view, "item"))
                else:
                    continue
                state[key] = view

    def placed(self, array: Any) -> Any:
        """A value the trace computed (on the host), where the step's arrays live."""
        return array if self.device is None else devices.like(array, self.device)

    # -- the end of the trace ------------------------------------------------------------
    def finish(self) -> list[tuple[int | None, Callable[[Any, list], None]]]:
        """Put the state back as plain arrays (with the values the step gave it); return the
        write-backs a replay makes: (slot, or None for "set to None"; setter(value, call's leaves))."""
        backs: list[tuple[int | None, Callable[[Any, list], None]]] = []
        for array, host in self.copies:  # the trace's in-place writes (an update), onto the device
            array[...] = devices.like(host, array)
        for t, array, view, grad, grad_array, grad_view, arg in self.tensors.values():
            def owner(leaves: list, t: Tensor = t, arg: int | None = arg) -> Tensor:
                return t if arg is None else leaves[arg]

            now = t._data
            if now is view:
                t._data = array
            elif isinstance(now, Traced):  # rebound inside the step
                t._data = self.placed(_raw(now).copy())
                backs.append((now._slot, lambda a, leaves, owner=owner: setattr(owner(leaves), "_data", a)))
            g = t.grad
            if g is None:
                if grad is not None:
                    backs.append((None, lambda a, leaves, owner=owner: setattr(owner(leaves), "grad", None)))
            elif g is grad and g._data is grad_view:
                g._data = grad_array
            else:  # a gradient the step computed (or a constant one: the same at every call)
                slot = self.tape.slot_or_const(g._data)
                if isinstance(g._data, Traced):
                    g._data = self.placed(_raw(g._data).copy())
                backs.append((slot, lambda a, leaves, owner=owner: setattr(owner(leaves), "grad", Tensor._make(a))))
        for owner_obj, key, original, view, kind in self.stores:
            now = getattr(owner_obj, key) if kind == "attr" else owner_obj[key]
            if kind == "hyper":  # a group's learning rate: a Python number again outside the step
                def put(a: Any, o: Any = owner_obj, k: str = key) -> None:
                    o[k] = float(a)
            elif kind == "attr":
                def put(a: Any, o: Any = owner_obj, k: str = key) -> None:
                    setattr(o, k, a)
            else:
                def put(a: Any, o: Any = owner_obj, k: Any = key) -> None:
                    o[k] = a
            if now is view:
                put(original)
            elif isinstance(now, Traced):
                put(int(_raw(now)) if kind == "count" else self.placed(_raw(now).copy()))
                if kind == "count" and self.device is None:
                    backs.append((now._slot, lambda a, leaves, put=put: put(int(a))))
                else:  # on a GPU a count stays a 0-d array there: int() would wait for the GPU
                    backs.append((now._slot, lambda a, leaves, put=put: put(a)))
        for state in self.dicts:  # state the step created (momentum buffers on the first step)
            for key, now in list(state.items()):
                if isinstance(now, Traced):
                    state[key] = int(_raw(now)) if now.dtype.kind == "i" and now.ndim == 0 else self.placed(_raw(now).copy())
                    backs.append((now._slot, lambda a, leaves, s=state, k=key, v=state[key], host=self.device is None:
                                  s.__setitem__(k, int(a) if isinstance(v, int) and host else a)))
        return backs



# -- the compiled function -------------------------------------------------------------------


def _place(a: Any) -> Any:
    """Where an array is, for cache keys and guards: its type (NumPy's, a GPU's), and the GPU."""
    kind = type(a)
    return kind if kind is np.ndarray else (kind, device_of(a))


def _is_count(v: Any) -> bool:
    return is_array(v) and v.ndim == 0 and v.dtype.kind == "i"


def _group_lr(opt: Any, i: int, dtype: np.dtype) -> np.ndarray:
    return np.asarray(opt.param_groups[i]["lr"], dtype=dtype)


def _count(v: Any) -> Any:
    return np.asarray(v, dtype=np.int64) if type(v) is int else v


def _same_place(a: Any, ref: Any) -> bool:
    return is_array(a) and _place(a) == _place(ref)


def _placed(read: Callable[[], Any], ref: Any) -> Any:
    return devices.like(read(), ref)


class _OnDevice:
    """A function of the step called at each replay (a random draw, a check of values) whose
    host arrays are copied to the step's device."""

    def __init__(self, fn: Callable, ref: Any) -> None:
        self.fn, self.ref = fn, ref
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.fn(*args, **kwargs)
        return devices.like(out, self.ref) if isinstance(out, np.ndarray) else out


def _on_device(const: Any, ref: Any) -> Any:
    """A constant of a trace made on host copies, as the device's replay needs it."""
    if isinstance(const, np.ndarray):
        return devices.like(const, ref)
    if isinstance(const, np.ufunc) and array_module(ref) is _cupy_module():
        # SciPy's ufuncs (erf, for exact GELU) have CuPy twins in cupyx under the same names
        import cupyx.scipy.special  # noqa: PLC0415 - only reached with CuPy in use

        return getattr(cupyx.scipy.special, const.__name__, const)
    if callable(const) and not isinstance(const, type):
        return _OnDevice(const, ref)
    return const


def _flatten(obj: Any, leaves: list) -> Any:
    """The structure of ``obj`` with its Tensors and arrays replaced by their index in ``leaves``."""
    if isinstance(obj, (Tensor, np.ndarray)) or is_array(obj):
        leaves.append(obj)
        return ("leaf", len(leaves) - 1, isinstance(obj, Tensor))
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, [_flatten(x, leaves) for x in obj])
    if isinstance(obj, dict):
        return ("dict", {k: _flatten(obj[k], leaves) for k in sorted(obj)})  # the order the key has
    return ("static", obj)


def _rebuild(tree: Any, values: list, wrap: bool = True) -> Any:
    """``_flatten``'s structure with ``values`` in its leaves; with ``wrap``, the leaves that
    were Tensors come back as new Tensors (without it, the values are put in as they are)."""
    kind = tree[0]
    if kind == "leaf":
        v = values[tree[1]]
        return Tensor._make(v) if wrap and tree[2] else v
    if kind in ("tuple", "list"):
        items = [_rebuild(x, values, wrap) for x in tree[1]]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return {k: _rebuild(v, values, wrap) for k, v in tree[1].items()}
    return tree[1]


def _key(obj: Any) -> Any:
    # strides too: a replay's views (a window view, say) were planned for the traced layout
    if isinstance(obj, Tensor):
        return ("T", obj._data.shape, obj._data.dtype.str, obj._data.strides, obj.requires_grad, _place(obj._data))
    if isinstance(obj, np.ndarray) or is_array(obj):
        return ("A", obj.shape, obj.dtype.str, obj.strides, _place(obj))
    if isinstance(obj, (tuple, list)):
        return (type(obj).__name__, tuple(_key(x) for x in obj))
    if isinstance(obj, dict):
        return ("D", tuple((k, _key(v)) for k, v in sorted(obj.items())))
    try:
        hash(obj)
    except TypeError:
        return ("id", id(obj))
    return ("S", type(obj).__name__, obj)


def _signature(args: tuple, kwargs: dict) -> tuple[Any, list]:
    """(the cache key, the Tensors and arrays in order) of a call, in one pass: plain
    arguments on a fast path, containers through ``_key`` and ``_flatten``."""
    key = []
    leaves = []
    for a in args:
        kind = type(a)
        if kind is Tensor:
            d = a._data
            key.append(("T", d.shape, d.dtype.str, d.strides, a.requires_grad, _place(d)))
            leaves.append(a)
        elif kind is np.ndarray:
            key.append(("A", a.shape, a.dtype.str, a.strides, kind))
            leaves.append(a)
        else:
            key.append(_key(a))
            _flatten(a, leaves)
    if kwargs:
        for k in sorted(kwargs):
            key.append((k, _key(kwargs[k])))
        _flatten(kwargs, leaves)  # the order _flatten((args, kwargs)) gives
    return tuple(key), leaves


class Trace:
    """One traced signature: the generated step, what it reads and writes, and its guards."""

    def __init__(self, source: str, run: Callable, reads: list, consts: list, guards: list,
                 backs: list, n_out: int, out_tree: Any) -> None:  # fmt: skip
        self.source, self.run, self.consts, self.reads = source, run, consts, reads
        self.guards, self.n_out, self.out_tree = guards, n_out, out_tree
        self.backs = [put for slot, put in backs if slot is not None]  # in the order the step returns them
        self.changed = ""  # the guard that failed last
        self.clears = [put for slot, put in backs if slot is None]

    def holds(self) -> bool:
        """Whether the state still looks as it did while tracing (else: trace again)."""
        for read, value, what in self.guards:
            if read() != value:
                self.changed = what
                return False
        return True

    def replay(self, leaves: list) -> Any:
        arrays = [x._data if type(x) is Tensor else x for x in leaves]
        for read in self.reads:
            arrays.append(read())
        results = self.run(*arrays, self.consts)
        n = self.n_out
        if self.backs:
            for put, value in zip(self.backs, results[n:]):
                put(value, leaves)
        for put in self.clears:
            put(None, leaves)
        return self.rebuild(results)

    def rebuild(self, results: tuple) -> Any:
        tree = self.out_tree
        if tree[0] == "leaf":  # one result: the common case, without the walk
            return Tensor._make(results[0]) if tree[2] else results[0]
        return _rebuild(tree, results)


class Compiled:
    """A function compiled by ``chainrule.compile``: call it like the function."""

    def __init__(self, fn: Callable, max_traces: int = 8, fuse: bool | None = None) -> None:
        self.fn = fn
        self.max_traces = max_traces
        if fuse and not _fuse.available():
            raise ImportError("compile: fuse=True needs Numba (pip install 'chainrule[fast]')")
        self.fuse = _fuse.available() if fuse is None else fuse
        self.fuse_device = fuse is not False  # on a GPU fusion needs no Numba: cupy.fuse
        self._traces: collections.OrderedDict[Any, list[Trace]] = collections.OrderedDict()
        self._lock = threading.RLock()  # one replay at a time: a trace's buffers are shared
        self.traces_made = 0
        self._retraces = 0  # traces made for a signature that had one: the state changed
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        key, leaves = _signature(args, kwargs)
        with self._lock:
            for trace in self._traces.get(key, ()):
                if trace.holds():
                    if len(self._traces) > 1:
                        self._traces.move_to_end(key)
                    return trace.replay(leaves)
            bucket = self._traces.get(key, [])
            if bucket:
                self._retraces += 1
                if self._retraces in (4, 32, 256):  # a trace per call is a slow eager step: say why, a few times
                    _log.warning("compile: %s traced again for the same argument shapes (%d times): %s changed "
                                 "since the last trace", self.__name__, self._retraces, bucket[0].changed)
            trace, result = self._trace(args, kwargs)
            bucket = self._traces.setdefault(key, [])
            bucket.insert(0, trace)
            del bucket[4:]
            self._traces.move_to_end(key)
            while len(self._traces) > self.max_traces:
                self._traces.popitem(last=False)
            return result

    def trace_for(self, *args: Any, **kwargs: Any) -> Trace:
        """The trace that would run for these arguments (made by calling the step once if none)."""
        key = _signature(args, kwargs)[0]
        with self._lock:
            for trace in self._traces.get(key, ()):
                if trace.holds():
                    return trace
        self(*args, **kwargs)
        return self._traces[key][0]

    def source(self, *args: Any, fused: bool = False, **kwargs: Any) -> str:
        """The replayed step as a Python module of NumPy calls (of the latest trace, or of the
        one for ``args``). ``fused=True``: the form that runs when Numba fuses elementwise
        runs - the same module with each run replaced by a call of its loop, listed below."""
        if args or kwargs:
            trace = self.trace_for(*args, **kwargs)
        elif not self._traces:
            raise RuntimeError(f"compile: {self.__name__} has not run yet; call it once, or pass its arguments to source()")
        else:
            trace = next(reversed(self._traces.values()))[0]
        return trace.fused_source if fused else trace.source

    # -- tracing ---------------------------------------------------------------------------
    def _trace(self, args: tuple, kwargs: dict) -> tuple[Trace, Any]:
        tape = Tape()
        watch = _Watch(tape, grad_mode.watcher())
        leaves: list = []
        tree = _flatten((args, kwargs), leaves)
        # a step on a GPU is traced on host copies and replayed there (device arrays in, the
        # generated text's ``np`` bound to the device's array module); the CPU's loops stay out
        datas = [x._data if isinstance(x, Tensor) else x for x in leaves]
        watch.device = next((d for d in datas if type(d) is not np.ndarray), None)
        fuse = self.fuse if watch.device is None else self.fuse_device
        traced = []
        for i, (name, x) in enumerate(zip(_argument_names(self.fn, args, kwargs, len(leaves)), leaves)):
            if isinstance(x, Tensor):
                watch.bind_tensor(x, name, arg=i)
                traced.append(x)
            else:
                traced.append(watch._input(name, x, None))
        n_args = len(watch.inputs)
        t_args, t_kwargs = _rebuild(tree, traced, wrap=False)
        token, tape_token = _watch.set(watch), _active.set(tape)
        loops_token = cpu_loops.off.set(True) if watch.device is not None else None
        try:
            out = self.fn(*t_args, **t_kwargs)
            out_leaves: list = []
            out_tree = _flatten(out, out_leaves)
            datas = [x._data if isinstance(x, Tensor) else x for x in out_leaves]  # before finish() restores
        finally:
            _watch.reset(token)
            _active.reset(tape_token)
            if loops_token is not None:
                cpu_loops.off.reset(loops_token)
            backs = watch.finish()
        del t_args, t_kwargs, traced
        out_slots = [tape.slot_or_const(d) for d in datas]  # a result may be a constant (the same each call)
        values = [watch.placed(_raw(d).copy()) for d in datas]
        del out, out_leaves, datas  # the step's graph goes: what stays alive now escaped
        _check_escapes(tape, self.__name__)
        back_slots = [slot for slot, _ in backs if slot is not None]
        keep = codegen.live_ops(tape, {n for n in out_slots + back_slots if n >= 0})
        params = [name for name, _, _ in watch.inputs]
        names = {slot: name for name, slot, _ in watch.inputs}
        consts = list(tape.consts)
        results = out_slots + back_slots
        title = f"{self.__name__}, compiled by chainrule: the step's array operations in the order they ran"
        source = codegen.render(tape, keep, params, dict(names), results, consts, title)
        kernels: dict[str, Any] = {}
        kernel_texts: list[str] = []
        device = watch.device
        xp = np if device is None else array_module(device)
        regions = _fuse.find_regions(tape, keep, _uses_after(tape, keep, results)) if fuse else []
        for j, r in enumerate(regions):
            # named by what it computes, not where: the same loop at every step of a sequence is one kernel
            if device is None:
                text, _ = _fuse.kernel_source(tape, r, "loop")
                kernels[f"k{j}"] = _fuse.host_kernel(tape, r, "loop", f"k{j} of {self.__name__}")
            else:  # on a GPU: the run's array calls as one function, fused there by cupy.fuse
                text = _fuse.array_source(tape, r, "loop")
                kernels[f"k{j}"] = _fuse.device_kernel(text, "loop", xp)
            kernel_texts.append(f"# k{j}\n" + text)
        # what runs: the same lines, fused runs as kernel calls, each value deleted after its last use
        into = "Numba loops" if device is None else "one function each (cupy.fuse on a GPU)"
        how = f" (elementwise runs fused into {into}; values deleted after their last use)" if regions else \
            " (values deleted after their last use)"
        fused_source = codegen.render(tape, keep, params, dict(names), results, list(tape.consts), title + how,
                                      regions, free=True)
        if device is not None:
            consts = [_on_device(c, device) for c in consts]
        run = codegen.load(fused_source, f"<chainrule.compile:{self.__name__}:{id(self):x}:{self.traces_made}>", kernels, xp)
        if kernels:  # shown after the step, for reading (they run compiled, not as this text)
            made = "compiled with numba.njit(error_model='numpy')" if device is None else "fused by cupy.fuse on a GPU"
            fused_source += f"\n\n# the kernels, each {made}\n\n" + \
                "\n\n".join(kernel_texts)
        self.traces_made += 1
        reads = [read for _, _, read in watch.inputs[n_args:]]
        trace = Trace(source, run, reads, consts, watch.guards, backs, len(out_slots), out_tree)
        trace.fused_source = fused_source
        return trace, _rebuild(out_tree, values)


def _uses_after(tape: Tape, keep: list[int], results: list[int]) -> Callable[[int], Any]:
    """For fusion: the slots read at or after a position of ``keep`` (the results always)."""
    last: dict[int, int] = {}
    for pos, i in enumerate(keep):
        op = tape.ops[i]
        for n in codegen._refs((op.args, op.kwargs)):
            last[n] = pos
    for n in results:
        if n >= 0:
            last[n] = len(keep)
    return lambda end: _ReadFrom(last, end)


class _ReadFrom:
    """The slots read at or after position ``end`` (a set-like view of ``last``, built in O(1))."""

    def __init__(self, last: dict[int, int], end: int) -> None:
        self.last, self.end = last, end

    def __contains__(self, n: int) -> bool:
        return self.last.get(n, -1) >= self.end


def _check_escapes(tape: Tape, name: str) -> None:
    """Refuse a trace that kept a value of the step somewhere it cannot bind (a list the
    step appends to, an attribute): a replay would never update it."""
    gc.collect()
    for ref in tape.made:
        t = ref()
        if t is not None and t._slot is not None and tape.producer[t._slot] >= 0:
            op = tape.ops[tape.producer[t._slot]]
            what = getattr(op.what, "__name__", op.what)
            raise TraceError(
                f"compile: {name} kept a value it computed (shape {t.shape}, made by {what}) somewhere "
                "outside its results and the state chainrule binds (parameters, their gradients, "
                "optimizers, module buffers); return it instead, so each call gives the new one"
            )


def _argument_names(fn: Callable, args: tuple, kwargs: dict, n: int) -> list[str]:
    """Names for the flattened array arguments: the parameter names where they are plain."""
    try:
        bound = inspect.signature(fn).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return [f"arg{i}" for i in range(n)]
    names = []
    for pname, value in bound.arguments.items():
        leaves: list = []
        _flatten(value, leaves)
        if len(leaves) == 1:
            names.append(pname)
        else:  # several arrays in one argument (*args, a list): their own names where they have one
            names.extend(getattr(x, "name", None) or f"{pname}{i}" for i, x in enumerate(leaves))
    return names if len(names) == n else [f"arg{i}" for i in range(n)]


def compile(fn: Callable | None = None, *, max_traces: int = 8, fuse: bool | None = None) -> Any:  # noqa: A001
    """Compile ``fn`` (typically a whole training step): trace once, replay fast.

    The first call with given argument shapes and dtypes runs ``fn`` while recording
    every array operation - the gates' forwards and backwards, the optimizer's update -
    and turns the record into one Python function of NumPy calls (``.source()`` shows
    it). Later calls with the same shapes run that function on the new arrays, reading
    the parameters, gradients and optimizer state as they are then. Tensor results come
    back as plain Tensors (no graph). A new shape or dtype, or changed state (another
    hyperparameter than the learning rate, which is read afresh like the parameters; eval
    mode; a gradient reset to None) traces again; at most ``max_traces`` signatures are kept.

    With Numba installed (the ``fast`` extra) runs of elementwise operations are fused
    into one compiled loop each (``fuse=False`` turns it off; ``source(fused=True)`` shows
    the form that runs).

    A step whose arguments are on a GPU (CuPy) is traced on host copies of its arrays and
    replays on the GPU: the same text, with its ``np`` meaning CuPy, and each elementwise run
    one function that ``cupy.fuse`` makes one kernel (Numba is not used there).

    What it cannot see it refuses: Python control flow on values (``bool``, ``float``,
    ``.item()`` of a traced value) raises ``TraceError`` at the line.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True, name="w")
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> @cr.compile
    ... def step(x):
    ...     opt.zero_grad()
    ...     loss = ((w * x).sum() - 1) ** 2
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> [round(step(np.ones(2, dtype=np.float32)).item(), 4) for _ in range(3)]
    [4.0, 1.44, 0.5184]
    >>> print(step.source().splitlines()[5])
    def step(x, w, sgd_lr, consts):
    """
    if fn is None:
        return lambda f: Compiled(f, max_traces, fuse)
    return Compiled(fn, max_traces, fuse)

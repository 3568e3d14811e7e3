"""Fusion: a run of elementwise operations becomes one loop compiled by Numba.

On small arrays each NumPy call costs about a microsecond of overhead whatever it computes,
and on large ones each pass reads and writes all of memory: a chain of elementwise
operations pays either cost once per operation. A *region* is a run of consecutive
operations of the replay that are elementwise ufuncs over one shape (operands of that
shape, C-contiguous, or scalars); ``kernel_source`` writes it as one loop over the
elements, each operation's result cast to the dtype NumPy gave it, and Numba compiles it
(``error_model="numpy"``: division by zero gives inf and nan, as in NumPy). Numba is an
optional dependency (the ``fast`` extra): without it nothing is fused. Compiled kernels
are cached on disk by their source, so a second run does not compile again. For a step
that replays on a GPU the same regions are written as functions of whole-array calls
instead (``array_source``), which ``cupy.fuse`` turns into one GPU kernel each
(``device_kernel``): no Numba there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .tape import Const, Layout, Op, Ref, Tape

# ufunc name -> the scalar expression in the loop ({0}, {1}: the operands)
_EXPR = {
    "add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0} * {1}", "true_divide": "{0} / {1}",
    "divide": "{0} / {1}", "power": "{0} ** {1}", "negative": "-{0}", "positive": "+{0}",
    "exp": "np.exp({0})", "log": "np.log({0})", "sqrt": "np.sqrt({0})", "tanh": "np.tanh({0})",
    "square": "{0} * {0}", "reciprocal": "1 / {0}", "absolute": "np.abs({0})", "maximum": "np.maximum({0}, {1})",
    "minimum": "np.minimum({0}, {1})", "log1p": "np.log1p({0})", "expm1": "np.expm1({0})", "sin": "np.sin({0})",
    "cos": "np.cos({0})", "sign": "np.sign({0})", "greater": "{0} > {1}", "less": "{0} < {1}",
    "greater_equal": "{0} >= {1}", "less_equal": "{0} <= {1}", "equal": "{0} == {1}", "not_equal": "{0} != {1}",
    "logical_and": "{0} and {1}", "logical_or": "{0} or {1}", "logical_not": "not {0}",
}  # fmt: skip
_COMPARE = {"greater", "less", "greater_equal", "less_equal", "equal", "not_equal", "logical_and", "logical_or",
            "logical_not"}  # fmt: skip
_DTYPES = {"float32", "float64", "bool"}


def available() -> bool:
    """Whether Numba can be imported (the ``fast`` extra)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class Region:
    """Ops ``ops`` (indices into the tape), all elementwise over ``shape``; arrays whose
    memory is not in that order (an (N, C, H, W) view of channels-last memory) go in and
    come out transposed to ``perm``, so the loop runs over their memory in order."""

    shape: tuple[int, ...]
    ops: list[int] = field(default_factory=list)
    perm: tuple[int, ...] | None = ()  # the axis order its arrays are C-contiguous in (they are passed
    # so); None: no common order, an n-d loop over the shape
    reads: list[Any] = field(default_factory=list)  # operands defined before it: Ref or Const
    outputs: list[int] = field(default_factory=list)  # slots made inside and used after it
    writes: list[Any] = field(default_factory=list)  # slots (or constants) from before, written in place


def _contiguous_in(v: Any, perm: tuple[int, ...]) -> bool:
    """Whether ``v``'s memory (an array's, or a value's ``Layout``) is C-contiguous once its axes
    are put in order ``perm``: from the last axis in, each stride is the size of what it steps
    over (an axis of length 1 steps over nothing, as NumPy's own flag ignores it)."""
    if 0 in v.shape:
        return True
    step = v.dtype.itemsize
    for a in reversed(perm):
        if v.shape[a] != 1:
            if v.strides[a] != step:
                return False
            step *= v.shape[a]
    return True


def _layout(v: np.ndarray) -> tuple[int, ...] | None:
    """The axis order in which ``v`` is C-contiguous (NumPy's own order for a C array; for the
    (N, C, H, W) view of channels-last memory, (0, 2, 3, 1)), or None if there is none."""
    perm = tuple(sorted(range(v.ndim), key=lambda a: -v.strides[a]))
    if _contiguous_in(v, tuple(range(v.ndim))):
        return tuple(range(v.ndim))
    return perm if _contiguous_in(v, perm) else None


def _operand_ok(tape: Tape, x: Any, shape: tuple, perm: tuple | None) -> bool:
    if isinstance(x, (Ref, Const)):
        v = tape.values[x.n] if isinstance(x, Ref) else tape.consts[x.k]
        if not isinstance(v, (np.ndarray, Layout)) or v.dtype.name not in _DTYPES | {"int64", "int32"}:
            return False
        return v.ndim == 0 or (v.shape == shape and (perm is None or _contiguous_in(v, perm)))
    return isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating))


def _fusable(tape: Tape, op: Op) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(the shape ``op`` is elementwise over, the axis order its arrays are contiguous in), or
    None when it cannot be fused."""
    if op.kind != "ufunc" or op.method != "__call__" or op.what.__name__ not in _EXPR:
        return None
    if getattr(np, op.what.__name__, None) is not op.what or op.what.nout != 1:
        return None
    out = op.kwargs.get("out")
    if set(op.kwargs) - {"out"} or (out is not None and not (isinstance(out, tuple) and len(out) == 1)):
        return None
    target = out[0] if out is not None else None
    if target is not None and (not isinstance(target, (Ref, Const)) or target not in op.args):
        return None  # only in place into one of its own operands (x += y, np.exp(x, out=x))
    slot = op.outs[0] if op.outs else target.n if isinstance(target, Ref) else None
    v = tape.values[slot] if slot is not None else tape.consts[target.k]
    if v.dtype.name not in _DTYPES or v.size == 0:
        return None
    shape = tuple(v.shape)
    perm = _layout(v)
    if perm is None or not all(_operand_ok(tape, a, shape, perm) for a in op.args):
        # arrays of one shape but no common memory order (strided views, as max pooling's):
        # an n-d loop indexes each as it is
        if not all(_operand_ok(tape, a, shape, None) for a in op.args):
            return None
        perm = None
    return shape, perm


def find_regions(tape: Tape, keep: list[int], needed_after: Any, min_ops: int = 3) -> list[Region]:
    """Runs of at least ``min_ops`` consecutive fusable ops of ``keep`` over one shape.

    ``needed_after(position)`` gives the slots read at or after a position of ``keep`` (and
    the step's results), so a region knows which of its values to hand out.
    """
    regions: list[Region | None] = []
    run: list[int] = []
    key: tuple | None = None  # (shape, axis order) of the run: every op of a run has the same

    def close(end: int) -> None:
        # three operations at least; two are worth a loop on large arrays (one memory pass saved)
        if len(run) >= min_ops or (len(run) == 2 and key is not None and int(np.prod(key[0])) >= 4096):
            regions.append(_region(tape, list(run), key[0], key[1], needed_after(end)))

    touched: set[int] = set()  # slots the run makes or writes
    for pos, i in enumerate(keep):
        op = tape.ops[i]
        k = _fusable(tape, op)
        if k is not None and k == key:  # (a 0-d op among larger ones would come out full-size)
            run.append(i)
            touched.update(op.outs)
            touched.update(op.writes)
            continue
        if run and _view_of_outside(op, touched):
            continue  # a view of values from before the run (max pooling's windows): it runs first
        close(pos)
        run, key = ([i], k) if k is not None else ([], None)
        touched = set(op.outs) | set(op.writes) if k is not None else set()
    close(len(keep))
    return [r for r in regions if r is not None]


def _view_of_outside(op: Op, touched: set[int]) -> bool:
    """An op a run may step over: a view (basic indexing, reshape, transpose) of values the run
    neither made nor wrote, so running it before the run's loop changes nothing."""
    view = op.kind == "getitem" or (op.kind in ("method", "attr") and op.what in ("reshape", "transpose", "T"))
    if not view or op.writes:
        return False
    from .codegen import _refs

    return all(n not in touched for n in _refs((op.args, op.kwargs)))


def _region(tape: Tape, ops: list[int], shape: tuple, perm: tuple | None, later: Any) -> Region | None:
    r = Region(shape, ops, perm=perm)
    made: set[int] = set()
    seen: set[Any] = set()
    for i in ops:
        op = tape.ops[i]
        for a in op.args:
            if isinstance(a, (Ref, Const)) and not (isinstance(a, Ref) and a.n in made) and a not in seen:
                seen.add(a)
                r.reads.append(a)
        out = op.kwargs.get("out")
        if out is not None:
            target = out[0]
            if not (isinstance(target, Ref) and target.n in made) and target not in r.writes:
                r.writes.append(target)
        made.update(op.outs)
    # values a 0-d-only region makes for a larger shape cannot come out as that shape
    for a in r.reads + r.writes:
        v = tape.values[a.n] if isinstance(a, Ref) else tape.consts[a.k]
        if v.ndim and (tuple(v.shape) != shape or (perm is not None and not _contiguous_in(v, perm))):
            return None
    roots = [tape.root[w.n] if isinstance(w, Ref) else ("c", w.k) for w in r.writes]
    read_roots = [tape.root[a.n] if isinstance(a, Ref) else ("c", a.k) for a in r.reads]
    for w, root in zip(r.writes, roots):  # a write through one view read through another: not elementwise
        if sum(1 for a, rr in zip(r.reads, read_roots) if rr == root and a != w) or roots.count(root) > 1:
            return None
    r.outputs = [n for i in ops for n in tape.ops[i].outs if n in later]
    return r


def kernel_source(tape: Tape, region: Region, name: str) -> tuple[str, list[Any]]:
    """The loop's source, and the operands to call it with (reads, then writes)."""
    params = region.reads + [w for w in region.writes if w not in region.reads]
    pname = {a: f"a{j}" for j, a in enumerate(params)}
    shape = region.shape
    lines = [f"def {name}({', '.join(pname[a] for a in params)}):"]
    nd = region.perm is None  # strided arrays: index them as they are, one loop per axis
    index = ", ".join(f"i{d}" for d in range(len(shape))) if nd else "i"
    full, scalar = {}, {}
    for a in params:
        v = tape.values[a.n] if isinstance(a, Ref) else tape.consts[a.k]
        if v.ndim:
            full[a] = pname[a] if nd else f"f{pname[a][1:]}"
            if not nd:
                lines.append(f"    {full[a]} = {pname[a]}.reshape(-1)")
        else:
            scalar[a] = f"s{pname[a][1:]}"
            lines.append(f"    {scalar[a]} = np.asarray({pname[a]}).reshape(-1)[0]")
    # sizes are read from an operand, not written into the text: the same loop over another
    # batch size (a last, smaller batch; another model's) is the same text, compiled once
    ref = next((a for a in params if a in full), None)
    if ref is None:  # scalars alone: the shape as a literal
        extent = [repr(e) for e in shape]
        size = repr(int(np.prod(shape)) if shape else 1)
    else:
        extent = [f"{pname[ref]}.shape[{d}]" for d in range(len(shape))]
        size = f"{full[ref]}.size"
    dims = "(" + "".join(f"{e}, " for e in extent) + ")"
    outs = {n: f"o{j}" for j, n in enumerate(region.outputs)}
    for n, o in outs.items():
        dtype = f"np.{tape.values[n].dtype.name}"
        order = _layout(tape.values[n]) if nd and len(shape) > 1 else None
        if order is None or order == tuple(range(len(shape))):
            lines.append(f"    {o} = np.empty({dims if nd else size}, {dtype})")
        else:  # an n-d loop's result in the memory order NumPy gave it while tracing (channels-last,
            # say), so what reads it next finds the layout it was traced with
            stored = "(" + "".join(f"{extent[a]}, " for a in order) + ")"
            back = tuple(int(a) for a in np.argsort(order))
            lines.append(f"    {o} = np.empty({stored}, {dtype}).transpose({back!r})")
    if nd:
        for d in range(len(shape)):
            lines.append(f"    {'    ' * d}for i{d} in range({extent[d]}):")
    else:
        lines.append(f"    for i in range({size}):")
    indent = "    " * (len(shape) + 1 if nd else 2)
    local: dict[Any, str] = {}  # operand -> the loop variable that holds its current value
    body = []
    for a in params:
        if a in full:
            local[a] = f"x{pname[a][1:]}"
            body.append(f"{local[a]} = {full[a]}[{index}]")
        else:
            local[a] = scalar[a]
    for number, i in enumerate(region.ops):
        op = tape.ops[i]
        name_ = op.what.__name__
        target = op.kwargs.get("out")
        slot = op.outs[0] if op.outs else None
        v = tape.values[slot] if slot is not None else (
            tape.values[target[0].n] if isinstance(target[0], Ref) else tape.consts[target[0].k])
        dtype = v.dtype.name
        args = []
        for x in op.args:
            if isinstance(x, (Ref, Const)):
                args.append(local[x])
            else:
                args.append(repr(float(x)) if isinstance(x, (float, np.floating)) else repr(int(x)) if not isinstance(x, (bool, np.bool_)) else repr(bool(x)))
        if name_ not in _COMPARE and dtype != "bool":
            args = [f"np.{dtype}({a})" for a in args]
        expr = _EXPR[name_].format(*args)
        var = f"t{number}"  # numbered within the loop: equal loops have equal text
        body.append(f"{var} = np.{dtype}({expr})" if dtype != "bool" else f"{var} = {expr}")
        if slot is not None:
            local[Ref(slot)] = var
        else:
            local[target[0]] = var
    for n, o in outs.items():
        body.append(f"{o}[{index}] = {local[Ref(n)]}")
    for w in region.writes:
        if w in full:
            body.append(f"{full[w]}[{index}] = {local[w]}")
        else:
            body.append(f"{pname[w]}.reshape(-1)[0] = {local[w]}")
    lines += [f"{indent}{b}" for b in body]
    if nd:
        rets = list(outs.values())
    else:
        inner = tuple(shape[a] for a in region.perm) if region.perm else shape  # the arrays as passed in
        like = repr(inner) if ref is None else f"{pname[ref]}.shape"
        rets = [f"{o}.reshape({like})" for o in outs.values()]
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})" if rets else "    return None")
    return "\n".join(lines) + "\n", params


def array_source(tape: Tape, region: Region, name: str) -> str:
    """The region as one function of whole-array calls (the same ufunc calls as the replay's
    lines, in order, ``out=`` kept), for a GPU: ``cupy.fuse`` makes it one kernel there
    (``device_kernel``). Its operands are the same as ``kernel_source``'s: reads, then writes."""
    params = region.reads + [w for w in region.writes if w not in region.reads]
    local: dict[Any, str] = {a: f"a{j}" for j, a in enumerate(params)}
    lines = [f"def {name}({', '.join(local[a] for a in params)}):"]
    for number, i in enumerate(region.ops):
        op = tape.ops[i]
        args = []
        for x in op.args:
            if isinstance(x, (Ref, Const)):
                args.append(local[x])
            elif isinstance(x, np.generic):  # a NumPy scalar keeps its type (it decides the result's)
                args.append(f"np.{type(x).__name__}({x.item()!r})")
            else:
                args.append(repr(x))
        call = f"np.{op.what.__name__}({', '.join(args)}"
        target = op.kwargs.get("out")
        if target is not None:  # in place into one of its operands: that operand now holds the result
            lines.append(f"    {call}, out={local[target[0]]})")
        else:
            var = f"t{number}"
            lines.append(f"    {var} = {call})")
            local[Ref(op.outs[0])] = var
    rets = [local[Ref(n)] for n in region.outputs]
    lines.append(f"    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})" if rets else "    return None")
    return "\n".join(lines) + "\n"


class _FusedOnDevice:
    """A region's array function fused into one GPU kernel by ``cupy.fuse`` at its first call;
    where CuPy cannot fuse it, the function itself runs (its calls one kernel each)."""

    def __init__(self, fn: Any, fuse: Any) -> None:
        self.fn, self._fuse, self._run = fn, fuse, None
        self.__name__ = fn.__name__

    def __call__(self, *args: Any) -> Any:
        if self._run is None:
            try:
                fused = self._fuse()(self.fn)
                out = fused(*args)
            except Exception:  # noqa: BLE001 - any refusal of CuPy's fusion: run unfused, as traced
                self._run = self.fn
                return self.fn(*args)
            self._run = fused
            return out
        return self._run(*args)


class _FusedOnHost:
    """A region's Numba loop, guarded so that it never breaks a user's step. It runs where its
    operands are laid out as when it was traced (C-contiguous in the region's axis order, which
    its flat loop reads them in); otherwise, and for good wherever Numba refuses to compile it,
    the region's NumPy calls (``array_source``) run instead, the same arithmetic unfused. A
    refusal is logged once, naming the region. (A layout can differ from the trace's where a
    value the trace made with NumPy, in NumPy's memory order, comes from a fused loop at a
    replay, in the loop's order.)"""

    def __init__(self, loop: Any, unfused: Any, what: str, flat: bool) -> None:
        self.loop, self.unfused, self.what, self.flat = loop, unfused, what, flat
        self.refused = False
        self.__name__ = getattr(loop, "__name__", "loop")

    def __call__(self, *args: Any) -> Any:
        if not self.refused and (not self.flat or all(getattr(a, "flags", None) is None or a.flags.c_contiguous
                                                      for a in args)):  # fmt: skip
            try:
                return self.loop(*args)
            except Exception as e:
                if not _numba_refusal(e):
                    raise
                self.refused = True
                _log.warning("compile: Numba could not compile the fused loop for %s (%s: %s); that region "
                             "runs as its NumPy operations from now on", self.what, type(e).__name__,
                             str(e).splitlines()[0] if str(e) else "")  # fmt: skip
        return self.unfused(*args)


def _numba_refusal(e: BaseException) -> bool:
    """Whether ``e`` is Numba refusing to type or compile a loop (not an error of the values)."""
    try:
        from numba.core.errors import NumbaError
    except ImportError:  # pragma: no cover - no Numba, no loops
        return False
    return isinstance(e, NumbaError)


def host_kernel(tape: Tape, region: Region, name: str, what: str) -> Any:
    """The region as a guarded Numba loop (``_FusedOnHost``): the loop of ``kernel_source``, and
    ``array_source``'s NumPy calls for where the loop cannot run."""
    text, _ = kernel_source(tape, region, name)
    return _FusedOnHost(build(text, name), device_kernel(array_source(tape, region, name), name, np), what,
                        flat=region.perm is not None)


def device_kernel(source: str, name: str, xp: Any) -> Any:
    """``array_source``'s function on the array module ``xp``: fused by ``cupy.fuse`` on CuPy;
    as it is elsewhere (the tests' stand-in for a GPU runs it unfused)."""
    namespace: dict[str, Any] = {"np": xp}
    exec(compile(source, f"<chainrule region {name}>", "exec"), namespace)  # noqa: S102 - our own text
    fn = namespace[name]
    fuse = getattr(xp, "fuse", None) if getattr(xp, "__name__", "") == "cupy" else None
    return _FusedOnDevice(fn, fuse) if fuse is not None else fn


_log = logging.getLogger("chainrule.compile")
_lock = threading.Lock()
_loaded: dict[str, Any] = {}


def cache_dir() -> str:
    """Where compiled kernels are kept: ``$CHAINRULE_CACHE`` or ``~/.cache/chainrule/kernels``."""
    base = os.environ.get("CHAINRULE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "chainrule")
    return os.path.join(base, "kernels")


def build(source: str, name: str) -> Any:
    """The Numba-compiled function ``name`` of ``source``, from the disk cache when it is there."""
    digest = hashlib.sha256(source.encode()).hexdigest()[:24]
    with _lock:
        if digest in _loaded:
            return _loaded[digest]
        import numba

        text = f"import numpy as np\nimport numba\n\n\n@numba.njit(cache=True, error_model='numpy', nogil=True)\n{source}"
        module_name = f"chainrule_kernel_{digest}"
        fn = None
        try:
            from ..serialization import atomic_write

            folder = cache_dir()
            os.makedirs(folder, exist_ok=True)
            path = os.path.join(folder, module_name + ".py")
            if not os.path.exists(path):
                atomic_write(path, text.encode())
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
            fn = getattr(module, name)
        except OSError:  # no writable cache: compile in memory
            namespace: dict[str, Any] = {"np": np, "numba": numba}
            exec(compile(text.replace("cache=True, ", ""), f"<chainrule kernel {digest}>", "exec"), namespace)  # noqa: S102
            fn = namespace[name]
        _loaded[digest] = fn
        return fn

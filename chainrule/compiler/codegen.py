"""From a tape to Python: dead operations dropped, one line per array operation.

The replayed step *is* this source, compiled once with Python's ``compile``: what
``source()`` shows is exactly what runs. Values get names by where they were made (the
step's inputs and state by their own names, forward values ``v``, gradients ``g``,
optimizer values ``u``), each line carries its shape, and each gate's section says what
the chain rule does there (upstream in, local gradient, downstream out).
"""

from __future__ import annotations

import keyword
import linecache
import math
import re
import weakref
from typing import Any

import numpy as np

from ..ops.roles import role
from .tape import Const, Group, Op, Ref, Tape

# Binary ufuncs written as operators (same NumPy call, easier to read)
_BINARY = {"add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "divide": "/", "matmul": "@",
           "power": "**", "floor_divide": "//", "remainder": "%", "less": "<", "greater": ">",
           "less_equal": "<=", "greater_equal": ">=", "equal": "==", "not_equal": "!=",
           "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^"}  # fmt: skip
_UNARY = {"negative": "-", "positive": "+", "invert": "~"}
_PUBLIC = [("np", np), ("np.linalg", np.linalg), ("np.lib.stride_tricks", np.lib.stride_tricks), ("np.fft", np.fft)]


def live_ops(tape: Tape, needed: set[int]) -> list[int]:
    """Indices of the ops the outputs depend on: backwards from ``needed``, an op stays if
    one of its outputs is needed or it writes into memory that is (or lies outside the step)."""
    needed_slots = set(needed)
    needed_roots = {tape.root[n] for n in needed}
    keep = []
    for i in range(len(tape.ops) - 1, -1, -1):
        op = tape.ops[i]
        live = op.kind == "check" or any(o in needed_slots for o in op.outs) or any(
            w < 0 or tape.producer[tape.root[w]] < 0 or tape.root[w] in needed_roots for w in op.writes
        )
        if not live:
            continue
        keep.append(i)
        for n in _refs((op.args, op.kwargs)):
            needed_slots.add(n)
            needed_roots.add(tape.root[n])
        for w in op.writes:
            if w >= 0:
                needed_slots.add(w)
                needed_roots.add(tape.root[w])
    keep.reverse()
    return keep


def _refs(obj: Any) -> Any:
    if isinstance(obj, Ref):
        yield obj.n
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            yield from _refs(x)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _refs(x)


def index_text(idx: Any) -> str:
    """A basic index (ints, slices, None, ...) as the source writes it.

    >>> index_text((Ellipsis, slice(256, 384), None, 0))
    '[..., 256:384, None, 0]'
    """

    def part(p: Any) -> str:
        if isinstance(p, slice):
            text = ":".join("" if v is None else str(v) for v in (p.start, p.stop))
            return text + ("" if p.step is None else f":{p.step}")
        return "..." if p is Ellipsis else str(p)

    return "[" + ", ".join(part(p) for p in (idx if isinstance(idx, tuple) else (idx,))) + "]"


def identifier(name: str, taken: set[str]) -> str:
    """``name`` as a fresh Python identifier (``fc1.weight`` -> ``fc1_weight``)."""
    s = re.sub(r"\W", "_", name) or "a"
    if s[0].isdigit() or keyword.iskeyword(s):
        s = "_" + s
    base, k = s, 1
    while s in taken:
        k += 1
        s = f"{base}_{k}"
    taken.add(s)
    return s


class Writer:
    """Renders a tape's live ops as the body of ``def step(...)``."""

    def __init__(self, tape: Tape, names: dict[int, str], consts: list[Any]) -> None:
        self.tape, self.names, self.consts = tape, names, consts
        self.taken = set(names.values()) | {"np", "consts"}
        self.const_names: dict[int, str] = {}

    def name(self, n: int) -> str:
        if n not in self.names:
            g = self.tape.groups[self.tape.ops[self.tape.producer[n]].group]
            prefix = {"backward": "g", "fork": "g", "leaves": "g", "optimizer": "u"}.get(g.kind, "v")
            self.names[n] = identifier(f"{prefix}{n}", self.taken)
        return self.names[n]

    def const(self, k: int) -> str:
        """A constant's name: ``c3`` for an array, the function's own name for a function."""
        if k not in self.const_names:
            c = self.consts[k]
            fn = getattr(c, "__name__", None) or getattr(getattr(c, "func", None), "__name__", None)  # or a partial's
            if callable(self.consts[k]) and isinstance(fn, str):
                self.const_names[k] = identifier(fn.lstrip("_") or "fn", self.taken)
            else:
                self.const_names[k] = identifier(f"c{k}", self.taken)
        return self.const_names[k]

    # -- operands --------------------------------------------------------------------
    def lit(self, x: Any) -> str:
        if isinstance(x, Ref):
            return self.name(x.n)
        if isinstance(x, Const):
            return self.const(x.k)
        if isinstance(x, tuple):
            inner = ", ".join(self.lit(v) for v in x)
            return f"({inner},)" if len(x) == 1 else f"({inner})"
        if isinstance(x, list):
            return "[" + ", ".join(self.lit(v) for v in x) + "]"
        if isinstance(x, dict):
            return "{" + ", ".join(f"{k!r}: {self.lit(v)}" for k, v in x.items()) + "}"
        if isinstance(x, slice):
            return f"slice({self.lit(x.start)}, {self.lit(x.stop)}, {self.lit(x.step)})"
        if x is Ellipsis:
            return "..."
        if isinstance(x, bool) or x is None or isinstance(x, (int, str)):
            return repr(x)
        if isinstance(x, float):
            if math.isnan(x):
                return "np.nan"
            if math.isinf(x):
                return "np.inf" if x > 0 else "-np.inf"
            return repr(x)
        if isinstance(x, np.generic):
            return f"np.{type(x).__name__}({self.lit(x.item())})"
        if isinstance(x, np.dtype):
            return f"np.{x.name}" if hasattr(np, x.name) else f"np.dtype({x.str!r})"
        if isinstance(x, type) and issubclass(x, np.generic):
            return f"np.{x.__name__}"
        if x in (float, int, bool, complex):
            return x.__name__
        fn = self.function(x)
        if fn is not None:
            return fn
        return self.extra(x)

    def extra(self, x: Any) -> str:
        """An object with no literal form (a bound method, an odd type): a constant of the step."""
        for k, c in enumerate(self.consts):
            if c is x:
                return self.const(k)
        self.consts.append(x)
        return self.const(len(self.consts) - 1)

    def function(self, f: Any) -> str | None:
        name = getattr(f, "__name__", None)
        if name is None:
            return None
        for prefix, mod in _PUBLIC:
            if getattr(mod, name, None) is f:
                return f"{prefix}.{name}"
        return None

    def index(self, idx: Any) -> str:
        parts = idx if isinstance(idx, tuple) else (idx,)
        out = []
        for p in parts:
            if isinstance(p, slice):
                a = "" if p.start is None else self.lit(p.start)
                b = "" if p.stop is None else self.lit(p.stop)
                out.append(f"{a}:{b}" + ("" if p.step is None else f":{self.lit(p.step)}"))
            else:
                out.append(self.lit(p))
        if not isinstance(idx, tuple):
            return out[0]
        return ", ".join(out) if out else "()"

    def call_args(self, args: tuple, kwargs: dict) -> str:
        kwargs = {k: v[0] if k == "out" and isinstance(v, tuple) and len(v) == 1 else v for k, v in kwargs.items()}
        parts = [self.lit(a) for a in args] + [f"{k}={self.lit(v)}" for k, v in kwargs.items()]
        return ", ".join(parts)

    # -- one op ------------------------------------------------------------------------
    def expression(self, op: Op) -> str:
        a, kw = op.args, op.kwargs
        if op.kind == "ufunc":
            name = op.what.__name__
            fn = self.function(op.what) or self.extra(op.what)  # np.exp, or another library's ufunc
            if op.method == "__call__":
                if name in _BINARY and len(a) == 2 and not kw and fn == f"np.{name}":
                    return f"{self.lit(a[0])} {_BINARY[name]} {self.lit(a[1])}"
                if name in _UNARY and len(a) == 1 and not kw and fn == f"np.{name}":
                    return f"{_UNARY[name]}{self.lit(a[0])}"
                return f"{fn}({self.call_args(a, kw)})"
            return f"{fn}.{op.method}({self.call_args(a, kw)})"
        if op.kind in ("func", "call", "check"):
            fn = self.function(op.what) or self.extra(op.what)
            return f"{fn}({self.call_args(a, kw)})"
        if op.kind == "method":
            mean = self.mean(op)
            return mean if mean is not None else f"{self.lit(a[0])}.{op.what}({self.call_args(a[1:], kw)})"
        if op.kind == "attr":
            return f"{self.lit(a[0])}.{op.what}"
        if op.kind == "getitem":
            return f"{self.lit(a[0])}[{self.index(a[1])}]"
        raise AssertionError(op.kind)

    def mean(self, op: Op) -> str | None:
        """``x.mean(axis, keepdims)`` of float32 or float64 as a sum over the count: NumPy's mean
        bit for bit (it sums the same way, then divides; a float division rounded to single
        precision is the single-precision division) without its Python layer, a few
        microseconds a call: a one-token step of a GPT takes 18. None where it does not apply."""
        x = op.args[0] if op.what == "mean" and len(op.args) == 1 else None
        if not isinstance(x, Ref) or not set(op.kwargs) <= {"axis", "keepdims"}:
            return None
        layout = self.tape.values[x.n]
        if layout.dtype not in (np.float32, np.float64) or not layout.shape:
            return None
        axis = op.kwargs.get("axis")
        axes = range(len(layout.shape)) if axis is None else axis if isinstance(axis, tuple) else (axis,)
        n = math.prod(layout.shape[k] for k in axes)
        if n == 0:
            return None
        return f"np.add.reduce({self.call_args((x,), op.kwargs)}) / {n}"

    def statement(self, op: Op) -> str:
        if op.kind == "setitem":
            return f"{self.lit(op.args[0])}[{self.index(op.args[1])}] = {self.lit(op.args[2])}"
        out = op.kwargs.get("out")
        if op.kind == "ufunc" and op.method == "__call__" and out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            rest = {k: v for k, v in op.kwargs.items() if k != "out"}
            name = op.what.__name__
            if (len(outs) == 1 and len(op.args) == 2 and not rest and name in _BINARY
                    and op.args[0] == outs[0]):  # fmt: skip
                return f"{self.lit(outs[0])} {_BINARY[name]}= {self.lit(op.args[1])}"
        expr = self.expression(op)
        if not op.outs:
            return expr
        if len(op.outs) == 1 and op.outs[0] in self.targets and self.tape.values[op.outs[0]].ndim == 0:
            expr = f"np.asarray({expr})"  # NumPy gives 0-d results as scalars; this one is written into
        targets = ", ".join(self.name(n) for n in op.outs)
        if len(op.outs) == 1 and op.tuple_result:  # np.split into one part, say: unpack the tuple
            targets += ","
        return f"{targets} = {expr}"

    def shape_comment(self, op: Op) -> str:
        if not op.outs:
            return ""
        v = self.tape.values[op.outs[0]]
        return f"  # {tuple(v.shape)} {v.dtype}"

    def header(self, g: Group) -> str:
        """The comment that opens a section of the step."""
        if g.kind == "forward":
            ins = ", ".join(self.name(n) for n in g.inputs if n is not None)
            return f"# forward: {g.name} (gate {g.gate}) on {ins}"
        if g.kind == "backward":
            up = "upstream" if g.upstream is None else \
                f"upstream = {self.name(g.upstream) if g.upstream >= 0 else self.const(-1 - g.upstream)}"
            what = role(g.name)
            pattern = f" - it {what}" if what else ""
            return f"# backward: {g.name} (gate {g.gate}), {up}; downstream = upstream x local{pattern}"
        if g.kind == "fork":
            return "# a fork: the gradients from a value's several uses add up"
        if g.kind == "leaves":
            return "# the leaves' gradients, as .grad or grad() hands them back"
        if g.kind == "optimizer":
            return f"# the update: {g.name}"
        return "# (between gates)"

    def footer(self, g: Group) -> str | None:
        if g.kind == "backward" and g.downstream:
            parts = ", ".join(f"input {i} <- {self.name(n) if n >= 0 else self.const(-1 - n)}{at}"
                              for i, n, at in g.downstream)  # fmt: skip
            return f"# downstream of {g.name}: {parts}" if parts else None
        return None


def render(tape: Tape, keep: list[int], params: list[str], names: dict[int, str], outputs: list[int],
           consts: list[Any], title: str, regions: list | None = None, free: bool = False) -> str:
    """The module text: ``def step(<params>, consts)`` running the ops ``keep``, returning ``outputs``.

    With ``regions`` (``fuse.Region``s, kernel ``k<j>`` each), a region's ops are one call.
    With ``free``, each value is deleted after its last use, so its memory goes back to the
    allocator for the next arrays of the step (as the eager backward frees saved values),
    instead of living until the step returns.
    """
    w = Writer(tape, names, consts)
    fused: dict[int, tuple[int, Any]] = {}  # op index -> (kernel number, region), on a region's first op
    inside: set[int] = set()
    for j, r in enumerate(regions or ()):
        fused[r.ops[-1]] = (j, r)  # the call goes where its last op was: views it reads are made by then
        inside.update(r.ops)
    w.targets = {t for i in keep for t in tape.ops[i].writes}
    by_group: dict[int, list[int]] = {}
    for i in keep:
        by_group.setdefault(tape.ops[i].group, []).append(i)
    used = set(outputs) | {n for i in keep for n in _refs((tape.ops[i].args, tape.ops[i].kwargs))}
    body: list[str] = []
    units: list[tuple[int, set[int]]] = []  # (the body line after a statement, the slots it reads)
    for gi, group in enumerate(tape.groups):
        here = [i for i in by_group.get(gi, []) if i in fused or i not in inside]
        # a gate whose backward hands the gradient on unchanged (add, a reshape of the same
        # shape) has no line of its own; its comment still says what the chain rule did there
        passes_on = group.kind == "backward" and any(n in used for _, n, _ in group.downstream)
        if not here and not passes_on:
            continue
        if body:
            body.append("")
        body.append(w.header(group))
        for i in here:
            if i in fused:
                j, r = fused[i]
                gates = sorted({f"{tape.groups[tape.ops[k].group].name} {tape.groups[tape.ops[k].group].kind}"
                                for k in r.ops if tape.groups[tape.ops[k].group].name})  # fmt: skip
                body.append(f"# k{j}: {len(r.ops)} elementwise operations in one loop over {r.shape}"
                            + (f" ({', '.join(gates)})" if gates else ""))
                identity = r.perm is None or r.perm == tuple(range(len(r.perm)))  # None: passed as they are

                def operand(a: Any, r: Any = r, identity: bool = identity) -> str:
                    v = tape.values[a.n] if isinstance(a, Ref) else tape.consts[a.k]
                    return w.lit(a) if identity or v.ndim == 0 else f"{w.lit(a)}.transpose({r.perm!r})"

                call = f"k{j}({', '.join(operand(a) for a in r.reads + [x for x in r.writes if x not in r.reads])})"
                outs = ", ".join(w.name(n) for n in r.outputs)
                body.append(f"{outs}{',' if len(r.outputs) == 1 else ''} = {call}" if r.outputs else call)
                if not identity:  # back to the step's axis order: views, no copy
                    inverse = tuple(int(a) for a in np.argsort(r.perm))
                    body += [f"{w.name(n)} = {w.name(n)}.transpose({inverse!r})" for n in r.outputs
                             if tape.values[n].ndim]  # fmt: skip
                units.append((len(body), {a.n for a in r.reads + r.writes if isinstance(a, Ref)}))
            elif i not in inside:
                op = tape.ops[i]
                body.append(w.statement(op) + w.shape_comment(op))
                units.append((len(body), set(_refs((op.args, op.kwargs))) | {n for n in op.writes if n >= 0}))
        foot = w.footer(group)
        if foot:
            body.append(foot)
    if free:
        body = _with_deletes(body, units, w, set(outputs), set(params))
    # a constant result is handed out as a copy: the caller may write into it
    ret = ", ".join(w.lit(Ref(n)) if n >= 0 else f"{w.const(-1 - n)}.copy()" for n in outputs)
    body.append("")
    body.append(f"return ({ret}{',' if len(outputs) == 1 else ''})")
    lines = [f'"""{title}"""', "", "import numpy as np", "", ""]
    lines.append(f"def step({', '.join([*params, 'consts'])}):")
    for k in sorted(w.const_names):  # the constants the kept lines use
        lines.append(f"    {w.const(k)} = consts[{k}]  # {_describe(consts[k])}")
    lines += [f"    {line}" if line else "" for line in body]
    return "\n".join(lines) + "\n"


def _with_deletes(body: list[str], units: list, w: Writer, results: set[int], params: set[str]) -> list[str]:
    """``body`` with ``del`` lines after the last statement that reads each value."""
    last: dict[int, int] = {}
    for k, (_, reads) in enumerate(units):
        for n in reads:
            last[n] = k
    drop: dict[int, list[str]] = {}
    for n, k in last.items():
        name = w.names.get(n)
        if n not in results and name is not None and name not in params:
            drop.setdefault(k, []).append(name)
    out: list[str] = []
    start = 0
    for k, (end, _) in enumerate(units):
        out += body[start:end]
        if k in drop:
            out.append(f"del {', '.join(sorted(drop[k]))}")
        start = end
    return out + body[start:]


def _describe(c: Any) -> str:
    if isinstance(c, np.ndarray):
        if c.size <= 4:
            return f"{c.tolist()!r} ({c.dtype}, a constant of the step)"
        return f"a {c.shape} {c.dtype} array from outside the step, used as it is"
    return f"{getattr(c, '__module__', '')}.{getattr(c, '__qualname__', type(c).__name__)}"


def load(source: str, filename: str, kernels: dict[str, Any] | None = None, xp: Any = np) -> Any:
    """Compile the module text and return its ``step`` (tracebacks show the generated lines).
    ``xp`` is what the text's ``np`` means: CuPy for a step that replays on a GPU, whose
    functions carry NumPy's names."""
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {"__name__": filename, **(kernels or {})}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - our own generated code, never input
    namespace["np"] = xp  # after the text's own ``import numpy as np``, which makes it runnable alone
    step = namespace["step"]
    # the lines go with the step: a trace dropped from a step's cache takes them out of linecache
    weakref.finalize(step, linecache.cache.pop, filename, None)
    return step

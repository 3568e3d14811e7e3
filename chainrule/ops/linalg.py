"""Contractions: the matrix product (batched and broadcasting like ``numpy.matmul``) and einsum.

Two primitives: ``MatMul`` and ``Einsum``, whose backward is itself an einsum (so gradients of
gradients come for free). ``tensordot``, ``outer``, ``mm``, ``bmm``, ``mv`` and ``dot`` are
composed from them after PyTorch's shape checks: they have no backward of their own to get wrong.
"""

from __future__ import annotations

import functools
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import threads
from ..autograd.function import Context, Function, call
from ..autograd.grad_mode import host_array, replayed, watcher
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module
from .axes import DimError
from .broadcast import sum_to
from .shape import Permute, reshape


class MatMul(Function):
    """a @ b. For 2-D a (n, k) and b (k, m): da = g b^T, db = a^T g.

    1-D operands are promoted as NumPy does (a vector a is a row, a vector b a
    column) and leading batch axes broadcast; the backward undoes both.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise ValueError(
                f"shapes {a.shape} and {b.shape} are not aligned: the last axis of a ({ka}) must "
                f"equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of b ({kb})"
            )
        ctx.save_for_backward(a, b)
        return product(a, b)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        a2 = a.reshape(1, -1) if a.ndim == 1 else a  # (.., n, k)
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b  # (.., k, m)
        g2 = grad_out
        if a.ndim == 1:  # put back the n = 1 axis the product dropped
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if b.ndim > 1 else g2.reshape(1)
        if b.ndim == 1:  # and the m = 1 axis
            g2 = g2.reshape(g2.shape + (1,))  # (.., n, m)
        ga = sum_to(product(g2, _swap_last(b2)), a2.shape).reshape(a.shape) if na else None
        gb = sum_to(product(_swap_last(a2), g2), b2.shape).reshape(b.shape) if nb else None
        return ga, gb


def product(a: Any, b: Any, out: Any = None, add: Any = None) -> Any:
    """``a @ b`` (into ``out`` if given), plus ``add`` if given (a linear layer's bias, of the
    product's dtype, broadcast over its rows: added to each part while it is in the cache).
    On raw arrays, a stack of transposed matrices on the right is copied into rows first. NumPy
    hands each matrix of a stack to BLAS only when the right one is laid out in rows: ``q @ k^T``
    on (16, 4, 128, 32) stacks took 1.3 ms through a transposed view and 0.7 ms with the 0.2 ms
    copy (a left transposed operand costs nothing; 2-D products never do). With more than one
    thread (``threads``), NumPy's float products of some size are cut into parts, each run by
    BLAS on one thread of chainrule's pool: the rows of a matrix (or its columns, for a few
    rows) or the first axis of a stack.

    >>> import numpy as np
    >>> a = np.ones((2, 3, 4), np.float32)
    >>> product(a, a.swapaxes(-1, -2)).shape
    (2, 3, 3)
    """
    if (getattr(b, "ndim", 0) > 2 and not isinstance(b, Tensor) and b.strides[-2] < b.strides[-1]
            and b.shape[-1] > 1 and b.shape[-2] > 1):  # fmt: skip
        b = array_module(b).ascontiguousarray(b)
    cut = _cut(a, b)
    if cut is None:
        if out is None and watcher() is not None and _traced_floats(a, b):
            return replayed(product, a, b, None, add)  # one operation of a compiled step, cut at each replay
        out = a @ b if out is None else array_module(a).matmul(a, b, out=out)
        if add is not None:
            out += add
        return out
    axis, n = cut
    if out is None:
        out = np.empty(a.shape[:-1] + b.shape[-1:], a.dtype)
    threads.parallel(lambda i, j: _part(a, b, out, add, axis, i, j), a.shape[0] if axis == 0 else b.shape[1], n)
    return out


def products(*pairs: tuple[Any, Any], sums: Any = None) -> list[Any]:
    """``a @ b`` of each pair of matrices, all their parts in one call of the pool: products
    that ``product`` would cut share the threads, each cut into its share of them. On two
    threads a linear layer's backward runs gx = g W on one and gW = g^T x on the other, whole
    (the pool woken once, not twice, and each right operand packed once): a GPT layer's
    backward products and the head's took 25.7 ms instead of 27.0. With ``sums`` (a 2-d
    array: the bias's upstream gradient), its ``column_sums`` come last, made by the thread
    that is free first, not after the products on one. A compiled step records it all as one
    call, which shares the threads so at each replay. Otherwise (one thread, small, not
    NumPy's floats) each is ``product``'s.

    >>> import numpy as np
    >>> [p.shape for p in products((np.ones((2, 3)), np.ones((3, 4))), (np.ones((5, 2)), np.ones((2, 1))))]
    [(2, 4), (5, 1)]
    """
    if len(pairs) > 1 and watcher() is not None and all(a.ndim == b.ndim == 2 and _traced_floats(a, b) for a, b in pairs):
        return list(replayed(_products, sums, *(m for pair in pairs for m in pair)))  # a compiled step's: one call
    cuts = [_cut(a, b) if a.ndim == b.ndim == 2 else None for a, b in pairs]
    if len(pairs) < 2 or None in cuts:
        return [product(a, b) for a, b in pairs] + ([] if sums is None else [column_sums(sums)])
    share = max(1, threads.get_num_threads() // len(pairs))
    outs: list[Any] = []
    units: list[tuple | None] = []
    for (a, b), (axis, n) in zip(pairs, cuts):
        out = np.empty((a.shape[0], b.shape[1]), a.dtype)
        edges = threads.bounds(a.shape[0] if axis == 0 else b.shape[1], min(n, share))
        units += [(a, b, out, axis, i, j) for i, j in zip(edges, edges[1:])]
        outs.append(out)
    if sums is not None:
        units.append(None)  # the column sums: the last unit
        outs.append(None)

    def work(start: int, stop: int) -> None:  # units start:stop, each a part of one product or the sums
        for unit in units[start:stop]:
            if unit is None:
                outs[-1] = column_sums(sums)
            else:
                _part(*unit[:3], None, *unit[3:])

    threads.parallel(work, len(units), len(units))
    return outs


def _products(sums: Any, *matrices: Any) -> tuple:
    """``products`` of the pairs laid out flat (a1, b1, a2, b2, ...) and ``sums``, as one recorded call."""
    return tuple(products(*zip(matrices[::2], matrices[1::2]), sums=sums))


def _part(a: Any, b: Any, out: Any, add: Any, axis: int, i: int, j: int) -> None:
    """Part i:j of ``a @ b`` (+ ``add``) into ``out``: along b's and out's columns (axis -1), or
    the rows of a matrix, the first axis of a stack times one matrix, or of two stacks."""
    if axis == -1:
        np.matmul(a, b[:, i:j], out=out[:, i:j])
        if add is not None:
            out[:, i:j] += add[..., i:j]
    else:
        np.matmul(a[i:j], b if b.ndim == 2 else b[i:j], out=out[i:j])
        if add is not None:
            out[i:j] += add


_PART = 1 << 21  # multiply-adds a part holds at least (some 50 us of a core)


def _traced_floats(a: Any, b: Any) -> bool:
    """Operands of one float dtype, NumPy arrays of another type among them (a compiled step's
    traced arrays), big enough to cut on two threads: ``product`` records the product as one
    call that cuts it at each replay (a small one stays ``a @ b``: a sampling step's products
    are 5,000 a second, and the call's few microseconds would cost it a tenth)."""
    arrays = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
    return (arrays and (type(a) is not np.ndarray or type(b) is not np.ndarray) and a.dtype == b.dtype
            and a.dtype.char in "fdFD" and a.ndim >= 2 and b.ndim >= 2 and a.size * b.shape[-1] >= 2 * _PART)  # fmt: skip


def _cut(a: Any, b: Any) -> tuple[int, int] | None:
    """How ``product`` cuts ``a @ b`` for the pool: (0, n) along a's first axis, (-1, n) along
    b's columns, None: in one go (one thread, small, not NumPy's floats, broadcast stacks)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.dtype != b.dtype or a.dtype.char not in "fdFD":
        return None
    if a.ndim < 2 or b.ndim < 2 or (b.ndim > 2 and b.shape[:-2] != a.shape[:-2]):
        return None
    n = threads.parts(a.size * b.shape[-1], _PART)  # multiply-adds
    if n <= 1:
        return None
    if a.ndim > 2:
        return (0, n) if a.shape[0] >= n else None
    if a.shape[0] >= 32 * n:
        return 0, n
    return (-1, n) if b.shape[1] >= 32 * n else None


def column_sums(g: Any) -> Any:
    """``g.sum(axis=0)`` of a 2-d array (a bias's gradient: the rows of the upstream gradient
    summed); on a NumPy float array of many rows as ones @ g, BLAS's matrix-vector product,
    which took 146 us where NumPy's reduction down the rows took 357 for a GPT layer's four
    biases (2048 rows).

    >>> import numpy as np
    >>> column_sums(np.arange(6.0).reshape(3, 2)).tolist()
    [6.0, 9.0]
    """
    xp = array_module(g)  # a compiled step's traced arrays too: the product replays
    if (host_array(g) or type(g) is xp.ndarray) and g.ndim == 2 and g.shape[0] >= 64 and g.dtype.char in "fd":
        return xp.ones(g.shape[0], g.dtype) @ g
    return g.sum(axis=0)


def _swap_last(x: Any) -> Any:
    """x with its last two axes swapped (x^T for a matrix), on a Tensor or an array."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return call(Permute, x, axes=tuple(axes))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules (batched, broadcasting, 1-D promotion).

    >>> import chainrule as cr
    >>> W = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x = cr.Tensor([1.0, 1.0])
    >>> (W @ x).numpy()
    array([3., 7.], dtype=float32)
    """
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: got shapes {a.shape} and {b.shape}; expected both to have at least one "
            "dimension (use * for scalars)"
        )
    return MatMul.apply(a, b)


# ---------------------------------------------------------------------------------
# einsum
# ---------------------------------------------------------------------------------

_LETTERS = string.ascii_letters  # the 52 subscripts NumPy and PyTorch accept
_DOTS = "..."


class Einsum(Function):
    """``numpy.einsum`` on a canonical equation: letters only, explicit output, no ellipsis, and
    each subscript of one size in every operand (``einsum`` below makes it so).

    out = sum over the summed subscripts of prod_k x_k, so d out / d x_k is the product of the
    other operands: the gradient of x_k is the einsum of grad_out with them into x_k's subscripts.
    """

    @staticmethod
    def forward(ctx: Context, *operands: Any, equation: str) -> Any:
        ctx.equation, ctx.shapes = equation, tuple(x.shape for x in operands)
        if len(operands) > 1:  # one operand's gradient needs only its shape: keep no array alive
            ctx.save_for_backward(*operands)
        xp = array_module(operands[0])
        return xp.einsum(equation, *operands, optimize=_optimize(equation, operands))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        operands = ctx.saved_tensors
        return tuple(_operand_grad(ctx.equation, ctx.shapes, operands, k, grad_out) if need else None
                     for k, need in enumerate(ctx.needs_input_grad))  # fmt: skip


def _optimize(equation: str, operands: Sequence[Any]) -> bool:
    """Whether NumPy's contraction-order search pays: it costs about 10 us, and buys a good order
    for 3+ operands and BLAS (matmul, tensordot) for 2 with much work (8 x 64^3: 6x faster)."""
    if len(operands) != 2:
        return len(operands) > 2
    sizes = dict(zip(equation.replace(",", "").partition("->")[0], (*operands[0].shape, *operands[1].shape)))
    work = 1
    for n in sizes.values():
        work *= n
    return work >= 1 << 15


def _operand_grad(equation: str, shapes: tuple, operands: Sequence[Any], k: int, grad_out: Any) -> Any:
    """The gradient of operand k: grad_out (output subscripts) with the other operands, into k's.

    einsum cannot write a diagonal: a subscript repeated in operand k ('ii') gets a fresh letter
    per repeat, tied to the first by an identity matrix ('ia' with eye). A subscript found in
    operand k alone (summed there) meets a vector of ones, which broadcasts the gradient along it.
    """
    lhs, out = equation.split("->")
    terms = lhs.split(",")
    mine, shape = terms[k], shapes[k]
    raw = grad_out.data if isinstance(grad_out, Tensor) else grad_out
    xp = array_module(raw)
    ins, args = [out, *terms[:k], *terms[k + 1 :]], [grad_out, *operands[:k], *operands[k + 1 :]]
    fresh = (c for c in _LETTERS if c not in equation)
    target = ""
    for c, n in zip(mine, shape):
        if c in target:
            f = next(fresh)
            ins.append(c + f)
            args.append(xp.eye(n, dtype=raw.dtype))
            c = f
        target += c
    seen = set("".join(ins))
    for c, n in zip(mine, shape):
        if c not in seen:
            seen.add(c)
            ins.append(c)
            args.append(xp.ones(n, dtype=raw.dtype))
    return call(Einsum, *args, equation=",".join(ins) + "->" + target)


def einsum(equation: Any, *operands: Any) -> Tensor:
    """Einstein summation, with NumPy's and PyTorch's subscripts.

    ``'ij,jk->ik'`` multiplies matrices; a subscript missing from the output is summed, one
    repeated in an operand takes its diagonal (``'ii->i'``, ``'ii'`` the trace); ``'...'``
    stands for the leading dimensions, which broadcast (as do size-1 dimensions); without
    ``->`` the output is the ellipsis then the subscripts seen once, in alphabetical order.
    Operands may also come as one list (``einsum('ij,jk', [a, b])``), or in the sublist form
    ``einsum(a, [0, 1], b, [1, 2], [0, 2])``. Explicit subscripts that leave out an ellipsis's
    dimensions sum them, as PyTorch does (NumPy refuses).

    >>> import chainrule as cr
    >>> a = cr.Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> cr.ops.linalg.einsum('ii', a).item()
    5.0
    >>> cr.ops.linalg.einsum('ij,jk->ik', a, a).tolist()
    [[7.0, 10.0], [15.0, 22.0]]
    >>> cr.ops.linalg.einsum('ii->i', a).sum().backward()
    >>> a.grad.tolist()
    [[1.0, 0.0], [0.0, 1.0]]
    """
    if not isinstance(equation, str):  # the sublist form: operand, subscripts, operand, ..., [output]
        equation, operands = _from_sublists((equation, *operands))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)) and operands[0] \
            and all(hasattr(x, "shape") for x in operands[0]):  # fmt: skip
        operands = tuple(operands[0])
    if not operands:
        raise ValueError(f"einsum: got no operands for equation {equation!r}; expected at least one tensor")
    ts = [as_tensor(x) for x in operands]
    canonical, kept = _parse(equation, tuple(t.shape for t in ts))
    # size-1 dimensions that broadcast leave their operand (a reshape, whose backward puts them back)
    ts = [t if len(k) == t.ndim else reshape(t, tuple(t.shape[i] for i in k)) for t, k in zip(ts, kept)]
    return Einsum.apply(*ts, equation=canonical)


def _from_sublists(args: tuple) -> tuple[str, tuple]:
    """PyTorch's sublist form as an equation: ints 0-25 are A-Z, 26-51 a-z, Ellipsis is '...'."""

    def letters(sub: Any) -> str:
        out = ""
        for n in sub:
            if n is Ellipsis:
                out += _DOTS
            elif isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 52:
                out += string.ascii_uppercase[n] if n < 26 else string.ascii_lowercase[n - 26]
            else:
                raise ValueError(f"einsum: sublist subscript {n!r}; expected an int in [0, 52) or Ellipsis")
        return out

    operands, subs = args[0::2], args[1::2]
    out = None
    if len(operands) > len(subs):  # an odd count: the last sublist is the output's
        operands, out = operands[:-1], operands[-1]
    for s in subs:
        if not isinstance(s, (list, tuple)):
            raise ValueError(
                f"einsum: expected an equation string or operand, sublist pairs; got a {type(s).__name__} "
                "where a sublist was expected"
            )
    equation = ",".join(letters(s) for s in subs) + ("" if out is None else "->" + letters(out))
    return equation, operands


@functools.lru_cache(maxsize=512)  # a training step repeats its equations and shapes: parse once (13 us)
def _parse(equation: str, shapes: tuple[tuple[int, ...], ...]) -> tuple[str, tuple[tuple[int, ...], ...]]:
    """Check ``equation`` against the operand shapes; give the canonical equation (``Einsum``'s)
    and, per operand, the dimensions it keeps (a size-1 one that broadcasts is dropped)."""

    def bad(why: str) -> ValueError:
        shown = ", ".join(str(tuple(s)) for s in shapes)
        return ValueError(f"einsum: {why} (equation {equation!r}, operand shapes {shown})")

    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    if "->" in rhs:
        raise bad("more than one '->'")
    terms = [_labels(t, f"operand {k}'s subscripts", bad) for k, t in enumerate(lhs.split(","))]
    if len(terms) != len(shapes):
        raise bad(f"the equation has subscripts for {len(terms)} operand(s) but {len(shapes)} were given")
    spans = []  # how many dimensions each operand's ellipsis covers
    for k, (t, s) in enumerate(zip(terms, shapes)):
        n = len(t) - (_DOTS in t)
        if len(s) < n or (len(s) > n and _DOTS not in t):
            raise bad(f"operand {k} has {len(s)} dimension(s) but {n} subscript(s)"
                      + ("" if _DOTS in t else " and no ellipsis"))  # fmt: skip
        spans.append(len(s) - n)
    dots = list(range(max(spans)))  # the ellipsis's dimensions, as labels 0, 1, ..., aligned to the right
    terms = [_expand(t, dots[len(dots) - e :]) for t, e in zip(terms, spans)]
    if arrow:
        out = _labels(rhs, "the output", bad)
        for c in out:
            if c != _DOTS and not any(c in t for t in terms):
                raise bad(f"output subscript {c!r} appears in no operand")
            if out.count(c) > 1:
                raise bad(f"output subscript {c!r} appears more than once")
        out = _expand(out, dots)  # an output without '...' sums the ellipsis's dimensions (PyTorch)
    else:
        counts = Counter(c for t in terms for c in t if isinstance(c, str))
        out = [*dots, *sorted(c for c, m in counts.items() if m == 1)]
    sizes = _sizes(terms, shapes, bad)
    kept = tuple(tuple(i for i, c in enumerate(t) if s[i] == sizes[c]) for t, s in zip(terms, shapes))
    used = {c for c in sizes if isinstance(c, str)}
    spare = iter(c for c in _LETTERS if c not in used)
    repeats = max(len(t) - len(set(t)) for t in terms)  # the backward's fresh letters for a diagonal
    if len(sizes) + repeats > len(_LETTERS):
        raise bad(f"{len(sizes)} distinct subscripts (ellipsis dimensions included) and {repeats} repeat(s); "
                  f"at most {len(_LETTERS)} together are supported")  # fmt: skip
    letter = {c: c if isinstance(c, str) else next(spare) for c in sizes}
    ins = ["".join(letter[t[i]] for i in keep) for t, keep in zip(terms, kept)]
    return ",".join(ins) + "->" + "".join(letter[c] for c in out), kept


def _labels(term: str, where: str, bad: Any) -> list:
    """One term's subscripts: letters, and '...' at most once."""
    out: list = []
    i = 0
    while i < len(term):
        if term[i] in _LETTERS:
            out.append(term[i])
            i += 1
        elif term.startswith(_DOTS, i) and _DOTS not in out:
            out.append(_DOTS)
            i += 3
        else:
            why = "a second ellipsis" if term.startswith(_DOTS, i) else f"invalid subscript {term[i]!r}"
            raise bad(f"{why} in {where}; expected letters a-z, A-Z and one '...' at most")
    return out


def _expand(term: list, dots: list[int]) -> list:
    """The term with '...' replaced by the ellipsis's labels."""
    if _DOTS not in term:
        return term
    i = term.index(_DOTS)
    return [*term[:i], *dots, *term[i + 1 :]]


def _sizes(terms: list[list], shapes: list[tuple[int, ...]], bad: Any) -> dict:
    """Each subscript's size: equal within an operand, equal or 1 (broadcasting) across them."""
    sizes: dict = {}
    for k, (t, s) in enumerate(zip(terms, shapes)):
        mine: dict = {}
        for c, n in zip(t, s):
            name = repr(c) if isinstance(c, str) else f"'...' (its dimension {c})"
            if mine.setdefault(c, n) != n:
                raise bad(
                    f"subscript {name} is repeated in operand {k} with sizes {mine[c]} and {n}; expected one"
                )
            seen = sizes.setdefault(c, n)
            if seen == 1:
                sizes[c] = n
            elif n not in (1, seen):
                raise bad(f"subscript {name} has size {n} in operand {k}, which does not broadcast with size {seen} "
                          "seen before")  # fmt: skip
    return sizes


# ---------------------------------------------------------------------------------
# Composed from einsum and matmul, after PyTorch's shape checks
# ---------------------------------------------------------------------------------


def tensordot(a: Any, b: Any, dims: Any = None, *, axes: Any = None) -> Tensor:
    """Sum the products over ``dims`` of a and b; the other dimensions, a's then b's, remain.

    ``dims`` (NumPy: ``axes``; default 2) is an int n (a's last n dimensions with b's first n)
    or a pair of dim lists ``([1, 0], [0, 1])``, a's and b's, contracted in that order.

    >>> import chainrule as cr
    >>> a = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> cr.ops.linalg.tensordot(a, a, dims=([1], [0])).tolist()
    [[7.0, 10.0], [15.0, 22.0]]
    >>> cr.ops.linalg.tensordot(a, a).item()
    30.0
    """
    if dims is not None and axes is not None:
        raise TypeError(f"tensordot: got both dims={dims!r} and axes={axes!r}; expected one of them (they are the same "
                        "argument)")  # fmt: skip
    a, b = as_tensor(a), as_tensor(b)
    dims = axes if dims is None else dims
    da, db = _contracted(a.shape, b.shape, 2 if dims is None else dims)
    for i, j in zip(da, db):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"tensordot: contracted dimensions need to match, but a has size {a.shape[i]} in dim {i} "
                             f"and b has size {b.shape[j]} in dim {j} (shapes {a.shape} and {b.shape})")  # fmt: skip
    sa = _LETTERS[: a.ndim]
    free = iter(_LETTERS[a.ndim :])
    sb = "".join(sa[da[db.index(j)]] if j in db else next(free) for j in range(b.ndim))
    out = [c for i, c in enumerate(sa) if i not in da] + [c for j, c in enumerate(sb) if j not in db]
    return einsum(f"{sa},{sb}->{''.join(out)}", a, b)


def _contracted(sa: tuple[int, ...], sb: tuple[int, ...], dims: Any) -> tuple[list[int], list[int]]:
    """tensordot's dims as two lists of non-negative dims, a's and b's, checked."""
    if isinstance(dims, int) and not isinstance(dims, bool):
        if dims < 0 or dims > min(len(sa), len(sb)):
            raise ValueError(f"tensordot: dims={dims} for shapes {sa} and {sb}; expected an int in "
                             f"[0, {min(len(sa), len(sb))}] (at most the dimensions of each)")  # fmt: skip
        return list(range(len(sa) - dims, len(sa))), list(range(dims))
    if not isinstance(dims, (list, tuple)) or len(dims) != 2:
        raise TypeError(f"tensordot: dims={dims!r}; expected an int or a pair of dim lists, e.g. ([1], [0])")
    lists = [[d] if isinstance(d, int) else list(d) for d in dims]
    if len(lists[0]) != len(lists[1]):
        raise ValueError(f"tensordot: dims={dims!r} lists {len(lists[0])} dim(s) of a and {len(lists[1])} of b; "
                         "expected the same number")  # fmt: skip
    out = []
    for name, shape, ds in (("a", sa, lists[0]), ("b", sb, lists[1])):
        for d in ds:
            if isinstance(d, bool) or not isinstance(d, int) or not -len(shape) <= d < len(shape):
                raise DimError(f"tensordot: dim {d!r} of {name} is out of range for shape {shape}; expected an int in "
                               f"[{-len(shape)}, {len(shape) - 1}]")  # fmt: skip
        ds = [d % len(shape) for d in ds]
        if len(set(ds)) != len(ds):
            raise ValueError(f"tensordot: dims={dims!r} repeats a dim of {name}; expected each dim once")
        out.append(ds)
    return out[0], out[1]


def outer(a: Any, b: Any) -> Tensor:
    """The outer product of two vectors: ``out[i, j] = a[i] * b[j]``.

    >>> import chainrule as cr
    >>> cr.ops.linalg.outer(cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 10.0, 100.0])).tolist()
    [[1.0, 10.0, 100.0], [2.0, 20.0, 200.0]]
    """
    a, b = as_tensor(a), as_tensor(b)
    _need("outer", (a, b), (1, 1), "two 1-D tensors")
    return reshape(a, (a.shape[0], 1)) * b  # (n, 1) * (m,) -> (n, m)


def mm(a: Any, b: Any) -> Tensor:
    """The product of two matrices, (n, k) @ (k, m) -> (n, m); no broadcasting (``matmul`` has it).

    >>> import chainrule as cr
    >>> cr.ops.linalg.mm(cr.Tensor([[1.0, 2.0]]), cr.Tensor([[3.0], [4.0]])).tolist()
    [[11.0]]
    """
    a, b = as_tensor(a), as_tensor(b)
    _need("mm", (a, b), (2, 2), "two 2-D tensors")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"mm: mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x{a.shape[1]} and "
                         f"{b.shape[0]}x{b.shape[1]}); expected mat1's columns to equal mat2's rows")  # fmt: skip
    return matmul(a, b)


def bmm(a: Any, b: Any) -> Tensor:
    """Batched matrix product, (B, n, k) @ (B, k, m) -> (B, n, m); no broadcasting.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> cr.ops.linalg.bmm(cr.Tensor(np.ones((4, 2, 3))), cr.Tensor(np.ones((4, 3, 5)))).shape
    (4, 2, 5)
    """
    a, b = as_tensor(a), as_tensor(b)
    _need("bmm", (a, b), (3, 3), "two 3-D tensors")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise ValueError(f"bmm: expected batch2 of shape ({a.shape[0]}, {a.shape[2]}, m) to match batch1 of shape "
                         f"{a.shape} (equal batch, batch1's columns = batch2's rows), got {b.shape}")  # fmt: skip
    return matmul(a, b)


def mv(a: Any, v: Any) -> Tensor:
    """Matrix times vector, (n, m) @ (m,) -> (n,).

    >>> import chainrule as cr
    >>> cr.ops.linalg.mv(cr.Tensor([[1.0, 2.0], [3.0, 4.0]]), cr.Tensor([1.0, 1.0])).tolist()
    [3.0, 7.0]
    """
    a, v = as_tensor(a), as_tensor(v)
    _need("mv", (a, v), (2, 1), "a 2-D matrix and a 1-D vector")
    if a.shape[1] != v.shape[0]:
        raise ValueError(f"mv: size mismatch, matrix {a.shape} and vector {v.shape}; expected the vector's length to "
                         "equal the matrix's columns")  # fmt: skip
    return matmul(a, v)


def dot(a: Any, b: Any) -> Tensor:
    """The inner product of two 1-D tensors of equal length (a 0-d tensor).

    >>> import chainrule as cr
    >>> cr.ops.linalg.dot(cr.Tensor([1.0, 2.0]), cr.Tensor([3.0, 4.0])).item()
    11.0
    """
    a, b = as_tensor(a), as_tensor(b)
    _need("dot", (a, b), (1, 1), "two 1-D tensors")
    if a.shape != b.shape:
        raise ValueError(f"dot: inconsistent tensor size, shapes {a.shape} and {b.shape}; expected two 1-D tensors "
                         "of the same length")  # fmt: skip
    return matmul(a, b)


def _need(op: str, ts: tuple, ndims: tuple[int, ...], what: str) -> None:
    """An error naming ``op`` and the shapes unless the tensors have ``ndims`` dimensions."""
    if tuple(t.ndim for t in ts) != ndims:
        shapes = " and ".join(str(t.shape) for t in ts)
        raise ValueError(f"{op}: expected {what}, got shapes {shapes} "
                         f"({' and '.join(f'{t.ndim}-D' for t in ts)})")  # fmt: skip


# Tensor methods (grep "Tensor.<name> =")
Tensor.outer = outer
Tensor.mm = mm
Tensor.bmm = bmm
Tensor.mv = mv
Tensor.dot = dot

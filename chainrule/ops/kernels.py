"""Compiled CPU loops (Numba) for the passes that NumPy makes many times over: the window ops',
layer norm's and a softmax's row max.

In NumPy, max pooling is kh*kw strided passes in the forward and, in the backward, as many
compares, mask updates and masked multiplies; col2im (``Fold``) is kh*kw strided adds. A
loop compiled by Numba does each in one pass over memory: the CNN step of ``bench_train.py``
went from 69-76 to 55-57 ms at one thread. Only the callers decide when: NumPy arrays
(never CuPy's; in a compiled step's trace each call is one operation of the tape) with
Numba installed (the ``fast`` extra); otherwise the NumPy code beside each call runs and
gives the same numbers (the tests run both). The loops are serial and release
the GIL, so threads may call them at once: Numba's parallel loops were measured and left
out, since on two cores their threads fought OpenBLAS's (the step took 97-100 ms with the
OpenMP layer, 44-70 with the workqueue layer, against 44-51 serial). Numba's exp and tanh
are scalar calls where NumPy's are vectorized: an LSTM step's gates as one loop with them took
the step from 37 to 47 ms. With tanh as a rational function (Eigen's, and sigmoid through it),
branch-free so the compiler vectorizes it, the loop runs a step's cells in 34-50 us where
NumPy's passes take 76-84, and the step's backward in one pass beside it.
Pooling's backward first added each gradient onto zeros at an offset divided out of its
route: 1.8 and 1.2 ms for the CNN's two pools; comparing the route with each offset (a
select the compiler vectorizes) and, for side-by-side windows, writing every entry once
instead of filling zeros and adding onto them took them to 0.3 and 0.1 ms. Layer norm as
NumPy passes (mean, centre, square, mean, scale, shift; more back) took 13 ms of the GPT
bench's 160 ms step; a row each way in one loop, 4.6 ms. NumPy's max over short rows (an
attention block's (16, 64, 128) scores) costs as much as the product that made them: 90 us,
a loop of sixteen lanes 43. The same goes for exp: Cephes' float32 expf as a polynomial and
the exponent's bits (``_exp32``, branch-free) vectorizes, so a softmax's shift, exp and row
sum are one pass a row, and GELU's backward one pass. Two traps of the compiler: a loop
that reads one array and writes another that is the same memory (in place, through two
arguments) fails LLVM's overlap check and runs scalar (a softmax row 3x slower), so such
loops read and write one array; and a loop over a causal row's first keys leaves a scalar
tail of up to 63 entries a row, so the whole row runs with the masked keys selected to 0.
A third: a Python int in a float32 loop's math (``s / n``) makes Numba widen it to float64,
half the vector width and two conversions an element (layer norm's forward ran 2.3x slower
so; a test reads each float32 loop's compiled code for float64 arithmetic). The float32
cross-entropy (a GPT batch's (2048, 65) scores each way: 2.2 -> 0.96 ms) and an embedding's
gradient rows (0.88 -> 0.18 ms) are loops too.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import numpy as np

from .. import threads
from ..autograd.grad_mode import replayed

# off while a compiled step for a GPU is traced (its replay runs on the GPU, which has no use for
# CPU loops): per thread, so a trace never changes what another thread's eager steps run
off = contextvars.ContextVar("chainrule_cpu_loops_off", default=False)
_compile_lock = threading.Lock()
_loops: dict[str, Any] | None = None  # name -> the compiled loop, made on first use


def usable(*arrays: Any) -> bool:
    """Whether the compiled loops may run on these arrays: NumPy float32 or float64 (a
    compiled step's traced arrays too), Numba present.

    >>> usable(np.zeros(3, np.float32)) == available()
    True
    """
    return all(isinstance(a, np.ndarray) and a.dtype in _FLOATS for a in arrays) and available() and not off.get()


def run(loop: Any, *args: Any) -> Any:
    """``loop(*args)``; inside a compiled step's trace, one operation of the tape (each
    replay calls the loop again), so compiled steps use the loops too."""
    return replayed(loop, *args)


_available: bool | None = None
_ROWS_PART = 1 << 15  # elements a thread's rows hold at least (``threads.parallel``)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))  # float16: the NumPy passes (Numba's support is partial)


def available() -> bool:
    """Numba is installed (checked once)."""
    global _available
    if _available is None:
        try:
            import numba  # noqa: F401

            _available = True
        except ImportError:
            _available = False
    return _available


def _run(name: str, *args: Any) -> Any:
    return _compiled()[name](*args)


def route_dtype(kernel: tuple[int, int]) -> np.dtype:
    """The smallest unsigned integer that numbers every offset of a window.

    >>> route_dtype((3, 3)), route_dtype((32, 32))
    (dtype('uint8'), dtype('uint16'))
    """
    size = kernel[0] * kernel[1]
    return np.dtype(np.uint8 if size <= 256 else np.uint16 if size <= 65536 else np.uint32)


def pool_max(x: Any, kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> tuple[Any, Any]:  # fmt: skip
    """(N, H, W, C) -> the window maxima (N, Ho, Wo, C) and (``route_dtype``) the number
    ``i * kw + j`` of the offset that holds each one (the first, on a tie; a NaN wins). A
    window's taps sit ``dilation`` apart.

    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    >>> out, route = pool_max(x, (2, 2), (2, 2))
    >>> out[0, :, :, 0].tolist(), route[0, :, :, 0].tolist()
    ([[5.0, 7.0], [13.0, 15.0]], [[3, 3], [3, 3]])
    """
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((n, ho, wo, c), dtype=x.dtype)
    route = np.empty((n, ho, wo, c), dtype=route_dtype(kernel))
    _run("pool_max", np.ascontiguousarray(x), kh, kw, sh, sw, dh, dw, out, route)
    return out, route


def pool_scatter(g: Any, route: Any, shape: tuple[int, ...], kernel: tuple[int, int],
                 stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> Any:  # fmt: skip
    """(N, Ho, Wo, C) -> (N, H, W, C): each value added where ``route`` says its window's max was.

    >>> g = np.ones((1, 1, 1, 1), np.float32)
    >>> pool_scatter(g, np.array([[[[3]]]], np.uint8), (1, 2, 2, 1), (2, 2), (2, 2))[0, :, :, 0].tolist()
    [[0.0, 0.0], [0.0, 1.0]]
    """
    g = np.ascontiguousarray(g)
    if tuple(kernel) == tuple(stride) and tuple(dilation) == (1, 1):
        # windows side by side (2x2 pooling, stride 2): each entry is written once, the
        # gradient or a zero, in memory order - no zero-fill pass and no adds
        out = np.empty(shape, dtype=g.dtype)
        _run("pool_scatter_tiled", g, route, kernel[0], kernel[1], out)
        return out
    out = np.zeros(shape, dtype=g.dtype)
    _run("pool_scatter", g, route, kernel[0], kernel[1], stride[0], stride[1], dilation[0], dilation[1], out)
    return out


def pool_gather(x: Any, route: Any, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Any:  # fmt: skip
    """(N, H, W, C) -> (N, Ho, Wo, C): each output reads x where ``route`` points."""
    out = np.empty(route.shape, dtype=x.dtype)
    _run("pool_gather", np.ascontiguousarray(x), route, kernel[0], kernel[1], stride[0], stride[1], dilation[0],
         dilation[1], out)  # fmt: skip
    return out


def softmax_shift(s: Any, m: Any = None, causal: int | None = None, out: Any = None) -> tuple[Any, Any]:
    """A softmax's first pass over the rows (the last axis) of scores ``s`` (..., L, S): each row
    less its max, into ``out`` (``s`` itself when C-contiguous, for in place; else a new array),
    and those maxima, (..., L, 1): a row of -inf shifted by 0 (its exps 0, not NaN), a row with a
    NaN by NaN. ``m``: the shifts to take instead (the backward's saved ones, the same bits).
    ``causal``: None, or the position qa of the first query (a tile's): query qa + i of each (L, S)
    matrix sees keys 0..qa + i, the rest set to -inf (the causal mask with no bias to build and
    add). NumPy's max over short rows costs as much as the product that made them (90 us over
    an attention block's (16, 64, 128)), and each pass broadcasting a column twice a plain one.

    >>> x = np.array([[1.0, 3.0, 2.0], [0.0, 1.0, 5.0]], np.float32)
    >>> shifted, m = softmax_shift(x, causal=0)
    >>> shifted.tolist(), m.tolist()
    ([[0.0, -inf, -inf], [-1.0, 0.0, -inf]], [[1.0], [1.0]])
    """
    src, dst, shifts, args = _rows(s, m, causal, out)
    _run("softmax_shift", src, dst, *args, _same(src, dst))
    return dst.reshape(s.shape), shifts.reshape(s.shape[:-1] + (1,))


def _rows(s: Any, m: Any, causal: int | None, out: Any) -> tuple[Any, Any, Any, tuple]:
    """``softmax_shift``'s and ``softmax_exp``'s rows: (src, dst, the shifts, the loop's
    arguments from the queries a matrix holds to the shifts and whether to find them)."""
    S = s.shape[-1]
    src = np.ascontiguousarray(s).reshape(-1, S)
    dst = out.reshape(-1, S) if out is not None and out.flags.c_contiguous else np.empty_like(src)
    find = m is None
    shifts = np.empty(src.shape[0], s.dtype) if find else np.ascontiguousarray(m, s.dtype).reshape(-1)
    L = s.shape[-2] if s.ndim > 1 else 1
    return src, dst, shifts, (L, -1 if causal is None else causal, shifts, find)


def softmax_exp(s: Any, m: Any = None, causal: int | None = None, out: Any = None) -> tuple[Any, Any, Any]:
    """A softmax's passes but the last, over the rows of scores ``s``: (e, m, iz), e = exp(each
    row less its max m), the causal mask's keys 0 (``softmax_shift``'s arguments and rules), and
    iz = 1 / each row's sum of e (1 where it is 0). In float32 one pass a row: the shift, exp
    (Cephes' expf: a polynomial and the exponent's bits, branch-free so the compiler vectorizes
    it; within 3 units in the last place of NumPy's, 0 below -87.3 where NumPy's gives a
    subnormal) and the sum. Over the GPT bench's attention, NumPy's exp took 6 ms a step as a
    pass of its own. Float64: ``softmax_shift``, NumPy's exp, ``inverse_row_sums``.

    >>> e, m, iz = softmax_exp(np.array([[0.0, 0.0, 0.0], [1.0, 3.0, 2.0]], np.float32), causal=0)
    >>> e.astype(float).round(4).tolist(), m.tolist(), iz.astype(float).round(4).tolist()
    ([[1.0, 0.0, 0.0], [0.1353, 1.0, 0.0]], [[0.0], [3.0]], [[1.0], [0.8808]])
    """
    if s.dtype != np.float32:
        e, m = softmax_shift(s, m, causal, out)
        np.exp(e, out=e)
        return e, m, inverse_row_sums(e)
    src, dst, shifts, args = _rows(s, m, causal, out)
    iz = np.empty(src.shape[0], s.dtype)
    _run("softmax_exp", src, dst, *args, iz, _same(src, dst))
    rows = s.shape[:-1] + (1,)
    return dst.reshape(s.shape), shifts.reshape(rows), iz.reshape(rows)


def _same(a: Any, b: Any) -> bool:
    """Whether two arrays of one shape start at the same address (a loop in place)."""
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


def inverse_row_sums(x: Any) -> Any:
    """1 / the sum of each row (the last axis) of ``x``, (..., 1); 1 where a sum is 0 (a fully
    masked row of exps: its probabilities 0 / 1). Summed in sixteen lanes (``layer_norm``'s
    note): 12 us over (16, 64, 128) float32 where NumPy's short rows take 59.

    >>> inverse_row_sums(np.array([[1.0, 3.0], [0.0, 0.0]], np.float32)).tolist()
    [[0.25], [1.0]]
    """
    n = x.shape[-1]
    out = np.empty(x.shape[:-1] + (1,), x.dtype)
    _run("inverse_row_sums", np.ascontiguousarray(x).reshape(-1, n), out.reshape(-1))
    return out


def adam(w: Any, g: Any, m: Any, v: Any, lr: float, betas: tuple[float, float], eps: float, c1: float, c2: float,
         weight_decay: float = 0.0, decoupled: bool = False, maximize: bool = False) -> None:  # fmt: skip
    """One Adam update of C-contiguous ``w`` with gradient ``g`` and moments ``m``, ``v`` (all of one
    shape and float dtype), in place, one pass: ``Adam``'s NumPy passes' operations in their order,
    each scalar cast to the arrays' dtype as NumPy casts a Python float, so the same bits.
    ``c1``, ``c2``: the bias corrections 1 - b1^t and sqrt(1 - b2^t).

    >>> w, g = np.ones(2, np.float32), np.full(2, 0.5, np.float32)
    >>> m, v = np.zeros(2, np.float32), np.zeros(2, np.float32)
    >>> adam(w, g, m, v, 0.1, (0.9, 0.999), 1e-8, 1 - 0.9, (1 - 0.999) ** 0.5); w.astype(float).round(4).tolist()
    [0.9, 0.9]
    """
    f = w.dtype.type
    b1, b2 = betas
    decay = 0 if not weight_decay else 1 if decoupled else 2
    _run("adam", w.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), f(lr), f(b1), f(1 - b1), f(b2), f(1 - b2),
         f(c1), f(c2), f(eps), f(weight_decay), decay, maximize)  # fmt: skip


def cross_entropy(s: Any, labels: Any) -> tuple[Any, Any]:
    """Each row's log-sum-exp of float32 scores ``s`` (N, C) and its label's score, (N,) each,
    in one pass a row (the max, then Cephes' exp and the sum); the loss of a row is their
    difference. NaN, or an inf that makes the shift NaN, gives NaN, as the passes do. A label
    outside 0..C-1 raises IndexError, before anything is returned.

    >>> lse, picked = cross_entropy(np.zeros((1, 4), np.float32), np.array([2]))
    >>> round(float(lse[0] - picked[0]), 4)  # log 4
    1.3863
    """
    n = s.shape[0]
    lse, picked = np.empty(n, s.dtype), np.empty(n, s.dtype)
    bad = _run("cross_entropy", np.ascontiguousarray(s), np.ascontiguousarray(labels, np.intp), lse, picked)
    if bad:
        raise IndexError(f"cross_entropy: {bad} label(s) outside 0..{s.shape[1] - 1} for {s.shape[1]} classes")
    return lse, picked


def cross_entropy_grad(s: Any, lse: Any, labels: Any) -> Any:
    """softmax(s) less one at each row's label, (N, C), from ``cross_entropy``'s log-sum-exps
    (exp(s - lse) a row, one pass): the gradient of each row's loss.

    >>> s = np.zeros((1, 2), np.float32)
    >>> lse, _ = cross_entropy(s, np.array([0]))
    >>> cross_entropy_grad(s, lse, np.array([0])).tolist()
    [[-0.5, 0.5]]
    """
    d = np.empty(s.shape, s.dtype)
    _run("cross_entropy_grad", np.ascontiguousarray(s), lse, np.ascontiguousarray(labels, np.intp), d)
    return d


def add_rows(out: Any, index: Any, rows: Any) -> None:
    """out[index] += rows, in place, a row a time in the index's order, so a row picked twice
    gets both (an embedding's gradient): ``out`` (R, ...), ``index`` integers (negative from
    the end), ``rows`` (index.size, ...), one float dtype. An index outside -R..R-1 raises
    IndexError before any row is added.

    >>> out = np.zeros((3, 2), np.float32)
    >>> add_rows(out, np.array([2, 0, 2]), np.ones((3, 2), np.float32)); out.tolist()
    [[1.0, 1.0], [0.0, 0.0], [2.0, 2.0]]
    """
    flat = np.ascontiguousarray(index, np.intp).reshape(-1)
    n = out.shape[0]
    if flat.size and (flat.min() < -n or flat.max() >= n):
        raise IndexError(f"add_rows: an index outside -{n}..{n - 1} for {n} rows")
    _run("add_rows", out.reshape(n, -1), flat, np.ascontiguousarray(rows).reshape(flat.size, -1))


def row_dots(a: Any, b: Any) -> Any:
    """The dot product of each row of ``a`` with the same row of ``b`` (the last axis), (..., 1):
    ``(a * b).sum(axis=-1, keepdims=True)`` in one pass, with no product array.

    >>> row_dots(np.array([[1.0, 2.0]], np.float32), np.array([[3.0, 4.0]], np.float32)).tolist()
    [[11.0]]
    """
    n = a.shape[-1]
    out = np.empty(a.shape[:-1] + (1,), a.dtype)
    b = np.ascontiguousarray(b, a.dtype)
    _run("row_dots", np.ascontiguousarray(a).reshape(-1, n), b.reshape(-1, n), out.reshape(-1))
    return out


def softmax_grad(e: Any, gp: Any, c: Any, f: Any, out: Any = None) -> Any:
    """e * (gp - c) * f over rows: a softmax's backward from its exps ``e`` (..., L, S), with ``c``
    each row's <gP, P> and ``f`` its 1 / sum (times any factor), both (..., L, 1); into ``out``
    (``gp`` itself when C-contiguous, for in place; else a new array). One pass for NumPy's three.

    >>> softmax_grad(np.ones((1, 2), np.float32), np.array([[3.0, 1.0]], np.float32),
    ...              np.array([[1.0]], np.float32), np.array([[0.5]], np.float32)).tolist()
    [[1.0, 0.0]]
    """
    n = e.shape[-1]
    src = np.ascontiguousarray(gp, e.dtype).reshape(-1, n)
    dst = out.reshape(-1, n) if out is not None and out.flags.c_contiguous else np.empty_like(src)
    _run("softmax_grad", np.ascontiguousarray(e).reshape(-1, n), src,
         np.ascontiguousarray(c, e.dtype).reshape(-1), np.ascontiguousarray(f, e.dtype).reshape(-1), dst,
         _same(src, dst))  # fmt: skip
    return dst.reshape(e.shape)


def _row_pieces(rows: int, n: int) -> int:
    """How many pieces the pool cuts ``rows`` rows of ``n`` into: 1 under two pieces' worth."""
    return threads.parts(rows, -(-_ROWS_PART // max(n, 1))) if rows * n >= 2 * _ROWS_PART else 1


def layer_norm(x: Any, w: Any, b: Any, eps: float) -> tuple[Any, Any, Any]:
    """Layer norm over the last axis of (rows, n) ``x``, scaled by ``w`` and shifted by ``b`` ((n,)
    or None): (out, mean, rstd), the last two (rows, 1), rstd = 1 / sqrt(var + eps).

    >>> out, mean, rstd = layer_norm(np.array([[1.0, 3.0]], np.float32), None, None, 0.0)
    >>> out.tolist(), mean.tolist(), rstd.tolist()
    ([[-1.0, 1.0]], [[2.0]], [[1.0]])
    """
    rows, n = x.shape
    out = np.empty((rows, n), x.dtype)
    mean, rstd = np.empty((rows, 1), x.dtype), np.empty((rows, 1), x.dtype)
    w = np.ones(n, x.dtype) if w is None else np.ascontiguousarray(w, x.dtype)
    b = np.zeros(n, x.dtype) if b is None else np.ascontiguousarray(b, x.dtype)
    x, eps, loop = np.ascontiguousarray(x), x.dtype.type(eps), _compiled()["layer_norm"]
    count = _row_pieces(rows, n)
    if count == 1:  # a sampling step's one row: no more than the loop
        loop(x, w, b, eps, out, mean, rstd)
        return out, mean, rstd

    def part(start: int, stop: int) -> None:  # a piece of the rows
        loop(x[start:stop], w, b, eps, out[start:stop], mean[start:stop], rstd[start:stop])

    threads.parallel(part, rows, count)
    return out, mean, rstd


def layer_norm_backward(x: Any, w: Any, mean: Any, rstd: Any, g: Any, need_x: bool) -> tuple[Any, Any, Any]:
    """``layer_norm``'s gradients (gx, gw, gb) for (rows, n) ``x`` and ``g`` (gx empty unless
    ``need_x``): with xhat = (x - mean) rstd and gh = g w, gx = rstd (gh - mean(gh) - xhat
    mean(gh xhat)), gw = the column sums of g xhat, gb those of g.

    >>> x = np.array([[1.0, 3.0]], np.float32)
    >>> _, mean, rstd = layer_norm(x, None, None, 0.0)
    >>> gx, gw, gb = layer_norm_backward(x, np.ones(2, np.float32), mean, rstd, np.array([[1.0, 0.0]], np.float32),
    ...                                  True)
    >>> gx.tolist(), gw.tolist(), gb.tolist()
    ([[0.0, 0.0]], [-1.0, 0.0], [1.0, 0.0])
    """
    rows, n = x.shape
    gx = np.empty((rows if need_x else 0, n), x.dtype)
    gw, gb = np.zeros(n, x.dtype), np.zeros(n, x.dtype)
    w = np.ones(n, x.dtype) if w is None else np.ascontiguousarray(w, x.dtype)
    x, g, loop = np.ascontiguousarray(x), np.ascontiguousarray(g, x.dtype), _compiled()["layer_norm_backward"]
    mean, rstd = mean.reshape(rows), rstd.reshape(rows)
    count = _row_pieces(rows, n)
    sums = {start: (np.zeros(n, x.dtype), np.zeros(n, x.dtype)) for start in threads.bounds(rows, count)[1:-1]}
    sums[0] = gw, gb  # run serially, piece 0 has all the rows

    def part(start: int, stop: int) -> None:  # a piece of the rows, into column sums of its own
        pw, pb = sums[start]
        loop(x[start:stop], w, mean[start:stop], rstd[start:stop], g[start:stop], gx[start:stop] if need_x else gx,
             pw, pb, need_x)  # fmt: skip

    threads.parallel(part, rows, count)
    for start in sorted(sums)[1:]:  # the other pieces' column sums, in order
        gw += sums[start][0]
        gb += sums[start][1]
    return gx, gw, gb


def channels_last(x: Any) -> Any:
    """(N, C, *spatial) ``x`` as the (rows, C) matrix its memory holds when that is channels-last
    (a convolution's output is), else None: batch norm's statistics are then column sums.

    >>> channels_last(np.zeros((2, 4, 4, 3)).transpose(0, 3, 1, 2)).shape, channels_last(np.zeros((2, 3, 4, 4)))
    ((32, 3), None)
    """
    t = x.transpose((0, *range(2, x.ndim), 1))
    return t.reshape(-1, x.shape[1]) if t.flags.c_contiguous else None


def batch_norm(x: Any, w: Any, b: Any, eps: float) -> tuple[Any, Any, Any, Any]:
    """Batch norm in training over the rows of (rows, C) ``x`` (``channels_last``'s), scaled by
    ``w`` and shifted by ``b`` ((C,) or None): (out, mean, var, rstd), the last three (C,), var
    biased, rstd = 1 / sqrt(var + eps). The sums run in float64 (NumPy's pairwise float32 sums
    over 50,000 rows and these agree to its rounding). Each pass reads a row of C channels at a
    time, which the compiler vectorizes; NumPy's reductions over the rows of so narrow a matrix
    took 5 of the CNN bench's 25 ms step.

    >>> out, mean, var, rstd = batch_norm(np.array([[1.0], [3.0]], np.float32), None, None, 0.0)
    >>> out.ravel().tolist(), mean.tolist(), var.tolist(), rstd.tolist()
    ([-1.0, 1.0], [2.0], [1.0], [1.0])
    """
    rows, c = x.shape
    out = np.empty((rows, c), x.dtype)
    mean, var, rstd = np.empty(c, x.dtype), np.empty(c, x.dtype), np.empty(c, x.dtype)
    w = np.ones(c, x.dtype) if w is None else np.ascontiguousarray(w, x.dtype).reshape(c)
    b = np.zeros(c, x.dtype) if b is None else np.ascontiguousarray(b, x.dtype).reshape(c)
    _run("batch_norm", x, w, b, eps, out, mean, var, rstd)
    return out, mean, var, rstd


def batch_norm_backward(x: Any, w: Any, mean: Any, rstd: Any, g: Any, need_x: bool) -> tuple[Any, Any, Any]:
    """``batch_norm``'s gradients (gx, gw, gb) for (rows, C) ``x`` and ``g`` (gx empty unless
    ``need_x``): with xhat = (x - mean) rstd, gb = the column sums of g, gw those of g xhat, and
    gx = w rstd (g - gb / rows - xhat gw / rows).

    >>> x = np.array([[1.0], [3.0]], np.float32)
    >>> _, mean, _, rstd = batch_norm(x, None, None, 0.0)
    >>> gx, gw, gb = batch_norm_backward(x, None, mean, rstd, np.array([[1.0], [0.0]], np.float32), True)
    >>> gx.ravel().tolist(), gw.tolist(), gb.tolist()
    ([0.0, 0.0], [-1.0], [1.0])
    """
    rows, c = x.shape
    gx = np.empty((rows if need_x else 0, c), x.dtype)
    gw, gb = np.empty(c, x.dtype), np.empty(c, x.dtype)
    w = np.ones(c, x.dtype) if w is None else np.ascontiguousarray(w, x.dtype).reshape(c)
    _run("batch_norm_backward", x, w, np.ascontiguousarray(mean, x.dtype).reshape(c),
         np.ascontiguousarray(rstd, x.dtype).reshape(c), np.ascontiguousarray(g, x.dtype), gx, gw, gb, need_x)  # fmt: skip
    return gx, gw, gb


def lstm_cells(a: Any, rec: Any, c_prev: Any, out: tuple | None = None) -> tuple[Any, Any, Any, Any]:
    """One LSTM step's cells in one pass, float32: from ``a`` (N, 4H), the input side's
    pre-activations (bias in), and ``rec``, the recurrent product, (gates, c, tanh_c, h): the
    gates i, f, g, o (sigmoid, sigmoid, tanh, sigmoid; PyTorch's order), c = f c_prev + i g and
    h = o tanh(c). Into ``out``'s four arrays if given (``a`` itself as the first: in place),
    else new ones (a compiled step's trace). tanh is Eigen's float rational (13/6, clamped at
    7.9: within 6 units in the last place; sigmoid(x) = (1 + tanh(x / 2)) / 2, within 3e-7),
    which vectorizes where Numba's exp and tanh are scalar calls.

    >>> gates, c, _, h = lstm_cells(np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32),
    ...                             np.ones((1, 1), np.float32))
    >>> gates.tolist(), c.tolist(), h.tolist()
    ([[0.5, 0.5, 0.0, 0.5]], [[0.5]], [[0.23105858266353607]])
    """
    if out is None:
        out = (a.copy(), *(np.empty(c_prev.shape, a.dtype) for _ in range(3)))
    elif out[0] is not a:
        out[0][...] = a
    _run("lstm_cells", out[0], rec, c_prev, *out[1:], _TANH_P, _TANH_Q)
    return out


def lstm_cells_backward(a: Any, tanh_c: Any, c_prev: Any, dh: Any, g_out: Any, dc: Any,
                        out: tuple | None = None) -> tuple[Any, Any]:  # fmt: skip
    """One LSTM step back in one pass: from the gates ``a`` (i, f, g, o), tanh(c) and c_prev of
    the step, the gradient reaching h from the step after (``dh``) and from the output
    (``g_out``), and c's (``dc``), (d, dc'): the gradients of the four pre-activations (N, 4H)
    and c_prev's. Into ``out``'s two arrays if given (``dc`` itself as the second: in place),
    else new ones.

    >>> a = np.array([[0.5, 0.5, 0.0, 0.5]], np.float32)
    >>> one, zero = np.ones((1, 1), np.float32), np.zeros((1, 1), np.float32)
    >>> d, dc = lstm_cells_backward(a, zero, one, one, zero, zero)
    >>> d.tolist(), dc.tolist()
    ([[0.0, 0.125, 0.25, 0.0]], [[0.25]])
    """
    if out is None:
        out = (np.empty(a.shape, a.dtype), dc.copy())
    elif out[1] is not dc:
        out[1][...] = dc
    _run("lstm_cells_backward", a, tanh_c, c_prev, dh, g_out, out[1], out[0])
    return out


# Eigen's rational tanh for float32 (generic_fast_tanh_float): odd numerator, even denominator
_TANH_P = np.array([-2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
                    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03], np.float32)  # fmt: skip
_TANH_Q = np.array([1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03],
                   np.float32)  # fmt: skip


def col2im(cols: Any, shape: tuple[int, ...], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> Any:
    """(N, Ho, Wo, kh, kw, C) -> (N, H, W, C): each window added back where it came from."""
    out = np.zeros(shape, dtype=cols.dtype)
    _run("col2im", np.ascontiguousarray(cols), stride[0], stride[1], dilation[0], dilation[1], out)
    return out


# -- the loops ------------------------------------------------------------------------------
# Written as Python, compiled the first time one is needed (and cached on disk). Channels are
# the innermost loop: contiguous in memory, so the compiler vectorizes them. Where windows
# overlap, an entry's gradient is a sum; the NumPy passes add offset by offset (offset 0
# first), which is the windows from last to first, so the loops run the windows backwards:
# the same sums in the same order, the same float32 numbers (training runs do not drift).


def _pool_max(x, kh, kw, sh, sw, dh, dw, out, route):
    n, ho, wo, c = out.shape
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for ch in range(c):
                    out[b, i, j, ch] = x[b, i * sh, j * sw, ch]
                    route[b, i, j, ch] = 0
                for di in range(kh):
                    for dj in range(kw):
                        k = di * kw + dj
                        if k == 0:
                            continue
                        for ch in range(c):
                            v = x[b, i * sh + di * dh, j * sw + dj * dw, ch]
                            best = out[b, i, j, ch]
                            if v > best or (np.isnan(v) and not np.isnan(best)):  # a NaN beats all (np.maximum)
                                out[b, i, j, ch] = v
                                route[b, i, j, ch] = k


def _pool_scatter(g, route, kh, kw, sh, sw, dh, dw, out):
    n, ho, wo, c = g.shape
    for b in range(n):
        for i in range(ho - 1, -1, -1):  # last window first: an entry's sum in the NumPy passes' order
            for j in range(wo - 1, -1, -1):
                # each offset compared with the route (a select over the channels, which
                # vectorizes) rather than the offset's row and column divided out of it
                for di in range(kh):
                    for dj in range(kw):
                        k = di * kw + dj
                        for ch in range(c):
                            if route[b, i, j, ch] == k:
                                out[b, i * sh + di * dh, j * sw + dj * dw, ch] += g[b, i, j, ch]


def _pool_scatter_tiled(g, route, kh, kw, out):
    n, ho, wo, c = g.shape
    h, w = out.shape[1], out.shape[2]
    zero = out.dtype.type(0)
    for b in range(n):
        for i in range(ho):
            for di in range(kh):
                y = i * kh + di
                for j in range(wo):
                    for dj in range(kw):
                        k = di * kw + dj
                        for ch in range(c):
                            # 0 + g, as the adds onto zeros of the other paths give (-0.0 -> 0.0)
                            out[b, y, j * kw + dj, ch] = zero + g[b, i, j, ch] if route[b, i, j, ch] == k else zero
                for x in range(wo * kw, w):  # columns no window covers
                    for ch in range(c):
                        out[b, y, x, ch] = zero
        for y in range(ho * kh, h):  # rows no window covers
            for x in range(w):
                for ch in range(c):
                    out[b, y, x, ch] = zero


def _pool_gather(x, route, kh, kw, sh, sw, dh, dw, out):
    n, ho, wo, c = out.shape
    for b in range(n):
        for i in range(ho):
            for j in range(wo):
                for di in range(kh):
                    for dj in range(kw):
                        k = di * kw + dj
                        for ch in range(c):
                            if route[b, i, j, ch] == k:
                                out[b, i, j, ch] = x[b, i * sh + di * dh, j * sw + dj * dw, ch]


def _col2im(cols, sh, sw, dh, dw, out):
    n, ho, wo, kh, kw, c = cols.shape
    for b in range(n):
        for i in range(ho - 1, -1, -1):  # as in _pool_scatter: the same float sums as the strided adds
            for j in range(wo - 1, -1, -1):
                for di in range(kh):
                    for dj in range(kw):
                        for ch in range(c):
                            out[b, i * sh + di * dh, j * sw + dj * dw, ch] += cols[b, i, j, di, dj, ch]


def _exp32(v):
    """float32 exp(v) for v <= 0 (Cephes' expf: a degree-7 polynomial on [-ln2/2, ln2/2] times
    2^k made from its bits), branch-free so a loop of it vectorizes where Numba's exp is a
    scalar call; within 3 units in the last place of NumPy's, 0 below -87.34 (where NumPy's is
    subnormal), NaN kept. For Numba loops (compiled inline into them; made by ``_compiled``)."""
    lo, log2e = np.float32(-87.3365478515625), np.float32(1.44269504088896341)  # exp(lo): the least normal float32
    c1, c2 = np.float32(0.693359375), np.float32(-2.12194440e-4)  # ln 2 in two parts
    t = min(max(v, lo), np.float32(0))
    k = np.floor(t * log2e + np.float32(0.5))
    r = (t - k * c1) - k * c2
    y = ((((np.float32(1.9875691500e-4) * r + np.float32(1.3981999507e-3)) * r + np.float32(8.3334519073e-3)) * r
          + np.float32(4.1665795894e-2)) * r + np.float32(1.6666665459e-1)) * r + np.float32(5.0000001201e-1)  # fmt: skip
    e = (y * (r * r) + r + np.float32(1)) * _float_from_bits((np.int32(k) + np.int32(127)) << np.int32(23))
    e = np.float32(0) if v < lo else e
    return v if np.isnan(v) else e


def _softmax_shift(src, dst, n, qa, m, find, same):
    _softmax_rows(src, dst, n, qa, m, find, m, False, same)


def _softmax_exp(src, dst, n, qa, m, find, iz, same):
    _softmax_rows(src, dst, n, qa, m, find, iz, True, same)


def _softmax_rows(src, dst, n, qa, m, find, iz, expo, same):
    # a row's max in sixteen running maxima (a select the compiler vectorizes, where one running
    # max is a chain of dependent compares), then the largest of them; NaN counted on the side.
    # With ``expo``, exp(row - max) instead of row - max (float32: Cephes' expf), 0 past
    # the causal mask, and 1 / the row's sum into iz. The row is then worked on in dst alone
    # (copied there first unless ``same``, src and dst one memory): a loop that reads one array
    # and writes another that may be it runs scalar, the compiler's overlap check failing
    rows, S = src.shape
    lanes = np.empty(16, src.dtype)
    for i in range(rows):
        end = S if qa < 0 else min(S, qa + i % n + 1)  # the keys this query sees
        if find:
            whole = end - end % 16
            nans = 0
            best = src[i, 0]
            if whole:
                for c in range(16):
                    lanes[c] = src[i, c]
                for j in range(16, whole, 16):
                    for c in range(16):
                        v = src[i, j + c]
                        nans += np.isnan(v)
                        lanes[c] = v if v > lanes[c] else lanes[c]
                for c in range(16):
                    nans += np.isnan(lanes[c])
                    best = lanes[c] if lanes[c] > best else best
            for j in range(whole, end):
                v = src[i, j]
                nans += np.isnan(v)
                best = v if v > best else best
            if nans or np.isnan(best):
                best = np.nan
            elif best == -np.inf:
                best = 0
            m[i] = best
        shift = m[i]
        row = dst[i]
        if not same:
            row[:] = src[i]
        if expo:  # the whole row in one loop, the masked keys' exps 0: no scalar tail a row
            zero = src.dtype.type(0)
            z = zero
            for j in range(S):
                e = _exp32(row[j] - shift)
                e = e if j < end else zero
                row[j] = e
                z += e
            iz[i] = 1 / z if z != 0 else 1
            continue
        for j in range(end):
            row[j] = row[j] - shift
        for j in range(end, S):
            row[j] = -np.inf


# Sums along rows (a softmax's, layer norm's): each row's is one loop that the compiler
# vectorizes, as it may reassociate it ("reassoc": sixteen partial sums at once, then those added
# up; NumPy sums pairwise, so the two differ in the last bits); layer norm's rest is one pass a
# row each way.


def _inverse_row_sums(x, out):
    rows, n = x.shape
    for i in range(rows):
        z = x.dtype.type(0)
        for j in range(n):
            z += x[i, j]
        out[i] = 1 / z if z != 0 else 1


def _row_dots(a, b, out):
    rows, n = a.shape
    for i in range(rows):
        z = a.dtype.type(0)
        for j in range(n):
            z += a[i, j] * b[i, j]
        out[i] = z


def _cross_entropy(s, labels, lse, picked):
    rows, n = s.shape
    bad = 0
    for i in range(rows):
        best = s[i, 0]
        for j in range(1, n):
            v = s[i, j]
            best = v if v > best else best  # a NaN never wins here, but makes the sum NaN
        z = s.dtype.type(0)
        for j in range(n):
            z += _exp32(s[i, j] - best)
        lse[i] = best + np.log(z)
        y = labels[i]
        if 0 <= y < n:
            picked[i] = s[i, y]
        else:
            bad += 1
            picked[i] = np.nan
    return bad


def _cross_entropy_grad(s, lse, labels, d):
    rows, n = s.shape
    for i in range(rows):
        c = lse[i]
        for j in range(n):
            d[i, j] = _exp32(s[i, j] - c)
        d[i, labels[i]] -= 1


def _add_rows(out, index, rows):
    n = out.shape[0]
    for i in range(index.size):
        r = index[i]
        out[r + n if r < 0 else r] += rows[i]


def _softmax_grad(e, gp, c, f, dst, same):
    rows, n = e.shape
    for i in range(rows):
        ci, fi = c[i], f[i]
        if same:  # read and written as one array (``_softmax_rows``' note): 0.36 -> 0.10 ms over 2M
            row = dst[i]
            for j in range(n):
                row[j] = e[i, j] * (row[j] - ci) * fi
        else:
            for j in range(n):
                dst[i, j] = e[i, j] * (gp[i, j] - ci) * fi


def _layer_norm(x, w, b, eps, out, mean, rstd):
    rows, n = x.shape
    one = x.dtype.type(1)
    inv = one / x.dtype.type(n)  # x's dtype throughout: a Python int's 1 / n would make the rows' math float64
    for i in range(rows):
        s = x.dtype.type(0)
        for j in range(n):
            s += x[i, j]
        m = s * inv
        v = x.dtype.type(0)
        for j in range(n):
            d = x[i, j] - m
            v += d * d
        r = one / np.sqrt(v * inv + eps)
        mean[i, 0], rstd[i, 0] = m, r
        for j in range(n):
            out[i, j] = (x[i, j] - m) * r * w[j] + b[j]


def _layer_norm_backward(x, w, mean, rstd, g, gx, gw, gb, need_x):
    rows, n = x.shape
    inv = x.dtype.type(1) / x.dtype.type(n)  # c1 /= n would make c1 and c2 float64 for the whole loop
    for i in range(rows):
        m, r = mean[i], rstd[i]
        c1 = x.dtype.type(0)
        c2 = x.dtype.type(0)
        for j in range(n):
            xhat = (x[i, j] - m) * r
            gw[j] += g[i, j] * xhat
            gb[j] += g[i, j]
            gh = g[i, j] * w[j]
            c1 += gh
            c2 += gh * xhat
        if need_x:
            c1 *= inv
            c2 *= inv
            for j in range(n):
                xhat = (x[i, j] - m) * r
                gx[i, j] = r * (g[i, j] * w[j] - c1 - xhat * c2)


def _batch_norm(x, w, b, eps, out, mean, var, rstd):
    rows, c = x.shape
    s = np.zeros(c, np.float64)
    for r in range(rows):
        for j in range(c):
            s[j] += x[r, j]
    m = np.empty(c, x.dtype)
    for j in range(c):
        m[j] = s[j] / rows
        s[j] = 0.0
    for r in range(rows):
        for j in range(c):
            d = np.float64(x[r, j] - m[j])
            s[j] += d * d
    scale = np.empty(c, x.dtype)
    for j in range(c):
        v = s[j] / rows
        mean[j], var[j] = m[j], v
        rstd[j] = 1 / np.sqrt(v + eps)
        scale[j] = rstd[j] * w[j]
    for r in range(rows):
        for j in range(c):
            out[r, j] = (x[r, j] - m[j]) * scale[j] + b[j]


def _batch_norm_backward(x, w, mean, rstd, g, gx, gw, gb, need_x):
    rows, c = x.shape
    sg, sgx = np.zeros(c, np.float64), np.zeros(c, np.float64)
    for r in range(rows):
        for j in range(c):
            xhat = (x[r, j] - mean[j]) * rstd[j]
            sg[j] += g[r, j]
            sgx[j] += g[r, j] * xhat
    k, a, q = np.empty(c, x.dtype), np.empty(c, x.dtype), np.empty(c, x.dtype)
    for j in range(c):
        gb[j], gw[j] = sg[j], sgx[j]
        k[j], a[j], q[j] = w[j] * rstd[j], sg[j] / rows, sgx[j] / rows
    if need_x:
        for r in range(rows):
            for j in range(c):
                xhat = (x[r, j] - mean[j]) * rstd[j]
                gx[r, j] = k[j] * (g[r, j] - a[j] - xhat * q[j])


def _lstm_cells(a, rec, c_prev, c, tanh_c, h, p, q):
    # sigmoid(v) = 1/2 + tanh(v / 2) / 2, so each gate and the cell take one tanh (Eigen's
    # rational); loops without branches, so the compiler vectorizes them
    n, g4 = a.shape
    hs = g4 // 4
    lim, one_at, half = np.float32(7.90531110763549805), np.float32(9.02), np.float32(0.5)  # tanh rounds to 1 from 9.0109
    p0, p1, p2, p3, p4, p5, p6 = p[0], p[1], p[2], p[3], p[4], p[5], p[6]
    q0, q1, q2, q3 = q[0], q[1], q[2], q[3]

    def tanh(v):
        t = min(max(v, -lim), lim)
        t2 = t * t
        t = ((((((p0 * t2 + p1) * t2 + p2) * t2 + p3) * t2 + p4) * t2 + p5) * t2 + p6) * t / (((q0 * t2 + q1) * t2 + q2) * t2 + q3)
        t = np.float32(1) if v >= one_at else t  # the limits exact: a gate fully shut is 0
        t = np.float32(-1) if v <= -one_at else t
        return v if np.isnan(v) else t  # NaN stays NaN

    for r in range(n):
        ar, rr = a[r], rec[r]
        for k in range(2 * hs):  # i, f
            ar[k] = half + half * tanh((ar[k] + rr[k]) * half)
        for k in range(2 * hs, 3 * hs):  # g
            ar[k] = tanh(ar[k] + rr[k])
        for k in range(3 * hs, g4):  # o
            ar[k] = half + half * tanh((ar[k] + rr[k]) * half)
        cr, cp, tr, hr = c[r], c_prev[r], tanh_c[r], h[r]
        for j in range(hs):
            v = ar[hs + j] * cp[j] + ar[j] * ar[2 * hs + j]
            cr[j] = v
            t = tanh(v)
            tr[j] = t
            hr[j] = ar[3 * hs + j] * t


def _adam(w, g, m, v, lr, b1, one_b1, b2, one_b2, c1, c2, eps, wd, decay, maximize):
    for i in range(w.size):
        gi = -g[i] if maximize else g[i]
        wi = w[i]
        if decay == 1:  # AdamW: w *= 1 - lr wd, as w -= lr * (wd * w)
            wi = wi - lr * (wd * wi)
        elif decay == 2:  # L2: through the moments
            gi = gi + wd * wi
        mi = m[i] * b1 + one_b1 * gi
        vi = v[i] * b2 + one_b2 * gi * gi
        m[i], v[i] = mi, vi
        w[i] = wi - lr * (mi / c1) / (np.sqrt(vi) / c2 + eps)


def _lstm_cells_backward(a, tanh_c, c_prev, dh, g_out, dc, d):
    n, hs = dc.shape
    one = a.dtype.type(1)  # a Python int's 1 - t * t would be float64 math
    for r in range(n):
        for j in range(hs):
            i, f, g, o = a[r, j], a[r, hs + j], a[r, 2 * hs + j], a[r, 3 * hs + j]
            t = tanh_c[r, j]
            gh = dh[r, j] + g_out[r, j]
            gc = dc[r, j] + gh * o * (one - t * t)  # through h = o tanh(c)
            d[r, j] = gc * g * (i * (one - i))
            d[r, hs + j] = gc * c_prev[r, j] * (f * (one - f))
            d[r, 2 * hs + j] = gc * i * (one - g * g)
            d[r, 3 * hs + j] = gh * t * (o * (one - o))
            dc[r, j] = gc * f


def _bits_to_float32(numba: Any) -> Any:
    """A Numba intrinsic: the float32 whose bits are an int32's (LLVM's bitcast), for
    the float32 exp's power of two (``_softmax_rows``)."""
    from llvmlite import ir
    from numba.extending import intrinsic

    @intrinsic
    def float_from_bits(typingctx: Any, i: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
            return builder.bitcast(args[0], ir.FloatType())

        return numba.types.float32(numba.types.int32), codegen

    return float_from_bits


_float_from_bits: Any = None  # the intrinsic, made when Numba is first imported


def _compiled() -> dict[str, Any]:
    global _loops
    with _compile_lock:  # two threads' first calls compile once
        if _loops is None:
            import numba

            global _float_from_bits, _exp32, _softmax_rows
            _float_from_bits = _bits_to_float32(numba)
            _exp32 = numba.njit(inline="always", error_model="numpy")(_exp32)
            # the rows' exps summed in sixteen partial sums at once ("reassoc"), multiply-adds fused
            _softmax_rows = numba.njit(nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})(_softmax_rows)
            # multiply-adds fused and nothing else: the tanh's Horner steps stay in their order
            fma = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
            # error_model="numpy": a division gives inf or NaN as NumPy's does, with no check per element
            _loops = {fn.__name__[1:]: numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
                      for fn in (_pool_max, _pool_scatter, _pool_scatter_tiled, _pool_gather, _col2im, _softmax_shift,
                                _batch_norm, _batch_norm_backward, _lstm_cells_backward, _adam)}  # fmt: skip
            fast = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
            _loops.update({fn.__name__[1:]: fast(fn) for fn in (_layer_norm, _layer_norm_backward, _inverse_row_sums, _row_dots,
                                                                 _softmax_grad, _cross_entropy, _cross_entropy_grad, _add_rows)})
            _loops["softmax_exp"] = fast(_softmax_exp)
            _loops["lstm_cells"] = fma(_lstm_cells)
    return _loops

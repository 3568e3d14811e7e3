"""Scaled dot-product attention, softmax(q k^T * scale + bias) v, as one gate.

Fused for memory and speed. Composed, attention is five gates (matmul, scale, add, softmax,
matmul) that keep several (L, S) arrays alive until the backward; the gate keeps at most one,
the probabilities (beside q, k, v and its output, which exist anyway; with dropout also the
keep mask, one byte an entry), and on NumPy's big inputs none: it works a block of rows at a
time, keeps each row's max and 1 / sum, and the backward makes each block's probabilities
again from them (FlashAttention's trade: a GPT layer's 4 MiB for one more product a block).
It computes the scores, the bias and the softmax in place in one buffer, and the softmax's
backward in place in one more. Fully masked rows (a query that
may attend to nothing) give zeros, output and gradients, where a plain softmax gives NaN.

Masks, in the gate's words: a boolean mask is True where a key takes part (PyTorch's
``scaled_dot_product_attention``; ``nn.MultiheadAttention`` flips it before it gets here), a
float mask is added to the scores, and ``causal`` lets query i see keys 0..i (top-left
aligned when L != S, as PyTorch's ``tril``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import threads
from ..autograd.function import Context, Function, call
from ..autograd.grad_mode import replayed, watcher
from ..autograd.tensor import Tensor
from ..backend import array_module
from . import kernels
from .broadcast import sum_to
from .elementwise import where
from .linalg import _swap_last, product
from .reduce import Softmax


def attention_bias(xp: Any, mask: Any, causal: bool, shape: tuple[int, int], dtype: Any, offset: int = 0) -> Any:
    """The additive bias of a boolean ``mask`` (True: takes part) and of the causal mask: 0 where
    a key takes part, -inf where not, in ``dtype``, of the mask's shape ((L, S) for the causal
    one alone); None when there is neither (a float mask is its own bias). ``offset``: the
    first query's position, for a tile of the queries (the causal mask alone).

    >>> attention_bias(np, None, True, (2, 3), np.dtype("float32"))
    array([[  0., -inf, -inf],
           [  0.,   0., -inf]], dtype=float32)
    """
    allowed = None
    if causal:
        allowed = xp.tril(xp.ones(shape, dtype=bool), k=offset)  # key j <= query i, counted from the top left
    if mask is not None and mask.dtype == bool:
        allowed = mask if allowed is None else allowed & mask
    if allowed is None:
        return None
    return xp.where(allowed, dtype.type(0), dtype.type(-np.inf))


class ScaledDotProductAttention(Function):
    """softmax(q k^T * scale + bias) v for q (..., L, E), k (..., S, E), v (..., S, Ev).

    Inputs: q, k, v, the mask (None, boolean or float: ``attention_bias``) and dropout's keep
    mask (None, or booleans of the scores' shape, drawn by the caller so a compiled step
    replays the draw). Saved: q, k, v, the mask, P (or, in blocks, each row's max and 1 / sum),
    keep and the output (all but P and keep are arrays that exist anyway). With
    D = P * keep / (1 - p) the dropped probabilities: gv = D^T g; gP = (g v^T) * keep / (1 - p); gS = P * (gP - rowsum(gP * P)) (softmax's
    backward); g_mask = gS; gq = gS k * scale; gk = gS^T q * scale.

    >>> import chainrule as cr
    >>> q = cr.Tensor(np.eye(2), requires_grad=True)
    >>> out = ScaledDotProductAttention.apply(q, q, q, None, None, causal=True, scale=1.0, dropout_p=0.0)
    >>> out.numpy().round(3), out.op
    (array([[1.   , 0.   ],
           [0.269, 0.731]], dtype=float32), 'ScaledDotProductAttention')
    """

    @staticmethod
    def forward(ctx: Context, q: Any, k: Any, v: Any, mask: Any, keep: Any, *, causal: bool, scale: float,
                dropout_p: float) -> Any:  # fmt: skip
        xp = array_module(q)
        chunks = _chunks(q, k, v)
        stats = None
        fast = _loops(q, k)
        if chunks is None:
            bias = _block_bias(xp, mask, slice(None), (0, q.shape[-2], k.shape[-2]), causal, q, k, {}, fast)
            s, out = _attend(xp, q * scale, k.swapaxes(-1, -2), v, bias, keep, dropout_p, mask=mask, fast=fast)
        else:  # the same, a few (L, S) matrices at a time in one scratch buffer; P is not kept
            # (FlashAttention's trade): each row's max and 1 / sum are, and the backward makes
            # each block's P again from them, bit for bit, a block at a time
            s = None
            out, stats = replayed(_chunked_forward, q, k, v, mask, keep, causal, scale, dropout_p)
        ctx.save_for_backward(q, k, v, mask, s, keep, out, stats)
        ctx.causal, ctx.scale, ctx.dropout_p = causal, scale, dropout_p
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        q, k, v, mask, p, keep, out, stats = ctx.saved_tensors
        nq, nk, nv, nm, _ = ctx.needs_input_grad
        graph = isinstance(grad_out, Tensor)
        if graph:  # create_graph: the saved P is a constant to the engine; rebuilt from q, k and the
            # mask (composed), the gradient's own gradient reaches them through it
            p = attention_weights(q, k, mask, causal=ctx.causal, scale=ctx.scale)
        inv = 1 / (1 - ctx.dropout_p)
        chunks = None if graph else _chunks(q, k, v)
        xp = array_module(q)
        fast = _loops(q, k)
        if p is None and nm:  # the mask's gradient needs the whole P: made again, block by block, as
            qs, kt, made = q * ctx.scale, _rows_of_kt(xp, k), {}  # the forward made it: the same bits
            p = xp.empty(q.shape[:-1] + k.shape[-2:-1], q.dtype)
            for rows in chunks:
                bias = _block_bias(xp, mask, rows, (0, q.shape[-2], k.shape[-2]), ctx.causal, q, k, made, fast)
                _exps(xp, qs[rows], kt[rows], bias, stats[0, rows], p[rows], _part(mask, rows, q.ndim), fast)
                p[rows] *= stats[1, rows]
        if chunks is not None and not nm:  # a few (L, S) matrices at a time, as the forward
            grads = iter(replayed(_chunked_backward, q, k, v, mask, keep, out, stats, grad_out, ctx.causal, ctx.scale,
                                  ctx.dropout_p, (nq, nk, nv)))  # fmt: skip
            return tuple(next(grads) if need else None for need in (nq, nk, nv)) + (None, None)
        gv = None
        if nv:
            d = p if keep is None else p * keep * inv  # the dropped probabilities
            gv = sum_to(product(_swap_last(d), grad_out), v.shape)
        if not (nq or nk or nm):
            return None, None, gv, None, None
        gp = product(grad_out, _swap_last(v))  # (..., L, S): dL/dP
        if keep is not None:
            gp = gp * keep * inv
        # softmax's backward (``Softmax``): gS = P * (gP - <gP, P>) along each row. On raw arrays
        # <gP, P> = <g, out> (both are sum_s,e g_le v_se D_ls: FlashAttention's rowsum(dO * O)), an
        # (L, Ev) product, and gS is made in gP's own buffer: the backward holds two (L, S) arrays
        if graph:
            gs = p * (gp - (gp * p).sum(axis=-1, keepdims=True))
        else:
            gp -= (grad_out * out).sum(axis=-1, keepdims=True)
            gp *= p
            gs = gp
        gq = sum_to(product(gs, k) * ctx.scale, q.shape) if nq else None
        gk = sum_to(product(_swap_last(gs), q) * ctx.scale, k.shape) if nk else None
        gm = sum_to(gs, mask.shape) if nm else None
        return gq, gk, gv, gm, None


# A block of (L, S) matrices small enough that the softmax's passes over it stay in a core's
# cache: over a GPT layer's (16, 4, 128, 128) scores, one go took 9.8 ms forward, blocks of
# 256K entries 6.0 ms (the products the same; the elementwise passes no longer from memory)
_BLOCK = 1 << 18


def _chunks(q: Any, k: Any, v: Any) -> list | None:
    """Slices of the first axis that cut the scores into blocks of about ``_BLOCK`` entries, for
    NumPy's q, k, v of one leading shape (no broadcasting between them); None: in one go."""
    if not all(isinstance(a, np.ndarray) for a in (q, k, v)) or q.ndim < 3 or q.shape[0] < 2:  # a trace's too
        return None
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        return None
    per_row = int(np.prod(q.shape[1:-1], dtype=np.int64)) * k.shape[-2]  # scores in one index of axis 0
    step = max(1, _BLOCK // max(per_row, 1))
    if step >= q.shape[0]:
        return None
    return [slice(a, a + step) for a in range(0, q.shape[0], step)]


def _blocks(chunks: list, q: Any, k: Any, mask: Any, keep: Any, causal: bool) -> list:
    """(rows, (qa, qb, kb)) for each block of the forward and backward: the chunks' rows, and
    within them queries qa:qb against keys :kb. Causal self-attention without another mask
    cuts the queries into tiles that skip the keys every query of the tile masks (queries
    0..63 of 128 need keys 0..63 alone): 3/4 of the work in two tiles, 5/8 in four. The last
    queries come first: their tile sees every key (the backward writes the keys' gradients
    there, and adds the other tiles' parts). A compiled step records the chunked forward and
    backward as one operation each (``replayed``), so its replays tile too; the trace's arrays
    themselves are not tiled (there the tiles made the GPT bench's generated step a third
    longer, and its process 6 MiB bigger, for 4% of its time)."""
    L, S = q.shape[-2], k.shape[-2]
    tiles = [(0, L, S)]
    if (causal and mask is None and L == S and L >= 64 and (keep is None or keep.shape[-2:] == (L, S))
            and type(q) is np.ndarray):  # fmt: skip
        n = 4 if L >= 256 else 2
        cuts = [L * i // n for i in range(n + 1)]
        tiles = [(a, b, b) for a, b in zip(cuts, cuts[1:])][::-1]
    return [(rows, tile) for rows in chunks for tile in tiles]


def _block(q: Any, k: Any, v: Any, rows: slice, qa: int, qb: int, kb: int) -> tuple[Any, Any, Any]:
    """A block's queries qa:qb of these rows, and the keys and values :kb they see (views)."""
    return q[rows][..., qa:qb, :], k[rows][..., :kb, :], v[rows][..., :kb, :]


def _tile(keep: Any, qa: int, qb: int, kb: int) -> Any:
    """Dropout's keep mask for queries qa:qb and keys :kb (all of it when that is the whole)."""
    if keep is None or (qa == 0 and qb == keep.shape[-2] and kb == keep.shape[-1]):
        return keep
    return keep[..., qa:qb, :kb]


def _most(chunks: list, q: Any, k: Any) -> int:
    """The scores the largest block holds: a chunk's rows of whole (L, S) matrices."""
    return (chunks[0].stop - chunks[0].start) * math.prod(q.shape[1:-1]) * k.shape[-2]


def _buffer(scratch: Any, q: Any, kb: int) -> Any:
    """A block's (..., L, kb) scores, in the front of the flat scratch buffer."""
    shape = q.shape[:-1] + (kb,)
    return scratch[: math.prod(shape)].reshape(shape)


def _part(a: Any, rows: slice, ndim: int) -> Any:
    """The rows of a mask (or dropout's keep mask) that go with q's rows: its own, where it has the
    first axis, else all of it (it broadcasts)."""
    if a is None or a.ndim < ndim or a.shape[0] == 1:
        return a
    return a[rows]


def _chunked_forward(q: Any, k: Any, v: Any, mask: Any, keep: Any, causal: bool, scale: float,
                     dropout_p: float) -> tuple[Any, Any]:  # fmt: skip
    """The forward's (out, stats) a few (L, S) matrices at a time (``ScaledDotProductAttention``),
    its chunks of rows on ``threads``' pool; in a compiled step one operation of the tape, so
    each replay runs the chunks on the pool too."""
    xp, chunks, fast = array_module(q), _chunks(q, k, v), _loops(q, k)
    out = xp.empty(q.shape[:-1] + v.shape[-1:], np.result_type(q.dtype, v.dtype))
    stats = xp.empty((2,) + q.shape[:-1] + (1,), q.dtype)  # (max, 1 / sum) per row
    made: dict = {}

    def attend(start: int, stop: int) -> None:  # some chunks of rows, in scratch of their own
        scratch, chunk = xp.empty(_most(chunks, q, k), q.dtype), None
        for rows, (qa, qb, kb) in _blocks(chunks[start:stop], q, k, mask, keep, causal):
            if chunk is None or chunk[0] != rows:  # once for the chunk's tiles, on the thread that has it
                chunk = rows, q[rows] * scale, _rows_of_kt(xp, k[rows])
            _, qs, kt = chunk
            qt, _, vt = _block(q, k, v, rows, qa, qb, kb)
            bias = _block_bias(xp, mask, rows, (qa, qb, kb), causal, q, k, made, fast)
            _attend(xp, qs[..., qa:qb, :], kt[..., :kb], vt, bias,
                    _tile(_part(keep, rows, q.ndim), qa, qb, kb), dropout_p, _buffer(scratch, qt, kb),
                    out[rows][..., qa:qb, :], stats[:, rows][..., qa:qb, :], _part(mask, rows, q.ndim), fast)  # fmt: skip

    threads.parallel(attend, len(chunks), _threads(q, chunks))  # each chunk writes its own rows
    return out, stats


def _chunked_backward(q: Any, k: Any, v: Any, mask: Any, keep: Any, out: Any, stats: Any, grad_out: Any, causal: bool,
                      scale: float, dropout_p: float, needs: tuple) -> tuple:  # fmt: skip
    """The backward's needed gradients of (q, k, v), in that order, a few (L, S) matrices at a
    time as ``_chunked_forward`` made them (the same bits), its chunks of rows on the pool."""
    xp, chunks, fast = array_module(q), _chunks(q, k, v), _loops(q, k)
    nq, nk, nv = needs
    inv = 1 / (1 - dropout_p)
    made: dict = {}
    gq = xp.empty_like(q) if nq else None
    gk = xp.empty_like(k) if nk else None
    gv = xp.empty_like(v) if nv else None

    def back(start: int, stop: int) -> None:  # some chunks of rows, every tile of each, in scratch of their own
        scratch, chunk = xp.empty(_most(chunks, q, k), q.dtype), None
        for rows, (qa, qb, kb) in _blocks(chunks[start:stop], q, k, mask, keep, causal):
            if chunk is None or chunk[0] != rows:  # once for the chunk's tiles, on the thread that has it:
                # scaled queries, k^T and v^T in rows (for g v^T), and each row's <gP, P> = <g, out>
                # (FlashAttention's rowsum(dO * O))
                chunk = (rows, q[rows] * scale, _rows_of_kt(xp, k[rows]), _rows_of_kt(xp, v[rows]) if nq or nk else None,
                         _row_dots(xp, grad_out[rows], out[rows], fast) if nq or nk else None)  # fmt: skip
            _, qs, kt, vt, c = chunk
            qt, kr, vr = _block(q, k, v, rows, qa, qb, kb)
            bias = _block_bias(xp, mask, rows, (qa, qb, kb), causal, q, k, made, fast)
            e = _exps(xp, qs[..., qa:qb, :], kt[..., :kb], bias, stats[0, rows][..., qa:qb, :],
                      _buffer(scratch, qt, kb), _part(mask, rows, q.ndim), fast)  # fmt: skip
            # the first tile of these rows sees every key: it writes the keys' gradients, the
            # others add into the keys they see; each tile writes its own queries'
            into = (None if gq is None else gq[rows][..., qa:qb, :], None if gk is None else gk[rows][..., :kb, :],
                    None if gv is None else gv[rows][..., :kb, :], kb < k.shape[-2])  # fmt: skip
            _backward(qt, kr, vr, None if vt is None else vt[..., :kb], e, stats[1, rows][..., qa:qb, :],
                      _tile(_part(keep, rows, q.ndim), qa, qb, kb), None if c is None else c[..., qa:qb, :],
                      grad_out[rows][..., qa:qb, :], scale, inv, (nq, nk, nv), fast, into)  # fmt: skip

    threads.parallel(back, len(chunks), _threads(q, chunks))  # chunks of rows apart: each writes its own
    return tuple(g for g in (gq, gk, gv) if g is not None)


def _threads(q: Any, chunks: list) -> int:
    """How many pieces a call's chunks are cut into (``threads.parallel``): with more than one
    thread, every chunk a piece of its own, taken by whichever thread is free (a thread that woke
    late takes fewer); one for other arrays than NumPy's and in anomaly mode (its watcher follows
    one thread)."""
    if type(q) is not np.ndarray or watcher() is not None:
        return 1
    return len(chunks) if threads.parts(len(chunks), 1) > 1 else 1


def _rows_of_kt(xp: Any, k: Any) -> Any:
    """k^T, (..., E, S), laid out in rows: NumPy hands a stack's products to BLAS only so (see
    ``product``); made once a chunk of rows, for all its tiles, not once a block."""
    return xp.ascontiguousarray(k.swapaxes(-1, -2))


def _loops(q: Any, k: Any) -> bool:
    """Whether a call's softmax passes run as ``kernels``' loops (NumPy float arrays of one dtype,
    Numba installed): the causal mask then drawn by the loop that shifts the rows, not added."""
    return q.dtype == k.dtype and kernels.usable(q, k)


def _block_bias(xp: Any, mask: Any, rows: slice, tile: tuple[int, int, int], causal: bool, q: Any, k: Any,
                made: dict, fast: bool) -> tuple[Any, int, int | None]:  # fmt: skip
    """(bias, at, causal): what to add to a block's scores from key ``at`` on (``attention_bias``'s,
    a boolean mask's and the causal mask's; a float mask is added on its own), and, where the
    loops draw the causal mask alone instead, the first query's position (else None). In a
    causal tile of queries qa:qb every query sees the keys before qa, so only the square of keys
    qa:qb gets a bias: one triangle. Biases that are the same for every block are made once a
    call (``made``)."""
    qa, qb, kb = tile
    L, S = q.shape[-2], k.shape[-2]
    if fast and causal and mask is None:
        return None, 0, qa
    if (qa, qb, kb) != (0, L, S):  # a tile (causal self-attention, no other mask)
        n = qb - qa
        if n not in made:
            made[n] = attention_bias(xp, None, True, (n, n), q.dtype)
        return made[n], qa, None
    part = _part(mask, rows, q.ndim)
    if part is not mask:  # the mask's own rows: a bias of their own
        return attention_bias(xp, part, causal, (L, S), q.dtype), 0, None
    if "whole" not in made:
        made["whole"] = attention_bias(xp, mask, causal, (L, S), q.dtype)
    return made["whole"], 0, None


def _scores(xp: Any, qs: Any, kt: Any, bias: tuple, mask: Any, s: Any = None) -> Any:
    """qs kt + bias (+ a float ``mask``), (..., L, S), into ``s`` if given; qs is q * scale, kt
    k^T and ``bias`` ``_block_bias``'s triple."""
    if s is None:
        s = product(qs, kt)  # (..., L, S): scores, then probabilities, in this buffer
    else:
        product(qs, kt, out=s)
    add, at, _ = bias
    if add is not None:
        if at:
            s[..., at:at + add.shape[-1]] += add
        else:
            s += add
    if mask is not None and mask.dtype != bool:
        s += mask
    return s


def _row_dots(xp: Any, a: Any, b: Any, fast: bool) -> Any:
    """(a * b) summed along each row, (..., L, 1)."""
    if fast and a.dtype == b.dtype:
        return kernels.run(kernels.row_dots, a, b)
    return (a * b).sum(axis=-1, keepdims=True)


def _exps(xp: Any, qs: Any, kt: Any, bias: tuple, m: Any, s: Any, mask: Any, fast: bool) -> Any:
    """A block's exps of its scores less the rows' saved maxima ``m``, made again into ``s`` as
    ``_attend`` made them: the same operations in the same order, so the same bits."""
    s = _scores(xp, qs, kt, bias, mask, s)
    return _softmax_exps(xp, s, bias[2], m, fast)[0]


def _softmax_exps(xp: Any, s: Any, causal: int | None, m: Any, fast: bool) -> tuple[Any, Any, Any]:
    """(exp(s less each row's max), the maxima, 1 / each row's sum of exps), in ``s``'s buffer
    where it can be (``m``: the shifts to take instead); on the loops one pass a row
    (``kernels.softmax_exp``)."""
    if fast:  # the causal mask drawn here (``causal``: the first query's position), not added
        return kernels.run(kernels.softmax_exp, s, m, causal, s if type(s) is np.ndarray else None)
    if m is None:
        m = s.max(axis=-1, keepdims=True)  # (..., L, 1)
        m = xp.where(m == -np.inf, s.dtype.type(0), m)  # a fully masked row shifted by 0: its exps 0, not NaN
    s -= m
    xp.exp(s, out=s)
    z = s.sum(axis=-1, keepdims=True)
    return s, m, 1 / xp.where(z == 0, s.dtype.type(1), z)  # a fully masked row's probabilities 0


def _attend(xp: Any, qs: Any, kt: Any, v: Any, bias: tuple, keep: Any, dropout_p: float, s: Any = None,
            out: Any = None, stats: Any = None, mask: Any = None, fast: bool = False) -> tuple[Any, Any]:  # fmt: skip
    """(P, P v) in one buffer (``s`` if given; ``out`` likewise), a fully masked row's
    probabilities 0. With ``stats``, each row's max and 1 / sum are written there and P is left
    unnormalized (its exps: the blocks keep no P): P v is made as (exps v) / sum, a pass over
    (L, Ev), not (L, S)."""
    s = _scores(xp, qs, kt, bias, mask, s)
    s, m, iz = _softmax_exps(xp, s, bias[2], None, fast)
    if stats is not None:
        stats[0], stats[1] = m, iz
    d = s
    if keep is not None:
        d = s * keep
        d *= 1 / (1 - dropout_p)
    if out is None:
        out = product(d, v)  # (..., L, Ev)
    else:
        product(d, v, out=out)
    out *= iz
    if stats is None:
        s *= iz  # P, for the backward
    return s, out


def _backward(q: Any, k: Any, v: Any, vt: Any, e: Any, iz: Any, keep: Any, c: Any, g: Any, scale: float, inv: float,
              needs: tuple[bool, bool, bool], fast: bool, into: tuple | None = None) -> tuple:  # fmt: skip
    """(gq, gk, gv) of a block on raw arrays from its exps ``e`` and rows' 1 / sums ``iz`` (so
    P = e iz; the whole backward's formulas, one block's worth, the 1 / sum and the scale moved
    onto the smaller side of each product); ``c``: each row's <g, out>; ``vt``: v^T in rows
    (``_rows_of_kt``), or None when neither q nor k wants a gradient. With ``into`` (views of
    the whole gradients for gq, gk, gv, and whether gk's and gv's are added to instead of
    written), the products go there, BLAS writing them in place, and nothing is returned."""
    nq, nk, nv = needs
    gv = None
    if nv:
        d = e if keep is None else e * keep
        gv = _to(d.swapaxes(-1, -2), g * (iz * inv), into, 2)
    if not (nq or nk):
        return None, None, gv
    gp = product(g, vt)  # (..., L, S): dL/dP
    if keep is not None:
        gp *= keep
        gp *= inv
    f = iz * scale
    if fast:  # gS * scale, in gP's buffer
        gp = kernels.run(kernels.softmax_grad, e, gp, c, f, gp if type(gp) is np.ndarray else None)
    else:
        gp -= c
        gp *= e
        gp *= f
    gq = _to(gp, k, into, 0) if nq else None
    gk = _to(gp.swapaxes(-1, -2), q, into, 1) if nk else None
    return gq, gk, gv


def _to(a: Any, b: Any, into: tuple | None, i: int) -> Any:
    """a @ b, or, with ``into``, written into ``into[i]`` (added to it for gk and gv, i > 0, when
    ``into[3]``): BLAS's own output, no copy."""
    if into is None:
        return product(a, b)
    if i and into[3]:
        whole = into[i]
        whole += product(a, b)
    else:
        product(a, b, out=into[i])
    return None


def attention_weights(q: Tensor, k: Tensor, mask: Any = None, *, causal: bool = False, scale: float) -> Tensor:
    """softmax(q k^T * scale + bias) as a composition of differentiable gates, (..., L, S): the
    probabilities the fused gate keeps, for a graph that needs them as a node (a second-order
    gradient; ``nn.MultiheadAttention``'s returned weights). Fully masked rows are 0.

    >>> import chainrule as cr
    >>> q = cr.Tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> attention_weights(q, q, causal=True, scale=1.0).numpy().round(3)
    array([[1.   , 0.   ],
           [0.269, 0.731]], dtype=float32)
    """
    s = product(q * scale, _swap_last(k))  # (..., L, S)
    xp = array_module(s.data)
    m = mask.data if isinstance(mask, Tensor) else mask
    bias = attention_bias(xp, m, causal, s.shape[-2:], s.dtype)
    if bias is not None:
        s = s + bias
    if m is None:  # no mask, no fully masked row (the causal mask leaves every query key 0)
        return call(Softmax, s, axis=-1)
    if m.dtype != bool:
        s = s + mask
    dead = s.data.max(axis=-1, keepdims=True) == -np.inf  # (..., L, 1): rows that attend to nothing
    return where(dead, 0.0, call(Softmax, where(dead, 0.0, s), axis=-1))  # their softmax of 0s, zeroed

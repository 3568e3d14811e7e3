"""Sliding windows over images: ``Unfold`` (im2col) and its adjoint ``Fold`` (col2im), and
max pooling's router ``MaxPool`` with its linear pair ``PoolScatter``/``PoolGather``.

``Convolution`` is fused (it re-makes its windows in the backward rather than keep
them); average pooling is composed from Unfold and mean. All of them work on
channels-last (N, H, W, C) arrays: each window row is then ``kh * kw`` runs of C
contiguous numbers, and copying
them out is about ten times faster than gathering the same windows from (N, C, H, W),
where every number of a window sits in a different cache line. Unfold is a primitive
for speed (one strided copy instead of ``kh * kw`` slices and a concatenate).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor
from ..backend import array_module
from . import kernels
from .linalg import MatMul
from .shape import Concatenate, Pad, Permute


def _window_view(x: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """A read-only (N, Ho, Wo, kh, kw, C) view of x's windows: no copy yet."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    s_n, s_h, s_w, s_c = x.strides
    xp = array_module(x)
    return xp.lib.stride_tricks.as_strided(
        x, shape=(n, ho, wo, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h, s_w, s_c)
    )


class Unfold(Function):
    """(N, H, W, C) -> (N, Ho, Wo, kh, kw, C): every window copied out as its own block.

    Overlapping windows (stride < kernel) copy an input entry several times, so the
    backward, ``Fold``, adds those copies' gradients back together.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, *, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
        ctx.in_shape, ctx.stride = x.shape, stride
        return array_module(x).ascontiguousarray(_window_view(x, kernel, stride))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Fold, grad_out, shape=ctx.in_shape, stride=ctx.stride)


class Fold(Function):
    """(N, Ho, Wo, kh, kw, C) -> (N, H, W, C): each window added back where it came from.

    One strided add per kernel offset (kh * kw of them, e.g. 9), never a loop over pixels.
    """

    @staticmethod
    def forward(ctx: Context, cols: Any, *, shape: tuple[int, ...], stride: tuple[int, int]) -> Any:
        n, ho, wo, kh, kw, c = cols.shape
        sh, sw = stride
        ctx.kernel, ctx.stride = (kh, kw), stride
        if kernels.usable(cols):
            return kernels.run(kernels.col2im, cols, shape, stride)  # one pass instead of kh * kw strided adds
        out = array_module(cols).zeros(shape, dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                # added through a view: ``out[...] += v`` would also copy the sum back onto itself
                block = out[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :]
                block += cols[:, :, :, i, j, :]
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Unfold, grad_out, kernel=ctx.kernel, stride=ctx.stride)


def _offsets(shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int]) -> list[tuple]:
    """For each kernel offset (i, j), the index of the (N, Ho, Wo, C) block of x it sees."""
    _, h, w, _ = shape
    (kh, kw), (sh, sw) = kernel, stride
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    return [
        (slice(None), slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw), slice(None))
        for i in range(kh)
        for j in range(kw)
    ]


class MaxPool(Function):
    """Max over each window of a channels-last (N, H, W, C) array: a router.

    Each window's gradient goes to its first maximum (as PyTorch's max pooling does). The
    route is one small integer per output (uint8 up to 16x16 windows, ``route_dtype``): the
    number ``i * kw + j`` of the window offset that holds the max. With Numba, one compiled
    pass finds maxima and routes together (``kernels.pool_max``) and the backward adds each
    gradient where its route points in one more. Without it (or on CuPy) the max is taken
    over kh * kw strided views, with no window copied out, and the routes are found in the
    backward from the saved input and output (the input is the previous layer's output,
    kept alive anyway) by compares: masked writes (``np.where``, ``putmask``) run an order
    of magnitude slower here than a compare and a multiply.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, *, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
        ctx.kernel, ctx.stride, ctx.in_shape = kernel, stride, x.shape
        if kernels.usable(x):
            out, ctx.route = kernels.run(kernels.pool_max, x, kernel, stride)
            return out
        xp = array_module(x)
        blocks = _offsets(x.shape, kernel, stride)
        out = x[blocks[0]].copy()
        for block in blocks[1:]:
            xp.maximum(out, x[block], out=out)
        ctx.save_for_backward(x, out)
        ctx.route = None
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        route = ctx.route
        if route is None:
            x, out = (v.data if isinstance(v, Tensor) else v for v in ctx.saved_tensors)  # routes are constants
            xp = array_module(x)
            dtype = kernels.route_dtype(ctx.kernel)
            route, taken = xp.zeros(out.shape, dtype=dtype), None
            # a NaN max routes to the NaN (as PyTorch's), though NaN != NaN
            out_nan = xp.isnan(out) if _nan_in(out) else None
            for k, block in enumerate(_offsets(x.shape, ctx.kernel, ctx.stride)):
                hit = x[block] == out
                if out_nan is not None:
                    hit |= xp.isnan(x[block]) & out_nan
                if taken is None:
                    taken = hit.copy()
                    continue
                hit &= ~taken  # a tie: an earlier offset already has this window's gradient
                taken |= hit
                route += hit * dtype.type(k)
        return call(PoolScatter, grad_out, route=route, shape=ctx.in_shape, kernel=ctx.kernel, stride=ctx.stride)


class PoolScatter(Function):
    """(N, Ho, Wo, C) -> (N, H, W, C): each value added at the window offset its route names."""

    @staticmethod
    def forward(ctx: Context, g: Any, *, route: Any, shape: tuple, kernel: tuple, stride: tuple) -> Any:
        ctx.route = (route, kernel, stride)
        if kernels.usable(g):
            return kernels.run(kernels.pool_scatter, g, route, shape, kernel, stride)
        xp = array_module(g)
        (kh, kw), (sh, sw) = kernel, stride
        _, h, w, _ = shape
        ho, wo = g.shape[1:3]
        blocks = _offsets(shape, kernel, stride)
        nan = _nan_in(g)  # then a NaN * 0 off the route would spread it: select instead
        if (kh, kw) == (sh, sw) and (h, w) == (ho * sh, wo * sw) and not nan:
            # the windows tile the input exactly: every entry is written once, in place
            out = xp.empty(shape, dtype=g.dtype)
            for k, block in enumerate(blocks):
                xp.multiply(g, route == k, out=out[block])
            return out
        out = xp.zeros(shape, dtype=g.dtype)
        for k, block in enumerate(blocks):
            view = out[block]
            view += _on_route(g, route == k, nan)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        route, kernel, stride = ctx.route
        return call(PoolGather, grad_out, route=route, kernel=kernel, stride=stride)


class PoolGather(Function):
    """(N, H, W, C) -> (N, Ho, Wo, C): each output reads x at the window offset its route names."""

    @staticmethod
    def forward(ctx: Context, x: Any, *, route: Any, kernel: tuple, stride: tuple) -> Any:
        ctx.route = (route, x.shape, kernel, stride)
        if kernels.usable(x):
            return kernels.run(kernels.pool_gather, x, route, kernel, stride)
        xp = array_module(x)
        out = xp.zeros(route.shape, dtype=x.dtype)
        nan = _nan_in(x)
        for k, block in enumerate(_offsets(x.shape, kernel, stride)):
            out += _on_route(x[block], route == k, nan)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        route, shape, kernel, stride = ctx.route
        return call(PoolScatter, grad_out, route=route, shape=shape, kernel=kernel, stride=stride)


def _nan_in(a: Any) -> bool:
    """Whether a plain NumPy array holds a NaN. Elsewhere False: a trace cannot branch on
    values, and on CuPy the answer would wait for the device; there a NaN gradient may
    spread to its whole window (NaN * 0), the route's own entry being NaN anyway."""
    return type(a) is np.ndarray and bool(np.isnan(a).any())


def _on_route(v: Any, mask: Any, nan: bool) -> Any:
    """v where the mask is set, else 0: a product (fast), or a select when v has a NaN."""
    return array_module(v).where(mask, v, 0) if nan else v * mask


class Convolution(Function):
    """2-D convolution, (N, C, H, W) * (O, C, kh, kw) -> (N, O, Ho, Wo), as matrix products.

    Fused for memory and speed. Forward: pad, copy the windows out channels-last
    (im2col, ``Unfold``) and multiply by the filters as rows; the output is an NCHW view
    of channels-last memory. The window copy is the largest array of the layer (9x its
    input for 3x3), so it is made a slice of the batch at a time (``CHUNK`` numbers at
    most) and never kept: the backward makes it again from the input, which the graph
    keeps anyway. On plain NumPy arrays every slice's copy, and the backward's product
    of the same size, go into one scratch buffer per thread (``_columns``, ``_product``).
    With the output gradient g as (N*Ho*Wo, O) rows: dW = g^T cols, db = sum of g's rows,
    dx = Fold(g W) (col2im), cropped.
    """

    CHUNK = 1 << 20  # numbers per window copy: 4 MB in float32, about a core's L2+L3 share
    # on a GPU (CuPy): 256 MB in float32, so a batch is one copy and one large cuBLAS product,
    # not dozens of small ones each paying a launch (the CPU's cache reasoning does not apply)
    DEVICE_CHUNK = 1 << 26

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any = None, *, stride: tuple[int, int], padding: tuple[int, int]) -> Any:
        ctx.save_for_backward(x, w)
        ctx.stride, ctx.padding = stride, padding
        padded = _pad_nhwc(x, padding)  # (N, Hp, Wp, C)
        o, _, kh, kw = w.shape
        n, ho, wo = x.shape[0], (padded.shape[1] - kh) // stride[0] + 1, (padded.shape[2] - kw) // stride[1] + 1
        rows = _filter_rows(w).T  # (kh*kw*C, O)
        xp = array_module(x)
        out = xp.empty((n, ho, wo, o), dtype=x.dtype)
        for part in _batch_parts(n, ho * wo * rows.shape[0], _chunk(x)):
            cols = _columns(padded[part], (kh, kw), stride)  # (n', Ho, Wo, kh, kw, C)
            # the product written straight into its rows of the output (a view: the slice is
            # contiguous), not made apart and copied in
            xp.matmul(cols.reshape(-1, rows.shape[0]), rows, out=out[part].reshape(-1, o))
        if b is not None:
            out += b.astype(out.dtype, copy=False)
        return out.transpose(0, 3, 1, 2)  # (N, O, Ho, Wo) view of NHWC memory

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        (ph, pw), stride = ctx.padding, ctx.stride
        n, c, h, wd = x.shape
        o, _, kh, kw = w.shape
        g = call(Permute, grad_out, axes=(0, 2, 3, 1))  # (N, Ho, Wo, O): free when grad_out is channels-last
        ho, wo = g.shape[1:3]
        k = kh * kw * c
        padded = _pad_nhwc(x, ctx.padding) if needs[1] else None
        w_rows = _filter_rows(w)  # (O, kh*kw*C)
        gw = None
        dx_parts = []
        for part in _batch_parts(n, ho * wo * k, _chunk(x)):
            gp = g[part].reshape(-1, o)  # this slice's rows of the output gradient
            if needs[1]:
                cols = _columns(padded[part], (kh, kw), stride).reshape(-1, k)
                gw_part = gp.T @ cols  # (O, kh*kw*C)
                gw = gw_part if gw is None else gw + gw_part
            if needs[0]:
                dcols = _product(gp, w_rows).reshape(-1, ho, wo, kh, kw, c)
                shape = (dcols.shape[0], h + 2 * ph, wd + 2 * pw, c)
                dx_parts.append(call(Fold, dcols, shape=shape, stride=stride))
        if needs[1]:
            gw = call(Permute, gw.reshape(o, kh, kw, c), axes=(0, 3, 1, 2))
        gb = None
        if len(needs) > 2 and needs[2]:
            rows = g.reshape(-1, o)  # (N*Ho*Wo, O)
            # the sum over rows as a product with ones: BLAS reads the rows once, about 9x faster
            # than NumPy's reduction over the leading axes of a channels-last array
            ones = array_module(rows.data if isinstance(rows, Tensor) else rows).ones(rows.shape[0], dtype=rows.dtype)
            gb = call(MatMul, ones, rows)
        gx = None
        if needs[0]:
            dxp = dx_parts[0] if len(dx_parts) == 1 else call(Concatenate, *dx_parts, axis=0)
            gx = call(Permute, dxp[:, ph : ph + h, pw : pw + wd, :], axes=(0, 3, 1, 2))
        return (gx, gw, gb)[: len(needs)]


def _chunk(x: Any) -> int:
    """Numbers per window copy: a CPU cache's share for host arrays, much more on a GPU."""
    return Convolution.CHUNK if isinstance(x, np.ndarray) else Convolution.DEVICE_CHUNK


_scratch = threading.local()  # per thread: one buffer that every window copy of its convolutions reuses


def _columns(x: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> Any:
    """The windows of a batch slice copied out (im2col), as ``Unfold`` would, but on a plain
    NumPy array into this thread's scratch buffer: the copy lives only until its product is
    taken, and a fresh array of megabytes per slice costs more than the copy (glibc hands the
    freed pages back to the OS and the next step faults them in again). Anything else - a
    Tensor (a graph of the gradient), a traced array, CuPy - goes through ``Unfold``."""
    if type(x) is not np.ndarray:
        return call(Unfold, x, kernel=kernel, stride=stride)
    view = _window_view(x, kernel, stride)
    cols = _scratch_array(view.shape, x.dtype)
    np.copyto(cols, view)
    return cols


def _product(a: Any, b: Any) -> Any:
    """``a @ b``; on plain NumPy arrays into this thread's scratch buffer (the window copy's:
    the backward takes its product with the copy before it makes this one)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return a @ b
    return np.matmul(a, b, out=_scratch_array((a.shape[0], b.shape[1]), np.result_type(a, b)))


def _scratch_array(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """An array of ``shape`` on this thread's scratch buffer, which grows (or changes dtype)
    when it must; what it held before is overwritten."""
    size = math.prod(shape)
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = _scratch.buf = np.empty(size, dtype=dtype)
    return buf[:size].reshape(shape)


def _batch_parts(n: int, numbers_per_example: int, chunk: int) -> list[slice]:
    """Slices of the batch axis with at most ``chunk`` window numbers each (one example at least)."""
    step = max(1, chunk // max(1, numbers_per_example))
    return [slice(i, min(n, i + step)) for i in range(0, n, step)]


def _pad_nhwc(x: Any, padding: tuple[int, int]) -> Any:
    """(N, C, H, W) -> zero-padded (N, H, W, C), on arrays or Tensors."""
    xh = call(Permute, x, axes=(0, 2, 3, 1))
    ph, pw = padding
    if ph or pw:
        xh = call(Pad, xh, widths=((0, 0), (ph, ph), (pw, pw), (0, 0)), value=0.0)
    return xh


def _filter_rows(w: Any) -> Any:
    """(O, C, kh, kw) -> (O, kh*kw*C): each filter as one row, in a window's memory order."""
    return call(Permute, w, axes=(0, 2, 3, 1)).reshape(w.shape[0], -1)

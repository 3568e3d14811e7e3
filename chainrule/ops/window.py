"""Sliding windows over images: ``Unfold`` (im2col) and its adjoint ``Fold`` (col2im), max
pooling's router ``MaxPool`` with its linear pair ``PoolScatter``/``PoolGather``, and the
convolution ``Convolution`` with its adjoint ``ConvTranspose``.

``Convolution`` is fused (it re-makes its windows in the backward rather than keep
them); average pooling is composed from Unfold and mean. All of them work on
channels-last (N, H, W, C) arrays: each window row is then ``kh * kw`` runs of C
contiguous numbers, and copying
them out is about ten times faster than gathering the same windows from (N, C, H, W),
where every number of a window sits in a different cache line. Unfold is a primitive
for speed (one strided copy instead of ``kh * kw`` slices and a concatenate).

A window is ``kh x kw`` taps, ``dilation`` apart (1: side by side), its corners ``stride``
apart. The convolution's three products are written once each: the output (windows times
filters, ``_correlate``), the input's gradient (the output gradient times the filters,
folded back: ``_spread``, which is ``ConvTranspose``'s forward) and the filters' gradient
(``_filter_grad``); the two gates wire them, each the other's input gradient.
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
from .linalg import MatMul, product
from .shape import Pad, Permute


def windows_along(size: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """How many windows fit along an axis of ``size`` (padding included).

    >>> windows_along(7, 3, 2), windows_along(7, 3, 1, dilation=3)
    (3, 1)
    """
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def _window_view(x: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> Any:
    """A read-only (N, Ho, Wo, kh, kw, C) view of x's windows: no copy yet."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = windows_along(h, kh, sh, dh), windows_along(w, kw, sw, dw)
    s_n, s_h, s_w, s_c = x.strides
    xp = array_module(x)
    return xp.lib.stride_tricks.as_strided(
        x, shape=(n, ho, wo, kh, kw, c), strides=(s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c)
    )


class Unfold(Function):
    """(N, H, W, C) -> (N, Ho, Wo, kh, kw, C): every window copied out as its own block.

    Overlapping windows (stride < kernel) copy an input entry several times, so the
    backward, ``Fold``, adds those copies' gradients back together.
    """

    @staticmethod
    def forward(ctx: Context, x: Any, *, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Any:  # fmt: skip
        ctx.in_shape, ctx.stride, ctx.dilation = x.shape, stride, dilation
        return array_module(x).ascontiguousarray(_window_view(x, kernel, stride, dilation))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Fold, grad_out, shape=ctx.in_shape, stride=ctx.stride, dilation=ctx.dilation)


class Fold(Function):
    """(N, Ho, Wo, kh, kw, C) -> (N, H, W, C): each window added back where it came from.

    One strided add per kernel offset (kh * kw of them, e.g. 9), never a loop over pixels.
    """

    @staticmethod
    def forward(ctx: Context, cols: Any, *, shape: tuple[int, ...], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Any:  # fmt: skip
        n, ho, wo, kh, kw, c = cols.shape
        (sh, sw), (dh, dw) = stride, dilation
        ctx.kernel, ctx.stride, ctx.dilation = (kh, kw), stride, dilation
        if kernels.usable(cols):  # one pass instead of kh * kw strided adds
            return kernels.run(kernels.col2im, cols, shape, stride, dilation)
        out = array_module(cols).zeros(shape, dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                # added through a view: ``out[...] += v`` would also copy the sum back onto itself
                block = out[:, i * dh : i * dh + sh * (ho - 1) + 1 : sh, j * dw : j * dw + sw * (wo - 1) + 1 : sw, :]
                block += cols[:, :, :, i, j, :]
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Unfold, grad_out, kernel=ctx.kernel, stride=ctx.stride, dilation=ctx.dilation)


def _offsets(shape: tuple[int, ...], kernel: tuple[int, int], stride: tuple[int, int],
             dilation: tuple[int, int] = (1, 1)) -> list[tuple]:  # fmt: skip
    """For each kernel offset (i, j), the index of the (N, Ho, Wo, C) block of x it sees."""
    _, h, w, _ = shape
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    ho, wo = windows_along(h, kh, sh, dh), windows_along(w, kw, sw, dw)
    return [
        (slice(None), slice(i * dh, i * dh + sh * (ho - 1) + 1, sh), slice(j * dw, j * dw + sw * (wo - 1) + 1, sw),
         slice(None))
        for i in range(kh)
        for j in range(kw)
    ]  # fmt: skip


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
    def forward(ctx: Context, x: Any, *, kernel: tuple[int, int], stride: tuple[int, int],
                dilation: tuple[int, int] = (1, 1)) -> Any:  # fmt: skip
        ctx.kernel, ctx.stride, ctx.dilation, ctx.in_shape = kernel, stride, dilation, x.shape
        if kernels.usable(x):
            out, ctx.route = kernels.run(kernels.pool_max, x, kernel, stride, dilation)
            return out
        out = _pool_max(x, kernel, stride, dilation)
        ctx.save_for_backward(x, out)
        ctx.route = None
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        route = ctx.route
        if route is None:
            x, out = (v.data if isinstance(v, Tensor) else v for v in ctx.saved_tensors)  # routes are constants
            route = _routes(x, out, ctx.kernel, ctx.stride, ctx.dilation)
        return call(PoolScatter, grad_out, route=route, shape=ctx.in_shape, kernel=ctx.kernel, stride=ctx.stride,
                    dilation=ctx.dilation)  # fmt: skip


def _pool_max(x: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """The window maxima of (N, H, W, C) x, over kh * kw strided views (no window copied out)."""
    xp = array_module(x)
    blocks = _offsets(x.shape, kernel, stride, dilation)
    out = x[blocks[0]].copy()
    for block in blocks[1:]:
        xp.maximum(out, x[block], out=out)
    return out


def _routes(x: Any, out: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]) -> Any:
    """The number ``i * kw + j`` of the window offset that holds each maximum of ``out`` (the
    first, on a tie), found by compares of x with its maxima."""
    xp = array_module(x)
    dtype = kernels.route_dtype(kernel)
    route, taken = xp.zeros(out.shape, dtype=dtype), None
    # a NaN max routes to the NaN (as PyTorch's), though NaN != NaN
    out_nan = xp.isnan(out) if _nan_in(out) else None
    for k, block in enumerate(_offsets(x.shape, kernel, stride, dilation)):
        hit = x[block] == out
        if out_nan is not None:
            hit |= xp.isnan(x[block]) & out_nan
        if taken is None:
            taken = hit.copy()
            continue
        hit &= ~taken  # a tie: an earlier offset already has this window's gradient
        taken |= hit
        route += hit * dtype.type(k)
    return route


def pool_indices(x: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                 padding: tuple[int, int], width: int) -> Any:  # fmt: skip
    """Where each window's maximum sits, as PyTorch's ``return_indices`` gives it: the flat
    index ``row * width + column`` into its (unpadded) input plane, int64 (N, Ho, Wo, C).

    ``x`` is the padded channels-last input that ``MaxPool`` saw. The routes are found again
    (one more pass over the windows), so the indices cost nothing unless asked for.

    >>> x = np.arange(16.0).reshape(1, 4, 4, 1)
    >>> pool_indices(x, (2, 2), (2, 2), (1, 1), (0, 0), 4)[0, :, :, 0].tolist()
    [[5, 7], [13, 15]]
    """
    if kernels.usable(x):
        _, route = kernels.run(kernels.pool_max, x, kernel, stride, dilation)
    else:
        route = _routes(x, _pool_max(x, kernel, stride, dilation), kernel, stride, dilation)
    xp = array_module(route)
    kw, (sh, sw), (dh, dw), (ph, pw) = kernel[1], stride, dilation, padding
    k = route.astype(np.int64)
    ho, wo = route.shape[1:3]
    rows = xp.arange(ho, dtype=np.int64).reshape(1, ho, 1, 1) * sh - ph + (k // kw) * dh
    cols = xp.arange(wo, dtype=np.int64).reshape(1, 1, wo, 1) * sw - pw + (k % kw) * dw
    return rows * width + cols


class PoolScatter(Function):
    """(N, Ho, Wo, C) -> (N, H, W, C): each value added at the window offset its route names."""

    @staticmethod
    def forward(ctx: Context, g: Any, *, route: Any, shape: tuple, kernel: tuple, stride: tuple,
                dilation: tuple = (1, 1)) -> Any:  # fmt: skip
        ctx.route = (route, kernel, stride, dilation)
        if kernels.usable(g):
            return kernels.run(kernels.pool_scatter, g, route, shape, kernel, stride, dilation)
        xp = array_module(g)
        (kh, kw), (sh, sw) = kernel, stride
        _, h, w, _ = shape
        ho, wo = g.shape[1:3]
        blocks = _offsets(shape, kernel, stride, dilation)
        nan = _nan_in(g)  # then a NaN * 0 off the route would spread it: select instead
        tiled = (kh, kw) == (sh, sw) and tuple(dilation) == (1, 1)
        if tiled and (h, w) == (ho * sh, wo * sw) and not nan:
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
        route, kernel, stride, dilation = ctx.route
        return call(PoolGather, grad_out, route=route, kernel=kernel, stride=stride, dilation=dilation)


class PoolGather(Function):
    """(N, H, W, C) -> (N, Ho, Wo, C): each output reads x at the window offset its route names."""

    @staticmethod
    def forward(ctx: Context, x: Any, *, route: Any, kernel: tuple, stride: tuple, dilation: tuple = (1, 1)) -> Any:
        ctx.route = (route, x.shape, kernel, stride, dilation)
        if kernels.usable(x):
            return kernels.run(kernels.pool_gather, x, route, kernel, stride, dilation)
        xp = array_module(x)
        out = xp.zeros(route.shape, dtype=x.dtype)
        nan = _nan_in(x)
        for k, block in enumerate(_offsets(x.shape, kernel, stride, dilation)):
            out += _on_route(x[block], route == k, nan)
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        route, shape, kernel, stride, dilation = ctx.route
        return call(PoolScatter, grad_out, route=route, shape=shape, kernel=kernel, stride=stride, dilation=dilation)


def _nan_in(a: Any) -> bool:
    """Whether a plain NumPy array holds a NaN. Elsewhere False: a trace cannot branch on
    values, and on CuPy the answer would wait for the device; there a NaN gradient may
    spread to its whole window (NaN * 0), the route's own entry being NaN anyway."""
    return type(a) is np.ndarray and bool(np.isnan(a).any())


def _on_route(v: Any, mask: Any, nan: bool) -> Any:
    """v where the mask is set, else 0: a product (fast), or a select when v has a NaN."""
    return array_module(v).where(mask, v, 0) if nan else v * mask


class Convolution(Function):
    """2-D convolution, (N, C, H, W) * (O, C/groups, kh, kw) -> (N, O, Ho, Wo), as matrix products.

    Fused for memory and speed. Forward: pad, copy the windows out channels-last
    (im2col, ``Unfold``) and multiply by the filters as rows; the output is an NCHW view
    of channels-last memory. The window copy is the largest array of the layer (9x its
    input for 3x3), so it is made a slice of the batch at a time (``CHUNK`` numbers at
    most) and never kept: the backward makes it again from the input, which the graph
    keeps anyway. On plain NumPy arrays every slice's copy, and the backward's product
    of the same size, go into one scratch buffer per thread (``_columns``, ``_product``).
    With the output gradient g as (N*Ho*Wo, O) rows: dW = g^T cols, db = sum of g's rows,
    dx = Fold(g W) (col2im), cropped: that last one is ``ConvTranspose``, this gate's adjoint.

    ``groups`` splits the channels into that many blocks, each block of outputs seeing its
    own block of inputs (``groups == C``: depthwise): the same products, one per group
    (a batched product over a leading group axis); ``groups=1`` runs the plain products.
    """

    CHUNK = 1 << 20  # numbers per window copy: 4 MB in float32, about a core's L2+L3 share
    # on a GPU (CuPy): 256 MB in float32, so a batch is one copy and one large cuBLAS product,
    # not dozens of small ones each paying a launch (the CPU's cache reasoning does not apply)
    DEVICE_CHUNK = 1 << 26

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any = None, *, stride: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int] = (1, 1), groups: int = 1) -> Any:  # fmt: skip
        ctx.save_for_backward(x, w)
        ctx.geometry = (stride, padding, dilation, groups)
        out = _correlate(x, w, stride, padding, dilation, groups)  # (N, Ho, Wo, O)
        if b is not None:
            out += b.astype(out.dtype, copy=False)
        return out.transpose(0, 3, 1, 2)  # (N, O, Ho, Wo) view of NHWC memory

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        stride, padding, dilation, groups = ctx.geometry
        gx = gw = gb = None
        if needs[0]:  # the transposed convolution of the output's gradient, onto x's size
            gx = call(ConvTranspose, grad_out, w, stride=stride, padding=padding, dilation=dilation, groups=groups,
                      size=tuple(x.shape[2:]))  # fmt: skip
        if needs[1]:
            gw = _filter_grad(x, grad_out, tuple(w.shape), stride, padding, dilation, groups)
        if len(needs) > 2 and needs[2]:
            gb = _bias_grad(grad_out)
        return (gx, gw, gb)[: len(needs)]


class ConvTranspose(Function):
    """Transposed convolution, (N, O, Ho, Wo) * (O, C/groups, kh, kw) -> (N, C, H, W): the
    gradient of ``Convolution`` with respect to its input, as a gate of its own (PyTorch's
    ``conv_transpose2d``, whose weight (in, out/groups, kh, kw) is that convolution's).

    Forward: each input position's values times the filters, spread over the window that
    position's output came from and added up (``_spread``: one product, then col2im),
    cropped by the padding to ``size``. As the convolution's adjoint, its own gradients
    are the convolution's other products: to its input, the convolution of the output's
    gradient (cropped to the input's size: an ``output_padding`` leaves the convolution
    room for more windows than there were positions); to the filters, the convolution's
    filter gradient with the roles swapped (the output's gradient as the image, this
    input as the output gradient).
    """

    @staticmethod
    def forward(ctx: Context, g: Any, w: Any, b: Any = None, *, stride: tuple[int, int], padding: tuple[int, int],
                dilation: tuple[int, int] = (1, 1), groups: int = 1, size: tuple[int, int]) -> Any:  # fmt: skip
        ctx.save_for_backward(g, w)
        ctx.geometry = (stride, padding, dilation, groups)
        out = _spread(g, w, size, stride, padding, dilation, groups)  # (N, H, W, C), a view
        if b is not None:
            out = out + b.astype(out.dtype, copy=False)
        return out.transpose(0, 3, 1, 2)  # (N, C, H, W) view of NHWC memory

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        g, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        stride, padding, dilation, groups = ctx.geometry
        gg = gw = gb = None
        if needs[0]:
            gg = call(Convolution, grad_out, w, stride=stride, padding=padding, dilation=dilation, groups=groups)
            ho, wo = g.shape[2:]
            if tuple(gg.shape[2:]) != (ho, wo):  # output_padding: windows past the last position
                gg = gg[:, :, :ho, :wo]
        if needs[1]:
            gw = _filter_grad(grad_out, g, tuple(w.shape), stride, padding, dilation, groups)
        if len(needs) > 2 and needs[2]:
            gb = _bias_grad(grad_out)
        return (gg, gw, gb)[: len(needs)]


def _correlate(x: Any, w: Any, stride: tuple[int, int], padding: tuple[int, int], dilation: tuple[int, int],
               groups: int) -> Any:  # fmt: skip
    """The convolution's output, channels last (N, Ho, Wo, O): each slice of the batch's
    windows (N'*Ho*Wo rows of kh*kw*C) times the filters as columns."""
    padded = _pad_nhwc(x, padding)  # (N, Hp, Wp, C)
    o, _, kh, kw = w.shape
    n, k = x.shape[0], kh * kw * x.shape[1]
    ho = windows_along(padded.shape[1], kh, stride[0], dilation[0])
    wo = windows_along(padded.shape[2], kw, stride[1], dilation[1])
    xp = array_module(x)
    out = xp.empty((n, ho, wo, o), dtype=x.dtype)
    spaced = () if dilation == (1, 1) else (dilation,)  # undilated: _columns(x, kernel, stride), as it always was
    if groups == 1:
        rows = _filter_rows(w).T  # (kh*kw*C, O)
        for part in _batch_parts(n, ho * wo * k, _chunk(x)):
            cols = _columns(padded[part], (kh, kw), stride, *spaced)  # (n', Ho, Wo, kh, kw, C)
            # the product written straight into its rows of the output (a view: the slice is
            # contiguous), not made apart and copied in
            product(cols.reshape(-1, k), rows, out=out[part].reshape(-1, o))
        return out
    rows = _filter_rows(w, groups).transpose(0, 2, 1)  # (G, kh*kw*C/G, O/G)
    for part in _batch_parts(n, ho * wo * k, _chunk(x)):
        cols = _grouped_windows(_columns(padded[part], (kh, kw), stride, *spaced), groups)  # (G, n'*Ho*Wo, kh*kw*C/G)
        out[part].reshape(-1, groups, o // groups)[...] = product(cols, rows).transpose(1, 0, 2)
    return out


def _spread(g: Any, w: Any, size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
            dilation: tuple[int, int], groups: int) -> Any:  # fmt: skip
    """The transposed convolution (the convolution's input gradient), channels last (N, H, W, C):
    each position's values times the filters (rows of g W), added back over its window (Fold),
    the padding cropped off. On arrays only (a gate's forward)."""
    gh = g.transpose(0, 2, 3, 1)  # (N, Ho, Wo, O): free when g is channels-last
    n, ho, wo, o = gh.shape
    _, cg, kh, kw = w.shape
    c, (ph, pw), (h, wd) = cg * groups, padding, size
    rows = _filter_rows(w, groups)  # (O, kh*kw*C), or (G, O/G, kh*kw*C/G)
    parts = []
    for part in _batch_parts(n, ho * wo * kh * kw * c, _chunk(g)):
        gp = gh[part].reshape(-1, o)  # this slice's rows of g
        if groups == 1:
            dcols = _product(gp, rows)  # (n'*Ho*Wo, kh*kw*C)
        else:
            dcols = _ungrouped_windows(product(_grouped_rows(gp, groups), rows), (kh, kw))
        dcols = dcols.reshape(-1, ho, wo, kh, kw, c)
        shape = (dcols.shape[0], h + 2 * ph, wd + 2 * pw, c)
        parts.append(call(Fold, dcols, shape=shape, stride=stride, dilation=dilation))
    full = parts[0] if len(parts) == 1 else array_module(g).concatenate(parts, axis=0)
    return full[:, ph : ph + h, pw : pw + wd, :]


def _filter_grad(x: Any, grad_out: Any, w_shape: tuple[int, ...], stride: tuple[int, int], padding: tuple[int, int],
                 dilation: tuple[int, int], groups: int) -> Any:  # fmt: skip
    """The filters' gradient of the convolution of x whose output's gradient is ``grad_out``:
    g^T cols, summed over the batch slices, as (O, C/groups, kh, kw). In either currency (arrays,
    or Tensors under create_graph, where it is composed of gates and so differentiable)."""
    o, cg, kh, kw = w_shape
    n, c = x.shape[:2]
    g = call(Permute, grad_out, axes=(0, 2, 3, 1))  # (N, Ho, Wo, O): free when grad_out is channels-last
    ho, wo = g.shape[1:3]
    k = kh * kw * c
    padded = _pad_nhwc(x, padding)
    (sh, sw), (dh, dw) = stride, dilation
    if (windows_along(padded.shape[1], kh, sh, dh), windows_along(padded.shape[2], kw, sw, dw)) != (ho, wo):
        # a transposed convolution's output_padding: room for more windows than g has
        padded = padded[:, : (ho - 1) * sh + dh * (kh - 1) + 1, : (wo - 1) * sw + dw * (kw - 1) + 1]
    gw = None
    spaced = () if dilation == (1, 1) else (dilation,)
    for part in _batch_parts(n, ho * wo * k, _chunk(x)):
        cols = _columns(padded[part], (kh, kw), stride, *spaced)  # (n', Ho, Wo, kh, kw, C)
        gp = g[part].reshape(-1, o)  # this slice's rows of the output gradient
        if groups == 1:
            gw_part = product(gp.T, cols.reshape(-1, k))  # (O, kh*kw*C)
        else:
            gw_part = product(call(Permute, _grouped_rows(gp, groups), axes=(0, 2, 1)), _grouped_windows(cols, groups))
        gw = gw_part if gw is None else gw + gw_part
    return call(Permute, gw.reshape(o, kh, kw, cg), axes=(0, 3, 1, 2))


def _bias_grad(grad_out: Any) -> Any:
    """grad_out (N, C, H, W) summed over all but the channels: as a product of its rows with
    ones, which BLAS reads once, about 9x faster than NumPy's reduction over the leading axes
    of a channels-last array."""
    g = call(Permute, grad_out, axes=(0, 2, 3, 1))
    rows = g.reshape(-1, g.shape[-1])  # (N*H*W, C)
    ones = array_module(rows.data if isinstance(rows, Tensor) else rows).ones(rows.shape[0], dtype=rows.dtype)
    return call(MatMul, ones, rows)


def _grouped_windows(cols: Any, groups: int) -> Any:
    """Windows (..., kh, kw, C) -> (G, rows, kh*kw*C/G): each group's channels of every window,
    a group per leading entry (a copy: a window keeps its groups' channels side by side)."""
    kh, kw, c = cols.shape[-3:]
    cols = cols.reshape(-1, kh * kw, groups, c // groups)
    return call(Permute, cols, axes=(2, 0, 1, 3)).reshape(groups, cols.shape[0], -1)


def _ungrouped_windows(cols: Any, kernel: tuple[int, int]) -> Any:
    """``_grouped_windows``' inverse: (G, rows, kh*kw*C/G) -> (rows, kh, kw, C)."""
    groups, m, _ = cols.shape
    kh, kw = kernel
    cols = cols.reshape(groups, m, kh * kw, -1)
    return call(Permute, cols, axes=(1, 2, 0, 3)).reshape(m, kh, kw, -1)


def _grouped_rows(rows: Any, groups: int) -> Any:
    """(rows, O) -> (G, rows, O/G): each group's output channels."""
    m, o = rows.shape
    return call(Permute, rows.reshape(m, groups, o // groups), axes=(1, 0, 2))


def _chunk(x: Any) -> int:
    """Numbers per window copy: a CPU cache's share for host arrays, much more on a GPU."""
    return Convolution.CHUNK if isinstance(x, np.ndarray) else Convolution.DEVICE_CHUNK


_scratch = threading.local()  # per thread: one buffer that every window copy of its convolutions reuses


def _columns(x: Any, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int] = (1, 1)) -> Any:
    """The windows of a batch slice copied out (im2col), as ``Unfold`` would, but on a plain
    NumPy array into this thread's scratch buffer: the copy lives only until its product is
    taken, and a fresh array of megabytes per slice costs more than the copy (glibc hands the
    freed pages back to the OS and the next step faults them in again). Anything else - a
    Tensor (a graph of the gradient), a traced array, CuPy - goes through ``Unfold``."""
    if type(x) is not np.ndarray:
        return call(Unfold, x, kernel=kernel, stride=stride, dilation=dilation)
    view = _window_view(x, kernel, stride, dilation)
    cols = _scratch_array(view.shape, x.dtype)
    np.copyto(cols, view)
    return cols


def _product(a: Any, b: Any) -> Any:
    """``a @ b``; on plain NumPy arrays into this thread's scratch buffer (the window copy's:
    the backward takes its product with the copy before it makes this one)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:
        return a @ b
    return product(a, b, out=_scratch_array((a.shape[0], b.shape[1]), np.result_type(a, b)))


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


def _filter_rows(w: Any, groups: int = 1) -> Any:
    """(O, C, kh, kw) -> (O, kh*kw*C): each filter as one row, in a window's memory order; with
    groups, (G, O/G, kh*kw*C/G), each group's filters."""
    rows = call(Permute, w, axes=(0, 2, 3, 1)).reshape(w.shape[0], -1)
    return rows if groups == 1 else rows.reshape(groups, w.shape[0] // groups, -1)

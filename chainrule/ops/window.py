"""Sliding windows over images: ``Unfold`` (im2col) and its adjoint ``Fold`` (col2im).

Convolution and pooling are composed from these two gates plus matmul and max/mean, so
they need no backward of their own. The pair works on channels-last (N, H, W, C)
arrays: each window row is then ``kh * kw`` runs of C contiguous numbers, and copying
them out is about ten times faster than gathering the same windows from (N, C, H, W),
where every number of a window sits in a different cache line. Unfold is a primitive
for speed (one strided copy instead of ``kh * kw`` slices and a concatenate).
"""

from __future__ import annotations

from typing import Any

from ..backend import array_module
from ..engine import Context, Function, call


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
        out = array_module(cols).zeros(shape, dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, i : i + sh * (ho - 1) + 1 : sh, j : j + sw * (wo - 1) + 1 : sw, :] += cols[:, :, :, i, j, :]
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        return call(Unfold, grad_out, kernel=ctx.kernel, stride=ctx.stride)

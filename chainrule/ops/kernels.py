"""Compiled CPU loops (Numba) for the window ops' passes that NumPy makes many times over.

In NumPy, max pooling is kh*kw strided passes in the forward and, in the backward, as many
compares, mask updates and masked multiplies; col2im (``Fold``) is kh*kw strided adds. A
loop compiled by Numba does each in one pass over memory: the CNN step of ``bench_train.py``
went from 69-76 to 55-57 ms at one thread. Only the callers decide when: NumPy arrays
(never CuPy's; in a compiled step's trace each call is one operation of the tape) with
Numba installed (the ``fast`` extra); otherwise the NumPy code beside each call runs and
gives the same numbers (the tests run both). The loops are serial and release
the GIL, so threads may call them at once: Numba's parallel loops were measured and left
out, since on two cores their threads fought OpenBLAS's (the step took 97-100 ms with the
OpenMP layer, 44-70 with the workqueue layer, against 44-51 serial). Loops with
transcendentals do not pay: an LSTM step's gates as one loop took the step from 37 to 47 ms,
since Numba calls a scalar exp and tanh where NumPy runs vectorized ones; the LSTM's
backward step, products only, as one loop saved about 1 ms of 30 (3%) and was left out too.
Pooling's backward first added each gradient onto zeros at an offset divided out of its
route: 1.8 and 1.2 ms for the CNN's two pools; comparing the route with each offset (a
select the compiler vectorizes) and, for side-by-side windows, writing every entry once
instead of filling zeros and adding onto them took them to 0.3 and 0.1 ms.
"""

from __future__ import annotations

import contextvars
import threading
from typing import Any

import numpy as np

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


def _run(name: str, *args: Any) -> None:
    _compiled()[name](*args)


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


def _compiled() -> dict[str, Any]:
    global _loops
    with _compile_lock:  # two threads' first calls compile once
        if _loops is None:
            import numba

            # error_model="numpy": a division gives inf or NaN as NumPy's does, with no check per element
            _loops = {fn.__name__[1:]: numba.njit(cache=True, nogil=True, error_model="numpy")(fn)
                      for fn in (_pool_max, _pool_scatter, _pool_scatter_tiled, _pool_gather, _col2im)}  # fmt: skip
    return _loops

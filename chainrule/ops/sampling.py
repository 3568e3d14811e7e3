"""Where resampling reads: the source indices and weights of interpolation, and the bins of
adaptive pooling, as PyTorch's CPU kernels compute them.

These are host tables made from sizes alone (constants of a compiled step), cached per
size; ``nn.functional.interpolate`` and the adaptive pools index with them, so their
gradients are indexing's (scatter-adds) and they need no gate of their own.

Interpolation follows ``aten/src/ATen/native/UpSample.h`` and the CPU kernel's index
helpers, down to their floating-point steps, so an index never lands one off PyTorch's:

- the scale is ``1 / scale_factor`` when a scale factor is used as given, else
  ``in / out`` (``(in - 1) / (out - 1)`` with ``align_corners``), in the input's precision
  (float32 for float32, float64 for float64);
- 'nearest' reads ``floor(dst * scale)``, 'nearest-exact' ``floor(src + 0.5)``, the linear
  modes ``src`` and the next entry, weighted by the fraction, where ``src = scale * (dst + 0.5)
  - 0.5`` (clamped at 0) or ``scale * dst`` with ``align_corners``; PyTorch's compiler fuses
  ``scale * (dst + 0.5) - 0.5`` into one multiply-add (one rounding), which is reproduced
  here (a float32 product is exact in float64; a float64 one is taken exactly as a fraction);
- the floor is C's ``floorf``: the value rounded to float32 first, in either precision.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np


def _precision(dtype: np.dtype) -> type:
    """The type PyTorch computes a dtype's source indices in (its ``opmath_type``)."""
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _scale(n_in: int, n_out: int, scale_factor: float | None, align_corners: bool, op: type) -> np.floating:
    if align_corners:
        return op(n_in - 1) / op(n_out - 1) if n_out > 1 else op(0)
    if scale_factor is not None and scale_factor > 0:
        return op(1.0 / scale_factor)
    return op(n_in) / op(n_out)


def _half_pixel(scale: np.floating, n_out: int, op: type) -> np.ndarray:
    """``scale * (dst + 0.5) - 0.5`` for each dst, rounded once (a fused multiply-add), clamped at 0."""
    if op is np.float32:  # the product of a float32 and dst + 0.5 is exact in float64, and so is the sum
        src = (np.float64(scale) * (np.arange(n_out) + 0.5) - 0.5).astype(np.float32)
    else:
        s = Fraction(float(scale))
        src = np.array([float(s * (2 * i + 1) / 2 - Fraction(1, 2)) for i in range(n_out)], dtype=np.float64)
    return np.maximum(src, op(0))


def _floorf(v: np.ndarray) -> np.ndarray:
    return np.floor(v.astype(np.float32)).astype(np.int64)


def _frozen(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    for a in arrays:
        a.setflags(write=False)  # shared by every call through the cache
    return arrays


@functools.lru_cache(maxsize=256)
def nearest(n_in: int, n_out: int, scale_factor: float | None, exact: bool, dtype: np.dtype) -> np.ndarray:
    """The input index each of ``n_out`` outputs reads ('nearest', or 'nearest-exact' when ``exact``).

    >>> nearest(3, 5, None, False, np.dtype("float32")).tolist(), nearest(3, 5, None, True, np.dtype("float32")).tolist()
    ([0, 0, 1, 1, 2], [0, 0, 1, 2, 2])
    """
    op = _precision(dtype)
    scale = _scale(n_in, n_out, scale_factor, False, op)
    if exact:
        src = _half_pixel(scale, n_out, op)
        idx = _floorf(src.astype(np.float64) + 0.5)  # floorf(src + 0.5): the sum in double, as C's 0.5 is
    else:
        idx = _floorf(scale * np.arange(n_out).astype(op))
    return _frozen(np.minimum(idx, n_in - 1))[0]


@functools.lru_cache(maxsize=256)
def linear(n_in: int, n_out: int, scale_factor: float | None, align_corners: bool,
           dtype: np.dtype) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """For each of ``n_out`` outputs, the two input indices it mixes and their weights:
    ``(i0, i1, w0, w1)``, out = x[i0] * w0 + x[i1] * w1 (weights in the input's precision).

    >>> i0, i1, w0, w1 = linear(2, 4, None, False, np.dtype("float64"))
    >>> i0.tolist(), i1.tolist(), w1.tolist()  # the last output: x[1] * 0.75 + x[1] * 0.25
    ([0, 0, 0, 1], [1, 1, 1, 1], [0.0, 0.25, 0.75, 0.25])
    """
    op = _precision(dtype)
    if n_out == n_in:  # PyTorch's shortcut: a copy
        i = np.arange(n_in)
        return _frozen(i, i.copy(), np.ones(n_in, op), np.zeros(n_in, op))
    scale = _scale(n_in, n_out, scale_factor, align_corners, op)
    src = scale * np.arange(n_out).astype(op) if align_corners else _half_pixel(scale, n_out, op)
    i0 = np.minimum(_floorf(src), n_in - 1)
    w1 = np.minimum(np.maximum(src - i0.astype(op), op(0)), op(1)).astype(op)
    i1 = i0 + (i0 < n_in - 1)
    return _frozen(i0, i1, (op(1) - w1).astype(op), w1)


def bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's bins along an axis: bin i spans [floor(i n_in / n_out), ceil((i + 1) n_in / n_out)).

    >>> [a.tolist() for a in bins(5, 3)]
    [[0, 1, 3], [2, 4, 5]]
    """
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


@functools.lru_cache(maxsize=256)
def bin_sums(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_out, n_in) 0/1 rows, row i summing bin i, and each bin's length (adaptive average pooling
    is ``rows_h @ x @ rows_w^T`` divided by the lengths' products).

    >>> rows, counts = bin_sums(3, 2)
    >>> rows.tolist(), counts.tolist()
    ([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]], [2, 2])
    """
    start, end = bins(n_in, n_out)
    j = np.arange(n_in)
    rows = ((j >= start[:, None]) & (j < end[:, None])).astype(np.float64)
    return _frozen(rows, end - start)


@functools.lru_cache(maxsize=256)
def bin_table(h: int, w: int, oh: int, ow: int) -> np.ndarray:
    """Adaptive max pooling's candidates: for each output (oh, ow), the flat indices ``row * w + col``
    of its bin's entries in row-major order, (oh * ow, L). A shorter bin is padded with repeats
    of its own entries (a row's first column at the row's end, its first row after the last),
    which change no maximum, and each repeat comes after the entry it repeats: an argmax still
    finds the first maximum in row-major order (PyTorch's tie rule).

    >>> bin_table(1, 3, 1, 2).tolist()
    [[0, 1], [1, 2]]
    """
    tables = []
    for n_in, n_out in ((h, oh), (w, ow)):
        start, end = bins(n_in, n_out)
        steps = np.arange(int((end - start).max()))
        idx = start[:, None] + steps
        tables.append(np.where(idx < end[:, None], idx, start[:, None]))  # (n_out, longest bin)
    rows, cols = tables
    flat = rows[:, None, :, None] * w + cols[None, :, None, :]  # (oh, ow, Lh, Lw)
    return _frozen(flat.reshape(oh * ow, -1))[0]

"""Convolutions, pools and interpolation as torch.nn has them (issue 26), against PyTorch.

First the functions, as data through the oracle (``op_table``: gradcheck in float64, forward,
gradients and second order against PyTorch, compiled and replayed, on each device): conv1d and
conv2d with every stride, padding (ints, pairs, 'same' with odd and even spans, 'valid'),
dilation and groups (2, 3 and depthwise), odd sizes, strides larger than the kernel, one-element
batches; the transposed convolutions with output_padding (below the stride, or below the
dilation only); max and average pooling with ceil_mode, padding with dilation, count_include_pad,
divisor_override, unbatched inputs and ties (``kink=True``); the adaptive pools with bins that
overlap, grow and divide; max_unpool2d on indices laid out as PyTorch's; interpolate in every
mode, by size and by scale factor. Then the indices themselves, the loops against the NumPy
passes, the modules (PyTorch's weights loaded, padding modes, output_size, state_dict keys and
shapes, reprs, the initialization's distribution) and the errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, op_table, table_rows, torch

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

rng = np.random.default_rng(2626)


def r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def distinct(*shape: int) -> np.ndarray:
    """Values with no ties (a max's router is then unambiguous, and gradcheck may run)."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) / 7.0 - 3.0


def tied(*shape: int) -> np.ndarray:
    """Few distinct values: most windows hold their maximum twice or more (a kink)."""
    return rng.integers(0, 3, shape).astype(np.float64)


def tF():
    return torch.nn.functional


def tnn():
    return torch.nn


CASES: list = []
_case = table_rows(CASES)


def ix(f, a: np.ndarray):
    """Indices for ``f``'s library: a torch tensor for torch's functions, the array for ours."""
    return torch.from_numpy(a) if f is not F else a


def pair(name: str, make, *inputs, kink: bool = False, double: bool = True, cases: list | None = None) -> None:
    """A row for ``make(lib)``, written once for both libraries' functionals (torch's looked up
    when the row runs, so collecting needs no torch)."""
    add = _case if cases is None else table_rows(cases)
    add(name, make(F), lambda *a: make(tF())(*a), *inputs, kink=kink, double=double)


# -- conv2d ------------------------------------------------------------------------------------
CONV2D = [  # name, input shape, weight shape, keyword arguments
    ("plain-odd", (2, 3, 7, 5), (4, 3, 3, 3), {}),
    ("stride-beyond-kernel", (2, 3, 8, 7), (2, 3, 2, 2), {"stride": 3}),
    ("stride-padding-pairs", (2, 2, 7, 6), (3, 2, 3, 2), {"stride": (2, 1), "padding": (1, 2)}),
    ("dilation-2-padding-2", (2, 3, 9, 8), (4, 3, 3, 3), {"padding": 2, "dilation": 2}),
    ("dilation-pair-stride", (1, 2, 7, 11), (3, 2, 2, 3), {"stride": 2, "padding": (0, 3), "dilation": (1, 3)}),
    ("same-odd", (2, 3, 6, 5), (4, 3, 3, 3), {"padding": "same"}),
    ("same-even-kernel", (2, 2, 5, 6), (3, 2, 2, 4), {"padding": "same"}),  # one more zero at the end
    ("same-dilated", (1, 2, 7, 6), (2, 2, 3, 2), {"padding": "same", "dilation": (2, 3)}),
    ("valid", (2, 3, 5, 5), (2, 3, 3, 2), {"padding": "valid"}),
    ("groups-2", (2, 4, 6, 5), (6, 2, 3, 3), {"padding": 1, "groups": 2}),
    ("groups-3-stride-dilation", (2, 6, 9, 8), (3, 2, 3, 2), {"stride": 2, "dilation": 2, "groups": 3}),
    ("depthwise", (2, 4, 6, 5), (4, 1, 3, 3), {"padding": 1, "groups": 4}),
    ("depthwise-multiplier-2", (1, 3, 5, 6), (6, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 3}),
    ("batch-1", (1, 3, 5, 4), (2, 3, 3, 3), {"padding": 1}),
    ("pointwise-1x1", (2, 5, 3, 4), (3, 5, 1, 1), {}),
    ("kernel-is-image", (2, 2, 3, 4), (3, 2, 3, 4), {}),  # a 1x1 output
]
for name, xs, ws, kw in CONV2D:
    pair(f"conv2d-{name}", lambda f, kw=kw: lambda x, w, b: f.conv2d(x, w, b, **kw), r(*xs), r(*ws), r(ws[0]))
pair("conv2d-nobias-groups", lambda f: lambda x, w: f.conv2d(x, w, groups=2, stride=(1, 2)), r(2, 4, 5, 6), r(4, 2, 2, 3))
pair("conv2d-positional", lambda f: lambda x, w, b: f.conv2d(x, w, b, 1, 1, 2, 2), r(1, 4, 6, 6), r(2, 2, 3, 3), r(2))
pair("conv2d-after-grouped-conv", lambda f: lambda x, w1, w2: f.conv2d(f.conv2d(x, w1, padding=1, groups=2), w2, dilation=2),
     r(2, 4, 7, 7), r(4, 2, 3, 3), r(3, 4, 2, 2))  # fmt: skip

# -- conv1d: the same machinery on a height-1 image ---------------------------------------------
CONV1D = [
    ("plain-odd", (2, 3, 9), (4, 3, 3), {}),
    ("stride-padding-dilation", (2, 3, 11), (4, 3, 3), {"stride": 2, "padding": 1, "dilation": 2}),
    ("stride-beyond-kernel", (1, 2, 10), (3, 2, 2), {"stride": 4}),
    ("same-even", (2, 2, 7), (3, 2, 4), {"padding": "same"}),
    ("same-dilated", (2, 2, 8), (2, 2, 3), {"padding": "same", "dilation": 3}),
    ("valid-tuples", (2, 2, 8), (2, 2, 3), {"padding": "valid", "stride": (2,)}),
    ("groups-2", (2, 4, 7), (6, 2, 3), {"padding": 2, "groups": 2}),
    ("depthwise", (1, 3, 8), (3, 1, 5), {"padding": 2, "groups": 3}),
]
for name, xs, ws, kw in CONV1D:
    pair(f"conv1d-{name}", lambda f, kw=kw: lambda x, w, b: f.conv1d(x, w, b, **kw), r(*xs), r(*ws), r(ws[0]))

# -- transposed convolutions: weight (in, out/groups, k...) -------------------------------------
TRANSPOSED2D = [
    ("plain", (2, 3, 4, 5), (3, 2, 3, 3), {}),
    ("stride-padding-output_padding", (2, 3, 4, 5), (3, 2, 3, 3), {"stride": 2, "padding": 1, "output_padding": 1}),
    ("stride-beyond-kernel", (1, 2, 3, 4), (2, 3, 2, 2), {"stride": 3, "output_padding": 2}),
    ("pairs", (2, 2, 4, 3), (2, 3, 3, 2), {"stride": (2, 1), "padding": (1, 0), "output_padding": (1, 0)}),
    ("dilation", (2, 2, 4, 4), (2, 2, 3, 3), {"dilation": 2, "padding": 1}),
    ("output_padding-below-dilation", (1, 2, 4, 5), (2, 2, 3, 2), {"dilation": 2, "output_padding": 1}),
    ("groups-2", (2, 4, 4, 5), (4, 3, 3, 2), {"groups": 2, "stride": (2, 1), "dilation": (1, 2)}),
    ("depthwise", (2, 3, 5, 4), (3, 1, 3, 3), {"groups": 3, "stride": 2, "padding": 1}),
    ("batch-1", (1, 3, 3, 3), (3, 2, 2, 2), {"stride": 2}),
]
for name, xs, ws, kw in TRANSPOSED2D:
    cout = ws[1] * kw.get("groups", 1)
    pair(f"conv_transpose2d-{name}", lambda f, kw=kw: lambda x, w, b: f.conv_transpose2d(x, w, b, **kw), r(*xs), r(*ws),
         r(cout))  # fmt: skip
pair("conv_transpose2d-nobias-positional", lambda f: lambda x, w: f.conv_transpose2d(x, w, None, 2, 1, 1, 1, 1),
     r(2, 2, 3, 3), r(2, 3, 3, 3))  # fmt: skip
TRANSPOSED1D = [
    ("plain", (2, 3, 5), (3, 2, 3), {}),
    ("stride-padding-output_padding", (2, 3, 4), (3, 2, 4), {"stride": 3, "padding": 1, "output_padding": 2}),
    ("groups-dilation", (2, 4, 5), (4, 1, 3), {"groups": 2, "dilation": 2}),
]
for name, xs, ws, kw in TRANSPOSED1D:
    cout = ws[1] * kw.get("groups", 1)
    pair(f"conv_transpose1d-{name}", lambda f, kw=kw: lambda x, w, b: f.conv_transpose1d(x, w, b, **kw), r(*xs), r(*ws),
         r(cout))  # fmt: skip
pair("conv_transpose2d-of-conv2d", lambda f: lambda x, w: f.conv_transpose2d(f.conv2d(x, w, stride=2), w, stride=2,
                                                                             output_padding=1),
     r(2, 2, 7, 7), r(3, 2, 3, 3))  # fmt: skip

# -- max pooling -------------------------------------------------------------------------------
MAXPOOL2D = [
    ("2", (2, 3, 4, 6), (2,), {}),
    ("3-s2-p1", (1, 2, 5, 5), (3, 2, 1), {}),
    ("stride-beyond-kernel", (2, 2, 7, 8), (2,), {"stride": 3}),
    ("dilation-2-padding-1", (2, 2, 7, 6), (3,), {"padding": 1, "dilation": 2}),
    ("dilation-pair-stride-1", (1, 2, 6, 7), ((2, 3),), {"stride": 1, "dilation": (3, 2)}),
    ("ceil-odd", (2, 2, 5, 7), (2,), {"ceil_mode": True}),
    ("ceil-padding-stride", (1, 3, 6, 5), (3,), {"stride": 2, "padding": 1, "ceil_mode": True}),
    ("ceil-dilation", (2, 1, 8, 7), (2,), {"stride": 3, "dilation": 2, "ceil_mode": True}),
    ("rect-kernel", (2, 2, 5, 6), ((3, 2),), {"stride": (1, 2), "padding": (1, 0)}),
    ("batch-1", (1, 1, 4, 4), (2,), {}),
    ("unbatched", (3, 5, 4), (2,), {"stride": 1}),
    ("indices-asked", (2, 2, 5, 5), (3, 2, 1), {"return_indices": True}),  # the values; the indices below
]
for name, xs, args, kw in MAXPOOL2D:
    first = (lambda t: t[0]) if kw.get("return_indices") else (lambda t: t)
    pair(f"max_pool2d-{name}", lambda f, args=args, kw=kw, first=first: lambda x: first(f.max_pool2d(x, *args, **kw)),
         distinct(*xs))  # fmt: skip
MAXPOOL1D = [
    ("3-s2-p1", (2, 3, 9), (3, 2, 1), {}),
    ("ceil-dilation", (2, 2, 10), (2,), {"stride": 3, "dilation": 2, "padding": 1, "ceil_mode": True}),
    ("unbatched", (3, 7), (2,), {}),
]
for name, xs, args, kw in MAXPOOL1D:
    pair(f"max_pool1d-{name}", lambda f, args=args, kw=kw: lambda x: f.max_pool1d(x, *args, **kw), distinct(*xs))
# ties: the gradient goes to each window's first maximum, as PyTorch routes it (no finite differences at a kink)
for name, make in [("2", lambda f: lambda x: f.max_pool2d(x, 2)),
                   ("overlapping-3-s1-p1", lambda f: lambda x: f.max_pool2d(x, 3, 1, 1)),
                   ("dilated-ceil", lambda f: lambda x: f.max_pool2d(x, 2, 2, 1, 2, True)),
                   ("1d-overlapping", lambda f: lambda x: f.max_pool1d(x.reshape(2, 3, -1), 3, 1))]:  # fmt: skip
    pair(f"max_pool-ties-{name}", make, tied(2, 3, 6, 5), kink=True)

# -- average pooling ---------------------------------------------------------------------------
AVGPOOL2D = [
    ("2", (2, 3, 4, 6), (2,), {}),
    ("3-s1-p1", (1, 2, 4, 3), (3, 1, 1), {}),
    ("3-s2-p1-no-pad-count", (2, 2, 5, 6), (3, 2, 1), {"count_include_pad": False}),
    ("stride-beyond-kernel", (2, 2, 7, 8), (2,), {"stride": 3}),
    ("ceil-odd", (2, 2, 5, 7), (2,), {"ceil_mode": True}),
    ("ceil-padding-count-pad", (1, 3, 6, 5), (3, 2, 1), {"ceil_mode": True}),  # windows past the padding
    ("ceil-padding-no-pad-count", (1, 3, 6, 5), (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}),
    ("divisor_override", (2, 2, 5, 4), (2, 1, 1), {"divisor_override": 3}),
    ("rect-pairs", (2, 2, 5, 6), ((3, 2), (2, 1), (1, 0)), {"count_include_pad": False}),
    ("unbatched", (3, 4, 5), (2,), {"ceil_mode": True}),
]
for name, xs, args, kw in AVGPOOL2D:
    pair(f"avg_pool2d-{name}", lambda f, args=args, kw=kw: lambda x: f.avg_pool2d(x, *args, **kw), r(*xs))
AVGPOOL1D = [
    ("3-s2-p1", (2, 3, 8), (3, 2, 1), {}),
    ("ceil-no-pad-count", (2, 2, 9), (4, 3, 2), {"ceil_mode": True, "count_include_pad": False}),
    ("unbatched", (3, 5), (2,), {}),
]
for name, xs, args, kw in AVGPOOL1D:
    pair(f"avg_pool1d-{name}", lambda f, args=args, kw=kw: lambda x: f.avg_pool1d(x, *args, **kw), r(*xs))

# -- adaptive pooling --------------------------------------------------------------------------
ADAPTIVE = [  # input shape, output size: bins that overlap, divide, grow, keep an axis
    ("overlapping", (2, 3, 7, 9), (3, 4)),
    ("dividing", (2, 2, 6, 8), (3, 2)),
    ("growing", (1, 2, 3, 4), (5, 7)),
    ("keep-height", (2, 2, 5, 7), (None, 3)),
    ("global", (2, 3, 5, 4), 1),
    ("unbatched", (3, 5, 7), 3),
]
for name, xs, size in ADAPTIVE:
    pair(f"adaptive_avg_pool2d-{name}", lambda f, size=size: lambda x: f.adaptive_avg_pool2d(x, size), r(*xs))
    pair(f"adaptive_max_pool2d-{name}", lambda f, size=size: lambda x: f.adaptive_max_pool2d(x, size), distinct(*xs))
for name, xs, size in [("overlapping", (2, 3, 7), 3), ("growing", (2, 2, 3), 5), ("unbatched", (3, 8), 4)]:
    pair(f"adaptive_avg_pool1d-{name}", lambda f, size=size: lambda x: f.adaptive_avg_pool1d(x, size), r(*xs))
    pair(f"adaptive_max_pool1d-{name}", lambda f, size=size: lambda x: f.adaptive_max_pool1d(x, size), distinct(*xs))
pair("adaptive_max_pool2d-ties", lambda f: lambda x: f.adaptive_max_pool2d(x, (2, 3)), tied(2, 2, 5, 7), kink=True)

# -- interpolation -----------------------------------------------------------------------------
INTERPOLATE = [  # input shape, keyword arguments
    ((2, 3, 5, 4), {"size": (7, 9)}),
    ((2, 2, 7, 9), {"size": (4, 5)}),  # down
    ((1, 2, 3, 4), {"scale_factor": 2}),  # the out == 2 in shortcut
    ((2, 2, 5, 6), {"scale_factor": (1.7, 0.6)}),  # the factor's own scale
    ((2, 2, 5, 6), {"scale_factor": 1.7, "recompute_scale_factor": True}),  # in / out
    ((2, 3, 7), {"size": 11}),
    ((2, 3, 9), {"scale_factor": 0.45}),
]
for xs, kw in INTERPOLATE:
    tag = "-".join(f"{k}={v}" for k, v in kw.items())
    modes = [("nearest", None), ("nearest-exact", None), ("area", None)]
    modes += [("linear" if len(xs) == 3 else "bilinear", False), ("linear" if len(xs) == 3 else "bilinear", True)]
    for mode, corners in modes:  # (with align_corners a factor sets the size only, as PyTorch's)
        pair(f"interpolate-{mode}-{'corners-' if corners else ''}{tag}",
             lambda f, kw=kw, mode=mode, corners=corners: lambda x: f.interpolate(x, mode=mode, align_corners=corners, **kw),
             r(*xs))  # fmt: skip
pair("interpolate-bilinear-same-height", lambda f: lambda x: f.interpolate(x, size=(4, 7), mode="bilinear"), r(2, 2, 4, 3))
pair("interpolate-bilinear-corners-to-1", lambda f: lambda x: f.interpolate(x, size=(1, 3), mode="bilinear", align_corners=True),
     r(1, 2, 4, 5))  # fmt: skip
pair("interpolate-linear-corners-factor", lambda f: lambda x: f.interpolate(x, scale_factor=2.5, mode="linear",
                                                                            align_corners=True), r(2, 2, 4))  # fmt: skip

test_function_against_torch, test_function_compiled, test_function_on_each_device = op_table(CASES)


# -- max_unpool2d: its index check reads one value back (on a GPU, one wait) ----------------------
def pool_reference(x: np.ndarray, k: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling without padding by loops, and PyTorch's indices (row * W + col, the first maximum)."""
    n, c, h, w = x.shape
    ho, wo = (h - k) // s + 1, (w - k) // s + 1
    out, idx = np.empty((n, c, ho, wo)), np.empty((n, c, ho, wo), dtype=np.int64)
    for b, ch, i, j in np.ndindex(n, c, ho, wo):
        win = x[b, ch, i * s : i * s + k, j * s : j * s + k]
        a = int(np.argmax(win))
        out[b, ch, i, j], idx[b, ch, i, j] = win.flat[a], (i * s + a // k) * w + j * s + a % k
    return out, idx


UNPOOL: list = []
V2, I2 = pool_reference(distinct(2, 3, 6, 6), 2, 2)
V7, I7 = pool_reference(distinct(2, 3, 6, 7), 2, 2)  # the last column unused: output_size gives it back
V3, I3 = pool_reference(distinct(1, 2, 7, 7), 3, 3)  # 2x2, so 6x6 unless output_size says 7x7
V4, I4 = pool_reference(distinct(2, 2, 5, 5), 3, 1)  # overlapping windows: repeated indices, equal values
pair("max_unpool2d-2", lambda f: lambda v: f.max_unpool2d(v, ix(f, I2), 2), V2, cases=UNPOOL)
pair("max_unpool2d-output_size", lambda f: lambda v: f.max_unpool2d(v, ix(f, I7), 2, output_size=(6, 7)), V7, cases=UNPOOL)
pair("max_unpool2d-3-size4", lambda f: lambda v: f.max_unpool2d(v, ix(f, I3), 3, 3, 0, (1, 2, 7, 7)), V3, cases=UNPOOL)
pair("max_unpool2d-unbatched", lambda f: lambda v: f.max_unpool2d(v, ix(f, I2[0]), (2, 2)), V2[0], cases=UNPOOL)
# a repeated index: written once (equal values), its gradient read back for every copy (finite differences
# would see only the copy that was written last: only the comparison with PyTorch)
pair("max_unpool2d-repeated-indices", lambda f: lambda v: f.max_unpool2d(v, ix(f, I4), 3, 1), V4, kink=True, cases=UNPOOL)


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", UNPOOL)
def test_max_unpool_against_torch(ours, theirs, inputs, kink, double):
    check_op(ours, theirs, *inputs, kink=kink, double=double)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", UNPOOL)
def test_max_unpool_compiled(ours, theirs, inputs, kink, double, device):
    check_compiled(ours, *inputs, device=device, syncs=1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", UNPOOL)
def test_max_unpool_on_each_device(ours, theirs, inputs, kink, double, device):
    check_on_device(ours, device, *inputs, double=double, syncs=1)


# -- the indices ---------------------------------------------------------------------------------
INDICES = [
    ("max_pool2d", (2, 3, 7, 9), (3, 2, 1, 2, True)), ("max_pool2d", (2, 2, 6, 6), (2,)),
    ("max_pool2d", (3, 5, 6), ((2, 3), (1, 2), (1, 0))), ("max_pool2d", (1, 2, 9, 8), (3, 3, 1, 3, True)),
    ("max_pool1d", (2, 3, 11), (3, 2, 1, 2, True)), ("max_pool1d", (3, 8), (2,)),
    ("adaptive_max_pool2d", (2, 3, 7, 9), ((3, 4),)), ("adaptive_max_pool2d", (2, 2, 6, 4), ((3, 2),)),
    ("adaptive_max_pool2d", (2, 3, 4), ((5, None),)), ("adaptive_max_pool1d", (2, 3, 7), (3,)),
]  # fmt: skip


@pytest.mark.parametrize("values", ["distinct", "tied"])
@pytest.mark.parametrize("fn,shape,args", INDICES, ids=[f"{f}-{s}-{a}" for f, s, a in INDICES])
def test_pool_indices_are_torchs(fn, shape, args, values):
    x = distinct(*shape) if values == "distinct" else tied(*shape)  # ties: the first maximum's index
    out, idx = getattr(F, fn)(cr.Tensor(x, dtype=np.float64), *args, return_indices=True)
    tout, tidx = getattr(tF(), fn)(torch.tensor(x), *args, return_indices=True)
    np.testing.assert_array_equal(out.numpy(), tout.numpy())
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


def test_torchs_indices_unpool_as_torch_and_round_trip():
    x = distinct(2, 3, 8, 6)
    tout, tidx = tF().max_pool2d(torch.tensor(x), 2, return_indices=True)
    ours = F.max_unpool2d(cr.Tensor(tout.numpy(), dtype=np.float64), tidx.numpy(), 2)
    np.testing.assert_array_equal(ours.numpy(), tF().max_unpool2d(tout, tidx, 2).numpy())
    out, idx = nn.MaxPool2d(2, return_indices=True)(cr.Tensor(x, dtype=np.float64))
    back = nn.MaxUnpool2d(2)(out, idx)  # each maximum back where it was, zeros elsewhere
    np.testing.assert_array_equal(back.numpy(), np.where(back.numpy() != 0, x, 0))
    assert (back.numpy() != 0).sum() == out.numel()


# -- the loops and the NumPy passes give the same numbers ------------------------------------------
WINDOWED = [c for c in CASES if c.id.startswith(("conv", "max_pool", "avg_pool", "adaptive_max"))]


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", WINDOWED)
def test_window_functions_without_the_compiled_loops(ours, theirs, inputs, kink, double, monkeypatch):
    # pooling's routes and col2im run as Numba loops where Numba is installed, else as NumPy
    # passes (CuPy, a trace): the same rows again on the NumPy passes
    from chainrule.ops import kernels

    monkeypatch.setattr(kernels, "_available", False)
    check_op(ours, theirs, *inputs, kink=kink, double=double)


@pytest.mark.parametrize("make", [
    lambda x: F.max_pool2d(x, 3, 2, 1, 2, True), lambda x: F.max_pool2d(x, (2, 3), 1, (1, 0), (2, 1)),
    lambda x, w: F.conv2d(x, w, stride=2, padding=2, dilation=2), lambda x, w: F.conv_transpose2d(x, w[:, :2], stride=2, dilation=2),
], ids=["max_pool-dilated-ceil", "max_pool-dilated-overlapping", "conv2d-dilated", "conv_transpose2d-dilated"])  # fmt: skip
def test_dilated_loops_and_passes_agree_bit_for_bit(make, monkeypatch):
    from chainrule.ops import kernels

    if not kernels.available():
        pytest.skip("Numba is not installed: only the NumPy passes run here")
    g = np.random.default_rng(0)
    args = [g.standard_normal((2, 3, 9, 8)).astype(np.float32), g.standard_normal((3, 3, 3, 3)).astype(np.float32)]
    runs = []
    for loops in (True, False):
        monkeypatch.setattr(kernels, "_available", loops)
        xs = [cr.Tensor(a, requires_grad=True) for a in args[: make.__code__.co_argcount]]
        y = make(*xs)
        (y * y).sum().backward()
        runs.append([y.numpy()] + [x.grad.numpy() for x in xs])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_grouped_and_transposed_convolutions_in_batch_slices(monkeypatch):
    # the windows are copied a slice of the batch at a time; one example per slice, second order too
    from chainrule.ops.window import Convolution

    monkeypatch.setattr(Convolution, "CHUNK", 1)
    check_op(lambda x, w, b: F.conv2d(x, w, b, 2, 1, 2, 3), lambda x, w, b: tF().conv2d(x, w, b, 2, 1, 2, 3),
             r(3, 6, 7, 6), r(3, 2, 3, 3), r(3))  # fmt: skip
    check_op(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1, 1, 2), lambda x, w: tF().conv_transpose2d(x, w, None, 2, 1, 1, 2),
             r(3, 4, 3, 4), r(4, 2, 3, 3))  # fmt: skip


def test_interpolation_indices_match_torch_in_float32_over_many_sizes():
    # an index one off would move a value by a whole pixel: compare float32 outputs over sizes and factors
    x = np.arange(23.0, dtype=np.float32)[None, None]
    g = np.random.default_rng(5)
    for n_in in (1, 2, 3, 5, 7, 16, 23):
        for n_out in (1, 2, 3, 4, 9, 14, 31, 41, 47, 83):
            factor = float(g.uniform(0.3, 3.5))
            for kw in ({"size": n_out}, {"scale_factor": factor}) if math.floor(n_in * factor) else ({"size": n_out},):
                for mode, corners in [("nearest", None), ("nearest-exact", None), ("linear", False), ("linear", True)]:
                    ours = F.interpolate(cr.Tensor(x[..., :n_in]), mode=mode, align_corners=corners, **kw).numpy()
                    theirs = tF().interpolate(torch.tensor(x[..., :n_in]), mode=mode, align_corners=corners, **kw).numpy()
                    what = f"{n_in} -> {kw} {mode} {corners}"
                    if mode.startswith("nearest"):
                        np.testing.assert_array_equal(ours, theirs, err_msg=what)
                    else:  # float32 sums in another order: an ulp of 22; a wrong index or weight, far more
                        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5, err_msg=what)


# -- the modules ------------------------------------------------------------------------------------
def twins(make: str):
    """PyTorch's module in float64 and ours on its weights."""
    torch.manual_seed(0)
    theirs = eval("tnn()." + make).double()
    ours = eval("nn." + make).to(dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


CONV_MODULES = [
    ("Conv1d(3, 4, 3)", (2, 3, 9)), ("Conv1d(4, 6, 2, stride=2, padding='valid', groups=2)", (2, 4, 9)),
    ("Conv1d(2, 3, 4, padding='same', dilation=2, padding_mode='reflect')", (2, 2, 10)),
    ("Conv1d(3, 3, 3, padding=2, padding_mode='circular', groups=3, bias=False)", (1, 3, 7)),
    ("Conv2d(3, 4, 3, padding=1)", (2, 3, 6, 5)), ("Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), groups=2)", (2, 4, 7, 6)),
    ("Conv2d(2, 4, 3, padding='same', dilation=(1, 2), padding_mode='replicate')", (2, 2, 5, 6)),
    ("Conv2d(2, 3, 2, padding='same', padding_mode='reflect')", (1, 2, 5, 5)),
    ("Conv2d(3, 3, 3, padding=(2, 1), padding_mode='circular', groups=3)", (2, 3, 4, 5)),
    ("Conv2d(3, 4, 3, stride=2, dilation=2, bias=False)", (1, 3, 9, 8)),
    ("ConvTranspose1d(3, 4, 3, stride=2, padding=1, output_padding=1)", (2, 3, 5)),
    ("ConvTranspose1d(4, 2, 2, groups=2, dilation=3, bias=False)", (2, 4, 4)),
    ("ConvTranspose2d(3, 2, 3, stride=2, padding=1)", (2, 3, 4, 5)),
    ("ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))",
     (1, 4, 3, 4)),
]  # fmt: skip


@pytest.mark.parametrize("make,shape", CONV_MODULES, ids=[m[0] for m in CONV_MODULES])
def test_conv_modules_on_torchs_weights_match_torch(make, shape):
    theirs, ours = twins(make)
    assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
    x = r(*shape)
    tx, ox = torch.tensor(x, requires_grad=True), cr.Tensor(x, requires_grad=True, dtype=np.float64)
    t, o = theirs(tx), ours(ox)
    assert o.shape == tuple(t.shape)
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    v = r(*o.shape)
    (t * torch.tensor(v)).sum().backward()
    (o * cr.Tensor(v, dtype=np.float64)).sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("size", [(8, 8), (1, 2, 7, 8), (7, 7)])
def test_conv_transpose_output_size_picks_torchs_output_padding(size):
    theirs, ours = twins("ConvTranspose2d(3, 2, 3, stride=2, padding=1)")
    x = r(1, 3, 4, 4)
    t, o = theirs(torch.tensor(x), output_size=size), ours(cr.Tensor(x, dtype=np.float64), output_size=size)
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(3, 2, .*output_size=\(9, 9\).*from \(7, 7\) to \(8, 8\)"):
        ours(cr.Tensor(x), output_size=(9, 9))


POOL_MODULES = [
    ("MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True)", (2, 3, 10)),
    ("MaxPool2d((3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), ceil_mode=True)", (2, 2, 7, 8)),
    ("MaxPool2d(2)", (3, 6, 5)), ("AvgPool1d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)", (2, 3, 8)),
    ("AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=4)", (2, 2, 6, 7)),
    ("AvgPool2d((2, 3), count_include_pad=False, padding=(1, 1))", (2, 2, 5, 6)),
    ("AdaptiveAvgPool1d(4)", (2, 3, 9)), ("AdaptiveAvgPool2d((3, None))", (2, 2, 7, 5)),
    ("AdaptiveMaxPool1d(3)", (2, 3, 7)), ("AdaptiveMaxPool2d((2, 3))", (2, 2, 5, 7)),
    ("Upsample(scale_factor=2)", (2, 2, 3, 4)), ("Upsample(size=5, mode='linear', align_corners=True)", (2, 2, 3)),
    ("Upsample(scale_factor=(1.5, 0.5), mode='bilinear')", (2, 2, 4, 6)),
    ("Upsample(size=(3, 7), mode='nearest-exact')", (2, 1, 4, 5)), ("UpsamplingNearest2d(scale_factor=3)", (1, 2, 2, 3)),
    ("UpsamplingBilinear2d(size=(5, 4))", (1, 2, 3, 3)),
]  # fmt: skip


@pytest.mark.parametrize("make,shape", POOL_MODULES, ids=[m[0] for m in POOL_MODULES])
def test_pool_and_upsample_modules_match_torch(make, shape):
    theirs, ours = eval("tnn()." + make), eval("nn." + make)
    assert repr(ours) == repr(theirs)
    check_op(lambda x: ours(x), lambda x: theirs(x), distinct(*shape))


def test_return_indices_modules_and_unpool_module_match_torch():
    x = distinct(2, 3, 7, 6)
    for make in ("MaxPool2d(3, stride=2, padding=1, return_indices=True)", "AdaptiveMaxPool2d((3, 4), return_indices=True)"):
        (out, idx), (tout, tidx) = eval("nn." + make)(cr.Tensor(x, dtype=np.float64)), eval("tnn()." + make)(torch.tensor(x))
        np.testing.assert_array_equal(out.numpy(), tout.numpy())
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    tout, tidx = tnn().MaxPool2d(2, return_indices=True)(torch.tensor(x))
    ours, theirs = nn.MaxUnpool2d(2), tnn().MaxUnpool2d(2)
    assert repr(ours) == repr(theirs)
    check_op(lambda v: ours(v, tidx.numpy(), output_size=(7, 6)), lambda v: theirs(v, tidx, output_size=(7, 6)), tout.numpy())


LAYERS = [
    "Conv1d(3, 4, 3)", "Conv1d(4, 8, 5, stride=2, padding='valid', dilation=2, groups=4, bias=False)",
    "Conv1d(2, 2, 3, padding='same', padding_mode='reflect')", "Conv2d(3, 8, 3)", "Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(4, 2))",
    "Conv2d(4, 8, 3, padding='same', dilation=2, groups=2, padding_mode='circular')", "Conv2d(4, 4, 3, groups=4, bias=False)",
    "Conv2d(2, 2, 1, padding='valid', padding_mode='replicate')", "ConvTranspose1d(4, 6, 3, stride=2, output_padding=1)",
    "ConvTranspose2d(4, 6, 3)", "ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2)",
    "MaxPool1d(3)", "MaxPool1d(3, stride=2, padding=1, dilation=2, return_indices=True, ceil_mode=True)", "MaxPool2d(2)",
    "MaxPool2d((3, 2), stride=(2, 1), padding=1, ceil_mode=True)", "AvgPool1d(3)", "AvgPool1d(3, stride=2, padding=1)",
    "AvgPool2d(2)", "AvgPool2d((3, 2), stride=1, padding=1, ceil_mode=True, count_include_pad=False, divisor_override=2)",
    "AdaptiveAvgPool1d(5)", "AdaptiveAvgPool2d(7)", "AdaptiveAvgPool2d((None, 7))", "AdaptiveMaxPool1d(3)",
    "AdaptiveMaxPool2d((2, 3), return_indices=True)", "MaxUnpool2d(2)", "MaxUnpool2d((3, 2), stride=1, padding=(1, 0))",
    "Upsample(scale_factor=2)", "Upsample(size=(4, 5), mode='bilinear', align_corners=True)", "Upsample(scale_factor=(2, 1.5))",
    "UpsamplingNearest2d(size=4)", "UpsamplingBilinear2d(scale_factor=2)",
]  # fmt: skip


@pytest.mark.parametrize("layer", LAYERS)
def test_state_dict_keys_shapes_attributes_and_repr_are_torchs(layer):
    ours, theirs = eval("nn." + layer), eval("tnn()." + layer)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]  # fmt: skip
    for attr in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups", "output_padding",
                 "padding_mode", "transposed", "_reversed_padding_repeated_twice", "ceil_mode", "return_indices",
                 "count_include_pad", "divisor_override", "output_size", "scale_factor", "size", "mode", "align_corners"):  # fmt: skip
        if hasattr(theirs, attr):
            assert getattr(ours, attr) == getattr(theirs, attr), attr


INITS = ["Conv1d(16, 32, 5)", "Conv2d(12, 48, 3, groups=3)", "Conv2d(64, 64, (3, 2), bias=False)",
         "ConvTranspose1d(8, 48, 4, groups=2)", "ConvTranspose2d(32, 16, 3, stride=2)"]  # fmt: skip


@pytest.mark.parametrize("make", INITS)
def test_conv_initialization_is_torchs_distribution(make):
    # PyTorch's reset_parameters: kaiming_uniform_(a=sqrt(5)) and a bias of the same bound, U(-b, b) with
    # b = 1/sqrt(fan_in), fan_in = weight.shape[1] * prod(kernel); the values themselves differ (another generator)
    cr.manual_seed(0)
    ours, theirs = eval("nn." + make), eval("tnn()." + make)
    fan_in = theirs.weight.shape[1] * math.prod(theirs.kernel_size)
    bound = 1 / math.sqrt(fan_in)
    tw = theirs.weight.detach().numpy()
    assert np.abs(tw).max() <= bound and np.abs(tw).max() > 0.95 * bound  # torch's own draw fits the formula
    for p in [ours.weight] + ([ours.bias] if ours.bias is not None else []):
        w = p.numpy().ravel()
        assert np.abs(w).max() <= bound
        assert np.abs(w).max() > (0.95 if w.size > 200 else 0.5) * bound
        assert abs(w.mean()) < 4 * bound / math.sqrt(3 * w.size)  # four standard errors
        if w.size > 200:
            assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # U(-b, b) has std b / sqrt(3)
    before = ours.weight.numpy().copy()
    ours.reset_parameters()
    assert not np.array_equal(before, ours.weight.numpy())


def test_conv_lecture_initializations_stay_available():
    cr.manual_seed(0)
    he = nn.Conv2d(64, 64, 3, init="kaiming")
    assert abs(he.weight.numpy().std() - math.sqrt(2 / 576)) < 0.03 * math.sqrt(2 / 576)
    assert not he.bias.numpy().any()
    glorot = nn.ConvTranspose2d(64, 32, 3, init="xavier")  # weight (64, 32, 3, 3): fans 32*9 and 64*9
    assert abs(glorot.weight.numpy().std() - math.sqrt(2 / (32 * 9 + 64 * 9))) < 0.03 * math.sqrt(2 / (32 * 9 + 64 * 9))
    glorot.reset_parameters()  # the same scheme again
    assert not glorot.bias.numpy().any()
    cr.manual_seed(0)
    a = nn.Conv2d(3, 4, 3).weight.numpy()
    cr.manual_seed(0)
    assert np.array_equal(a, nn.Conv2d(3, 4, 3).weight.numpy())  # seeded
    assert nn.Conv2d(2, 3, 3, dtype=np.float64).weight.dtype == np.float64


# -- errors ----------------------------------------------------------------------------------------
def z(*shape: int) -> cr.Tensor:
    return cr.Tensor(np.zeros(shape))


@pytest.mark.parametrize("call,words", [
    (lambda: nn.Conv2d(3, 4, 3)(z(2, 5, 6, 6)), ["Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1))", "(2, 5, 6, 6)", "(4, 3, 3, 3)"]),
    (lambda: nn.Conv1d(4, 4, 3, groups=2)(z(2, 4, 6, 6)), ["Conv1d(4, 4", "groups=2", "(2, 4, 6, 6)", "3 axes (N, C, L)"]),
    (lambda: nn.Conv2d(3, 4, 5)(z(1, 3, 3, 3)), ["Conv2d(3, 4, kernel_size=(5, 5)", "(1, 3, 3, 3)", "smaller than the kernel"]),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), ["Conv2d", "in_channels=3", "groups=2", "divisible"]),
    (lambda: nn.Conv2d(4, 6, 3, groups=4), ["Conv2d", "out_channels=6", "groups=4"]),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), ["Conv2d", "padding='same'", "stride=(2, 2)"]),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), ["Conv2d", "padding='full'", "same or valid"]),
    (lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), ["Conv2d", "padding_mode='mirror'", "'reflect'"]),
    (lambda: nn.Conv2d(3, 4, 3, init="he"), ["Conv2d", "init='he'", "'kaiming'"]),
    (lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), ["ConvTranspose2d", "padding_mode='reflect'", "'zeros'"]),
    (lambda: nn.Conv2d(3, 4, 0), ["Conv2d", "kernel_size=0"]),
    (lambda: F.conv2d(z(1, 4, 5, 5), z(2, 3, 3, 3), groups=2), ["conv2d", "(1, 4, 5, 5)", "(2, 3, 3, 3)", "groups=2"]),
    (lambda: F.conv2d(z(1, 2, 5, 5), z(2, 2, 3, 3), z(3)), ["conv2d", "bias has shape (3,)", "(2,)"]),
    (lambda: F.conv1d(z(2, 5), z(2, 2, 3)), ["conv1d", "(2, 5)", "one signal", "unsqueeze"]),
    (lambda: F.conv_transpose2d(z(1, 3, 4, 4), z(2, 2, 3, 3)), ["conv_transpose2d", "(1, 3, 4, 4)", "(2, 2, 3, 3)"]),
    (lambda: F.conv_transpose2d(z(1, 2, 4, 4), z(2, 2, 3, 3), stride=2, output_padding=2),
     ["conv_transpose2d", "output_padding=(2, 2)", "stride (2, 2)", "dilation (1, 1)"]),
    (lambda: F.conv_transpose1d(z(1, 2, 1), z(2, 2, 1), padding=1), ["conv_transpose1d", "output size (-1,)"]),
    (lambda: nn.MaxPool2d(3, padding=2)(z(1, 1, 6, 6)), ["MaxPool2d(kernel_size=3", "padding=(2, 2)", "half the kernel"]),
    (lambda: nn.MaxPool2d(4)(z(1, 1, 3, 3)), ["MaxPool2d", "(1, 1, 3, 3)", "output size (0, 0)"]),
    (lambda: F.max_pool2d(z(2, 4), 2), ["max_pool2d", "(2, 4)", "4 axes"]),
    (lambda: F.avg_pool2d(z(1, 1, 4, 4), 2, divisor_override=0), ["avg_pool2d", "divisor_override=0"]),
    (lambda: nn.AvgPool1d(2)(z(1, 2, 3, 4)), ["AvgPool1d(kernel_size=(2,)", "(1, 2, 3, 4)", "3 axes (N, C, L)"]),
    (lambda: nn.AdaptiveAvgPool2d((2, 0))(z(1, 1, 4, 4)), ["AdaptiveAvgPool2d(output_size=(2, 0))", "output_size=(2, 0)"]),
    (lambda: F.max_unpool2d(z(1, 1, 2, 2), np.array([[[[0, 1], [2, 16]]]]), 2), ["max_unpool2d", "[0, 16]", "4x4 = 16"]),
    (lambda: F.max_unpool2d(z(1, 1, 2, 2), np.zeros((1, 1, 2, 2)), 2), ["max_unpool2d", "float64", "integers"]),
    (lambda: F.max_unpool2d(z(1, 1, 2, 2), np.zeros((1, 1, 4), dtype=np.int64), 2), ["max_unpool2d", "(1, 1, 4)", "same shape"]),
    (lambda: nn.MaxUnpool2d(2)(z(1, 1, 2, 2), np.zeros((1, 1, 2, 2), dtype=np.int64), output_size=(6, 6)),
     ["MaxUnpool2d(kernel_size=(2, 2)", "output_size=(6, 6)", "(4, 4)"]),
    (lambda: F.interpolate(z(1, 1, 4), size=3, scale_factor=2), ["interpolate", "both size and scale_factor"]),
    (lambda: F.interpolate(z(1, 1, 4), size=3, align_corners=True), ["interpolate", "align_corners=True", "'nearest'"]),
    (lambda: F.interpolate(z(1, 1, 4), size=3, mode="bilinear"), ["interpolate", "'bilinear'", "(1, 1, 4)", "4 axes"]),
    (lambda: F.interpolate(z(1, 1, 4, 4), size=(3,)), ["interpolate", "size=(3,)", "2 sizes"]),
    (lambda: F.interpolate(z(1, 1, 4, 4), scale_factor=0.1), ["interpolate", "output size (0, 0)"]),
    (lambda: F.interpolate(z(1, 1, 4), size=3, mode="cubic"), ["interpolate", "'cubic'", "'nearest'"]),
    (lambda: nn.Upsample(scale_factor=2, mode="linear")(z(1, 1, 3, 3)), ["Upsample(scale_factor=2.0, mode='linear')", "3 axes"]),
])  # fmt: skip
def test_bad_input_names_the_layer_or_function_and_the_values(call, words):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_modes_chainrule_lacks_say_so():
    with pytest.raises(NotImplementedError, match="interpolate: mode 'bicubic' is not available in chainrule"):
        F.interpolate(z(1, 1, 4, 4), size=3, mode="bicubic")

"""Activations of ``nn.functional`` and ``nn.activation``, and erf/GELU without SciPy (``ops.special``).

The table: one row per function, shape and kink, each through the oracle (PyTorch and
finite differences), compiled and replayed, and on each device. Then erf's accuracy in both
precisions, the float32 GELU against PyTorch's float32, the modules (PyTorch's arguments,
forward equal to the function, PyTorch's repr) and the errors.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from oracle import op_table, table_rows, torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops import kernels, special

rng = np.random.default_rng(2323)


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float64)


def tF(name: str, **kw):
    """Late lookup of torch.nn.functional.<name>, so collecting this file does not need torch."""
    return lambda *a: getattr(torch.nn.functional, name)(*a, **kw)


CASES: list = []


case = table_rows(CASES)


SHAPES = [(), (3,), (2, 1, 3)]
WIDE = {"hardtanh": 3.0, "relu6": 8.0, "hardsigmoid": 5.0, "hardswish": 5.0}  # reach past the bounds
UNARY = [
    ("relu", F.relu, tF("relu")),
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), tF("leaky_relu", negative_slope=0.2)),
    ("elu", F.elu, tF("elu")),
    ("elu-alpha", lambda x: F.elu(x, alpha=0.5), tF("elu", alpha=0.5)),
    ("selu", F.selu, tF("selu")),
    ("celu", lambda x: F.celu(x, alpha=1.5), tF("celu", alpha=1.5)),
    ("gelu", F.gelu, tF("gelu")),
    ("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), tF("gelu", approximate="tanh")),
    ("silu", F.silu, tF("silu")),
    ("mish", F.mish, tF("mish")),
    ("softsign", F.softsign, tF("softsign")),
    ("logsigmoid", F.logsigmoid, tF("logsigmoid")),
    ("hardtanh", F.hardtanh, tF("hardtanh")),
    ("hardtanh-bounds", lambda x: F.hardtanh(x, -0.5, 0.7), tF("hardtanh", min_val=-0.5, max_val=0.7)),
    ("relu6", F.relu6, tF("relu6")),
    ("hardsigmoid", F.hardsigmoid, tF("hardsigmoid")),
    ("hardswish", F.hardswish, tF("hardswish")),
    ("softplus", F.softplus, tF("softplus")),
    ("softplus-beta", lambda x: F.softplus(x, beta=2.0, threshold=3.0), tF("softplus", beta=2.0, threshold=3.0)),
    ("sigmoid", F.sigmoid, tF("sigmoid")),
    ("tanh", F.tanh, tF("tanh")),
    ("inplace-accepted", lambda x: F.hardswish(F.elu(x, inplace=True), inplace=True),
     lambda x: torch.nn.functional.hardswish(torch.nn.functional.elu(x))),
]  # fmt: skip
NO_DOUBLE = {"hardsigmoid"}  # PyTorch: "derivative for aten::hardsigmoid_backward is not implemented"
for name, ours, theirs in UNARY:
    w = WIDE.get(name.split("-")[0], 2.0)
    for shape in SHAPES:
        case(f"{name}-{'x'.join(map(str, shape)) or 'scalar'}", ours, theirs, r(*shape, low=-w, high=w),
             double=name not in NO_DOUBLE)  # fmt: skip

# -- at the kinks: PyTorch's side of each ------------------------------------------------
case("relu-kink", F.relu, tF("relu"), [-1.0, 0.0, 2.0], kink=True)
case("leaky_relu-kink", lambda x: F.leaky_relu(x, 0.2), tF("leaky_relu", negative_slope=0.2), [-1.0, 0.0, 2.0], kink=True)
case("elu-kink", lambda x: F.elu(x, 0.5), tF("elu", alpha=0.5), [-1.0, 0.0, 2.0], kink=True)
case("celu-kink", lambda x: F.celu(x, 2.0), tF("celu", alpha=2.0), [-1.0, 0.0, 2.0], kink=True)
case("selu-kink", F.selu, tF("selu"), [-1.0, 0.0, 2.0], kink=True)
case("softsign-kink", F.softsign, tF("softsign"), [-1.0, 0.0, 2.0], kink=True)
case("hardtanh-kink", F.hardtanh, tF("hardtanh"), [-2.0, -1.0, 0.0, 1.0, 2.0], kink=True)
case("hardtanh-kink-bounds", lambda x: F.hardtanh(x, -0.5, 0.7), tF("hardtanh", min_val=-0.5, max_val=0.7),
     [-0.5, 0.0, 0.7], kink=True)  # fmt: skip
case("hardtanh-equal-bounds", lambda x: F.hardtanh(x, 0.5, 0.5), tF("hardtanh", min_val=0.5, max_val=0.5),
     [-1.0, 0.5, 1.0], kink=True)  # fmt: skip
case("relu6-kink", F.relu6, tF("relu6"), [-1.0, 0.0, 3.0, 6.0, 7.0], kink=True)
case("hardsigmoid-kink", F.hardsigmoid, tF("hardsigmoid"), [-4.0, -3.0, 0.0, 3.0, 4.0], kink=True, double=False)
case("hardswish-kink", F.hardswish, tF("hardswish"), [-4.0, -3.0, 0.0, 3.0, 4.0], kink=True)
case("hardswish-near-kink", F.hardswish, tF("hardswish"), [-4.0, -2.9, 2.9, 4.0])
# at beta x == threshold: the smooth side's first derivative, as PyTorch; its second derivative is
# sigmoid'(threshold) where PyTorch's is 0 (a documented difference): first order only there
case("softplus-threshold", F.softplus, tF("softplus"), [-30.0, 0.0, 20.0, 20.5, 40.0], kink=True, double=False)
case("softplus-beta-threshold", lambda x: F.softplus(x, 2.0, 10.0), tF("softplus", beta=2.0, threshold=10.0),
     [-3.0, 5.0, 5.5], kink=True, double=False)  # fmt: skip
case("softplus-near-threshold", lambda x: F.softplus(x, 2.0, 10.0), tF("softplus", beta=2.0, threshold=10.0),
     [-3.0, 4.9, 5.1])  # fmt: skip
case("gelu-wide", F.gelu, tF("gelu"), [-40.0, -10.0, -6.0, -3.0, -0.3, 0.0, 1e-8, 0.3, 3.0, 6.0, 10.0, 40.0])
case("gelu-tanh-wide", lambda x: F.gelu(x, "tanh"), tF("gelu", approximate="tanh"), [-10.0, -3.0, 0.0, 3.0, 10.0])
case("elu-large", F.elu, tF("elu"), [-800.0, -5.0, 5.0, 800.0])  # exp(800) overflows: not in the branch taken
case("celu-large", F.celu, tF("celu"), [-800.0, 800.0])
case("logsigmoid-large", F.logsigmoid, tF("logsigmoid"), [-800.0, 0.0, 800.0])
case("erf", cr.erf, lambda x: torch.erf(x), [-7.0, -4.5, -4.0, -1.0, -0.46875, -0.2, 0.0, 1e-9, 0.3, 0.46875, 2.5, 4.0, 5.0, 30.0])

# -- along a dim ------------------------------------------------------------------------------
for fn in ("softmax", "log_softmax", "softmin"):
    ours_fn = getattr(F, fn)
    case(f"{fn}-dim1", lambda x, f=ours_fn: f(x, 1), tF(fn, dim=1), r(2, 3, 4))
    case(f"{fn}-dim-neg", lambda x, f=ours_fn: f(x, dim=-1), tF(fn, dim=-1), r(2, 3, 4))
    case(f"{fn}-axis0", lambda x, f=ours_fn: f(x, axis=0), tF(fn, dim=0), r(2, 3))
    case(f"{fn}-size1", lambda x, f=ours_fn: f(x, 1), tF(fn, dim=1), r(3, 1))
    case(f"{fn}-scalar", lambda x, f=ours_fn: f(x, 0), tF(fn, dim=0), r())
    case(f"{fn}-dtype", lambda x, f=ours_fn: f(x, 0, dtype="float64"), tF(fn, dim=0, dtype=torch.float64) if torch else None, r(4))
case("glu", F.glu, tF("glu"), r(3, 4))
case("glu-dim0", lambda x: F.glu(x, 0), tF("glu", dim=0), r(4, 3))
case("glu-dim-neg", lambda x: F.glu(x, dim=-2), tF("glu", dim=-2), r(2, 2, 3))
case("glu-axis", lambda x: F.glu(x, axis=1), tF("glu", dim=1), r(2, 2, 3))
case("glu-1d", F.glu, tF("glu"), r(2))


test_op_against_torch_and_gradcheck, test_op_compiled_replays_eager, test_op_on_each_device = op_table(CASES)


# -- erf without SciPy --------------------------------------------------------------------------

SPECIAL = [-0.0, 0.0, 5e-324, 1e-300, 1e-17, 1e-9, 0.46875, np.nextafter(0.46875, 1), 4.0, np.nextafter(4.0, 5),
           5.9, 6.0, 26.5, 27.0, 1e10, 1e308]  # fmt: skip


def _float64_points() -> np.ndarray:
    grid = np.linspace(-6, 6, 24001)
    tails = np.geomspace(1e-12, 30, 4000)
    return np.concatenate([grid, tails, -tails, SPECIAL, np.negative(SPECIAL)])


def test_erf_float64_to_rounding():
    x = _float64_points()
    want = np.array([math.erf(v) for v in x])
    got = special.erf(x)
    assert got.dtype == np.float64
    rel = np.abs(got - want) / np.maximum(np.abs(want), np.finfo(float).tiny)
    assert rel.max() < 1e-15, (x[rel.argmax()], got[rel.argmax()], want[rel.argmax()])


def test_erf_edges_both_precisions():
    for dtype in (np.float64, np.float32, np.float16):
        x = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0], dtype=dtype)
        got = special.erf(x)
        assert got.dtype == dtype
        assert np.isnan(got[0]) and got[1] == 1 and got[2] == -1
        assert got[3] == 0 and np.signbit(got[3]) and not np.signbit(got[4])  # erf(-0.0) is -0.0
    assert special.erf(np.array(0.5)).shape == ()  # 0-d stays 0-d
    assert special.erf(np.array([1, 2])).dtype == np.float64  # integers: float64, as np.exp


@pytest.mark.parametrize("loops", [True, False], ids=["numba", "numpy"])
def test_erf_float32_to_float32_accuracy(loops):
    if loops and not kernels.available():
        pytest.skip("Numba is not installed: the loop path is the NumPy one")
    x = np.concatenate([np.linspace(-7, 7, 70001), np.geomspace(1e-30, 7, 2000)]).astype(np.float32)
    x = np.concatenate([x, -x])
    want = np.array([math.erf(v) for v in x.astype(np.float64)])
    token = kernels.off.set(not loops)
    try:
        got = special.erf(x)
        phi = special.ndtr(x)
    finally:
        kernels.off.reset(token)
    assert got.dtype == np.float32 and phi.dtype == np.float32
    assert np.abs(got - want).max() < 4.5e-7  # Eigen's/XLA's rational polynomial: 7 ulp near 1 at most
    assert np.abs(got).max() <= 1  # clamped where it overshoots
    small = np.abs(x) < 1e-3
    np.testing.assert_allclose(got[small], want[small], rtol=3e-7)  # relative near 0
    want_phi = 0.5 + 0.5 * np.array([math.erf(v / math.sqrt(2)) for v in x.astype(np.float64)])
    np.testing.assert_allclose(phi, want_phi, atol=2.5e-7)
    assert 0 <= phi.min() and phi.max() <= 1


def test_float32_numba_loop_agrees_with_the_numpy_passes():
    if not kernels.available():
        pytest.skip("Numba is not installed: only the NumPy path exists")
    x = np.concatenate([rng.standard_normal(200_000) * 3, [np.nan, np.inf, -np.inf, -0.0, 0.0, 40.0]]).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)  # the backward's upstream gradient
    runs = []
    for off in (False, True):  # Numba's loop, then NumPy's blocks (more than one block)
        token = kernels.off.set(off)
        try:
            out, cdf = special._gelu_forward(x)
            runs.append((special.erf(x), special.ndtr(x), out, cdf, special._gelu_grad(x, cdf, g)))
        finally:
            kernels.off.reset(token)
    scale = np.maximum(1, np.abs(x))  # GELU's x Phi(x): x times Phi's few units in the last place of 0.5
    for a, b in zip(*runs):  # the loop fuses its multiply-adds: a few units in the last place apart
        with np.errstate(invalid="ignore"):  # inf - inf
            ok = np.isnan(b) | (a == b) | (np.abs(a - b) <= 5e-7 * np.abs(b) + 3e-7 * scale)
        assert ok.all(), (x[~ok][:5], a[~ok][:5], b[~ok][:5])
        assert np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(np.signbit(a), np.signbit(b))


def test_gelu_float32_against_torch_float32():
    x = (rng.standard_normal((4, 64, 300)) * 3).astype(np.float32)
    v = rng.standard_normal(x.shape).astype(np.float32)
    for off in (False, True):
        token = kernels.off.set(off)
        try:
            a = cr.Tensor(x, requires_grad=True)
            y = F.gelu(a)
            y.backward(cr.Tensor(v))
        finally:
            kernels.off.reset(token)
        t = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.gelu(t)
        ty.backward(torch.tensor(v))
        assert y.dtype == np.float32 and a.grad.dtype == np.float32
        # Phi within 2.1e-7 of the normal CDF: GELU within |x| 2.1e-7 (few units in the last place
        # where GELU is large; in the far negative tail, where it is ~0, only that absolute bound)
        np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=2e-6, atol=2.5e-6)
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=2e-6, atol=2.5e-6)


def test_softmax_dtype_casts_first():
    x = cr.Tensor([1.0, 2.0], dtype="float32")
    for fn in (F.softmax, F.log_softmax, F.softmin):
        assert fn(x, 0, dtype="float64").dtype == np.float64 and fn(x, 0).dtype == np.float32


def test_gelu_float16_runs_in_float32():
    x = cr.Tensor([-2.0, 0.5, 3.0], dtype="float16", requires_grad=True)
    y = F.gelu(x)
    y.sum().backward()
    assert y.dtype == np.float16 and x.grad.dtype == np.float16
    t = torch.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    torch.nn.functional.gelu(t).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=2e-3)


def test_gelu_third_order():
    x = cr.Tensor(np.array([-1.5, 0.2, 2.0]), dtype="float64", requires_grad=True)
    (g,) = cr.grad(F.gelu(x).sum(), [x], create_graph=True)
    (g2,) = cr.grad(g.sum(), [x], create_graph=True)
    (g3,) = cr.grad(g2.sum(), [x])
    t = torch.tensor([-1.5, 0.2, 2.0], dtype=torch.float64, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.nn.functional.gelu(t).sum(), [t], create_graph=True)
    (tg2,) = torch.autograd.grad(tg.sum(), [t], create_graph=True)
    (tg3,) = torch.autograd.grad(tg2.sum(), [t])
    np.testing.assert_allclose(g3.numpy(), tg3.numpy(), rtol=1e-10)


def test_gelu_and_erf_need_no_scipy():
    run = ("import sys, numpy as np, chainrule as cr\n"
           "for dtype in ('float32', 'float64'):\n"
           "    x = cr.Tensor(np.linspace(-3, 3, 7), dtype=dtype, requires_grad=True)\n"
           "    cr.nn.functional.gelu(x).sum().backward(); cr.erf(x)\n")  # fmt: skip
    # SciPy cannot be imported: it all still runs (Numba's loops too, where Numba is installed)
    subprocess.run([sys.executable, "-c", "import sys; sys.modules['scipy'] = None\n" + run], check=True)
    # without Numba (which imports SciPy itself when it is installed), SciPy is never imported
    no_numba = "import sys; sys.modules['numba'] = None\n" + run + "assert 'scipy' not in sys.modules, 'scipy imported'\n"
    subprocess.run([sys.executable, "-c", no_numba], check=True)


# -- modules ----------------------------------------------------------------------------------
MODULES = [
    ("ReLU", (), {}, F.relu), ("ReLU", (), {"inplace": True}, F.relu),
    ("LeakyReLU", (0.2,), {}, lambda x: F.leaky_relu(x, 0.2)), ("LeakyReLU", (), {"negative_slope": 0.1, "inplace": True}, lambda x: F.leaky_relu(x, 0.1)),
    ("Sigmoid", (), {}, F.sigmoid), ("Tanh", (), {}, F.tanh),
    ("GELU", (), {}, F.gelu), ("GELU", ("tanh",), {}, lambda x: F.gelu(x, "tanh")),
    ("SiLU", (), {}, F.silu), ("SiLU", (True,), {}, F.silu), ("Mish", (), {}, F.mish), ("SELU", (), {"inplace": True}, F.selu),
    ("ELU", (), {}, F.elu), ("ELU", (0.5, True), {}, lambda x: F.elu(x, 0.5)),
    ("CELU", (), {"alpha": 2.0}, lambda x: F.celu(x, 2.0)),
    ("Hardtanh", (), {}, F.hardtanh), ("Hardtanh", (-2.0, 2.0, True), {}, lambda x: F.hardtanh(x, -2.0, 2.0)),
    ("ReLU6", (), {}, F.relu6), ("ReLU6", (True,), {}, F.relu6),
    ("Hardsigmoid", (), {}, F.hardsigmoid), ("Hardswish", (), {"inplace": True}, F.hardswish),
    ("Softsign", (), {}, F.softsign), ("LogSigmoid", (), {}, F.logsigmoid),
    ("Softplus", (), {}, F.softplus), ("Softplus", (2.0, 10.0), {}, lambda x: F.softplus(x, 2.0, 10.0)),
    ("GLU", (), {}, F.glu), ("GLU", (0,), {}, lambda x: F.glu(x, 0)),
    ("Softmax", (), {"dim": 1}, lambda x: F.softmax(x, 1)), ("Softmin", (1,), {}, lambda x: F.softmin(x, 1)),
    ("LogSoftmax", (), {"dim": -1}, lambda x: F.log_softmax(x, -1)),
]  # fmt: skip


@pytest.mark.parametrize("name,args,kwargs,fn", MODULES, ids=[f"{m[0]}-{i}" for i, m in enumerate(MODULES)])
def test_module_takes_torchs_arguments_and_prints_as_torch(name, args, kwargs, fn):
    m = getattr(cr.nn, name)(*args, **kwargs)
    x = cr.Tensor(r(4, 6, low=-4, high=4))
    before = x.numpy().copy()
    np.testing.assert_array_equal(m(x).numpy(), fn(x).numpy())
    np.testing.assert_array_equal(x.numpy(), before)  # inplace=True computes out of place
    if name != "Softmax":  # ours keeps axis= in its repr (its default is the last axis)
        assert repr(m) == repr(getattr(torch.nn, name)(*args, **kwargs))


def test_moved_modules_keep_their_behaviour():
    assert cr.nn.ReLU is cr.nn.activation.ReLU and cr.nn.Softmax is cr.nn.activation.Softmax
    sm = cr.nn.Softmax()  # the last axis, as before
    np.testing.assert_allclose(sm(cr.Tensor([[0.0, 0.0]])).numpy(), [[0.5, 0.5]])
    assert repr(sm) == "Softmax(axis=-1)" and cr.nn.Softmax(dim=0).axis == 0 and cr.nn.Softmax(1).axis == 1
    assert repr(cr.nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)" and repr(cr.nn.Tanh()) == "Tanh()"
    net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.GELU(), cr.nn.Linear(4, 2), cr.nn.LogSoftmax(dim=1))
    net(cr.Tensor(r(5, 3))).sum().backward()
    assert net[0].weight.grad.shape == (4, 3)


def test_no_dim_means_the_last():
    # chainrule's choice, said in docs/what-is-there.md: PyTorch's deprecated implicit dim would take dim 0 of a
    # 3-d input; with a dim given, the two agree
    x = r(2, 3, 4)
    for fn in ("softmax", "log_softmax", "softmin"):
        ours = getattr(F, fn)(cr.Tensor(x, dtype="float64"))
        theirs = getattr(torch.nn.functional, fn)(torch.tensor(x), dim=-1)
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    out = cr.nn.LogSoftmax()(cr.Tensor(r(2, 3)))
    np.testing.assert_allclose(np.exp(out.numpy()).sum(axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: F.celu(cr.Tensor([1.0]), alpha=0.0), r"celu: alpha=0.*nonzero"),
        (lambda: F.hardtanh(cr.Tensor([1.0]), 2.0, 1.0), r"hardtanh: min_val=2.0 is greater than max_val=1.0"),
        (lambda: cr.nn.Hardtanh(1.0, -1.0), r"Hardtanh: min_val=1.0 is greater than max_val=-1.0"),
        (lambda: F.gelu(cr.Tensor([1.0]), "fast"), r"gelu: approximate='fast'; expected 'none' or 'tanh'"),
        (lambda: F.glu(cr.Tensor(np.zeros((2, 3))), 1), r"glu: dim 1 of the input of shape \(2, 3\) has size 3; expected an even"),
        (lambda: F.glu(cr.Tensor(1.0)), r"glu: the input is 0-d"),
        (lambda: F.glu(cr.Tensor(np.zeros((2, 4))), 2), r"glu: dim 2 is out of range .* \[-2, 1\]"),
        (lambda: F.glu(cr.Tensor(np.zeros((2, 4))), 0, axis=1), r"glu: got both axis=1 and dim=0"),
        (lambda: F.softmax(cr.Tensor(np.zeros((2, 3))), 2), r"softmax: dim 2 is out of range .* \[-2, 1\]"),
        (lambda: F.log_softmax(cr.Tensor(np.zeros((2, 3))), -3), r"log_softmax: dim -3 is out of range .* \[-2, 1\]"),
        (lambda: F.softmin(cr.Tensor(np.zeros(3)), 0, axis=0), r"softmin: got both axis=0 and dim=0"),
        (lambda: cr.nn.Softmin(1, axis=0), r"Softmin: got both axis=0 and dim=1"),
    ],
)
def test_bad_input_names_the_function_and_values(call, match):
    with pytest.raises((ValueError, TypeError, IndexError), match=match):
        call()

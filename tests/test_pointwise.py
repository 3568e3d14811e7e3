"""PyTorch's elementwise math (``chainrule.ops.pointwise``), as data: one row = one call of the oracle.

Each row is checked against PyTorch (forward, gradients, gradients of gradients), against
finite differences in float64 (unless it sits on a kink), compiled, and on each device, as
the rows of tests/test_ops.py are. Then: no NaN gradient where PyTorch's is a number, the
dtypes of integer inputs, the Tensor methods, and the error messages.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import op_table, table_rows, torch

import chainrule as cr
import chainrule.ops.pointwise as pw

rng = np.random.default_rng(2323)


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float64)


def away(*shape: int) -> np.ndarray:
    """Values in (-2, -0.5) or (0.5, 2): away from 0 (reciprocal's pole, copysign's kink)."""
    return r(*shape, low=0.5) * np.where(rng.uniform(size=shape) < 0.5, -1.0, 1.0)


def tf(name: str):
    """Late lookup of a torch function, so collecting this file does not need torch."""
    return lambda *a, **k: getattr(torch, name)(*a, **k)


def label(*shapes: tuple[int, ...]) -> str:
    return "-".join("x".join(map(str, s)) or "scalar" for s in shapes)


SHAPES_1 = [(), (3,), (2, 1, 3)]
BROADCAST_PAIRS = [((), ()), ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1))]

CASES: list = []


case = table_rows(CASES)


# -- unary, each on (), (3,) and (2, 1, 3), with values inside its domain ----------------------
UNARY = [  # (name, values)
    ("sin", r), ("cos", r), ("tan", lambda *s: r(*s, low=-1.2, high=1.2)), ("atan", r),
    ("asin", lambda *s: r(*s, low=-0.9, high=0.9)), ("acos", lambda *s: r(*s, low=-0.9, high=0.9)),
    ("sinh", r), ("cosh", r), ("asinh", r), ("acosh", lambda *s: r(*s, low=1.1, high=3.0)),
    ("atanh", lambda *s: r(*s, low=-0.9, high=0.9)),
    ("exp2", r), ("expm1", r), ("log2", lambda *s: r(*s, low=0.2)), ("log10", lambda *s: r(*s, low=0.2)),
    ("log1p", lambda *s: r(*s, low=-0.8)), ("rsqrt", lambda *s: r(*s, low=0.2)), ("reciprocal", away),
    ("square", r), ("frac", r),
    # flat: random values are away from the jumps, so finite differences see the zero slope too
    ("sign", away), ("floor", r), ("ceil", r), ("round", r), ("trunc", r),
]
for name, values in UNARY:
    for shape in SHAPES_1:
        case(f"{name}-{label(shape)}", getattr(pw, name), tf(name), values(*shape))
    # the Tensor method, on a size-1 dim
    case(f"{name}-method", lambda a, n=name: getattr(a, n)(), lambda a, n=name: getattr(a, n)(), values(2, 1))
for alias, name in [("arcsin", "asin"), ("arccos", "acos"), ("arctan", "atan"), ("arcsinh", "asinh"),
                    ("arccosh", "acosh"), ("arctanh", "atanh")]:  # fmt: skip
    values = dict(UNARY)[name]
    case(f"{alias}", getattr(pw, alias), tf(alias), values(3))
    case(f"{alias}-method", lambda a, n=alias: getattr(a, n)(), lambda a, n=alias: getattr(a, n)(), values(3))
for d in (1, 2, -1):  # values at least 1e-3 from the jumps, which finite differences would see
    case(f"round-decimals{d}", lambda a, d=d: pw.round(a, decimals=d), lambda a, d=d: torch.round(a, decimals=d),
         np.array([12.3412, -5.6787, 0.0213, 991.2234]))
case("round-decimals-method", lambda a: a.round(decimals=1), lambda a: a.round(decimals=1), r(3))
case("neg-method", lambda a: a.neg(), lambda a: a.neg(), r(3))
case("pow-method", lambda a: a.pow(3), lambda a: a.pow(3), r(2, 3))
case("pow-method-tensor", lambda a, b: a.pow(b), lambda a, b: a.pow(b), r(2, 3, low=0.5), r(3))

# kinks: PyTorch's subgradients (only the comparison with PyTorch is fair there)
STEPS = np.array([-2.0, -1.5, -0.5, 0.0, 0.5, 1.0, 2.5])
for name in ("sign", "floor", "ceil", "round", "trunc", "frac"):
    case(f"{name}-kink", getattr(pw, name), tf(name), STEPS, kink=True)
case("round-decimals-kink", lambda a: pw.round(a, decimals=1), lambda a: torch.round(a, decimals=1), np.array([0.25, 0.35, -0.05]), kink=True)
case("square-zero", pw.square, tf("square"), np.array([0.0, -0.0, 1.0]), kink=True)
case("expm1-log1p-tiny", lambda a: pw.log1p(pw.expm1(a)), lambda a: torch.log1p(torch.expm1(a)), np.array([1e-12, -3e-9, 0.0]), kink=True)

# -- binary, broadcasting ------------------------------------------------------------------
for sa, sb in BROADCAST_PAIRS:
    s = label(sa, sb)
    case(f"atan2-{s}", pw.atan2, tf("atan2"), r(*sa), r(*sb))
    case(f"hypot-{s}", pw.hypot, tf("hypot"), r(*sa), r(*sb))
    case(f"copysign-{s}", pw.copysign, tf("copysign"), away(*sa), away(*sb))
    case(f"logaddexp-{s}", pw.logaddexp, tf("logaddexp"), r(*sa), r(*sb))
    case(f"lerp-{s}", lambda a, b: pw.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3), r(*sa), r(*sb))
    case(f"lerp-tensor-weight-{s}", pw.lerp, tf("lerp"), r(*sa), r(*sb), r(*sb, low=-0.5, high=1.5))
    case(f"clamp-min-{s}", lambda a, lo: pw.clamp(a, min=lo), lambda a, lo: torch.clamp(a, min=lo), r(*sa), r(*sb))
    case(f"clamp-max-{s}", lambda a, hi: a.clamp(max=hi), lambda a, hi: a.clamp(max=hi), r(*sa), r(*sb))
    # random bounds: some entries have min > max, where the output is max (PyTorch's rule)
    case(f"clamp-both-{s}", pw.clamp, tf("clamp"), r(*sa), r(*sb, low=-2.0, high=0.5), r(*sb, low=-0.5, high=2.0))
case("lerp-three-shapes", pw.lerp, tf("lerp"), r(3, 1), r(1, 4), r(2, 1, 1))
case("lerp-weight-large", lambda a, b: pw.lerp(a, b, 0.75), lambda a, b: torch.lerp(a, b, 0.75), r(3), r(3))
for m in ("atan2", "hypot", "copysign", "logaddexp", "arctan2"):
    case(f"{m}-method", lambda a, b, m=m: getattr(a, m)(b), lambda a, b, m=m: getattr(a, m)(b), away(2, 3), away(3))
case("lerp-method", lambda a, b, w: a.lerp(b, w), lambda a, b, w: a.lerp(b, w), r(2, 3), r(3), r(2, 1))
case("copysign-number", lambda a: pw.copysign(a, -2.0), lambda a: torch.copysign(a, -2.0), away(2, 3))
case("clamp-numbers", lambda a: pw.clamp(a, -0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7), r(3, 4))
case("clamp-number-min", lambda a: a.clamp(min=0.1), lambda a: a.clamp(min=0.1), r())
case("clamp-number-max", lambda a: a.clamp(max=0.1), lambda a: a.clamp(max=0.1), r(2, 1, 3))
case("clamp-numbers-crossed", lambda a: pw.clamp(a, 1.0, -1.0), lambda a: torch.clamp(a, 1.0, -1.0), r(4))
case("clamp-number-and-tensor", lambda a, hi: pw.clamp(a, -0.5, hi),  # torch wants both bounds tensors here
     lambda a, hi: torch.clamp(a, torch.tensor(-0.5, dtype=hi.dtype), hi), r(2, 3), r(3))
# kink=True: finite differences with a step of 1e-6 cannot see these scales, only PyTorch is a fair reference
# (logaddexp's second order: PyTorch's formula overflows to NaN far apart, ours is the number; only 1st order compared)
case("logaddexp-large", pw.logaddexp, tf("logaddexp"), np.array([1000.0, -1000.0, 800.0, -5.0]), np.array([1000.0, 0.0, -800.0, 5.0]),
     kink=True, double=False)  # fmt: skip
case("hypot-large", pw.hypot, tf("hypot"), np.array([1e200, 3.0, -1e150]), np.array([1e200, -4.0, 1e150]), kink=True)
# (second order: Div's backward squares the divisor, which underflows below 1e-154; PyTorch divides twice)
case("hypot-tiny", pw.hypot, tf("hypot"), np.array([1e-200, -3e-200]), np.array([1e-200, 4e-200]), kink=True, double=False)

# binary kinks
case("clamp-at-bounds", lambda a: pw.clamp(a, -0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5), np.array([-0.5, 0.0, 0.5, 1.0]), kink=True)
case("clamp-tensor-ties", pw.clamp, tf("clamp"), np.array([-0.5, 0.0, 0.5, 1.0, 0.2]), np.array([-0.5, 0.0, 0.0, 1.0, 0.3]),
     np.array([0.5, 0.0, 0.5, 1.0, 0.3]), kink=True)  # fmt: skip
case("clamp-tensor-min-tie", lambda a, lo: pw.clamp(a, min=lo), lambda a, lo: torch.clamp(a, min=lo), np.array([1.0, 2.0]), np.array([1.0, 3.0]), kink=True)
case("copysign-zero", pw.copysign, tf("copysign"), np.array([0.0, -0.0, 0.0, 1.5, -2.0]), np.array([1.0, -1.0, -0.0, -0.0, 0.0]),
     kink=True, double=False)  # fmt: skip  # torch: NaN second order at input 0, ours 0
case("atan2-origin", pw.atan2, tf("atan2"), np.array([0.0, 0.0, 1.0, 0.0]), np.array([0.0, -0.0, 0.0, 2.0]), kink=True, double=False)
case("lerp-weight-ends", pw.lerp, tf("lerp"), r(4), r(4), np.array([0.0, 1.0, 0.5, -0.5]), kink=True)


test_op_against_torch_and_gradcheck, test_op_compiled_replays_eager, test_op_on_each_device = op_table(CASES)


# -- gradients at the edges: never NaN where PyTorch's is a number --------------------------
EDGES = [  # (name, ours, torch's, inputs): points where a careless formula makes NaN
    ("rsqrt-zero", pw.rsqrt, tf("rsqrt"), [0.0, 4.0]),
    ("reciprocal-zero", pw.reciprocal, tf("reciprocal"), [0.0, -0.0, 2.0]),
    ("asin-ends", pw.asin, tf("asin"), [1.0, -1.0, 0.0]),
    ("acos-ends", pw.acos, tf("acos"), [1.0, -1.0]),
    ("acosh-one", pw.acosh, tf("acosh"), [1.0, 2.0]),
    ("atanh-ends", pw.atanh, tf("atanh"), [1.0, -1.0]),
    ("log2-zero", pw.log2, tf("log2"), [0.0, 1.0]),
    ("log10-zero", pw.log10, tf("log10"), [0.0, 1.0]),
    ("log1p-minus-one", pw.log1p, tf("log1p"), [-1.0, 0.0]),
    ("exp2-large", pw.exp2, tf("exp2"), [2000.0, -2000.0]),
    ("expm1-large", pw.expm1, tf("expm1"), [-1000.0]),
    ("frac-steps", pw.frac, tf("frac"), [0.0, 1.0, -2.0]),
    *[(f"{n}-steps", getattr(pw, n), tf(n), [0.0, -0.0, 1.0, 0.5, -1.5]) for n in ("sign", "floor", "ceil", "round", "trunc")],
    ("atan2-origin", pw.atan2, tf("atan2"), [0.0, 0.0, 1e-200], [0.0, -0.0, 0.0]),
    ("copysign-zero", pw.copysign, tf("copysign"), [0.0, -0.0], [-1.0, 0.0]),
    ("logaddexp-far", pw.logaddexp, tf("logaddexp"), [1000.0, -1000.0, 1e308], [-1000.0, 1000.0, 1e308]),
    ("logaddexp-minus-inf", pw.logaddexp, tf("logaddexp"), [-np.inf, 0.0], [0.0, -np.inf]),
    ("hypot-huge", pw.hypot, tf("hypot"), [1e300, 0.0], [1e300, 2.0]),
    ("clamp-bounds", lambda a: pw.clamp(a, 0.0, 1.0), lambda a: torch.clamp(a, 0.0, 1.0), [0.0, 1.0, 2.0]),
    ("clamp-equal-bounds", lambda a, lo, hi: pw.clamp(a, lo, hi), tf("clamp"), [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]),
    ("lerp-ends", pw.lerp, tf("lerp"), [1e300, 0.0], [-1e300, 1.0], [1.0, 0.0]),
]


@pytest.mark.parametrize("upstream", [1.0, np.inf], ids=["one", "inf"])
@pytest.mark.parametrize("name,ours,theirs,values", [pytest.param(n, o, t, v, id=n) for n, o, t, *v in EDGES])
def test_gradient_is_pytorchs_number_at_the_edges(name, ours, theirs, values, upstream):
    if torch is None:
        pytest.skip("torch is not installed (the dev extra brings it)")
    xs = [cr.Tensor(np.array(v), dtype="float64", requires_grad=True) for v in values]
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    with np.errstate(all="ignore"):
        out = ours(*xs)
        seed = np.full(out.shape, upstream)
        gs = cr.grad(out, xs, grad_outputs=cr.Tensor(seed, dtype=np.float64), allow_unused=True)
    tout = theirs(*ts)
    tgs = torch.autograd.grad(tout, ts, grad_outputs=torch.tensor(seed), allow_unused=True)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-15, err_msg=f"{name}: forward")
    for i, (g, tg) in enumerate(zip(gs, tgs)):
        want = np.zeros(len(values[i])) if tg is None else tg.numpy()
        got = np.zeros(len(values[i])) if g is None else g.numpy()
        finite = ~np.isnan(want)
        assert not np.isnan(got[finite]).any(), f"{name}: NaN in the gradient of input {i} where PyTorch has {want}"
        np.testing.assert_allclose(got[finite], want[finite], rtol=1e-12, err_msg=f"{name}: gradient of input {i}")


def test_hypot_keeps_pytorchs_nan_at_the_origin():
    """Where PyTorch's gradient is NaN (hypot at the origin), ours is too: the same formula."""
    a, b = cr.Tensor([0.0], requires_grad=True), cr.Tensor([0.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        pw.hypot(a, b).sum().backward()
    assert np.isnan(a.grad.item()) and np.isnan(b.grad.item())


# -- dtypes: integers as PyTorch treats them -------------------------------------------------
INTS = np.array([3, -2, 0, 7])


@pytest.mark.parametrize("name", ["sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "exp2", "expm1", "log2",
                                  "log10", "log1p", "rsqrt", "reciprocal", "square", "sign",
                                  "floor", "ceil", "round", "trunc", "asin", "acos", "acosh", "atanh"])  # fmt: skip
def test_integer_input_dtype_as_pytorch(name):
    if torch is None:
        pytest.skip("torch is not installed")
    with np.errstate(all="ignore"):
        got = getattr(pw, name)(cr.Tensor(INTS))
    want = getattr(torch, name)(torch.from_numpy(INTS))
    assert str(got.dtype) == str(want.dtype).removeprefix("torch."), f"{name}: {got.dtype} vs torch {want.dtype}"
    assert not got.requires_grad
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", ["atan2", "hypot", "copysign", "logaddexp"])
def test_integer_pair_gives_float32(name):
    got = getattr(pw, name)(cr.Tensor(INTS), cr.Tensor(INTS[::-1].copy()))
    assert got.dtype == np.float32
    if torch is not None and name in ("atan2", "copysign"):  # PyTorch has no integer hypot or logaddexp
        want = getattr(torch, name)(torch.from_numpy(INTS), torch.from_numpy(INTS[::-1].copy()))
        assert want.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    # beside a float64 tensor an integer tensor takes its dtype, as in PyTorch
    assert getattr(pw, name)(cr.Tensor(INTS), cr.Tensor(np.ones(4), dtype="float64")).dtype == np.float64


def test_float32_stays_float32_beside_numbers():
    x = cr.Tensor([1.0, -2.0], requires_grad=True)
    for y in (pw.atan2(x, 2.0), pw.hypot(x, np.float64(2.0)), pw.copysign(x, -1), pw.logaddexp(x, 0.5),
              pw.lerp(x, 3.0, 0.5), pw.clamp(x, 0.0, np.float64(1.0)), pw.exp2(x), pw.round(x, decimals=1)):
        assert y.dtype == np.float32


def test_clamp_dtypes_as_pytorch():
    ints = cr.Tensor(INTS)
    assert pw.clamp(ints, 0, 5).dtype == np.int64 and pw.clamp(ints, 0, 5).tolist() == [3, 0, 0, 5]
    assert pw.clamp(ints, 0.5).dtype == np.float32 and pw.clamp(ints, 0.5).tolist() == [3.0, 0.5, 0.5, 7.0]
    assert pw.clamp(ints, max=cr.Tensor([1.0])).dtype == np.float32
    assert pw.clamp(ints, min=cr.Tensor([1])).dtype == np.int64


def test_rounding_of_integers_is_the_same_values():
    x = cr.Tensor(INTS)
    for name in ("floor", "ceil", "round", "trunc"):
        y = getattr(pw, name)(x)
        assert y.dtype == np.int64 and y.tolist() == INTS.tolist()
    assert pw.sign(x).tolist() == [1, -1, 0, 1]
    assert pw.sign(cr.Tensor([True, False])).dtype == np.bool_
    assert pw.square(cr.Tensor([True, False])).dtype == np.int64


def test_second_order_through_the_gates():
    # d^2/dx^2 sin(x) = -sin(x); d^2/dx^2 log1p(x) = -1/(1+x)^2; as gradients of gradients
    x = cr.Tensor([0.3, -1.2], dtype="float64", requires_grad=True)
    (g,) = cr.grad(pw.sin(x).sum(), x, create_graph=True)
    (g2,) = cr.grad(g.sum(), x)
    np.testing.assert_allclose(g2.numpy(), -np.sin(x.numpy()))
    (g,) = cr.grad(pw.log1p(x * x).sum(), x, create_graph=True)
    (g2,) = cr.grad(g.sum(), x)
    v = x.numpy()
    np.testing.assert_allclose(g2.numpy(), (2 * (1 + v * v) - 4 * v * v) / (1 + v * v) ** 2)


def test_tensor_methods_exist_as_in_pytorch():
    names = ["sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "asinh", "acosh", "atanh",
             "arcsin", "arccos", "arctan", "arctan2", "arcsinh", "arccosh", "arctanh", "exp2", "expm1", "log2",
             "log10", "log1p", "rsqrt", "reciprocal", "square", "sign", "floor", "ceil", "round", "trunc", "frac",
             "lerp", "logaddexp", "hypot", "copysign", "clamp", "clip", "pow", "neg"]  # fmt: skip
    for n in names:
        assert callable(getattr(cr.Tensor, n, None)), f"Tensor.{n} is missing"
        if torch is not None:
            assert hasattr(torch.Tensor, n), f"torch.Tensor has no {n}: not PyTorch's name"
    x = cr.Tensor([-1.7, 0.4, 2.5])
    assert x.clamp(min=-1, max=1).tolist() == pytest.approx([-1.0, 0.4, 1.0])
    assert x.round().tolist() == [-2.0, 0.0, 2.0]
    assert x.lerp(cr.Tensor([0.0, 0.0, 0.0]), weight=1.0).tolist() == [0.0, 0.0, 0.0]


# -- errors: each names the op and what was expected ----------------------------------------
def test_clamp_errors():
    x = cr.Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"clamp: min and max are both None; expected at least one bound"):
        pw.clamp(x)
    with pytest.raises(ValueError, match=r"clamp: min and max are both None"):
        x.clamp()
    with pytest.raises(TypeError, match=r"clamp: min must be a number, a Tensor or None, got str 'a'"):
        pw.clamp(x, "a")
    with pytest.raises(TypeError, match=r"clamp: max must be a number, a Tensor or None, got bool"):
        pw.clamp(x, max=True)
    with pytest.raises(ValueError, match=r"clamp: shapes input \(2,\), min \(3,\), max \(\) do not broadcast"):
        pw.clamp(x, cr.Tensor([0.0, 0.0, 0.0]), cr.Tensor(1.0))


def test_round_and_frac_errors():
    with pytest.raises(TypeError, match=r"round: decimals must be an int, got float 1.5"):
        pw.round(cr.Tensor([1.0]), decimals=1.5)
    with pytest.raises(TypeError, match=r"round\(\) takes 1 positional argument"):
        pw.round(cr.Tensor([1.0]), 2)  # keyword-only, as PyTorch's
    with pytest.raises(TypeError, match=r"round: decimals=1 needs a floating-point tensor, got dtype int64"):
        pw.round(cr.Tensor([1, 2]), decimals=1)
    with pytest.raises(TypeError, match=r"frac: needs a floating-point tensor, got dtype int64"):
        pw.frac(cr.Tensor([1, 2]))


@pytest.mark.parametrize("name", ["atan2", "hypot", "copysign", "logaddexp"])
def test_binary_errors_name_the_op(name):
    with pytest.raises(ValueError, match=rf"{name}: shapes input \(2,\), other \(3,\) do not broadcast; expected"):
        getattr(pw, name)(cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match=rf"{name}: other must be a Tensor or numbers, got str"):
        getattr(pw, name)(cr.Tensor([1.0]), "x")


def test_lerp_and_unary_errors_name_the_op():
    with pytest.raises(ValueError, match=r"lerp: shapes input \(2,\), end \(2,\), weight \(3,\) do not broadcast"):
        pw.lerp(cr.Tensor([1.0, 2.0]), cr.Tensor([1.0, 2.0]), cr.Tensor([0.5, 0.5, 0.5]))
    with pytest.raises(TypeError, match=r"lerp: weight must be a Tensor or numbers, got NoneType"):
        pw.lerp(cr.Tensor([1.0]), cr.Tensor([2.0]), None)
    with pytest.raises(TypeError, match=r"sin: input must be a Tensor or numbers, got str"):
        pw.sin("x")

"""Every differentiable op, as data: one row = one call of the oracle helper.

Each row is checked against PyTorch (forward, gradients, gradients of gradients) and
against finite differences in float64 (chainrule's own gradcheck); rows marked
``kink`` sit exactly on a kink (0 for relu/abs, ties for max) where only PyTorch's
convention is a fair reference.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, table_rows, torch

import chainrule as cr
from chainrule.ops.transfer import ToDevice

rng = np.random.default_rng(1234)


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float64)


def pos(*shape: int) -> np.ndarray:
    return r(*shape, low=0.5, high=2.0)


def tf(name: str):
    """Late lookup of a torch function, so collecting this file does not need torch."""
    return lambda *a, **k: getattr(torch, name)(*a, **k)


def torch_pad(t, widths):
    flat = [w for pair in reversed(widths) for w in pair]
    return torch.nn.functional.pad(t, flat)


SHAPES_1 = [(), (3,), (2, 1, 3)]
BROADCAST_PAIRS = [((), ()), ((3,), ()), ((), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1))]

CASES: list = []


case = table_rows(CASES)


# -- elementwise, unary --------------------------------------------------------------
for shape in SHAPES_1:
    s = "x".join(map(str, shape)) or "scalar"
    case(f"neg-{s}", lambda a: -a, lambda a: -a, r(*shape))
    case(f"exp-{s}", cr.exp, tf("exp"), r(*shape))
    case(f"log-{s}", cr.log, tf("log"), pos(*shape))
    case(f"sqrt-{s}", cr.sqrt, tf("sqrt"), pos(*shape))
    case(f"abs-{s}", cr.abs, tf("abs"), r(*shape) + 3 * np.sign(r(*shape) + 1e-3))
    case(f"tanh-{s}", cr.tanh, tf("tanh"), r(*shape))
    case(f"sigmoid-{s}", cr.sigmoid, tf("sigmoid"), r(*shape))
    case(f"relu-{s}", cr.relu, tf("relu"), r(*shape) + 0.25 * np.sign(r(*shape) + 1e-3))
case("sigmoid-large", cr.sigmoid, tf("sigmoid"), np.array([-40.0, -5.0, 0.0, 5.0, 40.0]))
for shape in SHAPES_1:  # the copy to a device (here the one it is on): the identity, its gradient sent home
    s = "x".join(map(str, shape)) or "scalar"
    case(f"to_device-{s}", lambda a: ToDevice.apply(a, device=a.device) * a, lambda a: a.to("cpu") * a, r(*shape))
case("relu-kink", cr.relu, tf("relu"), np.array([-1.0, 0.0, 2.0]), kink=True)
case("abs-kink", cr.abs, tf("abs"), np.array([-1.5, 0.0, 2.0]), kink=True)
case("builtin-abs", lambda a: abs(a), lambda a: abs(a), np.array([-1.5, 0.5, 2.0]))
case("clip", lambda a: cr.clip(a, -0.5, 0.7), lambda a: torch.clamp(a, -0.5, 0.7), r(3, 4))
case("clip-lo-only", lambda a: a.clip(lo=0.1), lambda a: torch.clamp(a, min=0.1), r(5))
case("clip-kink", lambda a: cr.clip(a, -0.5, 0.5), lambda a: torch.clamp(a, -0.5, 0.5), np.array([-0.5, 0.0, 0.5, 1.0]), kink=True)

# -- elementwise, binary, with broadcasting ------------------------------------------
for sa, sb in BROADCAST_PAIRS:
    s = f"{'x'.join(map(str, sa)) or 'scalar'}-{'x'.join(map(str, sb)) or 'scalar'}"
    case(f"add-{s}", lambda a, b: a + b, lambda a, b: a + b, r(*sa), r(*sb))
    case(f"sub-{s}", lambda a, b: a - b, lambda a, b: a - b, r(*sa), r(*sb))
    case(f"mul-{s}", lambda a, b: a * b, lambda a, b: a * b, r(*sa), r(*sb))
    case(f"div-{s}", lambda a, b: a / b, lambda a, b: a / b, r(*sa), pos(*sb))
    case(f"pow-{s}", lambda a, b: a**b, tf("pow"), pos(*sa), r(*sb))
    case(f"maximum-{s}", cr.maximum, tf("maximum"), r(*sa), r(*sb))
    case(f"minimum-{s}", cr.minimum, tf("minimum"), r(*sa), r(*sb))
    case(f"where-{s}", lambda a, b: cr.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b), r(*sa), r(*sb))
case("maximum-ties", cr.maximum, tf("maximum"), np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]), kink=True)
case("minimum-ties", cr.minimum, tf("minimum"), np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]), kink=True)
# x ** y where x == 0: PyTorch's gradients (0 for y == 0 or y > 0, -inf for 0 ** y with y < 0), never NaN
case("pow-zero-base", lambda a, b: a**b, tf("pow"), np.array([0.0, 0.0, 0.0, 2.0]), np.array([0.0, 2.0, 3.5, 0.0]), kink=True, double=False)
case("pow-zero-exponent", lambda a: a**0, lambda a: a**0, np.array([0.0, 1.5, -2.0]), kink=True)
case("rpow-zero-base", lambda b: 0.0**b, lambda b: 0.0**b, np.array([0.0, 1.0, 2.5]), kink=True, double=False)
case("scalar-constants", lambda a: 2.0 * a - 1 / (a + 3.0) + a**2 - 0.5, lambda a: 2.0 * a - 1 / (a + 3.0) + a**2 - 0.5, r(4))
case("rpow", lambda a: 2.0**a, lambda a: 2.0**a, r(3))
case("rsub-rdiv", lambda a: 1.0 - 3.0 / a, lambda a: 1.0 - 3.0 / a, pos(3))

# -- reductions -----------------------------------------------------------------------
for axis in [None, 0, -1, (0, 2)]:
    for keepdims in [False, True]:
        s = f"{axis}-{'keep' if keepdims else 'drop'}"
        dim = tuple(range(3)) if axis is None else axis
        case(f"sum-{s}", lambda a, ax=axis, k=keepdims: a.sum(axis=ax, keepdims=k), lambda a, d=dim, k=keepdims: a.sum(dim=d, keepdim=k), r(2, 3, 4))
        case(f"mean-{s}", lambda a, ax=axis, k=keepdims: a.mean(axis=ax, keepdims=k), lambda a, d=dim, k=keepdims: a.mean(dim=d, keepdim=k), r(2, 3, 4))
        case(f"max-{s}", lambda a, ax=axis, k=keepdims: a.max(axis=ax, keepdims=k), lambda a, d=dim, k=keepdims: torch.amax(a, dim=d, keepdim=k), r(2, 3, 4))
        case(f"min-{s}", lambda a, ax=axis, k=keepdims: a.min(axis=ax, keepdims=k), lambda a, d=dim, k=keepdims: torch.amin(a, dim=d, keepdim=k), r(2, 3, 4))
for dim, keep in [(1, False), (-1, True), (0, False)]:  # PyTorch's max(dim): values (the gradient to the index) and indices
    case(f"max-dim-{dim}-{keep}", lambda a, d=dim, k=keep: a.max(dim=d, keepdim=k).values,
         lambda a, d=dim, k=keep: a.max(dim=d, keepdim=k).values, r(2, 3, 4))
    case(f"min-dim-{dim}-{keep}", lambda a, d=dim, k=keep: cr.min(a, d, keepdim=k)[0], lambda a, d=dim, k=keep: torch.min(a, d, keepdim=k)[0], r(2, 3, 4))
    case(f"amax-{dim}-{keep}", lambda a, d=dim, k=keep: a.amax(dim=d, keepdim=k), lambda a, d=dim, k=keep: a.amax(dim=d, keepdim=k), r(2, 3, 4))
    case(f"amin-{dim}-{keep}", lambda a, d=dim, k=keep: cr.amin(a, (0, d), keepdim=k) if d else cr.amin(a, 0, k),
         lambda a, d=dim, k=keep: torch.amin(a, (0, d), keepdim=k) if d else torch.amin(a, 0, k), r(2, 3, 4))
case("max-dim-scalar", lambda a: a.max(dim=0).values, lambda a: a.max(dim=0).values, r())
case("max-dim-ties", lambda a: a.max(dim=1).values, lambda a: a.max(dim=1).values, np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]), kink=True)
for sa, sb in [((3,), (3,)), ((2, 3), (3,)), ((), (2, 1))]:  # max/min of two tensors: the max gate
    s = f"{'x'.join(map(str, sa)) or 'scalar'}-{'x'.join(map(str, sb)) or 'scalar'}"
    case(f"max-other-{s}", cr.max, tf("max"), r(*sa), r(*sb))
    case(f"min-other-{s}", lambda a, b: a.min(b), lambda a, b: a.min(b), r(*sa), r(*sb))
case("sum-scalar", cr.sum, tf("sum"), r())
case("max-scalar", cr.max, tf("max"), r())
case("mean-size1-axis", lambda a: a.mean(axis=1), lambda a: a.mean(dim=1), r(3, 1, 2))
case("max-ties-all", cr.max, tf("max"), np.array([1.0, 3.0, 3.0, 2.0]), kink=True)
case("max-ties-axis", lambda a: a.max(axis=1), lambda a: torch.amax(a, dim=1), np.array([[1.0, 1.0, 0.0], [2.0, 5.0, 5.0]]), kink=True)
case("min-ties-axis", lambda a: a.min(axis=0), lambda a: torch.amin(a, dim=0), np.array([[1.0, 4.0], [1.0, 5.0]]), kink=True)
for axis, keepdims in [(None, False), (0, False), (-1, True), ((0, 2), False)]:
    s = f"{axis}-{'keep' if keepdims else 'drop'}"
    dim = tuple(range(3)) if axis is None else axis
    for c in (0, 1):
        case(f"var-c{c}-{s}", lambda a, ax=axis, k=keepdims, c=c: a.var(axis=ax, keepdims=k, correction=c),
             lambda a, d=dim, k=keepdims, c=c: torch.var(a, dim=d, keepdim=k, correction=c), r(2, 3, 4))
    case(f"std-{s}", lambda a, ax=axis, k=keepdims: a.std(axis=ax, keepdims=k), lambda a, d=dim, k=keepdims: torch.std(a, dim=d, keepdim=k), r(2, 3, 4))
    for o in (2, 1, float("inf")):
        case(f"norm-{o}-{s}", lambda a, ax=axis, k=keepdims, o=o: a.norm(o, axis=ax, keepdims=k),
             lambda a, d=dim, k=keepdims, o=o: torch.linalg.vector_norm(a, o, dim=d, keepdim=k), r(2, 3, 4))
case("std-zero-spread", lambda a: a.std(dim=1), lambda a: a.std(dim=1), np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 4.0]]), kink=True, double=False)
case("var-dim-unbiased-false", lambda a: a.var(dim=0, unbiased=False), lambda a: a.var(dim=0, unbiased=False), r(3, 2))
case("var-scalar-population", lambda a: a.var(correction=0), lambda a: torch.var(a, correction=0), r())
case("norm-scalar", cr.norm, lambda a: torch.linalg.vector_norm(a), r())
case("norm-kink-zero", lambda a: a.norm(axis=1), lambda a: torch.linalg.vector_norm(a, dim=1), np.array([[0.0, 0.0], [3.0, -4.0]]), kink=True, double=False)  # torch: NaN second order at 0
# a cast to float32 and back: float32 rounding makes float64 finite differences unfair, as at a kink
case("astype-float32-and-back", lambda a: a.float().double() * 2.0, lambda a: a.float().double() * 2.0, r(2, 3), kink=True)
case("astype-same-dtype", lambda a: a.astype("float64") * a, lambda a: a.double() * a, r(3))
for axis in [-1, 0]:
    case(f"softmax-{axis}", lambda a, ax=axis: cr.softmax(a, axis=ax), lambda a, ax=axis: torch.softmax(a, dim=ax), r(3, 4))
    case(f"log_softmax-{axis}", lambda a, ax=axis: cr.log_softmax(a, axis=ax), lambda a, ax=axis: torch.log_softmax(a, dim=ax), r(3, 4))
case("softmax-large", cr.softmax, lambda a: torch.softmax(a, -1), np.array([1000.0, 999.0, -1000.0]))
case("log_softmax-large", cr.log_softmax, lambda a: torch.log_softmax(a, -1), np.array([1000.0, 999.0, -1000.0]))

# -- shape ------------------------------------------------------------------------------
case("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), r(2, 3, 2))
case("reshape-scalar", lambda a: a.reshape(1, 1), lambda a: a.reshape(1, 1), r())
case("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), r(2, 3, 4))
case("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), r(2, 3, 4))
case("T", lambda a: a.T, lambda a: a.T, r(2, 3))
case("mT", lambda a: a.mT, lambda a: a.mT, r(4, 2, 3))
case("expand", lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4), r(3, 1))
case("expand-scalar", lambda a: a.expand(3), lambda a: a.expand(3), r())
case("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), r(1, 3, 1))
case("squeeze-axis", lambda a: a.squeeze(0), lambda a: a.squeeze(0), r(1, 3, 1))
case("unsqueeze", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), r(2, 3))
case("flatten", lambda a: a.flatten(1), lambda a: a.flatten(1), r(2, 3, 4))
case("concatenate", lambda a, b: cr.concatenate([a, b, a], axis=1), lambda a, b: torch.cat([a, b, a], dim=1), r(2, 3), r(2, 1))
case("stack", lambda a, b: cr.stack([a, b], axis=1), lambda a, b: torch.stack([a, b], dim=1), r(2, 3), r(2, 3))
case("stack-scalars", lambda a, b: cr.stack([a, b]), lambda a, b: torch.stack([a, b]), r(), r())
case("pad", lambda a: a.pad([(1, 2), (0, 1)]), lambda a: torch_pad(a, [(1, 2), (0, 1)]), r(2, 3))
case("getitem-slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], r(3, 5))
case("getitem-int", lambda a: a[1], lambda a: a[1], r(3, 2))
case("getitem-ellipsis-none", lambda a: a[..., None, 0], lambda a: a[..., None, 0], r(2, 3))
case("getitem-int-beside-array", lambda a: a[0, :, [1, 2, 1]], lambda a: a[0, :, [1, 2, 1]], r(3, 4, 5))  # PyTorch's (4, 3)
case("getitem-ellipsis-int-array", lambda a: a[..., 1, [0, 2]], lambda a: a[..., 1, [0, 2]], r(2, 3, 4))
IDX = np.array([0, 2, 0, 0])  # repeats: their gradients must add up
case("getitem-int-array", lambda a: a[IDX], lambda a: a[torch.from_numpy(IDX)], r(3, 2))
MASK = np.array([True, False, True])
case("getitem-bool", lambda a: a[MASK], lambda a: a[torch.from_numpy(MASK)], r(3, 2))
ROWS, COLS = np.array([0, 1, 1]), np.array([2, 0, 2])
case("getitem-pairs", lambda a: a[ROWS, COLS], lambda a: a[torch.from_numpy(ROWS), torch.from_numpy(COLS)], r(2, 3))

# -- matmul -------------------------------------------------------------------------------
for sa, sb in [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((3,), (3,)), ((2, 1, 3, 4), (5, 4, 2)), ((4, 2, 3), (3,)), ((3,), (2, 3, 4))]:
    case(f"matmul-{sa}-{sb}", lambda a, b: a @ b, tf("matmul"), r(*sa), r(*sb))


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_op_against_torch_and_gradcheck(ours, theirs, inputs, kink, double):
    check_op(ours, theirs, *inputs, kink=kink, double=double)

@pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed on the device
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_op_compiled_replays_eager(ours, theirs, inputs, kink, double, device):
    check_compiled(ours, *inputs, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_op_on_each_device(ours, theirs, inputs, kink, double, device, request):
    if device == "strict" and request.node.callspec.id.startswith("to_device"):
        pytest.skip("the stand-in's arrays count as the CPU's: a move to their device is a copy to the host")
    check_on_device(ours, device, *inputs, double=double)



def test_max_tie_rule_is_documented_and_even():
    # the docs promise: ties split the gradient evenly (the lecture's router, shared)
    x = cr.Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    assert "split evenly" in cr.max.__doc__
    a, b = cr.Tensor(1.0, requires_grad=True), cr.Tensor(1.0, requires_grad=True)
    cr.maximum(a, b).backward()
    assert (a.grad.item(), b.grad.item()) == (0.5, 0.5)


def test_comparisons_carry_no_gradient():
    x = cr.Tensor([1.0, -1.0], requires_grad=True)
    for r_ in (x > 0, x >= 0, x < 0, x <= 0, x == 1.0, x != 1.0):
        assert r_.dtype == np.bool_ and not r_.requires_grad
    assert (x > 0).numpy().tolist() == [True, False]


def test_float32_default_and_float64_kept():
    assert cr.Tensor([1.0]).dtype == np.float32
    assert cr.Tensor(np.ones(2)).dtype == np.float32
    assert cr.Tensor([1.0], dtype="float64").dtype == np.float64
    assert cr.Tensor([1, 2]).dtype.kind == "i"
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    assert (x * 2.5 + 1).dtype == np.float32  # Python constants do not upcast
    (x * x).sum().backward()
    assert x.grad.dtype == np.float32

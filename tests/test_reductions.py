"""Reductions, cumulative ops and sorting, as data: one row = one call of the oracle helper.

Each row runs through ``check_op`` (chainrule's gradcheck in float64, then forward, gradients
and second-order gradients against PyTorch), ``check_compiled`` and ``check_on_device`` on
every device, as the op table of test_ops.py. Rows marked ``kink`` sit where finite
differences are undefined (ties, a norm of 0, -inf): there only PyTorch is the reference.
Zeros in prod/cumprod are not kinks (a product is a polynomial), so those rows run gradcheck too.

Indices (no gradient) and booleans are checked against torch directly, below the table.
Ties: PyTorch's choice of index among equal values may differ from ours (stable order), so
tie rows compare values only, and index checks use inputs without ties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import op_table, table_rows, torch

import chainrule as cr
import chainrule.ops.scan
import chainrule.ops.sort  # noqa: F401 - their Tensor methods
from chainrule.ops import reduce, scan, sort

rng = np.random.default_rng(2024)
INF = math.inf


def r(*shape: int, low: float = -2.0, high: float = 2.0) -> np.ndarray:
    return rng.uniform(low, high, size=shape).astype(np.float64)


def tf(name: str):
    """Late lookup of a torch function, so collecting this file does not need torch."""
    return lambda *a, **k: getattr(torch, name)(*a, **k)


def ttf(name: str):
    return lambda *a, **k: getattr(torch.nn.functional, name)(*a, **k)


CASES: list = []


case = table_rows(CASES)


def keep_name(k: bool) -> str:
    return "keep" if k else "drop"


ONE_ZERO = np.array([[1.5, 0.0, 2.0, -1.0], [0.5, 1.5, -2.0, 1.2]])
TWO_ZEROS = np.array([[1.5, 0.0, 2.0, 0.0], [0.0, 1.5, -2.0, 1.2]])  # two in row 0; one first in row 1
LARGE = np.array([1000.0, 999.0, -1000.0, 1000.0])

# -- prod ---------------------------------------------------------------------------------
for d in (0, -1, 1):
    for k in (False, True):
        case(f"prod-dim{d}-{keep_name(k)}", lambda a, d=d, k=k: a.prod(dim=d, keepdim=k), lambda a, d=d, k=k: a.prod(d, keepdim=k), r(2, 3, 4))
        case(f"prod-axis{d}-{keep_name(k)}", lambda a, d=d, k=k: reduce.prod(a, axis=d, keepdims=k), lambda a, d=d, k=k: a.prod(d, keepdim=k), r(2, 3, 4))
case("prod-all", lambda a: a.prod(), lambda a: a.prod(), r(2, 3))
case("prod-all-keep", lambda a: a.prod(keepdim=True), lambda a: a.prod().reshape(1, 1), r(2, 3))
case("prod-dims-tuple", lambda a: reduce.prod(a, axis=(0, 2)), lambda a: a.permute(1, 0, 2).reshape(3, -1).prod(1), r(2, 3, 4))
case("prod-scalar", lambda a: a.prod(), lambda a: a.prod(), r())
case("prod-scalar-dim0", lambda a: a.prod(0), lambda a: a.prod(0), r())
case("prod-size1", lambda a: a.prod(dim=1), lambda a: a.prod(1), r(3, 1, 2))
case("prod-one-zero", lambda a: a.prod(1), lambda a: a.prod(1), ONE_ZERO)
case("prod-two-zeros", lambda a: a.prod(1), lambda a: a.prod(1), TWO_ZEROS)
case("prod-two-zeros-all", lambda a: a.prod(), lambda a: a.prod(), TWO_ZEROS)
case("prod-zeros-dim0", lambda a: a.prod(0, keepdim=True), lambda a: a.prod(0, keepdim=True), TWO_ZEROS.T.copy())
case("prod-float32-dtype", lambda a: reduce.prod(a, 1, dtype="float64"), lambda a: a.prod(1, dtype=torch.float64), r(2, 3))

# -- logsumexp ----------------------------------------------------------------------------
for d in (0, -1, (0, 2)):
    for k in (False, True):
        case(f"logsumexp-dim{d}-{keep_name(k)}", lambda a, d=d, k=k: a.logsumexp(dim=d, keepdim=k), lambda a, d=d, k=k: a.logsumexp(d, keepdim=k), r(2, 3, 4))
case("logsumexp-axis", lambda a: reduce.logsumexp(a, axis=-1, keepdims=True), lambda a: a.logsumexp(-1, keepdim=True), r(2, 3))
case("logsumexp-all", lambda a: a.logsumexp(), lambda a: a.logsumexp((0, 1)), r(2, 3))
case("logsumexp-scalar", lambda a: a.logsumexp(0), lambda a: a.logsumexp(0), r())
case("logsumexp-size1", lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), r(3, 1, 2))
case("logsumexp-large", lambda a: a.logsumexp(0), lambda a: a.logsumexp(0), LARGE)
case("logsumexp-neg-inf", lambda a: a.logsumexp(1), lambda a: a.logsumexp(1), np.array([[-INF, 0.5, 1.0], [2.0, -INF, -INF]]), kink=True)

# -- var_mean / std_mean: both results side by side -------------------------------------------
for name in ("var_mean", "std_mean"):
    fn = getattr(reduce, name)
    for kw, tkw in [({}, {}), ({"dim": 1}, {"dim": 1}), ({"axis": (0, 2), "keepdims": True}, {"dim": (0, 2), "keepdim": True}),
                    ({"dim": -1, "correction": 0}, {"dim": -1, "correction": 0}), ({"dim": 0, "unbiased": False}, {"dim": 0, "unbiased": False})]:
        label = "-".join(f"{k}{v}" for k, v in kw.items()) or "all"
        case(f"{name}-{label}", lambda a, fn=fn, kw=kw: cr.concatenate([t.reshape(-1) for t in fn(a, **kw)]),
             lambda a, name=name, tkw=tkw: torch.cat([t.reshape(-1) for t in getattr(torch, name)(a, **tkw)]), r(2, 3, 4))
    case(f"{name}-positional-unbiased", lambda a, fn=fn: cr.concatenate([t.reshape(-1) for t in fn(a, 1, False, True)]),
         lambda a, name=name: torch.cat([t.reshape(-1) for t in getattr(torch, name)(a, 1, False, True)]), r(2, 3))
case("var-positional-unbiased", lambda a: a.var(1, True), lambda a: a.var(1, True), r(2, 3))
case("std-bool-unbiased", lambda a: a.std(False), lambda a: a.std(False), r(2, 3))

# -- norm, against torch.linalg.vector_norm and torch.norm --------------------------------------
PS = (2, 1, INF, -INF, 0, 3, 0.5)
for p in PS:
    for d, k in ((None, False), (1, False), (-1, True), ((0, 2), False)):
        td = d
        case(f"norm-p{p}-dim{d}-{keep_name(k)}", lambda a, p=p, d=d, k=k: a.norm(p, dim=d, keepdim=k),
             lambda a, p=p, d=td, k=k: torch.linalg.vector_norm(a, p, dim=d, keepdim=k), r(2, 3, 4))
    case(f"norm-p{p}-torch.norm", lambda a, p=p: reduce.norm(a, ord=p, axis=1), lambda a, p=p: torch.norm(a, p, dim=1), r(3, 4))
    case(f"norm-p{p}-scalar", lambda a, p=p: a.norm(p), lambda a, p=p: torch.linalg.vector_norm(a, p), r())
    # an all-zero slice (and a zero entry in the other): PyTorch's gradient there is 0, not NaN;
    # its second order at a norm of 0 is NaN for some p, so only the first order is compared
    case(f"norm-p{p}-zero-slice", lambda a, p=p: a.norm(p, dim=1), lambda a, p=p: torch.linalg.vector_norm(a, p, dim=1),
         np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.0]]), kink=True, double=False)
case("norm-fro", lambda a: a.norm("fro"), lambda a: torch.norm(a, "fro"), r(2, 3))
case("norm-inf-ties", lambda a: a.norm(INF), lambda a: torch.linalg.vector_norm(a, INF), np.array([1.0, -3.0, 3.0]), kink=True)

# -- normalize (F.normalize) --------------------------------------------------------------------
case("normalize", lambda a: reduce.normalize(a), ttf("normalize"), r(3, 4))
case("normalize-p1-dim0", lambda a: reduce.normalize(a, 1, 0), lambda a: torch.nn.functional.normalize(a, 1, 0), r(3, 4))
case("normalize-axis-neg", lambda a: reduce.normalize(a, axis=-1), lambda a: torch.nn.functional.normalize(a, dim=-1), r(2, 3, 4))
case("normalize-zero-row", lambda a: reduce.normalize(a), ttf("normalize"), np.array([[0.0, 0.0], [3.0, -4.0]]), kink=True, double=False)

# -- amax/amin with NumPy's spellings ------------------------------------------------------------
case("amax-axis-keepdims", lambda a: reduce.amax(a, axis=(0, 2), keepdims=True), lambda a: torch.amax(a, (0, 2), keepdim=True), r(2, 3, 4))
case("amin-dim-empty-tuple", lambda a: reduce.amin(a, dim=()), lambda a: torch.amin(a, ()), r(2, 3))

# -- 0-d tensors: PyTorch allows dims 0 and -1 (each reduces the one entry to itself) ----------
case("sum-scalar-dim0", lambda a: a.sum(0), lambda a: a.sum(0), r())
case("mean-scalar-dim-1-keep", lambda a: a.mean(-1, keepdim=True), lambda a: a.mean(-1, keepdim=True), r())
case("amax-scalar-dim0", lambda a: a.amax(0), lambda a: a.amax(0), r())
case("var-scalar-dim0", lambda a: a.var(0, correction=0), lambda a: a.var(0, correction=0), r())
case("softmax-scalar", lambda a: cr.softmax(a, dim=0), lambda a: torch.softmax(a, 0), r())
case("log_softmax-scalar", lambda a: cr.log_softmax(a, dim=-1), lambda a: torch.log_softmax(a, -1), r())
case("sum-dtype", lambda a: reduce.sum(a, dim=1, dtype="float64"), lambda a: a.sum(1, dtype=torch.float64), r(2, 3))
case("mean-dtype", lambda a: reduce.mean(a, dtype="float64"), lambda a: a.mean(dtype=torch.float64), r(2, 3))

# -- cumulative ---------------------------------------------------------------------------------
for name in ("cumsum", "cumprod", "logcumsumexp"):
    fn = getattr(scan, name)
    for d in (0, 1, -1):
        case(f"{name}-dim{d}", lambda a, name=name, d=d: getattr(a, name)(d), lambda a, name=name, d=d: getattr(torch, name)(a, d), r(2, 3, 4))
    case(f"{name}-axis", lambda a, fn=fn: fn(a, axis=-2), lambda a, name=name: getattr(torch, name)(a, -2), r(2, 3, 4))
    case(f"{name}-scalar", lambda a, fn=fn: fn(a, 0), lambda a, name=name: getattr(torch, name)(a, 0), r())
    case(f"{name}-scalar-dim-1", lambda a, fn=fn: fn(a, dim=-1), lambda a, name=name: getattr(torch, name)(a, -1), r())
    case(f"{name}-size1", lambda a, fn=fn: fn(a, 1), lambda a, name=name: getattr(torch, name)(a, 1), r(3, 1, 2))
    case(f"{name}-long", lambda a, fn=fn: fn(a, 0), lambda a, name=name: getattr(torch, name)(a, 0), r(37))  # several doubling passes
for d in (0, 1):
    case(f"cumprod-one-zero-dim{d}", lambda a, d=d: a.cumprod(d), lambda a, d=d: a.cumprod(d), ONE_ZERO if d else ONE_ZERO.T.copy())
    case(f"cumprod-two-zeros-dim{d}", lambda a, d=d: a.cumprod(d), lambda a, d=d: a.cumprod(d), TWO_ZEROS if d else TWO_ZEROS.T.copy())
case("cumsum-dtype", lambda a: scan.cumsum(a, 0, dtype="float64"), lambda a: torch.cumsum(a, 0, dtype=torch.float64), r(3))
case("logcumsumexp-large", lambda a: a.logcumsumexp(0), lambda a: a.logcumsumexp(0), LARGE)
case("logcumsumexp-large-spread", lambda a: a.logcumsumexp(0), lambda a: a.logcumsumexp(0), np.array([-1000.0, 1000.0, -1000.0, 0.0]))
for name in ("cummax", "cummin"):
    for d in (0, -1):
        case(f"{name}-dim{d}", lambda a, name=name, d=d: getattr(a, name)(d).values, lambda a, name=name, d=d: getattr(torch, name)(a, d).values, r(3, 5))
    case(f"{name}-axis", lambda a, name=name: getattr(scan, name)(a, axis=1).values, lambda a, name=name: getattr(torch, name)(a, 1).values, r(2, 3, 4))
    case(f"{name}-scalar", lambda a, name=name: getattr(a, name)(0).values, lambda a, name=name: getattr(torch, name)(a, 0).values, r())
    case(f"{name}-ties", lambda a, name=name: getattr(a, name)(1).values, lambda a, name=name: getattr(torch, name)(a, 1).values,
         np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [2.0, 2.0, 2.0, 2.0, 2.0]]), kink=True)

# -- sorting ------------------------------------------------------------------------------------
for desc in (False, True):
    for d in (None, 0, 1):
        kw = {} if d is None else {"dim": d}
        case(f"sort-{d}-desc{desc}", lambda a, kw=kw, desc=desc: a.sort(descending=desc, **kw).values,
             lambda a, kw=kw, desc=desc: a.sort(descending=desc, **kw).values, r(3, 4))
    case(f"sort-ties-desc{desc}", lambda a, desc=desc: a.sort(descending=desc).values, lambda a, desc=desc: a.sort(descending=desc).values,
         np.array([[1.0, 3.0, 3.0, 2.0], [2.0, 2.0, 2.0, 2.0]]), kink=True)
case("sort-axis", lambda a: sort.sort(a, axis=0).values, lambda a: a.sort(0).values, r(3, 2))
case("sort-scalar", lambda a: a.sort().values, lambda a: a.sort().values, r())
for k, d, largest in [(2, -1, True), (2, -1, False), (1, 0, True), (3, 1, True), (4, 1, False)]:
    case(f"topk-{k}-{d}-largest{largest}", lambda a, k=k, d=d, lg=largest: a.topk(k, d, lg).values,
         lambda a, k=k, d=d, lg=largest: a.topk(k, d, lg).values, r(3, 4))
case("topk-axis", lambda a: sort.topk(a, 2, axis=0).values, lambda a: a.topk(2, 0).values, r(3, 4))
case("topk-scalar", lambda a: a.topk(1).values, lambda a: a.topk(1).values, r())
for k, d, keep in [(1, -1, False), (2, 1, True), (3, 0, False), (4, -1, True)]:
    case(f"kthvalue-{k}-{d}-{keep_name(keep)}", lambda a, k=k, d=d, kp=keep: a.kthvalue(k, d, kp).values,
         lambda a, k=k, d=d, kp=keep: a.kthvalue(k, d, kp).values, r(3, 4))
case("kthvalue-axis-keepdims", lambda a: sort.kthvalue(a, 2, axis=0, keepdims=True).values, lambda a: a.kthvalue(2, 0, True).values, r(3, 4))
case("kthvalue-scalar", lambda a: a.kthvalue(1).values, lambda a: a.kthvalue(1).values, r())
case("median-all-odd", lambda a: a.median(), lambda a: a.median(), r(3, 5))
case("median-all-even", lambda a: a.median(), lambda a: a.median(), r(2, 3, 4))
case("median-scalar", lambda a: a.median(), lambda a: a.median(), r())
case("median-scalar-dim", lambda a: a.median(0).values, lambda a: a.median(0).values, r())
case("median-ties-all", lambda a: a.median(), lambda a: a.median(), np.array([1.0, 3.0, 3.0, 2.0, 3.0]), kink=True)  # split evenly, as torch
for d, keep in [(0, False), (1, True), (-1, False)]:
    case(f"median-dim{d}-{keep_name(keep)}", lambda a, d=d, kp=keep: a.median(d, kp).values, lambda a, d=d, kp=keep: a.median(d, kp).values, r(4, 5))
case("median-axis-keepdims", lambda a: sort.median(a, axis=1, keepdims=True).values, lambda a: a.median(1, True).values, r(3, 4))
case("median-dim-ties", lambda a: a.median(1).values, lambda a: a.median(1).values, np.array([[1.0, 3.0, 3.0, 2.0], [2.0, 2.0, 2.0, 2.0]]), kink=True)


test_op_against_torch_and_gradcheck, test_op_compiled_replays_eager, test_op_on_each_device = op_table(CASES)


# -- results without gradient: indices and booleans, against torch directly ----------------------

NO_TIES = np.array([[0.3, -1.2, 2.5, 0.7], [1.1, 0.2, -0.4, 3.0], [-2.0, 0.9, 0.1, -0.6]])


INDICES = [
    ("sort", lambda x: sort.sort(x, -1).indices, lambda x: torch.sort(x, -1).indices),
    ("argsort-desc", lambda x: sort.argsort(x, 0, True), lambda x: torch.argsort(x, 0, True)),
    ("topk-smallest", lambda x: sort.topk(x, 2, 1, False).indices, lambda x: torch.topk(x, 2, 1, False).indices),
    ("kthvalue-keepdim", lambda x: sort.kthvalue(x, 2, 0, True).indices, lambda x: torch.kthvalue(x, 2, 0, True).indices),
    ("median-dim", lambda x: sort.median(x, 1).indices, lambda x: torch.median(x, 1).indices),
    ("cummax", lambda x: scan.cummax(x, 1).indices, lambda x: torch.cummax(x, 1).indices),
    ("cummin", lambda x: scan.cummin(x, 0).indices, lambda x: torch.cummin(x, 0).indices),
]


@pytest.mark.parametrize("name,ours,theirs", INDICES, ids=[c[0] for c in INDICES])
def test_indices_without_ties_equal_torch(name, ours, theirs):
    got, want = ours(cr.Tensor(NO_TIES, requires_grad=True)), theirs(torch.tensor(NO_TIES))
    assert got.dtype == np.int64 and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want.numpy())


TIES = np.array([[1.0, 3.0, 3.0, 3.0], [2.0, 2.0, 0.0, 2.0], [1.0, 1.0, 1.0, 1.0]])


@pytest.mark.parametrize("name,ours,theirs", [
    ("topk", lambda t: t.topk(2).values, lambda t: t.topk(2).values),
    ("topk-smallest", lambda t: t.topk(3, largest=False).values, lambda t: t.topk(3, largest=False).values),
    ("kthvalue", lambda t: t.kthvalue(2).values, lambda t: t.kthvalue(2).values),
], ids=lambda v: v if isinstance(v, str) else "")
def test_ties_pick_the_same_values_as_torch(name, ours, theirs):
    # which of the tied entries gets the gradient is PyTorch's own choice (topk and kthvalue pick
    # another than the stable order): the values agree, and each row's gradient lands on entries
    # holding the picked values, in the same total
    x, t = cr.Tensor(TIES, requires_grad=True, dtype="float64"), torch.tensor(TIES, requires_grad=True)
    got, want = ours(x), theirs(t)
    np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(x.grad.numpy().sum(-1), t.grad.numpy().sum(-1))
    for row, g, picked in zip(TIES, x.grad.numpy(), got.numpy()):
        assert set(row[g != 0]) <= set(picked.ravel())


def test_cummax_ties_take_the_later_index_as_torch():
    x = np.array([1.0, 1.0, 0.0, 1.0, 2.0, 2.0, np.nan, 3.0])
    for name in ("cummax", "cummin"):
        got, want = getattr(scan, name)(cr.Tensor(x), 0), getattr(torch, name)(torch.tensor(x), 0)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())


def test_sort_stable_and_descending_keep_the_order_of_equal_values():
    x = np.array([2.0, 1.0, 2.0, np.nan, 1.0, 2.0])
    for desc in (False, True):
        got = sort.sort(cr.Tensor(x), descending=desc, stable=True)
        want = torch.sort(torch.tensor(x), descending=desc, stable=True)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())


@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("x", [np.array([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]), np.array([[True, False], [False, False]]),
                               np.array([[0, 0], [0, 7]]), np.array(0.0), np.zeros((0, 3))], ids=["float", "bool", "int", "scalar", "empty"])
@pytest.mark.parametrize("kw", [{}, {"dim": 0}, {"dim": -1, "keepdim": True}, {"dim": (0, 1)}], ids=["all-dims", "dim0", "dim-1-keep", "tuple"])
def test_all_any_equal_torch(name, x, kw):
    if x.ndim == 0 and kw.get("dim") == (0, 1):
        pytest.skip("two dims of a 0-d tensor")
    t = cr.Tensor(x, dtype=x.dtype, requires_grad=x.dtype.kind == "f")
    got, want = getattr(t, name)(**kw), getattr(torch, name)(torch.tensor(x), **kw)
    assert got.dtype == np.bool_ and not got.requires_grad
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(getattr(reduce, name)(t, axis=kw.get("dim"), keepdims=kw.get("keepdim")).numpy(), want.numpy())


def test_empty_results_equal_torch():
    e, te = cr.Tensor(np.zeros((0, 3))), torch.zeros(0, 3)
    pairs = [
        (e.prod(0), te.prod(0)), (e.prod(), te.prod()), (e.logsumexp(0), te.logsumexp(0)), (e.logsumexp(1), te.logsumexp(1)),
        (e.cumsum(0), te.cumsum(0)), (e.cumprod(1), te.cumprod(1)), (e.logcumsumexp(0), te.logcumsumexp(0)),
        (e.cummax(0).values, te.cummax(0).values), (e.sort(0).values, te.sort(0).values), (e.topk(0, 0).values, te.topk(0, 0).values),
        (e.median(), te.median()), (e.median(1).values, te.median(1).values), (e.kthvalue(1, 1).values, te.kthvalue(1, 1).values),
    ]
    for got, want in pairs:
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_norm_p0_counts_and_passes_a_zero_gradient():
    x = cr.Tensor([[0.0, 2.0, -1.0], [0.0, 0.0, INF]], requires_grad=True)
    n = x.norm(0, dim=1)
    assert n.tolist() == [2.0, 1.0]
    n.sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]


def test_prod_and_cumprod_gradients_at_zeros_are_numbers():
    for x in ([0.0, 0.0, 0.0], [2.0, 0.0, 3.0, 0.0], [0.0]):
        for f in (lambda t: t.prod(), lambda t: t.cumprod(0).sum()):
            t = cr.Tensor(x, requires_grad=True, dtype="float64")
            f(t).backward()
            tt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            f(tt).backward()
            np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


# -- errors: each names the op, and what was expected ---------------------------------------------

X = np.zeros((2, 3))


@pytest.mark.parametrize("call,kind,match", [
    (lambda: sort.topk(cr.Tensor(X), 4), ValueError, r"topk: k=4 is out of range for dim 1 of size 3 .*expected an int in \[0, 3\]"),
    (lambda: sort.topk(cr.Tensor(X), -1, 0), RuntimeError, r"topk: k=-1 is out of range for dim 0 of size 2"),
    (lambda: sort.kthvalue(cr.Tensor(X), 0), RuntimeError, r"kthvalue: k=0 is out of range for dim 1 of size 3 .*\[1, 3\]"),
    (lambda: sort.kthvalue(cr.Tensor(1.0), 2), ValueError, r"kthvalue: k=2 is out of range for dim 0 of size 1"),
    (lambda: sort.kthvalue(cr.Tensor(np.zeros((0, 3))), 1, 0), IndexError, r"kthvalue: dim 0 of shape \(0, 3\) is empty"),
    (lambda: sort.median(cr.Tensor(np.zeros((0, 3))), 0), IndexError, r"median: dim 0 of shape \(0, 3\) is empty"),
    (lambda: sort.median(cr.Tensor(X), keepdim=True), TypeError, r"median: got keepdim without a dim"),
    (lambda: sort.sort(cr.Tensor(X), 2), IndexError, r"sort: dim 2 is out of range .*expected an int in \[-2, 1\]"),
    (lambda: sort.topk(cr.Tensor(X), 1, -3), IndexError, r"topk: dim -3 is out of range .*\[-2, 1\]"),
    (lambda: sort.median(cr.Tensor(X), 5), IndexError, r"median: dim 5 is out of range .*\[-2, 1\]"),
    (lambda: scan.cumsum(cr.Tensor(X), 2), IndexError, r"cumsum: dim 2 is out of range .*\[-2, 1\]"),
    (lambda: scan.cummax(cr.Tensor(1.0), 1), IndexError, r"cummax: dim 1 is out of range .*\[-1, 0\]"),
    (lambda: scan.cumprod(cr.Tensor(X)), TypeError, r"cumprod: missing the dim"),
    (lambda: scan.logcumsumexp(cr.Tensor(X), dim=0, axis=0), TypeError, r"logcumsumexp: got both axis=0 and dim=0"),
    (lambda: scan.cumsum(cr.Tensor(X), (0, 1)), TypeError, r"cumsum: dim \(0, 1\) is not an int"),
    (lambda: reduce.prod(cr.Tensor(X), 2), IndexError, r"prod: dim 2 is out of range .*\[-2, 1\]"),
    (lambda: reduce.logsumexp(cr.Tensor(X), -3), IndexError, r"logsumexp: dim -3 is out of range .*\[-2, 1\]"),
    (lambda: reduce.all(cr.Tensor(X), 4), IndexError, r"all: dim 4 is out of range"),
    (lambda: reduce.any(cr.Tensor(X), dim=0, keepdim=True, keepdims=True), TypeError, r"any: got both keepdims=True and keepdim=True"),
    (lambda: reduce.normalize(cr.Tensor([1.0, 2.0])), IndexError, r"norm: dim 1 is out of range .*\[-1, 0\]"),
    (lambda: reduce.norm(cr.Tensor(np.zeros((0, 3))), INF, dim=0), ValueError, r"norm: dims \(0,\) of shape \(0, 3\) are empty"),
    (lambda: reduce.norm(cr.Tensor(X), "nuc"), ValueError, r"norm: ord='nuc' is not supported"),
    (lambda: reduce.var_mean(cr.Tensor(X), 1, correction=1, unbiased=True), TypeError, r"var_mean: got correction=1 and unbiased=True"),
    (lambda: reduce.std_mean(cr.Tensor(X), 1, correction=3), ValueError, r"std_mean: 3 entries over dims \(1,\) .*correction=3"),
    (lambda: reduce.amax(cr.Tensor(np.zeros(0))), ValueError, r"amax: tensor of shape \(0,\) is empty"),
], ids=lambda v: v.split(":")[0] if isinstance(v, str) else "")
def test_errors_name_the_op_and_the_range(call, kind, match):
    with pytest.raises(kind, match=match):
        call()

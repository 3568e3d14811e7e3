"""Movement and indexing ops (chainrule/ops/movement.py, chainrule/ops/index.py), as data.

One row = one call of the oracle helper: forward, gradients and second-order gradients
against PyTorch in float64, finite differences (except at kinks), the compiled replay, and
the device paths. Integer outputs (one_hot) and piece sizes (split, chunk) are checked
against torch directly; each error names its op.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, torch

import chainrule as cr
import chainrule.ops.index
import chainrule.ops.movement
from chainrule.ops import index as ix
from chainrule.ops import movement as sh

rng = np.random.default_rng(2323)


def r(*shape: int) -> np.ndarray:
    return rng.uniform(-2.0, 2.0, size=shape).astype(np.float64)


def i64(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def F():  # noqa: N802 - late lookup, so collecting this file does not need torch
    return torch.nn.functional


def T(x):  # noqa: N802
    return torch.from_numpy(x)


CASES: list = []


def case(name, ours, theirs, *inputs, kink=False, double=True, syncs=0):
    CASES.append(pytest.param(ours, theirs, inputs, kink, double, syncs, id=name))


def weighted(parts, cat):
    """Pieces joined back, each times its position + 1, so every piece's gradient differs."""
    return cat([p * (i + 1) for i, p in enumerate(parts)])


def tcat(parts):
    return torch.cat([p.reshape(-1) for p in parts])


def ccat(parts):
    return cr.concatenate([p.reshape(-1) for p in parts])


# -- views, copies, flips, rolls -------------------------------------------------------------
case("view", lambda a: a.view(3, -1), lambda a: a.view(3, -1), r(2, 3, 2))
case("view-tuple", lambda a: a.view((6,)), lambda a: a.view((6,)), r(2, 3))
case("view-scalar", lambda a: a.view(1, 1), lambda a: a.view(1, 1), r())
case("view_as", lambda a, b: a.view_as(b), lambda a, b: a.view_as(b), r(2, 3), r(3, 2))
case("expand_as", lambda a, b: a.expand_as(b) * b, lambda a, b: a.expand_as(b) * b, r(3, 1), r(2, 3, 4))
case("clone", lambda a: a.clone() * a, lambda a: a.clone() * a, r(2, 3))
case("clone-scalar", lambda a: a.clone(), lambda a: a.clone(), r())
case("contiguous", lambda a: a.T.contiguous(), lambda a: a.T.contiguous(), r(2, 3))
for dims in [(0,), (-1,), (0, 2), 1]:
    case(f"flip-{dims}", lambda a, d=dims: a.flip(d), lambda a, d=dims: a.flip(d if isinstance(d, tuple) else (d,)), r(2, 3, 4))
case("flip-axis", lambda a: sh.flip(a, axis=1), lambda a: torch.flip(a, [1]), r(2, 3))
case("flip-scalar", lambda a: a.flip(0), lambda a: a.flip(0), r())
case("flip-size1", lambda a: a.flip((0, 1)), lambda a: a.flip((0, 1)), r(1, 3))
case("roll-flat", lambda a: a.roll(2), lambda a: a.roll(2), r(2, 3))
case("roll-dims", lambda a: a.roll((1, -1), (0, 1)), lambda a: a.roll((1, -1), (0, 1)), r(2, 3))
case("roll-wide", lambda a: a.roll(4, -1), lambda a: a.roll(4, -1), r(2, 3))
case("roll-axis", lambda a: sh.roll(a, -2, axis=0), lambda a: torch.roll(a, -2, 0), r(3, 2))
case("roll-zero", lambda a: a.roll(3, 1), lambda a: a.roll(3, 1), r(2, 3))
case("roll-scalar", lambda a: a.roll(1), lambda a: a.roll(1), r())

# -- repeat, tile, repeat_interleave ---------------------------------------------------------
case("repeat", lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), r(2, 3))
case("repeat-same-dims", lambda a: a.repeat((3, 2)), lambda a: a.repeat((3, 2)), r(1, 3))
case("repeat-ones", lambda a: a.repeat(1, 1), lambda a: a.repeat(1, 1), r(2, 3))
case("repeat-scalar", lambda a: a.repeat(2, 3), lambda a: a.repeat(2, 3), r())
case("tile", lambda a: a.tile((2,)), lambda a: a.tile((2,)), r(2, 3))
case("tile-more", lambda a: a.tile((2, 1, 2)), lambda a: a.tile((2, 1, 2)), r(2, 3))
case("repeat_interleave-flat", lambda a: a.repeat_interleave(2), lambda a: a.repeat_interleave(2), r(2, 3))
case("repeat_interleave-dim", lambda a: a.repeat_interleave(3, dim=-1), lambda a: a.repeat_interleave(3, dim=-1), r(2, 3))
case("repeat_interleave-axis", lambda a: sh.repeat_interleave(a, 2, axis=0), lambda a: torch.repeat_interleave(a, 2, dim=0), r(2, 3))
case("repeat_interleave-counts", lambda a, k: a.repeat_interleave(k, dim=1), lambda a, k: a.repeat_interleave(k, dim=1),
     r(2, 3), i64(1, 0, 3), syncs=1)
case("repeat_interleave-one-count", lambda a, k: a.repeat_interleave(k, dim=0), lambda a, k: a.repeat_interleave(k, dim=0),
     r(2, 3), i64(2), syncs=1)
case("repeat_interleave-scalar", lambda a: a.repeat_interleave(3), lambda a: a.repeat_interleave(3), r())

# -- reshaping dims ----------------------------------------------------------------------------
case("unflatten", lambda a: a.unflatten(1, (3, -1)), lambda a: a.unflatten(1, (3, -1)), r(2, 6))
case("unflatten-negative", lambda a: a.unflatten(-1, (1, 2)), lambda a: a.unflatten(-1, (1, 2)), r(3, 2))
case("movedim", lambda a: a.movedim(0, -1), lambda a: a.movedim(0, -1), r(2, 3, 4))
case("movedim-tuples", lambda a: a.movedim((0, 1), (2, 0)), lambda a: a.movedim((0, 1), (2, 0)), r(2, 3, 4))
case("moveaxis", lambda a: sh.moveaxis(a, -1, 0), lambda a: torch.moveaxis(a, -1, 0), r(2, 3, 4))
case("narrow", lambda a: a.narrow(1, 1, 2), lambda a: a.narrow(1, 1, 2), r(2, 4))
case("narrow-negative-start", lambda a: a.narrow(-1, -2, 2), lambda a: a.narrow(-1, -2, 2), r(2, 4))
case("narrow-size1", lambda a: a.narrow(0, 0, 1), lambda a: a.narrow(0, 0, 1), r(1, 3))

# -- diagonals and triangles --------------------------------------------------------------------
for k in (0, 1, -2):
    case(f"diag-1d-{k}", lambda a, k=k: sh.diag(a, k), lambda a, k=k: torch.diag(a, k), r(3))
for k in (0, 1, -1, 5):
    case(f"diag-2d-{k}", lambda a, k=k: a.diag(k), lambda a, k=k: a.diag(k), r(3, 4))
case("diag-size1", lambda a: sh.diag(a), lambda a: torch.diag(a), r(1))
case("diagonal", lambda a: a.diagonal(1), lambda a: a.diagonal(1), r(3, 4))
case("diagonal-dims", lambda a: a.diagonal(-1, dim1=-1, dim2=0), lambda a: a.diagonal(-1, dim1=-1, dim2=0), r(3, 2, 4))
case("diagonal-axis", lambda a: sh.diagonal(a, 0, axis1=1, axis2=2), lambda a: torch.diagonal(a, 0, 1, 2), r(2, 3, 3))
for k in (0, 1, -1):
    case(f"tril-{k}", lambda a, k=k: a.tril(k), lambda a, k=k: a.tril(k), r(3, 4))
    case(f"triu-{k}", lambda a, k=k: a.triu(k), lambda a, k=k: a.triu(k), r(3, 4))
case("tril-batch", lambda a: a.tril(), lambda a: a.tril(), r(2, 3, 3))
case("triu-size1", lambda a: a.triu(), lambda a: a.triu(), r(1, 3))

# -- pieces and joins -----------------------------------------------------------------------------
case("split-7-by-3", lambda a: weighted(a.split(3), ccat), lambda a: weighted(a.split(3), tcat), r(7))
case("split-sections", lambda a: weighted(a.split([1, 0, 2], dim=1), ccat), lambda a: weighted(a.split([1, 0, 2], dim=1), tcat), r(2, 3))
case("split-axis", lambda a: weighted(sh.split(a, 1, axis=-1), ccat), lambda a: weighted(torch.split(a, 1, -1), tcat), r(2, 3))
case("chunk-7-into-3", lambda a: weighted(a.chunk(3), ccat), lambda a: weighted(a.chunk(3), tcat), r(7))
case("chunk-6-into-4", lambda a: weighted(a.chunk(4, dim=-1), ccat), lambda a: weighted(a.chunk(4, dim=-1), tcat), r(2, 6))
case("unbind", lambda a: weighted(a.unbind(1), cr.stack), lambda a: weighted(a.unbind(1), torch.stack), r(2, 3))
case("unbind-1d", lambda a: weighted(a.unbind(-1), cr.stack), lambda a: weighted(a.unbind(-1), torch.stack), r(3))
case("unbind-size1", lambda a: weighted(a.unbind(), cr.stack), lambda a: weighted(a.unbind(), torch.stack), r(1, 3))
case("cat", lambda a, b: sh.cat([a, b], dim=-1), lambda a, b: torch.cat([a, b], dim=-1), r(2, 3), r(2, 1))
case("concat", lambda a, b: sh.concat([a, b]), lambda a, b: torch.concat([a, b]), r(2, 3), r(1, 3))
case("hstack-scalars", lambda a, b: sh.hstack([a, b]), lambda a, b: torch.hstack([a, b]), r(), r())
case("hstack-1d", lambda a, b: sh.hstack([a, b]), lambda a, b: torch.hstack([a, b]), r(2), r(3))
case("hstack-2d", lambda a, b: sh.hstack([a, b]), lambda a, b: torch.hstack([a, b]), r(2, 1), r(2, 3))
case("vstack-1d", lambda a, b: sh.vstack([a, b]), lambda a, b: torch.vstack([a, b]), r(3), r(3))
case("vstack-mixed", lambda a, b: sh.vstack([a, b]), lambda a, b: torch.vstack([a, b]), r(3), r(2, 3))
case("dstack", lambda a, b: sh.dstack([a, b]), lambda a, b: torch.dstack([a, b]), r(2), r(1, 2))
case("dstack-2d", lambda a, b: sh.dstack([a, b]), lambda a, b: torch.dstack([a, b]), r(2, 3), r(2, 3, 2))

# -- pad_sides: PyTorch's F.pad ----------------------------------------------------------------------
PADS = [  # (shape, pad, modes)
    ((2, 3), (1, 2), ("constant", "reflect", "replicate", "circular")),
    ((1, 2, 3), (1, 2, 1, 1), ("constant", "reflect", "replicate", "circular")),
    ((1, 1, 2, 3, 4), (1, 1, 2, 0, 1, 1), ("constant", "reflect", "replicate", "circular")),
    ((1, 2, 3), (-1, 2, 1, -1), ("constant", "reflect", "replicate")),  # negative widths crop
    ((2, 4), (-3, 1), ("constant", "replicate")),
    ((2, 3), (3, 3), ("circular", "constant")),  # circular: as wide as the dim
    ((2, 3, 4), (-1, -1, 0, -2, 1, 0), ("constant",)),
    ((), (), ("constant",)),
]
for shape, pad, modes in PADS:
    for mode in modes:
        case(f"pad_sides-{mode}-{'x'.join(map(str, shape)) or 'scalar'}-{pad}", lambda a, p=pad, m=mode: sh.pad_sides(a, p, m),
             lambda a, p=pad, m=mode: F().pad(a, p, mode=m), r(*shape))
case("pad_sides-value", lambda a: sh.pad_sides(a, (1, 0, 0, 2), value=2.5), lambda a: F().pad(a, (1, 0, 0, 2), value=2.5), r(2, 3))

# -- gather and friends: repeated indices add their gradients ------------------------------------------
G = i64([0, 3, 3, 1, 0], [2, 2, 2, 2, 2], [1, 0, 1, 0, 1])
case("gather-dim1-repeats", lambda a, i: a.gather(1, i), lambda a, i: a.gather(1, i), r(3, 4), G, syncs=1)
case("gather-dim0", lambda a, i: ix.gather(a, 0, i), lambda a, i: torch.gather(a, 0, i), r(3, 4), i64([2, 0, 0, 1], [1, 1, 2, 0]), syncs=1)
case("gather-negative-dim", lambda a, i: a.gather(-1, i), lambda a, i: a.gather(-1, i), r(3, 4), i64([1], [3]), syncs=1)
case("gather-axis", lambda a, i: ix.gather(a, axis=1, index=i), lambda a, i: torch.gather(a, 1, i), r(2, 3), i64([2, 2], [0, 1]), syncs=1)
case("gather-scalar", lambda a, i: a.gather(0, i), lambda a, i: a.gather(0, i), r(), np.array(0), syncs=1)
case("gather-size1", lambda a, i: a.gather(1, i), lambda a, i: a.gather(1, i), r(1, 3), i64([0, 0, 2, 2]), syncs=1)
S = i64([2, 0], [1, 3], [0, 2])  # distinct positions per row: scatter's forward is then defined
case("scatter", lambda a, s, i: a.scatter(1, i, s), lambda a, s, i: a.scatter(1, i, s), r(3, 4), r(3, 2), S, syncs=1)
case("scatter-value", lambda a, i: a.scatter(1, i, value=1.5), lambda a, i: a.scatter(1, i, value=1.5), r(3, 4), S, syncs=1)
case("scatter-number", lambda a, i: ix.scatter(a, 1, i, -2.0), lambda a, i: torch.scatter(a, 1, i, -2.0), r(3, 4), S, syncs=1)
case("scatter-dim0", lambda a, s, i: a.scatter(0, i, s), lambda a, s, i: a.scatter(0, i, s), r(3, 2), r(2, 2), i64([2, 0], [0, 1]), syncs=1)
# (a src larger than the index: PyTorch's own backward fails on it, so test_scatter_larger_src checks ours)
case("scatter-scalar", lambda a, s, i: a.scatter(0, i, s), lambda a, s, i: a.scatter(0, i, s), r(), r(), np.array(0), syncs=1)
D = i64([0, 0, 2], [1, 1, 1])  # repeats: added up
case("scatter_add", lambda a, s, i: a.scatter_add(1, i, s), lambda a, s, i: a.scatter_add(1, i, s), r(2, 3), r(2, 3), D, syncs=1)
case("scatter_add-axis", lambda a, s, i: ix.scatter_add(a, axis=-1, index=i, src=s), lambda a, s, i: torch.scatter_add(a, -1, i, s),
     r(2, 3), r(2, 3), D, syncs=1)
for red in ("sum", "prod", "mean", "amax", "amin"):
    for inc in (True, False):
        case(f"scatter_reduce-{red}-{'self' if inc else 'noself'}", lambda a, s, i, red=red, inc=inc: a.scatter_reduce(1, i, s, red, include_self=inc),
             lambda a, s, i, red=red, inc=inc: a.scatter_reduce(1, i, s, red, include_self=inc), r(2, 4), r(2, 3), D, syncs=1)
PZ = np.array([[0.0, 1.5, 2.0, 0.0], [1.5, -1.0, 0.0, 2.0]])  # zeros in input and src: prod's gradient without 0/0
SZ = np.array([[0.0, 3.0, -2.0], [0.0, 2.0, 0.5]])
Z = i64([0, 0, 3], [1, 1, 2])
for inc in (True, False):
    case(f"scatter_reduce-prod-zeros-{inc}", lambda a, s, i, inc=inc: a.scatter_reduce(1, i, s, "prod", include_self=inc),
         lambda a, s, i, inc=inc: a.scatter_reduce(1, i, s, "prod", include_self=inc), PZ, SZ, Z, syncs=1)
TIES_A, TIES_S = np.array([[1.0, 5.0, 2.0]]), np.array([[5.0, 3.0, 5.0, 2.0]])
for red in ("amax", "amin"):  # ties: the gradient split evenly among input and src entries
    case(f"scatter_reduce-{red}-ties", lambda a, s, i, red=red: a.scatter_reduce(1, i, s, red), lambda a, s, i, red=red: a.scatter_reduce(1, i, s, red),
         TIES_A, TIES_S, i64([1, 0, 1, 2]), kink=True, syncs=1)
case("index_select-repeats", lambda a, i: a.index_select(1, i), lambda a, i: a.index_select(1, i), r(2, 3), i64(2, 0, 2, 2), syncs=1)
case("index_select-dim0", lambda a, i: ix.index_select(a, -2, i), lambda a, i: torch.index_select(a, -2, i), r(3, 2), i64(1, 1), syncs=1)
case("index_select-axis", lambda a, i: ix.index_select(a, axis=0, index=i), lambda a, i: torch.index_select(a, 0, i), r(3), i64(0, 2), syncs=1)
case("index_select-0d-index", lambda a, i: a.index_select(1, i), lambda a, i: a.index_select(1, i), r(2, 3), np.array(1), syncs=1)
case("index_select-scalar", lambda a, i: a.index_select(0, i), lambda a, i: a.index_select(0, i), r(), i64(0), syncs=1)
case("take_along_dim-flat", lambda a, i: a.take_along_dim(i), lambda a, i: a.take_along_dim(i), r(2, 3), i64([5, 0], [0, 2]), syncs=1)
case("take_along_dim-broadcast", lambda a, i: a.take_along_dim(i, dim=2), lambda a, i: a.take_along_dim(i, dim=2),
     r(2, 1, 3), i64([[0, 2]], [[1, 1]], [[2, 0]]).reshape(3, 1, 2)[:1].repeat(4, axis=1), syncs=1)
case("take_along_dim-negative", lambda a, i: ix.take_along_dim(a, i, axis=-1), lambda a, i: torch.take_along_dim(a, i, -1),
     r(2, 3), i64([-1, 0], [-3, -3]), syncs=1)
case("take_along_dim-scalar", lambda a, i: a.take_along_dim(i), lambda a, i: a.take_along_dim(i), r(), np.array(0), syncs=1)

# -- masks ----------------------------------------------------------------------------------------------
M = np.array([True, False, True])
case("masked_fill", lambda a: a.masked_fill(M, 0.5), lambda a: a.masked_fill(T(M), 0.5), r(2, 3))
case("masked_fill-tensor-value", lambda a, v: a.masked_fill(M, v), lambda a, v: a.masked_fill(T(M), v), r(2, 3), r())
case("masked_fill-scalar", lambda a, v: ix.masked_fill(a, np.array(True), v), lambda a, v: torch.masked_fill(a, torch.tensor(True), v), r(), r())
case("masked_fill-size1-mask", lambda a: a.masked_fill(np.array([[True], [False]]), -1.0),
     lambda a: a.masked_fill(torch.tensor([[True], [False]]), -1.0), r(2, 3))
case("masked_scatter", lambda a, s: a.masked_scatter(M, s), lambda a, s: a.masked_scatter(T(M), s), r(2, 3), r(2, 4), syncs=1)
case("masked_scatter-exact", lambda a, s: ix.masked_scatter(a, M, s), lambda a, s: torch.masked_scatter(a, T(M), s), r(3), r(2), syncs=1)


@pytest.mark.parametrize("ours,theirs,inputs,kink,double,syncs", CASES)
def test_op_against_torch_and_gradcheck(ours, theirs, inputs, kink, double, syncs):
    check_op(ours, theirs, *inputs, kink=kink, double=double)


@pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed on the device
@pytest.mark.parametrize("ours,theirs,inputs,kink,double,syncs", CASES)
def test_op_compiled_replays_eager(ours, theirs, inputs, kink, double, syncs, device, request):
    if "repeat_interleave-counts" in request.node.callspec.id or "one-count" in request.node.callspec.id:
        with pytest.raises(cr.compiler.TraceError, match="tolist"):  # the counts make the output's shape
            check_compiled(ours, *inputs, device=device, syncs=syncs)
        return
    check_compiled(ours, *inputs, device=device, syncs=syncs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double,syncs", CASES)
def test_op_on_each_device(ours, theirs, inputs, kink, double, syncs, device):
    check_on_device(ours, device, *inputs, double=double, syncs=syncs)


# -- what has no gradient: checked against torch directly -------------------------------------------------
@pytest.mark.parametrize("n,k", [(7, 3), (6, 4), (5, 5), (1, 3), (0, 2), (10, 3), (3, 7)])
def test_split_and_chunk_sizes_equal_torch(n, k):
    x, t = cr.Tensor(np.zeros(n)), torch.zeros(n)
    assert [p.shape for p in x.chunk(k)] == [tuple(p.shape) for p in t.chunk(k)]
    assert [p.shape for p in x.split(k)] == [tuple(p.shape) for p in t.split(k)]


def test_one_hot_equals_torch():
    for labels, k in [([0, 2, 1, 2], -1), ([[1], [0]], 3), (2, 4), ([], 3)]:
        got = ix.one_hot(cr.Tensor(np.array(labels, dtype=np.int64)), k)
        want = F().one_hot(torch.tensor(labels, dtype=torch.int64), k)
        assert got.dtype == np.int64 and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_repeated_indices_add_their_gradients():
    x = cr.Tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    (x.gather(1, cr.Tensor([[2, 2, 0]])).sum() + x.index_select(1, cr.Tensor([2, 2])).sum()).backward()
    assert x.grad.tolist() == [[1.0, 0.0, 4.0]]


def test_scatter_reduce_amax_ties_split_evenly():
    x = cr.Tensor([[1.0, 5.0, 2.0]], requires_grad=True)
    s = cr.Tensor([[5.0, 3.0, 5.0, 2.0]], requires_grad=True)
    x.scatter_reduce(1, cr.Tensor([[1, 0, 1, 2]]), s, "amax").sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 1 / 3, 1 / 2]], rtol=1e-6)
    np.testing.assert_allclose(s.grad.numpy(), [[1 / 3, 1.0, 1 / 3, 1 / 2]], rtol=1e-6)


def test_scatter_reduce_without_self_gives_src_the_whole_gradient():
    # PyTorch counts the left-out input value among the ties (src gets 1/3 and 1/2 here, and the
    # input 0: a part of the gradient is lost); chainrule splits among the entries reduced
    x = cr.Tensor([[1.0, 5.0, 2.0]], requires_grad=True)
    s = cr.Tensor([[5.0, 3.0, 5.0, 2.0]], requires_grad=True)
    x.scatter_reduce(1, cr.Tensor([[1, 0, 1, 2]]), s, "amax", include_self=False).sum().backward()
    assert x.grad.tolist() == [[0.0, 0.0, 0.0]]
    np.testing.assert_allclose(s.grad.numpy(), [[0.5, 1.0, 0.5, 1.0]], rtol=1e-6)


def test_copies_do_not_share_memory_with_the_input():
    x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    for y in (x.clone(), x.flip(0), x.roll(1), x.repeat(1, 1), x.tril(), x.repeat_interleave(1, dim=0) * 1):
        assert not np.shares_memory(y.data, x.data)
    assert x.contiguous() is x and x.T.contiguous().data.flags.c_contiguous


def test_scatter_larger_src():
    # PyTorch reads the leading part of a larger src (its backward then fails: a gradient of the
    # index's shape); chainrule gives the unread part a zero gradient
    x, s, i = np.zeros((2, 3)), np.arange(8.0).reshape(2, 4), i64([2], [0])
    for op in ("scatter", "scatter_add"):
        want = getattr(torch, op)(torch.tensor(x), 1, T(i), torch.tensor(s))
        xs, ss = cr.Tensor(x, requires_grad=True), cr.Tensor(s, requires_grad=True)
        got = getattr(xs, op)(1, i, ss)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        got.sum().backward()
        assert ss.grad.tolist() == [[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]


def test_masked_fill_value_gets_the_gradient():
    x = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = cr.Tensor(0.5, requires_grad=True)
    x.masked_fill(cr.Tensor([True, False, True]), v).sum().backward()
    assert v.grad.item() == 2.0 and x.grad.tolist() == [0.0, 1.0, 0.0]


# -- errors name the op -----------------------------------------------------------------------------------
X = cr.Tensor(np.zeros((2, 3)))
ERRORS = [
    (lambda: X.gather(1, cr.Tensor([[3]])), IndexError, r"gather: index values range over \[3, 3\] but dim 1 has size 3"),
    (lambda: X.gather(1, cr.Tensor([[-1]])), IndexError, r"gather: .*expected 0 <= index < 3"),
    (lambda: X.gather(1, cr.Tensor([[0.5]])), TypeError, r"gather: index has dtype float"),
    (lambda: X.gather(1, cr.Tensor([[0], [1], [2]])), ValueError, r"gather: index of shape \(3, 1\) .* apart from dim 1"),
    (lambda: X.gather(2, cr.Tensor([[0]])), IndexError, r"gather: dim 2 is out of range .* \[-2, 1\]"),
    (lambda: X.gather(1, cr.Tensor([0])), ValueError, r"gather: index of shape \(1,\)"),
    (lambda: X.scatter(1, cr.Tensor([[0]]), cr.Tensor([[1]])), TypeError, r"scatter: src has dtype int"),
    (lambda: X.scatter(1, cr.Tensor([[0, 1]]), cr.Tensor([[1.0]])), ValueError, r"scatter: .*no larger than src \(1, 1\)"),
    (lambda: X.scatter(1, cr.Tensor([[0]])), TypeError, r"scatter: expected exactly one of src"),
    (lambda: X.scatter_add(0, cr.Tensor([[2]]), cr.Tensor([[1.0]])), IndexError, r"scatter_add: .*dim 0 has size 2"),
    (lambda: X.scatter_reduce(1, cr.Tensor([[0]]), cr.Tensor([[1.0]]), "max"), ValueError, r"scatter_reduce: reduce='max'; expected one of sum, prod"),
    (lambda: X.index_select(0, cr.Tensor([[0]])), ValueError, r"index_select: index of shape \(1, 1\); expected a 1-D"),
    (lambda: X.index_select(-1, cr.Tensor([0, 3])), IndexError, r"index_select: index values range over \[0, 3\] but dim 1 has size 3"),
    (lambda: X.take_along_dim(cr.Tensor([[-4]]), 1), IndexError, r"take_along_dim: .*expected -3 <= index < 3"),
    (lambda: cr.Tensor(1.0).take_along_dim(cr.Tensor(0), 0), IndexError, r"take_along_dim: dim 0 given for a 0-d tensor"),
    (lambda: X.take_along_dim(cr.Tensor([0]), 1), ValueError, r"take_along_dim: indices of shape \(1,\) .* as many dims"),
    (lambda: X.take_along_dim(cr.Tensor([[0], [0], [0]]), 1), ValueError, r"take_along_dim: .* do not broadcast apart from dim 1"),
    (lambda: X.masked_fill(cr.Tensor([1, 0, 1]), 1.0), TypeError, r"masked_fill: mask has dtype int64; expected a boolean"),
    (lambda: X.masked_fill(np.ones((3, 3), bool), 1.0), ValueError, r"masked_fill: mask of shape \(3, 3\) does not broadcast"),
    (lambda: X.masked_fill(np.ones(3, bool), cr.Tensor([1.0])), ValueError, r"masked_fill: value of shape \(1,\)"),
    (lambda: X.masked_scatter(np.ones(3, bool), cr.Tensor([1.0] * 5)), ValueError, r"masked_scatter: the mask has 6 True entries but source has 5"),
    (lambda: ix.one_hot(cr.Tensor([0, -2]), 3), ValueError, r"one_hot: class values must be non-negative, got -2"),
    (lambda: ix.one_hot(cr.Tensor([0, 3]), 3), ValueError, r"one_hot: class values must be smaller than num_classes=3, got 3"),
    (lambda: ix.one_hot(cr.Tensor(np.zeros(0, np.int64))), ValueError, r"one_hot: cannot infer num_classes"),
    (lambda: ix.one_hot(cr.Tensor([1.0])), TypeError, r"one_hot: class values have dtype float32"),
    (lambda: X.flip(2), IndexError, r"flip: dim 2 is out of range .* \[-2, 1\]"),
    (lambda: X.flip(0, axis=0), TypeError, r"flip: got both axis=0 and dim=0"),
    (lambda: X.roll((1, 2), 0), ValueError, r"roll: shifts \(1, 2\) and dims 0 have different lengths"),
    (lambda: cr.Tensor(1.0).roll(1, 0), IndexError, r"roll: dims 0 given for a 0-d tensor"),
    (lambda: X.repeat(2), ValueError, r"repeat: 1 sizes \(2,\) for a tensor of shape \(2, 3\); expected at least 2"),
    (lambda: X.repeat_interleave(cr.Tensor([1, 2]), dim=1), ValueError, r"repeat_interleave: repeats of shape \(2,\) .* 1 or 3 counts"),
    (lambda: X.repeat_interleave(-1), ValueError, r"repeat_interleave: repeats -1 is negative"),
    (lambda: X.unflatten(1, (2, -1)), ValueError, r"unflatten: sizes \(2, -1\) do not multiply to the size 3 of dim 1"),
    (lambda: X.movedim((0, 1), 0), ValueError, r"movedim: source \(0, 1\) and destination 0 have different lengths"),
    (lambda: X.narrow(1, 2, 2), ValueError, r"narrow: start 2 and length 2 do not fit dim 1 of size 3"),
    (lambda: cr.Tensor(1.0).narrow(0, 0, 1), ValueError, r"narrow: cannot narrow a 0-d tensor"),
    (lambda: sh.diag(cr.Tensor(1.0)), ValueError, r"diag: got shape \(\); expected a 1-D or 2-D tensor"),
    (lambda: X.diagonal(0, 1, -1), ValueError, r"diagonal: dim1 and dim2 are both 1"),
    (lambda: cr.Tensor([1.0]).tril(), ValueError, r"tril: got shape \(1,\); expected a tensor with at least 2 dims"),
    (lambda: cr.Tensor([1.0]).triu(), ValueError, r"triu: got shape \(1,\)"),
    (lambda: X.split([1, 2]), ValueError, r"split: sections \[1, 2\] for dim 0 of size 2 .* sum to 2"),
    (lambda: X.split(0), ValueError, r"split: split_size 0 for dim 0 of size 2; expected a size > 0"),
    (lambda: cr.Tensor(1.0).split(1), ValueError, r"split: cannot split a 0-d tensor"),
    (lambda: X.chunk(0), ValueError, r"chunk: chunks=0; expected an int > 0"),
    (lambda: cr.Tensor(1.0).unbind(), IndexError, r"unbind: cannot unbind a 0-d tensor"),
    (lambda: sh.pad_sides(X, (1,)), ValueError, r"pad_sides: pad \(1,\) for shape \(2, 3\); expected \(left, right\) pairs"),
    (lambda: sh.pad_sides(X, (1, 1) * 3), ValueError, r"pad_sides: .*at most one pair per dim \(4 numbers\)"),
    (lambda: sh.pad_sides(X, (-4, 0)), ValueError, r"pad_sides: pad \(-4, 0\) on dim 1 of size 3 .* leaves -1 entries"),
    (lambda: sh.pad_sides(X, (1, 1), mode="wrap"), ValueError, r"pad_sides: mode 'wrap'; expected one of constant, reflect"),
    (lambda: sh.pad_sides(X, (1, 1), mode="reflect", value=1.0), ValueError, r"pad_sides: mode 'reflect' takes no value"),
    (lambda: sh.pad_sides(X, (3, 0), mode="reflect"), ValueError, r"pad_sides: reflect pad \(3, 0\) on dim 1 of size 3 .* expected widths < 3"),
    (lambda: sh.pad_sides(X, (4, 0), mode="circular"), ValueError, r"pad_sides: circular pad \(4, 0\) .* expected widths <= 3"),
    (lambda: sh.pad_sides(X, (1, 1, 1, 1), mode="replicate"), NotImplementedError, r"pad_sides: mode 'replicate' with 4 pad numbers for a 2-d"),
]


@pytest.mark.parametrize("fn,kind,match", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_errors_name_the_op(fn, kind, match):
    with pytest.raises(kind, match=match):
        fn()


def test_gather_of_many_repeated_and_negative_rows_scatter_adds_as_add_at():
    # 300 lookups (some negative) of 7 rows: the backward sorts them and sums each run
    rng = np.random.default_rng(11)
    idx = rng.integers(-7, 7, 300)
    x = cr.Tensor(rng.standard_normal((7, 2, 3)), dtype="float64", requires_grad=True)
    g = rng.standard_normal((300, 2, 3))
    x[idx].backward(cr.Tensor(g, dtype="float64"))
    want = np.zeros((7, 2, 3))
    np.add.at(want, idx, g)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12, atol=1e-12)

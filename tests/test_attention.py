"""Scaled dot-product attention (``F.scaled_dot_product_attention``, one fused gate: ``ops.attention``).

The table: one row per kind of call (masks of each kind and broadcast, causal for L == S and
L != S, cross-attention, 2-, 3- and 4-d inputs, a scale), each through the oracle (PyTorch in
float64 with second order, and finite differences), compiled and replayed, and on each device.
Then what the table cannot hold: fully masked rows (zeros, where older PyTorch gives NaN),
dropout (against the composed form on the same draw, seeded, compiled), what the gate keeps and
its peak memory, and the errors, raised before anything runs.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from oracle import check_compiled, check_on_device, check_op, op_table, table_rows, torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.autograd.function import sequence_mark
from chainrule.ops.attention import ScaledDotProductAttention, attention_weights

rng = np.random.default_rng(2525)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def bools(*shape: int, keep_first: bool = True) -> np.ndarray:
    """A random boolean mask (True: takes part) in which every row keeps its first key."""
    m = rng.uniform(size=shape) > 0.4
    if keep_first:
        m[..., 0] = True
    return m


def ours(**kw):
    return lambda q, k, v, *m: F.scaled_dot_product_attention(q, k, v, *m, **kw)


def theirs(**kw):
    """PyTorch's math path (its CPU flash kernel has no second derivative)."""

    def sdpa(q, k, v, *m):
        from torch.nn.attention import SDPBackend, sdpa_kernel

        with sdpa_kernel(SDPBackend.MATH):
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, *m, **kw)

    return sdpa


CASES: list = []
case = table_rows(CASES)

B, H, L, S, E = 2, 3, 4, 6, 5
case("4d-no-mask", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E))
case("3d-no-mask", ours(), theirs(), r(B, L, E), r(B, S, E), r(B, S, E))
case("2d-no-mask", ours(), theirs(), r(L, E), r(S, E), r(S, E))
case("cross-S-ne-L-Ev-ne-E", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, 7))
case("size-1-axes", ours(), theirs(), r(1, 1, 1, E), r(1, 1, 1, E), r(1, 1, 1, 2))
case("broadcast-qkv-batch", ours(), theirs(), r(B, H, L, E), r(H, S, E), r(1, S, 7))
case("bool-mask", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), bools(B, H, L, S))
case("float-mask", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), r(B, H, L, S))
case("bool-mask-over-batch", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), bools(H, L, S))
case("bool-mask-over-heads", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), bools(B, 1, L, S))
case("bool-mask-key-padding", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), bools(B, 1, 1, S))
case("float-mask-over-batch", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), r(L, S))
case("float-mask-over-heads", ours(), theirs(), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E), r(B, 1, L, S))
case("float-mask-3d", ours(), theirs(), r(B, L, E), r(B, S, E), r(B, S, 3), r(1, L, S))
case("causal-L-eq-S", ours(is_causal=True), theirs(is_causal=True), r(B, H, L, E), r(B, H, L, E), r(B, H, L, E))
case("causal-L-lt-S", ours(is_causal=True), theirs(is_causal=True), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E))
case("causal-L-gt-S", ours(is_causal=True), theirs(is_causal=True), r(B, S, E), r(B, L, E), r(B, L, 2))
case("causal-3d", ours(is_causal=True), theirs(is_causal=True), r(B, L, E), r(B, L, E), r(B, L, E))
case("scale", ours(scale=0.3), theirs(scale=0.3), r(B, H, L, E), r(B, H, S, E), r(B, H, S, E))
case("scale-causal", ours(scale=2.0, is_causal=True), theirs(scale=2.0, is_causal=True), r(L, E), r(L, E), r(L, E))
case("scale-float-mask", ours(scale=0.5), theirs(scale=0.5), r(B, L, E), r(B, S, E), r(B, S, E), r(B, L, S))

test_sdpa_against_torch_and_gradcheck, test_sdpa_compiled_replays_eager, test_sdpa_on_each_device = op_table(CASES)


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_sdpa_in_blocks_against_torch(ours, theirs, inputs, kink, double, monkeypatch):
    # the gate cuts a large call's scores into blocks of rows of the first axis (for the cache):
    # with blocks of one row, every table row takes that path where it applies, and must agree
    from chainrule.ops import attention

    monkeypatch.setattr(attention, "_BLOCK", 1)
    check_op(ours, theirs, *inputs, kink=kink, double=double)


def test_sdpa_in_blocks_equals_one_go_with_dropout(monkeypatch):
    from chainrule.ops import attention

    q, k, v, m = r(B, H, L, E), r(B, H, S, E), r(B, H, S, 3), bools(B, 1, L, S)

    def run():
        cr.manual_seed(3)
        xs = [cr.Tensor(x, requires_grad=True) for x in (q, k, v)]
        out = F.scaled_dot_product_attention(*xs, m, dropout_p=0.3, is_causal=False)
        n = int(np.prod(out.shape))
        (out * cr.Tensor(np.arange(n, dtype=np.float32).reshape(out.shape) / n)).sum().backward()
        return [out.numpy()] + [x.grad.numpy() for x in xs]

    whole = run()
    assert attention._chunks(q, k, v) is None  # these small inputs go in one go by default
    monkeypatch.setattr(attention, "_BLOCK", 1)
    assert len(attention._chunks(q, k, v)) == B
    for a, b in zip(whole, run()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_sdpa_in_blocks_keeps_no_probabilities(monkeypatch):
    """In blocks the gate keeps each row's max and 1 / sum, not P: the backward makes each
    block's P again, the same bits, and a float mask that needs its gradient gets it whole."""
    from chainrule.ops import attention

    monkeypatch.setattr(attention, "_BLOCK", 1)
    q, k, v = (cr.Tensor(x, requires_grad=True) for x in (r(B, H, L, E), r(B, H, S, E), r(B, H, S, 3)))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    kept = [a for a in out._ctx.saved_tensors if a is not None]
    assert not any(a.shape[-2:] == (L, S) for a in kept)  # no (L, S) array
    mask = cr.Tensor(r(B, 1, L, S), requires_grad=True)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    out.sum().backward()
    monkeypatch.setattr(attention, "_BLOCK", 1 << 30)
    grads = [t.grad.numpy().copy() for t in (q, k, v, mask)]
    for t in (q, k, v, mask):
        t.grad = None
    F.scaled_dot_product_attention(q, k, v, attn_mask=mask).sum().backward()
    for a, t in zip(grads, (q, k, v, mask)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("length", [64, 256])
def test_causal_self_attention_in_tiles_against_torch(length, monkeypatch):
    """Causal self-attention from 64 positions skips the keys a tile of queries never sees (two
    tiles, four from 256): outputs and gradients are PyTorch's, eager and compiled, and with
    dropout the tiles give what one go gives."""
    from chainrule.ops import attention

    q, k, v = r(2, 1, length, 4), r(2, 1, length, 4), r(2, 1, length, 3)
    g = r(2, 1, length, 3)
    monkeypatch.setattr(attention, "_BLOCK", 1)  # blocks of one matrix, so the tiles run
    assert len(attention._blocks(attention._chunks(q, k, v), q, k, None, None, True)) == 2 * (2 if length < 256 else 4)
    xs = [cr.tensor(x, requires_grad=True) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, is_causal=True)
    out.backward(cr.tensor(g))
    ts = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    want = theirs(is_causal=True)(*ts)
    want.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)
    check_compiled(ours(is_causal=True), q, k, v)

    def run(block):
        monkeypatch.setattr(attention, "_BLOCK", block)
        cr.manual_seed(5)
        xs = [cr.tensor(x, requires_grad=True) for x in (q, k, v)]
        out = F.scaled_dot_product_attention(*xs, is_causal=True, dropout_p=0.25)
        out.backward(cr.tensor(g))
        return [out.numpy()] + [x.grad.numpy() for x in xs]

    for a, b in zip(run(1), run(1 << 30)):  # tiles, and one go
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# -- a query that may attend to nothing -----------------------------------------------------------


def _dead_row_inputs():
    q, k, v = r(B, H, L, E), r(B, H, S, E), r(B, H, S, 3)
    mask = bools(B, H, L, S)
    mask[0, 1, 2] = False  # query 2 of batch 0, head 1: no key
    mask[1, :, 0] = False  # query 0 of batch 1, every head
    return q, k, v, mask


def test_fully_masked_rows_give_zeros_and_the_rest_equals_torch():
    q, k, v, mask = _dead_row_inputs()
    dead = ~mask.any(axis=-1)  # (B, H, L)
    xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v)]
    out = F.scaled_dot_product_attention(*xs, mask)
    g = r(*out.shape)
    out.backward(cr.Tensor(g, dtype="float64"))
    assert not np.isnan(out.numpy()).any() and not any(np.isnan(x.grad.numpy()).any() for x in xs)
    assert not out.numpy()[dead].any() and not xs[0].grad.numpy()[dead].any()  # output and gq: 0
    # PyTorch on the same call, its dead rows cut off: every other number must agree
    ts = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    tout = theirs()(*ts, torch.tensor(mask))
    # older PyTorch gives NaN there (into every gradient too, unless cut off as here), 2.5 and later 0
    tout = torch.where(torch.tensor(dead[..., None]), 0.0, tout)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy()[~dead], tout.detach().numpy()[~dead], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xs[0].grad.numpy()[~dead], ts[0].grad.numpy()[~dead], rtol=1e-9, atol=1e-11)
    for x, t in zip(xs[1:], ts[1:]):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_fully_masked_rows_by_a_float_mask_of_minus_inf_and_gradcheck():
    q, k, v, mask = _dead_row_inputs()
    fmask = np.where(mask, 0.0, -np.inf)
    a = F.scaled_dot_product_attention(*(cr.Tensor(x, dtype="float64") for x in (q, k, v)), mask)
    b = F.scaled_dot_product_attention(*(cr.Tensor(x, dtype="float64") for x in (q, k, v)), cr.Tensor(fmask, dtype="float64"))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert cr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask), q, k, v)


def test_fully_masked_rows_second_order_compiled_and_on_device():
    q, k, v, mask = _dead_row_inputs()
    f = lambda q, k, v: F.scaled_dot_product_attention(q, k, v, mask)  # noqa: E731
    xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v)]
    gs = cr.grad(f(*xs).sum(), xs, create_graph=True)
    g2 = cr.grad(cr.stack([(g * g).sum() for g in gs]).sum(), xs)
    assert all(np.isfinite(g.numpy()).all() for g in [*gs, *g2])
    assert not gs[0].numpy()[~mask.any(axis=-1)].any()
    check_compiled(f, q, k, v)
    check_on_device(f, "strict", q, k, v)


def test_causal_with_more_queries_than_keys_has_no_dead_row_and_l_gt_s_top_left():
    # top-left alignment: query i sees keys 0..i; with L > S the last queries see every key
    q, k = r(6, 2), r(3, 2)
    w = attention_weights(cr.Tensor(q), cr.Tensor(k), causal=True, scale=1.0).numpy()
    assert (w[0, 1:] == 0).all() and (w[1, 2:] == 0).all() and (w[3:] > 0).all()
    np.testing.assert_allclose(w.sum(axis=-1), 1, rtol=1e-6)


# -- dropout ------------------------------------------------------------------------------------


def test_dropout_equals_the_composed_form_on_the_same_draw():
    # the fused gate and attention_weights + F.dropout draw the same (..., L, S) uniforms
    q, k, v, m = r(B, H, L, E), r(B, H, S, E), r(B, H, S, 3), r(L, S)

    def fused(q, k, v, m):
        cr.manual_seed(7)
        return F.scaled_dot_product_attention(q, k, v, m, dropout_p=0.4)

    def composed(q, k, v, m):
        cr.manual_seed(7)
        return F.dropout(attention_weights(q, k, m, scale=1 / np.sqrt(E)), 0.4) @ v

    xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v, m)]
    ys = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v, m)]
    a, b = fused(*xs), composed(*ys)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    w = cr.Tensor(r(*a.shape), dtype="float64")
    ga = cr.grad((a * w).sum(), xs, create_graph=True)
    gb = cr.grad((b * w).sum(), ys, create_graph=True)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-10, atol=1e-12)
    g2a = cr.grad(cr.stack([(g * g).sum() for g in ga]).sum(), xs)
    g2b = cr.grad(cr.stack([(g * g).sum() for g in gb]).sum(), ys)
    for x, y in zip(g2a, g2b):
        np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-9, atol=1e-11)
    assert cr.gradcheck(fused, q, k, v, m)  # the seeded draw makes it a function of its inputs


def test_dropout_changes_outputs_keeps_shapes_and_repeats_under_a_seed():
    q, k, v = (cr.Tensor(x) for x in (r(B, H, L, E), r(B, H, S, E), r(B, H, S, E)))
    plain = F.scaled_dot_product_attention(q, k, v).numpy()
    cr.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    cr.manual_seed(3)
    c = F.scaled_dot_product_attention(q, k, v, dropout_p=0.5).numpy()
    assert a.shape == plain.shape == (B, H, L, E) and a.dtype == np.float32
    assert not np.allclose(a, plain) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(F.scaled_dot_product_attention(q, k, v, dropout_p=0.0).numpy(), plain)


def test_dropout_compiled_replays_draw_anew_as_eager():
    q, k, v = r(B, H, L, E), r(B, H, S, E), r(B, H, S, E)

    def step(q, k, v):
        out = F.scaled_dot_product_attention(q, k, v, is_causal=False, dropout_p=0.3)
        gq, gk, gv = cr.grad(out.sum(), [q, k, v])
        return out, gq, gk, gv

    compiled = cr.compile(step)
    for seed in (1, 2, 3):  # the trace, then replays: each draws the step's mask anew
        xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v)]
        cr.manual_seed(seed)
        got = compiled(*xs)
        cr.manual_seed(seed)
        want = step(*[cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v)])
        for a, b in zip(got, want):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-14)
    assert compiled.traces_made == 1


# -- what the gate keeps, and its peak memory --------------------------------------------------------


def test_the_gate_keeps_q_k_v_the_mask_its_output_and_one_probability_array():
    q, k, v = (cr.Tensor(x, requires_grad=True) for x in (r(B, H, L, E), r(B, H, S, E), r(B, H, S, E)))
    mask = bools(B, 1, L, S)
    out = F.scaled_dot_product_attention(q, k, v, mask)
    ctx = out._ctx
    assert ctx.fn is ScaledDotProductAttention
    saved = [a for a in ctx.saved_tensors if a is not None]
    assert saved[0] is q.data and saved[1] is k.data and saved[2] is v.data and saved[3] is mask
    assert saved[4].shape == (B, H, L, S) and saved[5] is out.data  # P and the output: nothing else
    assert len(saved) == 6
    cr.manual_seed(0)
    out = F.scaled_dot_product_attention(q, k, v, mask, dropout_p=0.5)
    p, keep = out._ctx.saved_tensors[4:6]
    assert p.dtype == np.float32 and keep.dtype == bool and keep.shape == (B, H, L, S)  # one byte an entry


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_below_the_composed_forms():
    q, k, v = (r(4, 4, 64, 16) for _ in range(3))
    mask = bools(1, 1, 64, 64)

    def run(fused: bool) -> None:
        xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in (q, k, v)]
        if fused:
            out = F.scaled_dot_product_attention(*xs, mask)
        else:  # what PyTorch's math path records: scores, scaled, masked, softmax, product
            s = (xs[0] @ xs[1].transpose(-2, -1)) * 0.25 + cr.Tensor(np.where(mask, 0.0, -np.inf))
            out = cr.softmax(s, -1) @ xs[2]
        out.sum().backward()

    run(True)  # warm both paths up (imports, caches)
    run(False)
    fused, composed = _peak(lambda: run(True)), _peak(lambda: run(False))
    ls = 4 * 4 * 64 * 64 * 8  # one (L, S) float64 array
    assert fused < composed - ls, (fused / ls, composed / ls)
    assert fused < 4.5 * ls, fused / ls  # P and the backward's two (L, S) buffers, with room to spare


# -- errors: named, with the shapes, before anything runs --------------------------------------------


def _raises_first(call, kind, match: str) -> None:
    state = cr.rng.get_state()
    before = sequence_mark()
    with pytest.raises(kind, match=match):
        call()
    assert sequence_mark() == before + 1, "a gate ran before the error"
    assert cr.rng.get_state() == state, "dropout drew before the error"


def _qkv(*shapes):
    return [cr.Tensor(np.zeros(s), requires_grad=True) for s in shapes]


@pytest.mark.parametrize(
    "make,kind,match",
    [
        (lambda: (*_qkv((2, 4, 5), (2, 6, 3), (2, 6, 5)),), ValueError,
         r"scaled_dot_product_attention: query of shape \(2, 4, 5\) and key of shape \(2, 6, 3\); expected the same last axis E"),
        (lambda: (*_qkv((2, 4, 5), (2, 6, 5), (2, 7, 5)),), ValueError,
         r"key of shape \(2, 6, 5\) and value of shape \(2, 7, 5\); expected the same number of keys S"),
        (lambda: (*_qkv((5,), (6, 5), (6, 5)),), ValueError, r"query of shape \(5,\), key \(6, 5\), value \(6, 5\); expected"),
        (lambda: (*_qkv((2, 4, 5), (3, 6, 5), (3, 6, 5)),), ValueError,
         r"the leading axes of query \(2, 4, 5\), key \(3, 6, 5\) and value \(3, 6, 5\) do not broadcast"),
        (lambda: (*_qkv((2, 4, 5), (2, 6, 5), (2, 6, 5)), np.ones((2, 4, 5), bool)), ValueError,
         r"attn_mask of shape \(2, 4, 5\) does not broadcast to the scores' shape \(\.\.\., L, S\) = \(2, 4, 6\)"),
        (lambda: (*_qkv((4, 5), (6, 5), (6, 5)), np.ones((2, 4, 6), bool)), ValueError,
         r"attn_mask of shape \(2, 4, 6\) does not broadcast to the scores' shape \(\.\.\., L, S\) = \(4, 6\)"),
        (lambda: (*_qkv((4, 5), (6, 5), (6, 5)), np.ones((4, 6), np.int64)), TypeError,
         r"attn_mask of dtype int64; expected bool or the query's dtype float32"),
        (lambda: (*_qkv((4, 5), (6, 5)), cr.Tensor(np.zeros((6, 5)), dtype="float64")), TypeError,
         r"query, key and value of dtypes float32, float32, float64; expected one float dtype"),
        (lambda: (*_qkv((4, 5), (6, 5), (6, 5)), np.ones((4, 6), bool), 0.0, True), ValueError,
         r"is_causal=True and an attn_mask were both given"),
        (lambda: (*_qkv((4, 5), (6, 5), (6, 5)), None, 1.0), ValueError, r"dropout_p=1.0; expected 0 <= dropout_p < 1"),
    ],
    ids=["E", "S", "ndim", "batch", "mask-shape", "mask-grows-batch", "mask-dtype", "qkv-dtypes", "causal-and-mask", "dropout"],
)
def test_bad_calls_name_the_op_and_shapes_before_running(make, kind, match):
    _raises_first(lambda: F.scaled_dot_product_attention(*make()), kind, match)


def test_a_host_mask_and_the_dropout_draw_go_to_the_device():
    # a NumPy mask beside device arrays goes to their device, and so does dropout's keep mask
    import strict

    from chainrule.ops import kernels

    xs = [cr.Tensor(strict.device_array(x), dtype="float64") for x in (r(B, L, E), r(B, S, E), r(B, S, E))]
    token = kernels.off.set(True)  # a GPU runs none of the CPU's compiled loops
    try:
        out = F.scaled_dot_product_attention(*xs, bools(L, S), dropout_p=0.2)
    finally:
        kernels.off.reset(token)
    assert type(out.data) is strict.StrictArray


# -- CS231n's formulas, written out by hand ------------------------------------------------------


def _cs231n_attention(x_q, x_kv, wq, wk, wv, wo, heads, mask=None):
    """Assignment 3's multi-head attention, from its formulas, in NumPy: per head i,
    Y_i = softmax(Q_i K_i^T / sqrt(d / h)) V_i with Q = X W_q^T (and K, V likewise), masked
    positions (mask == 0) filled with -inf before the softmax; Y = [Y_1 ... Y_h] W_o^T."""
    n, s, d = x_q.shape
    t = x_kv.shape[1]
    split = lambda a, length: a.reshape(n, length, heads, d // heads).transpose(0, 2, 1, 3)  # noqa: E731
    q, k, v = split(x_q @ wq.T, s), split(x_kv @ wk.T, t), split(x_kv @ wv.T, t)  # (N, H, S or T, d / h)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d / heads)  # (N, H, S, T)
    if mask is not None:
        scores = np.where(mask == 0, -np.inf, scores)
    e = np.exp(scores - scores.max(axis=-1, keepdims=True))
    y = (e / e.sum(axis=-1, keepdims=True)) @ v  # (N, H, S, d / h)
    return y.transpose(0, 2, 1, 3).reshape(n, s, d) @ wo.T


@pytest.mark.parametrize("cross", [False, True], ids=["self", "cross"])
def test_multihead_attention_matches_the_cs231n_formulas(cross):
    """nn.MultiheadAttention (batch_first, no biases) against the assignment's own equations,
    with its causal mask (the captioning decoder's tril) for self-attention."""
    g = np.random.default_rng(231)
    n, s, t, d, h = 2, 5, 7 if cross else 5, 8, 2
    x = g.standard_normal((n, s, d))
    kv = g.standard_normal((n, t, d)) if cross else x
    wq, wk, wv, wo = (g.standard_normal((d, d)) * 0.3 for _ in range(4))
    mha = cr.nn.MultiheadAttention(d, h, bias=False, batch_first=True).double()
    mha.load_state_dict({"in_proj_weight": np.concatenate([wq, wk, wv]), "out_proj.weight": wo})
    tril = np.tril(np.ones((s, t)))
    mask = None if cross else tril
    # PyTorch's (and our) module convention: a boolean True is NOT attended to
    out, _ = mha(cr.Tensor(x, dtype="float64"), cr.Tensor(kv, dtype="float64"), cr.Tensor(kv, dtype="float64"),
                 attn_mask=None if mask is None else mask == 0, need_weights=False)  # fmt: skip
    np.testing.assert_allclose(out.numpy(), _cs231n_attention(x, kv, wq, wk, wv, wo, h, mask), rtol=1e-10, atol=1e-12)


def test_positional_encoding_matches_the_cs231n_formula():
    """P[i, 2j] = sin(i * 10000^(-2j / d)), P[i, 2j + 1] = cos(i * 10000^(-2j / d))."""
    length, d = 7, 6
    pe = cr.nn.utils.sinusoidal_positional_encoding(length, d).numpy()
    i, j = np.arange(length)[:, None], np.arange(0, d, 2)[None, :]
    np.testing.assert_allclose(pe[:, 0::2], np.sin(i * 10000.0 ** (-j / d)), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(i * 10000.0 ** (-j / d)), atol=1e-6)

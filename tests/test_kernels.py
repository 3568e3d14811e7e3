"""The compiled loops of the window ops and of layer norm (``chainrule.ops.kernels``) against the
NumPy passes they replace: the same numbers (layer norm's to the last bits), NaN and ties
included, from several threads at once."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import functional as F
from chainrule.ops import attention, kernels

pytestmark = pytest.mark.skipif(not kernels.available(), reason="Numba is not installed (the fast extra)")


def pooled(x: np.ndarray, kernel: int, stride: int, padding: int, loops: bool, monkeypatch) -> tuple:
    """max_pool2d's output, gradient and gradient of the gradient (a Hessian-vector row)."""
    monkeypatch.setattr(kernels, "_available", loops)
    t = cr.Tensor(x, requires_grad=True)
    y = F.max_pool2d(t, kernel, stride, padding)
    (g,) = cr.grad((y * y).sum(), [t], create_graph=True)
    (gg,) = cr.grad((g * g).sum(), [t])
    return y.numpy(), g.numpy(), gg.numpy()


@pytest.mark.parametrize("kernel,stride,padding", [(2, 2, 0), (3, 2, 1), (3, 1, 0), (17, 1, 8)])  # 17x17: uint16 routes
def test_pooling_loops_give_the_numpy_passes_numbers(kernel, stride, padding, monkeypatch):
    g = np.random.default_rng(kernel * 10 + stride)
    x = (g.integers(0, 4, (2, 3, 7, 6)) * 0.37 + 0.011).astype(np.float32)  # few values: many ties
    if kernel == 17:
        x = g.permutation(20 * 18).reshape(1, 1, 20, 18).astype(np.float32)  # the max far into the window
    x[0, 0, 1, 1] = np.nan  # a NaN wins its windows, as np.maximum and PyTorch have it
    with np.errstate(invalid="ignore"):
        ours = pooled(x, kernel, stride, padding, True, monkeypatch)
        theirs = pooled(x, kernel, stride, padding, False, monkeypatch)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    assert np.isnan(ours[0]).any()


@pytest.mark.parametrize("stride", [1, 2])
def test_col2im_adds_overlapping_windows_as_the_strided_adds_do(stride, monkeypatch):
    g = np.random.default_rng(0)
    x = cr.Tensor(g.standard_normal((2, 3, 6, 5)), requires_grad=True)  # float32: the sums' order shows
    w = cr.Tensor(g.standard_normal((4, 3, 3, 3)), requires_grad=True)
    grads = []
    for loops in (True, False):
        monkeypatch.setattr(kernels, "_available", loops)
        x.grad = w.grad = None
        (F.conv2d(x, w, stride=stride, padding=1) ** 2).sum().backward()
        grads.append(x.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])  # the same sums in the same order


def test_threads_at_once_get_their_own_numbers():
    # the loops release the GIL: four threads in them at once, each with its own arrays
    g = np.random.default_rng(1)
    xs = [g.standard_normal((8, 16, 12, 12)).astype(np.float32) for _ in range(4)]
    want = [x.reshape(8, 16, 6, 2, 6, 2).max(axis=(3, 5)) for x in xs]
    got: list = [None] * 4

    def work(i: int) -> None:
        for _ in range(20):
            got[i] = F.max_pool2d(cr.Tensor(xs[i]), 2).numpy()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_float16_and_integer_arrays_take_the_numpy_passes():
    assert kernels.usable(np.zeros(2, np.float32), np.zeros(2, np.float64))
    assert not kernels.usable(np.zeros(2, np.float16)) and not kernels.usable(np.zeros(2, np.int64))
    x = np.arange(16, dtype=np.float16).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(F.max_pool2d(cr.Tensor(x, dtype="float16"), 2).numpy()[0, 0], [[5, 7], [13, 15]])


@pytest.mark.parametrize("loops", [True, False], ids=["numba-loops", "numpy-passes"])
def test_windows_of_more_than_256_offsets_route_right(loops, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(kernels, "_available", loops)
    x = np.random.default_rng(3).permutation(20 * 18).reshape(1, 1, 20, 18).astype(np.float64)
    t = cr.Tensor(x, dtype="float64", requires_grad=True)
    F.max_pool2d(t, 17, 1, 8).sum().backward()  # 289 offsets: a uint8 route would wrap
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 17, 1, 8).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


def normed(x: np.ndarray, shape: int, affine: bool, loops: bool, monkeypatch) -> list[np.ndarray]:
    """layer_norm's output and the gradients of x, w and b for a fixed upstream gradient."""
    monkeypatch.setattr(kernels, "_available", loops)
    g = np.random.default_rng(7)
    t = cr.tensor(x, requires_grad=True)
    w = cr.tensor(g.standard_normal(shape).astype(x.dtype), requires_grad=True) if affine else None
    b = cr.tensor(g.standard_normal(shape).astype(x.dtype), requires_grad=True) if affine else None
    y = F.layer_norm(t, (shape,), w, b, eps=1e-5)
    y.backward(cr.tensor(g.standard_normal(x.shape).astype(x.dtype)))
    return [y.numpy()] + [a.grad.numpy() for a in (t, w, b) if a is not None]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,affine", [((4, 6, 128), True), ((3, 7), False), ((1, 1), True), ((5, 33), True)])
def test_layer_norm_loops_give_the_numpy_passes_numbers(dtype, shape, affine, monkeypatch):
    """Layer norm's rows as compiled loops (sums reassociated: the last bits may differ) against
    the NumPy passes, with and without w and b, widths 1 and odd; a row of inf or NaN gives NaN
    in both, and the rows beside it are untouched."""
    x = (np.random.default_rng(shape[-1]).standard_normal(shape) * 3 + 1).astype(dtype)
    if x.shape[0] > 2:
        x[1, 0], x[2, 1] = np.inf, np.nan
    with np.errstate(invalid="ignore", over="ignore"):
        ours = normed(x, shape[-1], affine, True, monkeypatch)
        theirs = normed(x, shape[-1], affine, False, monkeypatch)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10)  # NaN where the other has NaN


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 3, 15, 16, 17, 64, 128, 200])
@pytest.mark.parametrize("causal", [None, 0, 5])
def test_softmax_shift_is_the_numpy_passes(dtype, width, causal):
    """``softmax_shift`` (sixteen lanes a row, then the tail) against max, where and subtract: a
    NaN anywhere in a row, first, in a lane or in the tail, makes its shift NaN; a row of -inf is
    shifted by 0; the causal mask drawn by the loop is ``attention_bias``'s (from query qa); the
    saved shifts given back give the same bits."""
    from chainrule.ops.attention import attention_bias

    L = 6
    x = np.random.default_rng(width).standard_normal((2, L, width)).astype(dtype)
    x[0, 1, :] = -np.inf
    x[0, 2, 0] = np.nan
    x[1, 3, -1] = np.nan
    x[1, 4, width // 2] = np.nan
    x[1, 0, 0] = 50.0
    x[1, 5, width - 1] = 50.0  # the max last
    ref = x.copy()
    if causal is not None:  # a masked key's score is not read (a NaN there stays out, as in PyTorch's flash kernel)
        ref[..., attention_bias(np, None, True, (L, width), np.dtype(dtype), causal) != 0] = -np.inf
    m = ref.max(axis=-1, keepdims=True)
    m = np.where(m == -np.inf, dtype(0), m)
    with np.errstate(invalid="ignore"):
        want = ref - m
        got, shifts = kernels.softmax_shift(x, causal=causal)
    hidden = np.isneginf(ref) & np.isnan(want)  # a masked key in a NaN row: -inf from the loop, NaN from the passes
    want[hidden] = -np.inf
    np.testing.assert_array_equal(shifts, m)
    np.testing.assert_array_equal(got, want)
    again, same = kernels.softmax_shift(x, m=shifts, causal=causal, out=x)  # in place, the shifts given
    assert again.base is x or again is x
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(same, m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 3, 15, 16, 17, 64, 128, 200])
@pytest.mark.parametrize("causal", [None, 0, 5])
def test_softmax_exp_is_shift_exp_and_sums(dtype, width, causal):
    """``softmax_exp`` (the shift, exp and the row sums in one pass) against ``softmax_shift``,
    NumPy's exp and the row sums: the same shifts; exps within 3 units in the last place in
    float32 (Cephes' expf: 0 where NumPy's is subnormal), NumPy's own in float64; a masked key's
    exp 0, a row of -inf all 0 with 1 / sum 1, a NaN row NaN; in place, and again from the saved
    shifts, the same bits."""
    L = 6
    x = np.random.default_rng(width).standard_normal((2, L, width)).astype(dtype) * 20
    x[0, 1, :] = -np.inf
    x[0, 2, 0] = np.nan
    x[1, 0, 0] = 50.0
    shifted, m = kernels.softmax_shift(x, causal=causal)
    with np.errstate(invalid="ignore", under="ignore"):
        want = np.exp(shifted)
    z = want.sum(axis=-1, keepdims=True)
    e, shifts, iz = kernels.softmax_exp(x, causal=causal)
    assert e.dtype == shifts.dtype == iz.dtype == dtype
    np.testing.assert_array_equal(shifts, m)
    if dtype == np.float32:
        normal = want >= np.finfo(np.float32).tiny
        ulps = np.abs(e.view(np.int32).astype(np.int64) - want.view(np.int32))
        assert ulps[normal].max(initial=0) <= 3
        assert (e[~normal & ~np.isnan(want)] == 0).all()
    else:
        np.testing.assert_array_equal(e, want)
    np.testing.assert_array_equal(np.isnan(e), np.isnan(want))  # the NaN row's visible keys
    assert np.isnan(e[0, 2, 0]) and (e[0, 1] == 0).all() and iz[0, 1, 0] == 1
    np.testing.assert_allclose(iz, 1 / np.where(z == 0, 1, z), rtol=1e-6 if dtype == np.float32 else 1e-14)  # NaN rows NaN
    again, same, _ = kernels.softmax_exp(x, m=shifts, causal=causal, out=x)  # in place, the shifts given
    assert again.base is x or again is x
    np.testing.assert_array_equal(x, e)
    np.testing.assert_array_equal(same, m)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 7, 16, 33, 128])
def test_row_sums_dots_and_the_softmax_gradient_loops_are_numpys(dtype, width):
    g = np.random.default_rng(width)
    e, gp, b = (g.random((3, 4, width)).astype(dtype) for _ in range(3))
    e[1, 2] = 0  # a fully masked row: 1 / 1
    tol = 1e-6 if dtype == np.float32 else 1e-14
    z = e.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(kernels.inverse_row_sums(e), 1 / np.where(z == 0, 1, z), rtol=tol)
    np.testing.assert_allclose(kernels.row_dots(e, b[:, ::-1]), (e * b[:, ::-1]).sum(-1, keepdims=True), rtol=tol)
    c, f = z / 3, g.random((3, 4, 1)).astype(dtype)
    want = e * (gp - c) * f
    np.testing.assert_allclose(kernels.softmax_grad(e, gp, c, f, out=gp), want, rtol=tol, atol=tol)
    np.testing.assert_allclose(gp, want, rtol=tol, atol=tol)  # in place


@pytest.mark.parametrize("case", ["causal", "tiles", "mask", "dropout"])
def test_attention_with_the_loops_gives_the_numpy_passes_numbers(case, monkeypatch):
    """The blocks' softmax as loops against the NumPy passes (sums reassociated: the last bits
    may differ), in causal tiles, with a boolean mask and a fully masked row, with dropout."""
    g = np.random.default_rng(3)
    L = 64 if case == "tiles" else 40
    q, k, v = (g.standard_normal((2, 3, L, 8)).astype(np.float32) for _ in range(3))
    mask = None
    if case == "mask":
        mask = g.random((L, L)) > 0.3
        mask[5] = False  # a fully masked row: zeros, not NaN
    monkeypatch.setattr(attention, "_BLOCK", 2 * 3 * L * L // 2)  # two blocks
    runs = []
    for loops in (True, False):
        monkeypatch.setattr(kernels, "_available", loops)
        cr.manual_seed(0)
        ts = [cr.tensor(a, requires_grad=True) for a in (q, k, v)]
        out = F.scaled_dot_product_attention(*ts, attn_mask=mask, is_causal=case in ("causal", "tiles", "dropout"),
                                             dropout_p=0.3 if case == "dropout" else 0.0)  # fmt: skip
        (out * out).sum().backward()
        runs.append([out.numpy()] + [t.grad.numpy() for t in ts])
    for a, b in zip(*runs):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-5)  # a 0 that is a difference of rounded sums: 3e-6
    assert not np.isnan(runs[0][0]).any()


def batch_normed(x: np.ndarray, g: np.ndarray, affine: bool, loops: bool, monkeypatch) -> list[np.ndarray]:
    """BatchNorm's output, running statistics and the gradients of x, w and b in training."""
    monkeypatch.setattr(kernels, "_available", loops)
    bn = cr.nn.BatchNorm2d(x.shape[1], affine=affine, dtype=x.dtype) if x.ndim == 4 else cr.nn.BatchNorm1d(
        x.shape[1], affine=affine, dtype=x.dtype)
    if affine:
        r = np.random.default_rng(1)
        bn.weight.data[...] = r.standard_normal(x.shape[1])
        bn.bias.data[...] = r.standard_normal(x.shape[1])
    t = cr.tensor(x, requires_grad=True)
    y = bn(t)
    y.backward(cr.tensor(g))
    return [y.numpy(), np.asarray(bn.running_mean).copy(), np.asarray(bn.running_var).copy(), t.grad.numpy()] + (
        [bn.weight.grad.numpy(), bn.bias.grad.numpy()] if affine else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["conv output", "grad in rows", "1d", "one row"])
def test_batch_norm_loops_give_the_numpy_passes_numbers(dtype, case, monkeypatch):
    """Batch norm over channels-last memory (a convolution's output) as compiled loops, float64
    sums, against the NumPy passes: outputs, running statistics and gradients; an upstream
    gradient in the other layout; BatchNorm1d's (N, C); a channel of one value a batch."""
    r = np.random.default_rng(0)
    shape = {"conv output": (6, 5, 7, 3), "grad in rows": (4, 3, 5, 5), "1d": (33, 17), "one row": (2, 3, 1, 1)}[case]
    x = (r.standard_normal(shape) * 3 + 2).astype(dtype)
    if x.ndim == 4:
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)  # channels-last memory
        assert kernels.channels_last(x) is not None
    g = r.standard_normal(x.shape).astype(dtype)
    if case == "conv output":
        g = np.ascontiguousarray(g.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    for affine in (True, False):
        ours = batch_normed(x, g, affine, True, monkeypatch)
        theirs = batch_normed(x, g, affine, False, monkeypatch)
        tol = 2e-5 if dtype == np.float32 else 1e-12
        for a, b in zip(ours, theirs):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    if x.ndim == 4:
        assert kernels.channels_last(batch_normed(x, g, True, True, monkeypatch)[0]) is not None  # the layout kept


def lstm_run(x: np.ndarray, loops: bool, monkeypatch) -> list[np.ndarray]:
    monkeypatch.setattr(kernels, "_available", loops)
    cr.manual_seed(0)
    lstm = cr.nn.LSTM(x.shape[-1], 24, batch_first=True, dtype=x.dtype)
    t = cr.tensor(x, requires_grad=True)
    out, (h, c) = lstm(t)
    ((out * out).sum() + (c * 3).sum() + h.sum()).backward()
    return [out.numpy(), h.numpy(), c.numpy(), t.grad.numpy()] + [p.grad.numpy() for p in lstm.parameters()]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_cell_loops_give_the_numpy_passes_numbers(dtype, monkeypatch):
    """An LSTM's steps as compiled loops (float32: Eigen's rational tanh, and sigmoid through it;
    float64: the backward only) against the NumPy passes, saturated gates included."""
    x = np.random.default_rng(2).standard_normal((3, 9, 5)).astype(dtype) * 4  # gates out to +-20
    ours, theirs = lstm_run(x, True, monkeypatch), lstm_run(x, False, monkeypatch)
    tol = 2e-6 if dtype == np.float32 else 1e-13
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol * 5, atol=tol)


def test_the_rational_tanh_and_sigmoid_of_the_lstm_loop():
    """kernels.lstm_cells' tanh within 6 float32 units in the last place of tanh everywhere, its
    sigmoid within 3e-7 of the true one, NaN kept, the limits exact."""
    x = np.concatenate([np.linspace(-30, 30, 200_001), [np.inf, -np.inf, np.nan, 0.0, 1e-30]]).astype(np.float32)
    n = x.size
    rec = np.zeros((n, 4), np.float32)
    a = np.stack([x, x, x, x], axis=1)  # i, f, g, o of one cell each row
    with np.errstate(invalid="ignore"):
        a, *_ = kernels.lstm_cells(a, rec, np.zeros((n, 1), np.float32))
    x64 = x.astype(np.float64)
    want_tanh, want_sig = np.tanh(x64), 1 / (1 + np.exp(-x64))
    ok = ~np.isnan(x)
    ulps = np.abs(a[ok, 2] - want_tanh[ok]) / np.spacing(np.abs(want_tanh[ok]).astype(np.float32))
    assert ulps.max() <= 6
    assert np.abs(a[ok, 0] - want_sig[ok]).max() <= 3e-7
    assert np.isnan(a[~ok]).all()
    assert a[-5:-3, 2].tolist() == [1.0, -1.0] and a[-5:-3, 0].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("layer", ["layer norm", "lstm", "batch norm", "cross entropy"])
def test_the_loops_replay_in_a_compiled_step(layer):
    """A compiled step whose trace records the loops (each one operation of its tape) gives the
    eager step's loss and gradients, replay after replay."""
    cr.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((4, 5, 16)).astype(np.float32)
    if layer == "layer norm":
        mod, call, weight = cr.nn.LayerNorm(16), None, "weight"
    elif layer == "lstm":
        mod, weight = cr.nn.LSTM(16, 12, batch_first=True), "weight_hh_l0"
        call = lambda x: mod(x)[0]  # noqa: E731
    elif layer == "cross entropy":
        mod, weight = cr.nn.Linear(16, 7), "weight"
        labels = cr.tensor(np.arange(20) % 7)
        call = lambda x: F.cross_entropy(mod(x.reshape(20, 16)), labels)  # noqa: E731
    else:  # after a convolution: channels-last memory
        conv = cr.nn.Conv2d(4, 6, 3, padding=1)
        mod, weight = cr.nn.BatchNorm2d(6), "weight"
        call = lambda x: mod(conv(x.reshape(4, 4, 4, 5)))  # noqa: E731
    call = call or mod

    def step(x):
        mod.zero_grad()
        out = (call(x) ** 2).sum()
        out.backward()
        return out

    eager = step(x).item(), getattr(mod, weight).grad.numpy().copy()
    compiled = cr.compile(step)
    for _ in range(3):
        got = compiled(x).item(), getattr(mod, weight).grad.numpy().copy()
    np.testing.assert_allclose(got[0], eager[0], rtol=1e-5)
    np.testing.assert_allclose(got[1], eager[1], rtol=1e-4, atol=1e-5)


def cross_entropies(s: np.ndarray, y: np.ndarray, loops: bool, monkeypatch, **kw) -> tuple:
    monkeypatch.setattr(kernels, "_available", loops)
    t = cr.Tensor(s, requires_grad=True)
    loss = F.cross_entropy(t, cr.tensor(y), **kw)
    loss.backward(cr.tensor(np.linspace(0.5, 2, loss.numel(), dtype=np.float32).reshape(loss.shape)))
    return loss.numpy(), t.grad.numpy()


@pytest.mark.parametrize("kw", [{}, {"reduction": "sum"}, {"reduction": "none"}, {"ignore_index": 3},
                                {"reduction": "none", "ignore_index": 3}])
def test_cross_entropy_loops_give_the_passes_numbers(kw, monkeypatch):
    """The fused cross-entropy as compiled loops (float32: log-sum-exp a row, then exp(s - lse)
    less one at the label back) against the log-softmax and softmax passes, every reduction and
    ignored rows; a row with NaN, +inf or only -inf gives NaN in both, the others untouched."""
    g = np.random.default_rng(5)
    s = (g.standard_normal((40, 65)) * 4).astype(np.float32)
    s[1, 7], s[2, 0], s[3] = np.nan, np.inf, -np.inf
    y = g.integers(0, 65, 40)
    y[:6] = 3  # ignored with ignore_index=3, NaN rows among them
    with np.errstate(invalid="ignore"):
        ours = cross_entropies(s, y, True, monkeypatch, **kw)
        theirs = cross_entropies(s, y, False, monkeypatch, **kw)
    for a, b in zip(ours, theirs):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-7)  # NaN where the other has NaN
    if kw.get("reduction") == "none":
        assert np.isnan(ours[0][1:4]).all() != ("ignore_index" in kw)


def test_cross_entropy_loop_refuses_labels_outside_the_classes():
    with pytest.raises(IndexError, match=r"cross_entropy: 2 label\(s\) outside 0..3 for 4 classes"):
        kernels.cross_entropy(np.zeros((3, 4), np.float32), np.array([0, 4, -1]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_rows_added_by_the_loop_are_the_sorted_sums(dtype, monkeypatch):
    """An embedding's gradient (``IndexAdd``: rows picked again and again, negative indices,
    rows of (2, 3)) from the compiled loop and from the sorted sums; an index past the rows
    raises before anything is added."""
    from chainrule.ops.shape import _rows_added

    g = np.random.default_rng(6)
    index = g.integers(-7, 7, (9, 11))
    rows = g.standard_normal((9, 11, 2, 3)).astype(dtype)
    ours = _rows_added(rows, index, (7, 2, 3))
    monkeypatch.setattr(kernels, "_available", False)
    theirs = _rows_added(rows, index, (7, 2, 3))
    assert ours.dtype == theirs.dtype == dtype
    np.testing.assert_allclose(ours, theirs, rtol=1e-5 if dtype == np.float32 else 1e-13, atol=1e-6)
    out = np.zeros((3, 2), dtype)
    with pytest.raises(IndexError, match=r"add_rows: an index outside -3..2 for 3 rows"):
        kernels.add_rows(out, np.array([0, 3]), np.ones((2, 2), dtype))
    assert not out.any()


def _float32_loop_calls() -> dict:
    """Each loop that runs float32 arrays, with float32 arguments of a small case."""
    f = np.float32
    x, g = np.ones((3, 8), f), np.ones((3, 8), f)
    row, col = np.ones(3, f), np.ones(8, f)
    a4 = np.full((3, 8), 0.5, f)  # an LSTM's four gates of two cells, 3 rows
    cells = np.ones((3, 2), f)
    return {
        "layer_norm": (x, col, col, f(1e-5), np.empty_like(x), np.empty((3, 1), f), np.empty((3, 1), f)),
        "layer_norm_backward": (x, col, row, row, g, np.empty_like(x), col.copy(), col.copy(), True),
        "row_dots": (x, g, row.copy()),
        "inverse_row_sums": (x, row.copy()),
        "softmax_grad": (x, g, row, row, np.empty_like(x), False),
        "cross_entropy": (x, np.zeros(3, np.intp), row.copy(), row.copy()),
        "cross_entropy_grad": (x, row, np.zeros(3, np.intp), np.empty_like(x)),
        "add_rows": (x.copy(), np.zeros(3, np.intp), g),
        "adam": (col.copy(), col, col.copy(), col.copy(), *[f(0.5)] * 9, 1, False),
        "lstm_cells": (a4.copy(), a4, cells, *(np.empty_like(cells) for _ in range(3)), kernels._TANH_P,
                       kernels._TANH_Q),
        "lstm_cells_backward": (a4, cells, cells, cells, cells, cells.copy(), np.empty_like(a4)),
    }


@pytest.mark.parametrize("name", list(_float32_loop_calls()))
def test_float32_loops_do_their_math_in_float32(name):
    """A float32 loop's compiled code has no float64 arithmetic: a Python int in the math (``s /
    n``, ``1 - t * t``) makes Numba widen to float64, which halves the vector width and converts
    each element twice; layer norm's forward ran 2.3x slower so."""
    import numba

    kernels._compiled()  # the helpers the loops call (``_exp32``) compiled first
    loop = numba.njit(error_model="numpy", fastmath={"reassoc", "contract"})(getattr(kernels, "_" + name))
    loop(*_float32_loop_calls()[name])  # compiled fresh (not from the cache, whose code can't be read)
    ir = loop.inspect_llvm(loop.signatures[0])
    math = re.compile(r"= (fpext float|(fadd|fsub|fmul|fdiv|call)[a-z ]* double)")  # not the wrapper's unboxing
    widened = [line.strip() for line in ir.splitlines() if math.search(line) and "PyFloat" not in line]
    assert widened == [], f"{name}: float64 math in the float32 loop, e.g. {widened[:3]}"

"""Every layer function, activation, loss and penalty, as data through the oracle helper.

Each row runs chainrule's float64 gradcheck, then compares forward values, input and
parameter gradients, and second-order gradients with PyTorch.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, torch

import chainrule as cr
from chainrule.nn import functional as F

rng = np.random.default_rng(7)


def r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def distinct(*shape: int) -> np.ndarray:
    """Values with no ties (max pooling's router is then unambiguous)."""
    return rng.permutation(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape) / 7.0


def tF(name: str):
    """Late lookup of torch.nn.functional.<name>, so collecting needs no torch."""
    return lambda *a, **k: getattr(torch.nn.functional, name)(*a, **k)


CASES: list = []


def case(name, ours, theirs, *inputs, kink=False, double=True):
    CASES.append(pytest.param(ours, theirs, inputs, kink, double, id=name))


LABELS = np.array([2, 0, 1, 2])


def tl(y):
    return torch.from_numpy(y)


# -- layers -------------------------------------------------------------------------------
case("linear", F.linear, tF("linear"), r(4, 3), r(5, 3), r(5))
case("linear-nobias", lambda x, w: F.linear(x, w), tF("linear"), r(2, 3), r(5, 3))
case("linear-1d", F.linear, tF("linear"), r(3), r(2, 3), r(2))
case("linear-3d", F.linear, tF("linear"), r(2, 4, 3), r(5, 3), r(5))  # leading axes: rows, inside the gate
case("linear-4d-nobias", lambda x, w: F.linear(x, w), tF("linear"), r(2, 1, 4, 3), r(5, 3))
for stride, padding, ksize in [(1, 0, (3, 3)), (1, 1, (3, 3)), (2, 1, (3, 3)), (2, 0, (2, 3)), (1, 2, (1, 1))]:
    name = f"conv2d-s{stride}-p{padding}-k{ksize[0]}x{ksize[1]}"
    case(
        name,
        lambda x, w, b, s=stride, p=padding: F.conv2d(x, w, b, s, p),
        lambda x, w, b, s=stride, p=padding: torch.nn.functional.conv2d(x, w, b, s, p),
        r(2, 3, 6, 5),
        r(4, 3, *ksize),
        r(4),
    )
case("conv2d-nobias", lambda x, w: F.conv2d(x, w), tF("conv2d"), r(1, 2, 4, 4), r(3, 2, 3, 3))
case("conv2d-after-conv", lambda x, w1, w2: F.conv2d(F.conv2d(x, w1, padding=1), w2),
     lambda x, w1, w2: torch.nn.functional.conv2d(torch.nn.functional.conv2d(x, w1, padding=1), w2),
     r(2, 2, 5, 5), r(3, 2, 3, 3), r(2, 3, 3, 3))  # fmt: skip
case("max_pool2d-2", lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2), distinct(2, 3, 4, 6))
case("max_pool2d-3s2p1", lambda x: F.max_pool2d(x, 3, 2, 1), lambda x: torch.nn.functional.max_pool2d(x, 3, 2, 1),
     distinct(1, 2, 5, 5))  # fmt: skip
case("avg_pool2d-2", lambda x: F.avg_pool2d(x, 2), lambda x: torch.nn.functional.avg_pool2d(x, 2), r(2, 3, 4, 4))
case("avg_pool2d-3s1p1", lambda x: F.avg_pool2d(x, 3, 1, 1), lambda x: torch.nn.functional.avg_pool2d(x, 3, 1, 1),
     r(1, 2, 4, 3))  # fmt: skip
for shape in [(5, 3), (4, 3, 2), (3, 3, 2, 2)]:
    case(
        f"batch_norm-train-{len(shape)}d",
        lambda x, w, b: F.batch_norm(x, np.zeros(3), np.ones(3), w, b, training=True),
        lambda x, w, b: torch.nn.functional.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype), w, b, training=True),
        r(*shape, scale=2.0) + 1,
        r(3),
        r(3),
    )
case("batch_norm-train-no-affine", lambda x: F.batch_norm(x, np.zeros(3), np.ones(3), training=True),
     lambda x: torch.nn.functional.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype),
                                              training=True),
     r(2, 3, 3, 2, scale=2.0) - 1)  # fmt: skip
case("batch_norm-train-weight-only", lambda x, w: F.batch_norm(x, np.zeros(3), np.ones(3), w, training=True),
     lambda x, w: torch.nn.functional.batch_norm(x, torch.zeros(3, dtype=x.dtype), torch.ones(3, dtype=x.dtype), w,
                                                 training=True),
     r(4, 3, 2), r(3))  # fmt: skip
EVAL_MEAN, EVAL_VAR = r(3), np.abs(r(3)) + 0.5
case(
    "batch_norm-eval",
    lambda x, w, b: F.batch_norm(x, EVAL_MEAN, EVAL_VAR, w, b, training=False),
    lambda x, w, b: torch.nn.functional.batch_norm(x, torch.tensor(EVAL_MEAN), torch.tensor(EVAL_VAR), w, b),
    r(4, 3, 2, 2), r(3), r(3),
)  # fmt: skip
case("layer_norm", lambda x, w, b: F.layer_norm(x, (4,), w, b), lambda x, w, b: torch.nn.functional.layer_norm(x, (4,), w, b),
     r(3, 4), r(4), r(4))  # fmt: skip
case("layer_norm-4096-entries", lambda x, w, b: F.layer_norm(x, (64,), w, b),
     lambda x, w, b: torch.nn.functional.layer_norm(x, (64,), w, b), r(8, 8, 64), r(64), r(64))  # the einsum path
case("layer_norm-2axes", lambda x: F.layer_norm(x, (2, 3)), lambda x: torch.nn.functional.layer_norm(x, (2, 3)), r(2, 2, 3))
IDX = np.array([[0, 2], [2, 2]])
case("embedding-repeats", lambda w: F.embedding(IDX, w), lambda w: torch.nn.functional.embedding(tl(IDX), w), r(3, 4))
MANY = np.random.default_rng(3).integers(0, 5, (8, 12))  # 96 lookups of 5 rows: the sorted scatter-add
case("embedding-many-repeats", lambda w: F.embedding(MANY, w), lambda w: torch.nn.functional.embedding(tl(MANY), w),
     r(5, 3))

# -- activations ----------------------------------------------------------------------------
KINKED = np.array([-1.5, -0.2, 0.0, 0.3, 2.0])
case("leaky_relu", lambda x: F.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1), r(3, 4))
case("leaky_relu-at-0", lambda x: F.leaky_relu(x, 0.1), lambda x: torch.nn.functional.leaky_relu(x, 0.1), KINKED, kink=True)
case("gelu", F.gelu, tF("gelu"), r(3, 4, scale=2.0))
case("gelu-tanh", lambda x: F.gelu(x, "tanh"), lambda x: torch.nn.functional.gelu(x, approximate="tanh"), r(3, 4, scale=2.0))
case("softplus", F.softplus, tF("softplus"), np.array([-30.0, -2.0, 0.0, 0.5, 30.0]))
case("erf", cr.erf, lambda x: torch.erf(x), r(2, 3))
case("erf-scalar", cr.erf, lambda x: torch.erf(x), np.array(0.3))
case("softplus-scalar", F.softplus, tF("softplus"), np.array(-0.7))

# -- losses ---------------------------------------------------------------------------------
K = 3
# torch has no second derivative for multi_margin_loss (it is 0 almost everywhere): double=False
case("svm_loss", lambda s: F.svm_loss(s, LABELS), lambda s: K * torch.nn.functional.multi_margin_loss(s, tl(LABELS)), r(4, 3),
     double=False)  # fmt: skip
case("svm_loss-sum-delta2", lambda s: F.svm_loss(s, LABELS, 2.0, "sum"),
     lambda s: K * torch.nn.functional.multi_margin_loss(s, tl(LABELS), margin=2.0, reduction="sum"), r(4, 3), double=False)  # fmt: skip
# margins of exactly 0: s_j - s_{y_i} + 1 = 0 for j = 1 in every row (the hinge's kink)
AT_KINK = np.array([[0.0, -1.0, 0.5], [2.0, 1.0, 3.0]])
case("svm_loss-at-kink", lambda s: F.svm_loss(s, np.array([0, 0])),
     lambda s: K * torch.nn.functional.multi_margin_loss(s, tl(np.array([0, 0]))), AT_KINK, kink=True, double=False)  # fmt: skip
case("cross_entropy", lambda s: F.cross_entropy(s, LABELS), lambda s: torch.nn.functional.cross_entropy(s, tl(LABELS)), r(4, 3))
case("cross_entropy-large", lambda s: F.cross_entropy(s, LABELS, "sum"),
     lambda s: torch.nn.functional.cross_entropy(s, tl(LABELS), reduction="sum"), r(4, 3, scale=20.0))  # fmt: skip
case("nll_loss", lambda s: F.nll_loss(s, LABELS), lambda s: torch.nn.functional.nll_loss(s, tl(LABELS)), r(4, 3))
case("mse_loss", F.mse_loss, tF("mse_loss"), r(3, 2), r(3, 2))
case("mse_loss-0d", F.mse_loss, tF("mse_loss"), np.array(1.5), np.array(-0.5))
case("bce_with_logits", F.binary_cross_entropy_with_logits, tF("binary_cross_entropy_with_logits"),
     np.array([-40.0, -1.0, 0.0, 2.0, 40.0]), rng.uniform(0, 1, 5))  # fmt: skip
case("bce_with_logits-none", lambda z, t: F.binary_cross_entropy_with_logits(z, t, "none"),
     lambda z, t: torch.nn.functional.binary_cross_entropy_with_logits(z, t, reduction="none"), r(2, 3), rng.uniform(0, 1, (2, 3)))  # fmt: skip
case("l2_penalty", lambda w, b: F.l2_penalty([w, b]), lambda w, b: (w * w).sum(), r(3, 2), r(2))
case("l1_penalty", lambda w: F.l1_penalty([w]), lambda w: w.abs().sum(), r(3, 2) + 0.1 * np.sign(r(3, 2)))


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_function_against_torch_and_gradcheck(ours, theirs, inputs, kink, double):
    check_op(ours, theirs, *inputs, kink=kink, double=double)

@pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed on the device
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_function_compiled_replays_eager(ours, theirs, inputs, kink, double, device, request):
    if device != "cpu" and request.node.callspec.id.startswith("batch_norm"):
        pytest.skip("its running statistics are host arrays: beside device inputs, an error (BatchNorm's buffers move)")
    checks = request.node.callspec.id.startswith(("embedding", "svm_loss", "cross_entropy", "nll_loss"))
    check_compiled(ours, *inputs, device=device, syncs=1 if checks else 0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", CASES)
def test_function_on_each_device(ours, theirs, inputs, kink, double, device, request):
    if device != "cpu" and request.node.callspec.id.startswith("batch_norm"):
        pytest.skip("its running statistics are host arrays: beside device inputs, an error (BatchNorm's buffers move)")
    # the losses' label checks and embedding's index check read one value back: on a GPU, one wait
    checks = request.node.callspec.id.startswith(("embedding", "svm_loss", "cross_entropy", "nll_loss"))
    check_on_device(ours, device, *inputs, double=double, syncs=1 if checks else 0)


WINDOWED = [c for c in CASES if c.id.startswith(("conv2d", "max_pool2d", "avg_pool2d"))]


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", WINDOWED)
def test_window_functions_without_the_compiled_loops(ours, theirs, inputs, kink, double, monkeypatch):
    # pooling's routes and col2im run as Numba loops where Numba is installed, else as NumPy
    # passes (CuPy, a trace): the same rows again on the NumPy passes
    from chainrule.ops import kernels

    monkeypatch.setattr(kernels, "_available", False)
    check_op(ours, theirs, *inputs, kink=kink, double=double)



def test_svm_loss_is_the_lectures_number():
    # the course's three-image example: losses 2.9, 0 and 12.9, average 5.27
    scores = cr.Tensor([[3.2, 5.1, -1.7], [1.3, 4.9, 2.0], [2.2, 2.5, -3.1]], dtype="float64")
    per_image = F.svm_loss(scores, [0, 1, 2], reduction="none")
    np.testing.assert_allclose(per_image.numpy(), [2.9, 0.0, 12.9], atol=1e-12)
    assert round(F.svm_loss(scores, [0, 1, 2]).item(), 2) == 5.27


def test_cross_entropy_does_not_overflow():
    s = cr.Tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    loss = F.cross_entropy(s, [1])
    loss.backward()
    assert loss.item() == pytest.approx(1000.0)
    np.testing.assert_allclose(s.grad.numpy(), [[1.0, -1.0, 0.0]], atol=1e-6)


def test_batch_norm_running_statistics_match_torch():
    x = r(8, 3, 2, 2) * 3 + 1
    rm, rv = np.zeros(3), np.ones(3)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        F.batch_norm(cr.Tensor(x, dtype="float64"), rm, rv, training=True, momentum=0.2)
        torch.nn.functional.batch_norm(torch.tensor(x), trm, trv, training=True, momentum=0.2)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-12)


def test_dropout_is_inverted_and_seeded():
    x = cr.Tensor(np.ones((200, 50)), requires_grad=True)
    cr.manual_seed(0)
    y = F.dropout(x, 0.3)
    kept = y.numpy() != 0
    assert 0.65 < kept.mean() < 0.75
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)  # scaled at training time
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)  # the gradient follows the mask
    cr.manual_seed(0)
    assert np.array_equal(F.dropout(x, 0.3).numpy(), y.numpy())
    assert F.dropout(x, 0.3, training=False) is x


def test_gelu_without_scipy_matches(monkeypatch):
    import sys

    x = r(5)
    with_scipy = F.gelu(cr.Tensor(x, dtype="float64")).numpy()
    monkeypatch.setitem(sys.modules, "scipy.special", None)  # makes the import fail
    np.testing.assert_allclose(F.gelu(cr.Tensor(x, dtype="float64")).numpy(), with_scipy, rtol=1e-14)


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: F.conv2d(cr.Tensor(np.zeros((1, 3, 4, 4))), cr.Tensor(np.zeros((2, 2, 3, 3)))), ["conv2d", "(1, 3, 4, 4)", "(2, 2, 3, 3)"]),
        (lambda: F.conv2d(cr.Tensor(np.zeros((1, 1, 2, 2))), cr.Tensor(np.zeros((1, 1, 3, 3)))), ["conv2d", "smaller than the kernel"]),
        (lambda: F.conv2d(cr.Tensor(np.zeros((1, 1, 4, 4))), cr.Tensor(np.zeros((1, 1, 3, 3))), stride=0), ["conv2d", "stride=0"]),
        (lambda: F.max_pool2d(cr.Tensor(np.zeros((2, 4))), 2), ["max_pool2d", "(2, 4)", "4 axes"]),
        (lambda: F.linear(cr.Tensor(np.zeros((2, 4))), cr.Tensor(np.zeros((3, 5)))), ["linear", "(2, 4)", "(3, 5)"]),
        (lambda: F.cross_entropy(cr.Tensor(np.zeros((2, 3))), [0, 3]), ["cross_entropy", "[0, 3]", "0..2"]),
        (lambda: F.svm_loss(cr.Tensor(np.zeros((2, 3))), [0]), ["svm_loss", "(2, 3)", "(1,)"]),
        (lambda: F.svm_loss(cr.Tensor(np.zeros((2, 3))), [0.0, 1.0]), ["svm_loss", "float64", "integers"]),
        (lambda: F.mse_loss(cr.Tensor(np.zeros(2)), cr.Tensor(np.zeros(3))), ["mse_loss", "(2,)", "(3,)"]),
        (lambda: F.embedding([5], cr.Tensor(np.zeros((3, 2)))), ["embedding", "[5, 5]", "< 3"]),
        (lambda: F.dropout(cr.Tensor([1.0]), 1.0), ["dropout", "p=1.0"]),
        (lambda: F.batch_norm(cr.Tensor(np.zeros((2, 4))), np.zeros(3), np.ones(3)), ["batch_norm", "(2, 4)", "(N, 3)"]),
        (lambda: F.layer_norm(cr.Tensor(np.zeros((2, 4))), (3,)), ["layer_norm", "(2, 4)", "(3,)"]),
        (lambda: F.gelu(cr.Tensor([1.0]), "fast"), ["gelu", "'fast'"]),
        (lambda: F.cross_entropy(cr.Tensor(np.zeros((1, 2))), [0], "avg"), ["cross_entropy", "'avg'"]),
    ],
)
def test_bad_input_names_the_function_and_values(call, words):
    with pytest.raises((ValueError, TypeError, IndexError)) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_convolution_in_batch_slices_matches(monkeypatch):
    # the fused convolution makes its windows a slice of the batch at a time; force several
    # slices (one example each) and check forward, gradients and second order again
    from chainrule.ops.window import Convolution

    monkeypatch.setattr(Convolution, "CHUNK", 1)
    check_op(lambda x, w, b: F.conv2d(x, w, b, 2, 1), lambda x, w, b: torch.nn.functional.conv2d(x, w, b, 2, 1),
             r(3, 2, 5, 4), r(3, 2, 3, 3), r(3))  # fmt: skip


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_convolution_window_copies_in_the_scratch_buffer_give_unfolds_numbers(stride, padding, monkeypatch):
    # eager convolutions copy their windows (and the backward's products) into one buffer per
    # thread, reused slice after slice; Unfold and plain products must give the same numbers,
    # for float32 then float64 in the same thread (the buffer changes dtype)
    from chainrule.ops import window

    monkeypatch.setattr(window.Convolution, "CHUNK", 300)  # several batch slices, each reusing the buffer
    g = np.random.default_rng(stride)
    runs = []
    for scratch in (True, False):
        if not scratch:
            monkeypatch.setattr(window, "_columns", lambda x, kernel, stride: window.call(window.Unfold, x, kernel=kernel, stride=stride))
            monkeypatch.setattr(window, "_product", lambda a, b: a @ b)
        for dtype in (np.float32, np.float64):
            x, w, b = (cr.Tensor(g.standard_normal(s).astype(dtype), requires_grad=True)
                       for s in ((5, 3, 9, 8), (4, 3, 3, 3), (4,)))  # fmt: skip
            out = F.conv2d(x, w, b, stride, padding)
            (out * out).sum().backward()
            runs.append([out.numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()])
        g = np.random.default_rng(stride)  # the same inputs for the second pass
    for ours, theirs in zip(runs[:2], runs[2:]):
        for a, t in zip(ours, theirs):
            np.testing.assert_array_equal(a, t)


@pytest.mark.parametrize("loops", [True, False], ids=["numba-loops", "numpy-passes"])
def test_max_pool_ties_go_to_the_first_maximum(loops, monkeypatch):
    from chainrule.ops import kernels

    if not loops:
        monkeypatch.setattr(kernels, "_available", False)
    x = cr.Tensor(np.array([[[[1.0, 3.0], [3.0, 3.0]]]]), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0.0, 1.0], [0.0, 0.0]])  # as PyTorch routes it
    tx = torch.tensor(x.numpy(), requires_grad=True)
    torch.nn.functional.max_pool2d(tx, 2).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), x.grad.numpy())

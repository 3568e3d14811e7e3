"""PyTorch's losses, function and module, as data through the oracle helper.

Each row runs chainrule's float64 gradcheck, then compares forward values, input gradients
(targets' too where PyTorch differentiates them) and second-order gradients with PyTorch; the
same rows run compiled and on each device. Rows cover every reduction, class weights,
ignore_index (all ignored: NaN, as PyTorch), label smoothing, probability targets, (N, C, d1, d2)
inputs, 0-d and one-element shapes, and the kinks (at a kink, only the comparison with PyTorch).
Then the modules: each equals its function and PyTorch's module, keeps PyTorch's state_dict
keys, prints its arguments, and refuses bad input naming the loss and the shapes.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, torch

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

# PyTorch's kl_div warns that its 'mean' will change: the rows compare that 'mean' on purpose
pytestmark = pytest.mark.filterwarnings("ignore:reduction. 'mean' divides the total loss:UserWarning")

rng = np.random.default_rng(26)


def r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def u(*shape: int, low: float = 0.05, high: float = 0.75) -> np.ndarray:
    """Probabilities away from 0 and 1 (a compiled replay scales inputs by up to 1.25: still below 1)."""
    return rng.uniform(low, high, shape)


def probs(*shape: int, axis: int = 1) -> np.ndarray:
    e = np.exp(r(*shape))
    return e / e.sum(axis=axis, keepdims=True)


def tF(name: str, **kw):
    """Late lookup of torch.nn.functional.<name>; NumPy keyword arguments (weights) become tensors
    at the call, so collecting needs no torch."""
    return lambda *a: getattr(torch.nn.functional, name)(*a, **{k: tt(v) if isinstance(v, np.ndarray) else v
                                                                for k, v in kw.items()})  # fmt: skip


def ours(name: str, **kw):
    return lambda *a: getattr(F, name)(*a, **kw)


def tt(a: np.ndarray):
    return torch.from_numpy(np.asarray(a).copy())


CASES: list = []


def case(name, ours_fn, theirs_fn, *inputs, kink=False, double=True):
    CASES.append(pytest.param(ours_fn, theirs_fn, inputs, kink, double, id=name))


def labelled(name, fn, labels, scores, kink=False, double=True, **kw):
    """A row for a loss of (scores, class indices): the labels are a constant of the row."""
    theirs_kw = {k: tt(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    case(name, lambda s: getattr(F, fn)(s, labels, **kw),
         lambda s: getattr(torch.nn.functional, fn)(s, tt(labels), **theirs_kw), scores, kink=kink, double=double)  # fmt: skip


Y = np.array([2, 0, 1, 2])
Y_IGNORED = np.array([2, -100, 1, -100])
Y_ALL_IGNORED = np.array([-100, -100, -100, -100])
W = np.array([0.2, 1.5, 0.7])
Y4 = rng.integers(0, 3, (2, 4, 5))
Y4[0, 1, :2] = -100
Y3 = np.array([[0, 2, 1], [1, 1, -100]])

# -- cross_entropy: class indices ------------------------------------------------------------
for red in ("mean", "sum", "none"):
    labelled(f"cross_entropy-{red}", "cross_entropy", Y, r(4, 3), reduction=red)
    labelled(f"cross_entropy-weight-{red}", "cross_entropy", Y, r(4, 3), weight=W, reduction=red)
    labelled(f"cross_entropy-ignore-{red}", "cross_entropy", Y_IGNORED, r(4, 3), reduction=red)
    labelled(f"cross_entropy-smoothing-{red}", "cross_entropy", Y_IGNORED, r(4, 3), label_smoothing=0.2, reduction=red)
    labelled(f"cross_entropy-4d-{red}", "cross_entropy", Y4, r(2, 3, 4, 5), reduction=red)
    labelled(f"cross_entropy-unbatched-{red}", "cross_entropy", np.array(1), r(3), reduction=red)
labelled("cross_entropy-ignore-class-1", "cross_entropy", Y, r(4, 3), ignore_index=1)
labelled("cross_entropy-weight-ignore", "cross_entropy", Y_IGNORED, r(4, 3), weight=W, ignore_index=-100)
labelled("cross_entropy-weight-ignore-smoothing", "cross_entropy", Y_IGNORED, r(4, 3), weight=W, label_smoothing=0.1)
labelled("cross_entropy-weight-smoothing-none", "cross_entropy", Y, r(4, 3), weight=W, label_smoothing=0.3,
         reduction="none")  # fmt: skip
labelled("cross_entropy-smoothing-1", "cross_entropy", Y, r(4, 3), label_smoothing=1.0)
labelled("cross_entropy-4d-weight-smoothing", "cross_entropy", Y4, r(2, 3, 4, 5), weight=W, label_smoothing=0.2)
labelled("cross_entropy-3d", "cross_entropy", Y3, r(2, 3, 3))
labelled("cross_entropy-3d-weight-sum", "cross_entropy", Y3, r(2, 3, 3), weight=W, reduction="sum")
labelled("cross_entropy-unbatched-weight-smoothing", "cross_entropy", np.array(2), r(3), weight=W, label_smoothing=0.1)
labelled("cross_entropy-one-class", "cross_entropy", np.array([0]), r(1, 1))
labelled("cross_entropy-large", "cross_entropy", Y, r(4, 3, scale=30.0), reduction="sum")
# every target ignored: the mean is 0/0, NaN in both (the gradient 0); no finite difference there
labelled("cross_entropy-all-ignored", "cross_entropy", Y_ALL_IGNORED, r(4, 3), kink=True)
labelled("cross_entropy-all-ignored-weight", "cross_entropy", Y_ALL_IGNORED, r(4, 3), weight=W, kink=True)
labelled("cross_entropy-all-ignored-smoothing", "cross_entropy", Y_ALL_IGNORED, r(4, 3), label_smoothing=0.2, kink=True)
labelled("cross_entropy-all-ignored-sum", "cross_entropy", Y_ALL_IGNORED, r(4, 3), reduction="sum")
case("cross_entropy-reduction-third", lambda s: F.cross_entropy(s, Y, "sum"),  # chainrule's older spelling
     lambda s: torch.nn.functional.cross_entropy(s, tt(Y), reduction="sum"), r(4, 3))  # fmt: skip

# -- cross_entropy: class probabilities (their gradient is compared too) -----------------------
for red in ("mean", "sum", "none"):
    case(f"soft_cross_entropy-{red}", ours("cross_entropy", reduction=red), tF("cross_entropy", reduction=red),
         r(4, 3), probs(4, 3))  # fmt: skip
case("soft_cross_entropy-weight", ours("cross_entropy", weight=W), tF("cross_entropy", weight=W),
     r(4, 3), probs(4, 3))  # fmt: skip
case("soft_cross_entropy-smoothing", ours("cross_entropy", label_smoothing=0.25), tF("cross_entropy", label_smoothing=0.25),
     r(4, 3), probs(4, 3))  # fmt: skip
case("soft_cross_entropy-4d-weight-smoothing", ours("cross_entropy", weight=W, label_smoothing=0.1),
     tF("cross_entropy", weight=W, label_smoothing=0.1), r(2, 3, 2, 2), probs(2, 3, 2, 2))  # fmt: skip
case("soft_cross_entropy-unbatched", ours("cross_entropy"), tF("cross_entropy"), r(3), probs(3, axis=0))
case("soft_cross_entropy-unbatched-none", ours("cross_entropy", reduction="none"), tF("cross_entropy", reduction="none"),
     r(3), probs(3, axis=0))  # fmt: skip

# -- nll_loss ----------------------------------------------------------------------------------
LOGP = np.log(probs(4, 3))
for red in ("mean", "sum", "none"):
    labelled(f"nll_loss-{red}", "nll_loss", Y, LOGP, reduction=red)
    labelled(f"nll_loss-weight-ignore-{red}", "nll_loss", Y_IGNORED, LOGP, weight=W, reduction=red)
    labelled(f"nll_loss-4d-{red}", "nll_loss", Y4, np.log(probs(2, 3, 4, 5)), reduction=red)
labelled("nll_loss-ignore-class-0", "nll_loss", Y, LOGP, ignore_index=0)
labelled("nll_loss-unbatched", "nll_loss", np.array(0), np.log(probs(3, axis=0)))
labelled("nll_loss-unbatched-none", "nll_loss", np.array(0), np.log(probs(3, axis=0)), reduction="none")
labelled("nll_loss-all-ignored", "nll_loss", Y_ALL_IGNORED, LOGP, kink=True)
labelled("nll_loss-all-ignored-weight", "nll_loss", Y_ALL_IGNORED, LOGP, weight=W, kink=True)

# -- multi_margin_loss (torch has no second derivative for it: 0 almost everywhere) ---------------
for red in ("mean", "sum", "none"):
    labelled(f"multi_margin_loss-{red}", "multi_margin_loss", Y, r(4, 3), reduction=red, double=False)
    labelled(f"multi_margin_loss-p2-{red}", "multi_margin_loss", Y, r(4, 3), p=2, reduction=red, double=False)
labelled("multi_margin_loss-weight-margin", "multi_margin_loss", Y, r(4, 3), weight=W, margin=0.5, double=False)
labelled("multi_margin_loss-p2-weight", "multi_margin_loss", Y, r(4, 3), p=2, weight=W, double=False)
labelled("multi_margin_loss-unbatched", "multi_margin_loss", np.array(1), r(3), double=False)
labelled("multi_margin_loss-unbatched-none", "multi_margin_loss", np.array(1), r(3), reduction="none", double=False)
labelled("multi_margin_loss-unbatched-1", "multi_margin_loss", np.array([1]), r(3), reduction="none", double=False)
# margins of exactly 0 (s_j - s_{y_i} + 1 = 0 for j = 1 in every row) and ties: the hinge's kink
AT_KINK = np.array([[0.0, -1.0, 0.5], [2.0, 1.0, 3.0], [1.0, 1.0, 1.0]])
labelled("multi_margin_loss-at-kink", "multi_margin_loss", np.array([0, 0, 2]), AT_KINK, kink=True, double=False)
labelled("multi_margin_loss-p2-at-kink", "multi_margin_loss", np.array([0, 0, 2]), AT_KINK, p=2, kink=True, double=False)

# -- regression losses ---------------------------------------------------------------------------
for red in ("mean", "sum", "none"):
    for fn in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
        case(f"{fn}-{red}", ours(fn, reduction=red), tF(fn, reduction=red), r(3, 2, scale=2.0), r(3, 2, scale=2.0))
    for fn in ("mse_loss", "l1_loss", "huber_loss"):  # PyTorch 2.13's weight (the input's shape) is an operand
        case(f"{fn}-weight-{red}", lambda x, t, w, fn=fn, red=red: getattr(F, fn)(x, t, reduction=red, weight=w),
             lambda x, t, w, fn=fn, red=red: getattr(torch.nn.functional, fn)(x, t, reduction=red, weight=w),
             r(3, 2, scale=2.0), r(3, 2, scale=2.0), u(3, 2))  # fmt: skip
for fn in ("mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"):
    case(f"{fn}-0d", ours(fn), tF(fn), np.array(1.5), np.array(-0.7))
    case(f"{fn}-one-element", ours(fn, reduction="none"), tF(fn, reduction="none"), r(1), r(1))
case("smooth_l1_loss-beta", ours("smooth_l1_loss", beta=0.3), tF("smooth_l1_loss", beta=0.3), r(4, 3), r(4, 3))
case("smooth_l1_loss-beta0", ours("smooth_l1_loss", beta=0.0), tF("smooth_l1_loss", beta=0.0), r(4, 3), r(4, 3))
case("huber_loss-delta", ours("huber_loss", delta=2.5), tF("huber_loss", delta=2.5), r(4, 3, scale=3.0), r(4, 3))
case("mse_loss-reduction-third", lambda x, t: F.mse_loss(x, t, "sum"), tF("mse_loss", reduction="sum"), r(3), r(3))
# kinks: |d| = beta (delta) exactly, and d = 0 for l1 (PyTorch's gradient there: 0)
D = np.array([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0])
ZERO = np.zeros(7)
case("smooth_l1_loss-at-kinks", ours("smooth_l1_loss", reduction="none"), tF("smooth_l1_loss", reduction="none"),
     D, ZERO, kink=True)  # fmt: skip
case("smooth_l1_loss-beta0.5-at-kinks", ours("smooth_l1_loss", beta=0.5), tF("smooth_l1_loss", beta=0.5), D, ZERO, kink=True)
case("huber_loss-at-kinks", ours("huber_loss", reduction="none"), tF("huber_loss", reduction="none"), D, ZERO, kink=True)
case("huber_loss-delta2-at-kinks", ours("huber_loss", delta=2.0), tF("huber_loss", delta=2.0), D, ZERO, kink=True)
case("l1_loss-at-0", ours("l1_loss", reduction="none"), tF("l1_loss", reduction="none"), D, ZERO, kink=True)
case("l1_loss-equal", ours("l1_loss"), tF("l1_loss"), D, D.copy(), kink=True)

# -- binary cross-entropy (probabilities, then logits) ---------------------------------------------
for red in ("mean", "sum", "none"):
    case(f"binary_cross_entropy-{red}", ours("binary_cross_entropy", reduction=red),
         tF("binary_cross_entropy", reduction=red), u(3, 4), u(3, 4, low=0.0, high=1.0))  # fmt: skip
    case(f"bce_with_logits-{red}", ours("binary_cross_entropy_with_logits", reduction=red),
         tF("binary_cross_entropy_with_logits", reduction=red), r(3, 4, scale=3.0), u(3, 4, low=0.0, high=1.0))  # fmt: skip
    case(f"bce_with_logits-pos_weight-{red}", ours("binary_cross_entropy_with_logits", pos_weight=W, reduction=red),
         tF("binary_cross_entropy_with_logits", pos_weight=W, reduction=red),
         r(4, 3, scale=3.0), u(4, 3, low=0.0, high=1.0))  # fmt: skip
BW = u(3, 1, low=0.5, high=2.0)  # weights broadcast along the last axis
case("binary_cross_entropy-weight", ours("binary_cross_entropy", weight=BW),
     tF("binary_cross_entropy", weight=BW), u(3, 4), u(3, 4, low=0.0, high=1.0))  # fmt: skip
case("binary_cross_entropy-0d", ours("binary_cross_entropy"), tF("binary_cross_entropy"), np.array(0.3), np.array(1.0))
case("binary_cross_entropy-one-element", ours("binary_cross_entropy"), tF("binary_cross_entropy"), u(1), u(1))
case("bce_with_logits-weight-pos_weight", ours("binary_cross_entropy_with_logits", weight=BW, pos_weight=W),
     tF("binary_cross_entropy_with_logits", weight=BW, pos_weight=W),
     r(3, 3), u(3, 3, low=0.0, high=1.0))  # fmt: skip
case("bce_with_logits-pos_weight-scalar", ours("binary_cross_entropy_with_logits", pos_weight=np.array([3.0])),
     tF("binary_cross_entropy_with_logits", pos_weight=np.array([3.0])), r(2, 5), u(2, 5))  # fmt: skip
case("bce_with_logits-pos_weight-3d", ours("binary_cross_entropy_with_logits", pos_weight=W),
     tF("binary_cross_entropy_with_logits", pos_weight=W), r(2, 2, 3), u(2, 2, 3))  # fmt: skip
case("bce_with_logits-large", ours("binary_cross_entropy_with_logits"), tF("binary_cross_entropy_with_logits"),
     np.array([-60.0, -20.0, 0.0, 20.0, 60.0]), u(5, low=0.0, high=1.0))  # fmt: skip
case("bce_with_logits-0d", ours("binary_cross_entropy_with_logits", pos_weight=np.array(2.0)),
     tF("binary_cross_entropy_with_logits", pos_weight=np.array(2.0)), np.array(0.4), np.array(1.0))  # fmt: skip
case("bce_with_logits-reduction-third", lambda z, t: F.binary_cross_entropy_with_logits(z, t, "sum"),
     tF("binary_cross_entropy_with_logits", reduction="sum"), r(4), u(4))  # fmt: skip

# -- kl_div -----------------------------------------------------------------------------------
for red in ("mean", "batchmean", "sum", "none"):
    case(f"kl_div-{red}", ours("kl_div", reduction=red), tF("kl_div", reduction=red), np.log(probs(3, 4)), probs(3, 4))
    case(f"kl_div-log_target-{red}", ours("kl_div", reduction=red, log_target=True),
         tF("kl_div", reduction=red, log_target=True), np.log(probs(3, 4)), np.log(probs(3, 4)))  # fmt: skip
T0 = probs(3, 4)
T0[0, 1] = T0[2, 3] = 0.0  # 0 log 0 = 0 (the target's gradient there is NaN in PyTorch: a constant here)
case("kl_div-target-zeros", lambda x: F.kl_div(x, T0, reduction="batchmean"),
     lambda x: torch.nn.functional.kl_div(x, tt(T0), reduction="batchmean"), np.log(probs(3, 4)))  # fmt: skip
case("kl_div-broadcast", ours("kl_div", reduction="sum"), tF("kl_div", reduction="sum"), np.log(probs(2, 3)), probs(1, 3))
case("kl_div-0d", ours("kl_div", reduction="batchmean"), tF("kl_div", reduction="batchmean"), np.array(-0.5), np.array(0.3))

# -- cosine_embedding_loss ------------------------------------------------------------------------
PAIRS = np.array([1, -1, 1, -1, 0])  # 0: neither similar nor not (its loss is 0, as PyTorch's)
for red in ("mean", "sum", "none"):
    case(f"cosine_embedding_loss-{red}", lambda a, b, red=red: F.cosine_embedding_loss(a, b, PAIRS, reduction=red),
         lambda a, b, red=red: torch.nn.functional.cosine_embedding_loss(a, b, tt(PAIRS), reduction=red),
         r(5, 3), r(5, 3))  # fmt: skip
case("cosine_embedding_loss-margin", lambda a, b: F.cosine_embedding_loss(a, b, PAIRS, margin=-0.3),
     lambda a, b: torch.nn.functional.cosine_embedding_loss(a, b, tt(PAIRS), margin=-0.3), r(5, 3), r(5, 3))  # fmt: skip
case("cosine_embedding_loss-float-target", lambda a, b: F.cosine_embedding_loss(a, b, PAIRS.astype(float)),
     lambda a, b: torch.nn.functional.cosine_embedding_loss(a, b, tt(PAIRS.astype(float))), r(5, 3), r(5, 3))  # fmt: skip
case("cosine_embedding_loss-unbatched", lambda a, b: F.cosine_embedding_loss(a, b, np.array(-1), margin=-0.5),
     lambda a, b: torch.nn.functional.cosine_embedding_loss(a, b, tt(np.array(-1)), margin=-0.5), r(4), r(4))  # fmt: skip
# orthogonal pairs: cos - margin = 0 exactly, clamp's kink (PyTorch passes the gradient there)
ORTHO_A, ORTHO_B = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]), np.array([[0.0, 5.0, 0.0], [1.0, 0.0, -2.0]])
case("cosine_embedding_loss-at-kink", lambda a, b: F.cosine_embedding_loss(a, b, np.array([-1, -1]), reduction="none"),
     lambda a, b: torch.nn.functional.cosine_embedding_loss(a, b, tt(np.array([-1, -1])), reduction="none"),
     ORTHO_A, ORTHO_B, kink=True)  # fmt: skip


CHECKED = ("cross_entropy", "nll_loss", "multi_margin_loss", "binary_cross_entropy")  # one read of the labels (values)


def _syncs(request) -> int:
    return 1 if request.node.callspec.id.startswith(CHECKED) else 0


@pytest.mark.parametrize("ours_fn,theirs_fn,inputs,kink,double", CASES)
def test_loss_against_torch_and_gradcheck(ours_fn, theirs_fn, inputs, kink, double):
    check_op(ours_fn, theirs_fn, *inputs, kink=kink, double=double)


@pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed on the device
@pytest.mark.parametrize("ours_fn,theirs_fn,inputs,kink,double", CASES)
def test_loss_compiled_replays_eager(ours_fn, theirs_fn, inputs, kink, double, device, request):
    check_compiled(ours_fn, *inputs, device=device, syncs=_syncs(request))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours_fn,theirs_fn,inputs,kink,double", CASES)
def test_loss_on_each_device(ours_fn, theirs_fn, inputs, kink, double, device, request):
    check_on_device(ours_fn, device, *inputs, double=double, syncs=_syncs(request))


# -- behaviour beyond the table ------------------------------------------------------------------


def test_cross_entropy_plain_case_is_one_fused_gate():
    s = cr.Tensor(r(4, 3), requires_grad=True)
    assert F.cross_entropy(s, Y_IGNORED)._ctx.fn.__name__ == "CrossEntropy"  # ignore_index too
    assert F.cross_entropy(s, Y, reduction="none")._ctx.fn.__name__ == "CrossEntropy"
    assert F.cross_entropy(s, Y, weight=W)._ctx.fn.__name__ != "CrossEntropy"  # weights: composed


def test_binary_cross_entropy_clamps_the_log_at_minus_100():
    x, t = np.array([0.0, 1.0, 0.0, 1.0, 1e-50]), np.array([1.0, 0.0, 0.0, 1.0, 1.0])
    xs = cr.Tensor(x, dtype="float64", requires_grad=True)
    loss = F.binary_cross_entropy(xs, cr.Tensor(t, dtype="float64"), reduction="none")
    want = torch.nn.functional.binary_cross_entropy(tt(x), tt(t), reduction="none")
    np.testing.assert_allclose(loss.numpy(), want.numpy())  # [100, 100, 0, 0, 100]
    loss.sum().backward()
    assert np.isfinite(xs.grad.numpy()).all()  # no log(0) meeting a blocked gradient


@pytest.mark.parametrize("fn,args", [
    ("cross_entropy", dict(reduce=False)), ("nll_loss", dict(size_average=False)),
    ("mse_loss", dict(size_average=False, reduce=True)), ("kl_div", dict(reduce=False)),
    ("binary_cross_entropy_with_logits", dict(size_average=True)),
])  # fmt: skip
def test_legacy_size_average_and_reduce_map_as_torch(fn, args):
    x, t = (r(4, 3), Y) if fn in ("cross_entropy", "nll_loss") else (r(4, 3), u(4, 3))
    with pytest.warns(UserWarning, match="size_average and reduce"):
        got = getattr(F, fn)(cr.Tensor(x, dtype="float64"), t if t.dtype.kind == "i" else cr.Tensor(t, dtype="float64"), **args)
    with pytest.warns(UserWarning):
        want = getattr(torch.nn.functional, fn)(tt(x), tt(t), **args)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_reductions_named_in_every_argument_slot_keep_older_calls():
    s, t = cr.Tensor(r(4, 3), dtype="float64"), u(4, 3)
    assert F.cross_entropy(s, Y, "none").shape == (4,)
    assert F.nll_loss(s, Y, "sum").shape == ()
    assert F.mse_loss(s, cr.Tensor(t, dtype="float64"), "none").shape == (4, 3)


def test_all_ignored_gives_nan_without_warnings():
    import warnings

    s = cr.Tensor(r(4, 3), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for loss in (F.cross_entropy(s, Y_ALL_IGNORED), F.nll_loss(s, Y_ALL_IGNORED),
                     F.cross_entropy(s, Y_ALL_IGNORED, weight=W, label_smoothing=0.1)):  # fmt: skip
            assert np.isnan(loss.item())
            (g,) = cr.grad(loss, [s])
            assert not np.any(g.numpy())  # as PyTorch: 0, not NaN


# -- modules ---------------------------------------------------------------------------------------
WT = np.array([0.5, 2.0, 1.0], dtype=np.float32)
# (ours, PyTorch's, input maker): each module, with its non-default arguments
MODULES = [
    ("CrossEntropyLoss", dict(weight=WT, ignore_index=1, label_smoothing=0.1), "labels"),
    ("CrossEntropyLoss", dict(reduction="sum"), "labels"),
    ("NLLLoss", dict(weight=WT, reduction="none"), "labels"),
    ("MSELoss", dict(reduction="sum"), "pair"),
    ("L1Loss", dict(), "pair"),
    ("SmoothL1Loss", dict(beta=0.5), "pair"),
    ("HuberLoss", dict(delta=0.7, reduction="none"), "pair"),
    ("BCELoss", dict(weight=WT), "probabilities"),
    ("BCEWithLogitsLoss", dict(pos_weight=WT, weight=WT), "pair"),
    ("BCEWithLogitsLoss", dict(), "pair"),
    ("KLDivLoss", dict(reduction="batchmean", log_target=True), "pair"),
    ("MultiMarginLoss", dict(p=2, margin=0.5, weight=WT), "labels"),
    ("CosineEmbeddingLoss", dict(margin=0.2), "cosine"),
]
MODULE_IDS = [f"{name}-{'-'.join(kw) or 'defaults'}" for name, kw, _ in MODULES]


def _inputs(kind: str) -> tuple:
    if kind == "labels":
        return r(4, 3), Y
    if kind == "probabilities":
        return u(4, 3), u(4, 3, low=0.0, high=1.0)
    if kind == "cosine":
        return r(5, 3), r(5, 3), PAIRS
    return r(4, 3), u(4, 3)


def _pair(name: str, kw: dict) -> tuple:
    ours_m = getattr(nn, name)(**{k: cr.Tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    theirs_m = getattr(torch.nn, name)(**{k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()})
    return ours_m, theirs_m


@pytest.mark.parametrize("name,kw,kind", MODULES, ids=MODULE_IDS)
def test_module_is_its_function_and_torchs_module(name, kw, kind):
    ours_m, theirs_m = _pair(name, kw)
    inputs = _inputs(kind)
    ours_m.double()
    theirs_m.double()
    labels = inputs[-1] if inputs[-1].dtype.kind == "i" else None

    def mod(*xs):
        return ours_m(*xs, labels) if labels is not None else ours_m(*xs)

    def their_mod(*xs):
        return theirs_m(*xs, tt(labels)) if labels is not None else theirs_m(*xs)

    floats = inputs[:-1] if labels is not None else inputs
    double = name not in ("MultiMarginLoss",)
    check_op(mod, their_mod, *floats, double=double)
    # the module's number is its function's
    fn = {"CrossEntropyLoss": "cross_entropy", "NLLLoss": "nll_loss", "MSELoss": "mse_loss", "L1Loss": "l1_loss",
          "SmoothL1Loss": "smooth_l1_loss", "HuberLoss": "huber_loss", "BCELoss": "binary_cross_entropy",
          "BCEWithLogitsLoss": "binary_cross_entropy_with_logits", "KLDivLoss": "kl_div",
          "MultiMarginLoss": "multi_margin_loss", "CosineEmbeddingLoss": "cosine_embedding_loss"}[name]  # fmt: skip
    xs = [cr.Tensor(x, dtype="float64") for x in floats]
    want = getattr(F, fn)(*xs, *([labels] if labels is not None else []), **kw)
    np.testing.assert_array_equal(mod(*xs).numpy(), want.numpy())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,kw,kind", [m for m in MODULES if "weight" in m[1] or "pos_weight" in m[1]],
                         ids=[i for i, m in zip(MODULE_IDS, MODULES) if "weight" in m[1] or "pos_weight" in m[1]])  # fmt: skip
def test_module_buffers_move_with_it(name, kw, kind, device):
    ours_m = getattr(nn, name)(**kw).double()
    inputs = _inputs(kind)
    labels = inputs[-1] if inputs[-1].dtype.kind == "i" else None
    floats = inputs[:-1] if labels is not None else inputs
    if labels is not None:
        def call(*xs):
            return ours_m(*xs, labels)
    else:
        call = ours_m
    check_on_device(call, device, *floats, double=name != "MultiMarginLoss", syncs=0 if labels is None and name != "BCELoss" else 1,
                    module=ours_m)  # fmt: skip


@pytest.mark.parametrize("name,kw,kind", MODULES, ids=MODULE_IDS)
def test_module_state_dict_keys_are_torchs(name, kw, kind):
    ours_m, theirs_m = _pair(name, kw)
    assert sorted(ours_m.state_dict()) == sorted(theirs_m.state_dict().keys())
    for key, value in theirs_m.state_dict().items():
        np.testing.assert_array_equal(ours_m.state_dict()[key], value.numpy())
    ours_m.load_state_dict({k: v * 2 for k, v in ours_m.state_dict().items()})  # round trip into the buffers


def test_module_weight_follows_to_and_double():
    m = nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0])
    assert m.weight.dtype == np.float32
    m.double()
    assert m.weight.dtype == np.float64
    assert sorted(nn.CrossEntropyLoss().state_dict()) == []


@pytest.mark.parametrize("module,text", [
    (lambda: nn.CrossEntropyLoss(), "CrossEntropyLoss()"),
    (lambda: nn.CrossEntropyLoss(weight=cr.Tensor([1.0, 2.0]), reduction="sum"),
     "CrossEntropyLoss(weight of shape (2,), reduction='sum')"),
    (lambda: nn.NLLLoss(ignore_index=3), "NLLLoss(ignore_index=3)"),
    (lambda: nn.MSELoss(), "MSELoss()"),
    (lambda: nn.L1Loss(reduction="none"), "L1Loss(reduction='none')"),
    (lambda: nn.SmoothL1Loss(beta=0.5), "SmoothL1Loss(beta=0.5)"),
    (lambda: nn.HuberLoss(delta=2.0), "HuberLoss(delta=2.0)"),
    (lambda: nn.BCELoss(), "BCELoss()"),
    (lambda: nn.BCEWithLogitsLoss(pos_weight=cr.Tensor([2.0, 1.0, 1.0])), "BCEWithLogitsLoss(pos_weight of shape (3,))"),
    (lambda: nn.KLDivLoss(reduction="batchmean"), "KLDivLoss(reduction='batchmean')"),
    (lambda: nn.MultiMarginLoss(p=2, margin=0.5), "MultiMarginLoss(p=2, margin=0.5)"),
    (lambda: nn.CosineEmbeddingLoss(margin=0.1), "CosineEmbeddingLoss(margin=0.1)"),
])  # fmt: skip
def test_module_repr_shows_the_arguments_that_differ(module, text):
    assert repr(module()) == text


def test_module_legacy_flags_choose_the_reduction():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        assert nn.MSELoss(size_average=False).reduction == "sum"
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert nn.CrossEntropyLoss(reduce=False).reduction == "none"


Z = cr.Tensor(np.zeros((2, 3)))


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: F.cross_entropy(Z, [0, 3]), ["cross_entropy", "[0, 3]", "0..2"]),
        (lambda: F.cross_entropy(Z, [0, -1]), ["cross_entropy", "[-1, 0]", "0..2", "ignore_index=-100"]),
        (lambda: F.cross_entropy(Z, [0]), ["cross_entropy", "(2, 3)", "(1,)", "(2,)"]),
        (lambda: F.cross_entropy(Z, [0.0, 1.0]), ["cross_entropy", "float64", "integers", "(2, 3)"]),
        (lambda: F.cross_entropy(Z, np.zeros((2, 3)), ignore_index=1), ["cross_entropy", "ignore_index=1", "probabilities"]),
        (lambda: F.cross_entropy(Z, [0, 1], "avg"), ["cross_entropy", "'avg'"]),
        (lambda: F.cross_entropy(Z, [0, 1], weight=np.ones(2)), ["cross_entropy", "weight", "(2,)", "(3,)"]),
        (lambda: F.cross_entropy(Z, [0, 1], label_smoothing=1.5), ["cross_entropy", "label_smoothing=1.5"]),
        (lambda: F.cross_entropy(cr.Tensor(1.0), [0]), ["cross_entropy", "0-d"]),
        (lambda: F.nll_loss(cr.Tensor(np.zeros((2, 3, 4))), [0, 1]), ["nll_loss", "(2, 3, 4)", "(2,)", "(2, 4)"]),
        (lambda: F.nll_loss(Z, [0, 1], reduction="batchmean"), ["nll_loss", "'batchmean'"]),
        (lambda: F.multi_margin_loss(Z, [0, 1], p=3), ["multi_margin_loss", "p=3"]),
        (lambda: F.multi_margin_loss(Z, [0, 5]), ["multi_margin_loss", "[0, 5]", "0..2"]),
        (lambda: F.multi_margin_loss(cr.Tensor(np.zeros((2, 3, 4))), [0, 1]), ["multi_margin_loss", "(2, 3, 4)"]),
        (lambda: F.mse_loss(Z, cr.Tensor(np.zeros(3))), ["mse_loss", "(2, 3)", "(3,)"]),
        (lambda: F.l1_loss(Z, Z, weight=np.ones(3)), ["l1_loss", "weight", "(3,)", "(2, 3)"]),
        (lambda: F.smooth_l1_loss(Z, Z, beta=-1.0), ["smooth_l1_loss", "beta=-1.0"]),
        (lambda: F.huber_loss(Z, Z, delta=0.0), ["huber_loss", "delta=0.0"]),
        (lambda: F.binary_cross_entropy(Z + 1.5, Z), ["binary_cross_entropy", "[1.5, 1.5]", "[0, 1]"]),
        (lambda: F.binary_cross_entropy(Z, cr.Tensor(np.zeros(3))), ["binary_cross_entropy", "(2, 3)", "(3,)"]),
        (lambda: F.binary_cross_entropy_with_logits(Z, Z, pos_weight=np.ones(2)), ["pos_weight", "(2,)", "(2, 3)"]),
        (lambda: F.kl_div(Z, cr.Tensor(np.zeros(2))), ["kl_div", "(2, 3)", "(2,)", "broadcast"]),
        (lambda: F.kl_div(Z, Z, reduction="avg"), ["kl_div", "'avg'", "'batchmean'"]),
        (lambda: F.cosine_embedding_loss(Z, Z, [1]), ["cosine_embedding_loss", "(2, 3)", "(1,)"]),
        (lambda: nn.CrossEntropyLoss(reduction="avg"), ["CrossEntropyLoss", "'avg'"]),
        (lambda: nn.MultiMarginLoss(p=3), ["MultiMarginLoss", "p=3"]),
        (lambda: nn.HuberLoss(delta=-1.0), ["HuberLoss", "delta=-1.0"]),
        (lambda: nn.CrossEntropyLoss()(Z, [0, 3]), ["cross_entropy", "[0, 3]"]),
        (lambda: nn.NLLLoss()(Z, [[0, 1]]), ["nll_loss", "(2, 3)", "(1, 2)"]),
    ],
)
def test_bad_input_names_the_loss_and_the_shapes(call, words):
    with pytest.raises((ValueError, TypeError)) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))

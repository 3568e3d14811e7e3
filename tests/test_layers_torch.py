"""The other torch.nn layers and options (issue 26) against PyTorch.

First the functions, as data through the oracle (``op_table``: gradcheck in float64, forward,
gradients and second order against PyTorch, compiled, on each device): group, instance and
local response norm, the distances, pixel and channel shuffles, the dropout family outside
training, and every option of ``embedding`` (its index check reads one value back, so its rows
run their device tests with one wait allowed). Then the modules on PyTorch's own weights
(``load_state_dict(torch_module.state_dict())``): the recurrent layers in every configuration
(layers, directions, batch_first, projections, unbatched, given or zero states; dropout in eval
mode) compare outputs and every gradient, fused and composed, compiled and on the GPU's stand-in;
state_dict keys and reprs equal PyTorch's; initial values have PyTorch's distributions; the
dropout masks are whole channels with the right statistics; bad input names the layer and shapes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import (
    DEVICES,
    check_compiled,
    check_on_device,
    check_op,
    op_table,
    table_rows,
    torch,
)

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

rng = np.random.default_rng(2613)


def r(*shape: int, scale: float = 1.0) -> np.ndarray:
    return rng.standard_normal(shape) * scale


def tnn():
    return torch.nn


def tF():
    return torch.nn.functional


def ix(f, a: np.ndarray):
    """Indices for ``f``'s library: a torch tensor for torch's functions, the array for ours."""
    return torch.from_numpy(a) if f is not F else a


CASES: list = []
_case = table_rows(CASES)


def pair(name: str, make, *inputs, kink: bool = False, double: bool = True, cases: list | None = None) -> None:
    """A row for ``make(lib)``, a function of the inputs written once for both libraries' functionals
    (torch's looked up when the row runs, so collecting needs no torch)."""
    add = _case if cases is None else table_rows(cases)
    add(name, make(F), lambda *a: make(tF())(*a), *inputs, kink=kink, double=double)


# -- normalization ----------------------------------------------------------------------------
pair("group_norm-affine-3d", lambda f: lambda x, w, b: f.group_norm(x, 2, w, b), r(2, 4, 3, scale=2) + 1, r(4), r(4))
pair("group_norm-4d-eps", lambda f: lambda x, w, b: f.group_norm(x, 3, w, b, eps=1e-3), r(2, 6, 2, 2), r(6), r(6))
pair("group_norm-2d-plain", lambda f: lambda x: f.group_norm(x, 2), r(3, 4))
pair("group_norm-one-group", lambda f: lambda x: f.group_norm(x, 1), r(2, 3, 4))
pair("group_norm-group-per-channel-5d", lambda f: lambda x, w: f.group_norm(x, 4, w), r(1, 4, 2, 2, 2), r(4))
pair("instance_norm-3d-affine", lambda f: lambda x, w, b: f.instance_norm(x, weight=w, bias=b), r(2, 3, 4) + 2, r(3), r(3))
pair("instance_norm-4d", lambda f: lambda x: f.instance_norm(x), r(2, 3, 2, 3))
pair("instance_norm-5d-weight-eps", lambda f: lambda x, w: f.instance_norm(x, weight=w, eps=0.1), r(1, 2, 2, 2, 3), r(2))
pair("local_response_norm-3d", lambda f: lambda x: f.local_response_norm(x, 3), r(2, 5, 3))
pair("local_response_norm-4d-options", lambda f: lambda x: f.local_response_norm(x, 2, alpha=0.1, beta=0.5, k=2.0),
     r(2, 4, 3, 3))  # fmt: skip
pair("local_response_norm-5d-wide", lambda f: lambda x: f.local_response_norm(x, 5, alpha=0.3), r(1, 3, 2, 2, 2))

# -- distances --------------------------------------------------------------------------------
pair("pairwise_distance", lambda f: f.pairwise_distance, r(3, 4), r(3, 4))
for p in (1.0, 3.0, 0.5, math.inf):
    pair(f"pairwise_distance-p{p}", lambda f, p=p: lambda a, b: f.pairwise_distance(a, b, p=p), r(3, 4), r(3, 4))
pair("pairwise_distance-p0", lambda f: lambda a, b: f.pairwise_distance(a, b, p=0.0), r(3, 4), r(3, 4), double=False)
pair("pairwise_distance-keepdim-eps", lambda f: lambda a, b: f.pairwise_distance(a, b, eps=0.1, keepdim=True),
     r(2, 3, 4), r(2, 3, 4))  # fmt: skip
pair("pairwise_distance-broadcast", lambda f: f.pairwise_distance, r(3, 4), r(4))
pair("pairwise_distance-1d", lambda f: f.pairwise_distance, r(5), r(5))
pair("pairwise_distance-0d", lambda f: lambda a, b: f.pairwise_distance(a, b, keepdim=True), np.array(0.7), np.array(-0.2))
pair("cosine_similarity", lambda f: f.cosine_similarity, r(3, 4), r(3, 4))
pair("cosine_similarity-dim0", lambda f: lambda a, b: f.cosine_similarity(a, b, dim=0), r(4, 3), r(4, 3))
pair("cosine_similarity-3d-last", lambda f: lambda a, b: f.cosine_similarity(a, b, dim=-1), r(2, 3, 4), r(2, 3, 4))
pair("cosine_similarity-broadcast", lambda f: lambda a, b: f.cosine_similarity(a, b, dim=-1), r(3, 1, 4), r(2, 4))
pair("cosine_similarity-broadcast-along-dim", lambda f: f.cosine_similarity, r(3, 1), r(3, 4))
pair("cosine_similarity-1d", lambda f: lambda a, b: f.cosine_similarity(a, b, dim=0), r(5), r(5))
SMALL = r(3, 4)
SMALL[0] *= 1e-3  # a norm below eps: the clamp's value with the unclamped norm's gradient, PyTorch's rule
# (not the derivative of the value, so only the comparison with PyTorch runs: kink=True)
pair("cosine_similarity-clamped", lambda f: lambda a, b: f.cosine_similarity(a, b, eps=0.1), SMALL, r(3, 4), kink=True)
pair("normalize-p1-dim0", lambda f: lambda x: f.normalize(x, p=1.0, dim=0), r(3, 4))

# -- pixel and channel shuffles ---------------------------------------------------------------
pair("pixel_shuffle-4d", lambda f: lambda x: f.pixel_shuffle(x, 2), r(2, 8, 3, 2))
pair("pixel_shuffle-3d", lambda f: lambda x: f.pixel_shuffle(x, 3), r(9, 2, 2))
pair("pixel_shuffle-5d", lambda f: lambda x: f.pixel_shuffle(x, 2), r(2, 2, 4, 2, 3))
pair("pixel_shuffle-1", lambda f: lambda x: f.pixel_shuffle(x, 1), r(1, 2, 2, 2))
pair("pixel_unshuffle-4d", lambda f: lambda x: f.pixel_unshuffle(x, 2), r(2, 2, 4, 6))
pair("pixel_unshuffle-3d", lambda f: lambda x: f.pixel_unshuffle(x, 3), r(1, 6, 6))
pair("pixel_unshuffle-5d", lambda f: lambda x: f.pixel_unshuffle(x, 2), r(2, 1, 2, 4, 2))
pair("channel_shuffle-3d", lambda f: lambda x: f.channel_shuffle(x, 3), r(2, 6, 3))
pair("channel_shuffle-4d", lambda f: lambda x: f.channel_shuffle(x, 2), r(1, 4, 2, 2))
pair("channel_shuffle-5d", lambda f: lambda x: f.channel_shuffle(x, 2), r(2, 6, 1, 1, 2))

# -- the dropout family outside training: the identity, as PyTorch's ----------------------------
pair("dropout-eval", lambda f: lambda x: f.dropout(x, 0.5, training=False), r(2, 3))
pair("dropout1d-eval", lambda f: lambda x: f.dropout1d(x, 0.5, training=False), r(2, 3, 4))
pair("dropout2d-eval", lambda f: lambda x: f.dropout2d(x, 0.5, training=False), r(2, 3, 2, 2))
pair("dropout3d-eval-unbatched", lambda f: lambda x: f.dropout3d(x, 0.5, training=False), r(2, 1, 2, 2))
pair("alpha_dropout-default", lambda f: lambda x: f.alpha_dropout(x, 0.5), r(2, 3))
pair("feature_alpha_dropout-default", lambda f: lambda x: f.feature_alpha_dropout(x, 0.2), r(2, 3, 2))
pair("dropout-p0-training", lambda f: lambda x: f.dropout1d(x, 0.0, training=True), r(2, 3, 4))

test_function_against_torch, test_function_compiled, test_function_on_each_device = op_table(CASES)

# -- embedding: every option ----------------------------------------------------------------------
EMBEDDING: list = []
IDX = np.array([[0, 2, 1], [2, 2, 4]])
IDX_PAD = np.array([[1, 2, 1], [0, 1, 4]])
# padding_idx and scale_grad_by_freq change the gradient only (PyTorch's rule, not the derivative of the
# values: the padding row is looked up but gets no gradient), so these rows compare with PyTorch (kink=True)
for name, kw in [("padding_idx", {"padding_idx": 1}), ("padding_idx-negative", {"padding_idx": -1}),
                 ("scale_grad_by_freq", {"scale_grad_by_freq": True}),
                 ("scale_grad_by_freq-padding_idx", {"scale_grad_by_freq": True, "padding_idx": 2})]:  # fmt: skip
    for idx_name, idx in (("", IDX), ("-pads", IDX_PAD)):
        pair(f"embedding-{name}{idx_name}", lambda f, idx=idx, kw=kw: lambda w: f.embedding(ix(f, idx), w, **kw), r(5, 3),
             kink=True, cases=EMBEDDING)  # fmt: skip
pair("embedding-0d-index", lambda f: lambda w: f.embedding(ix(f, np.array(3)), w, padding_idx=0), r(5, 3), kink=True,
     cases=EMBEDDING)  # fmt: skip
# max_norm rescales the weight in place before the lookup, outside the graph: the finite differences
# of gradcheck would see the rescaling, so only the comparison with PyTorch runs (kink=True)
for name, kw in [("max_norm", {"max_norm": 1.0}), ("max_norm-l1", {"max_norm": 1.5, "norm_type": 1.0}),
                 ("max_norm-inf-padding_idx-scale", {"max_norm": 0.8, "norm_type": math.inf, "padding_idx": 4,
                                                      "scale_grad_by_freq": True})]:  # fmt: skip
    pair(f"embedding-{name}", lambda f, kw=kw: lambda w: f.embedding(ix(f, IDX), w, **kw), r(5, 3, scale=2.0),
         kink=True, cases=EMBEDDING)  # fmt: skip


@pytest.mark.parametrize("ours,theirs,inputs,kink,double", EMBEDDING)
def test_embedding_against_torch(ours, theirs, inputs, kink, double):
    check_op(ours, theirs, *[x.copy() for x in inputs], kink=kink, double=double)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", EMBEDDING)
def test_embedding_compiled(ours, theirs, inputs, kink, double, device):
    check_compiled(ours, *[x.copy() for x in inputs], device=device, syncs=1)  # the index check: one read


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs,kink,double", EMBEDDING)
def test_embedding_on_each_device(ours, theirs, inputs, kink, double, device, request):
    # the index check reads one value back; indexing by a 0-d index array reads one more (GetItem's)
    syncs = 2 if "0d-index" in request.node.callspec.id else 1
    check_on_device(ours, device, *[x.copy() for x in inputs], double=double, syncs=syncs)


# -- the recurrent layers on PyTorch's weights ----------------------------------------------------
T_, N_, I_, H_ = 4, 3, 5, 6
RECURRENT = [
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2, "bidirectional": True}),
    ("RNN", {"batch_first": True, "bias": False, "bidirectional": True}),
    ("LSTM", {}), ("LSTM", {"num_layers": 2, "bidirectional": True}),
    ("LSTM", {"num_layers": 2, "batch_first": True, "dropout": 0.3}),
    ("LSTM", {"bias": False, "bidirectional": True, "batch_first": True}),
    ("LSTM", {"proj_size": 3, "num_layers": 2, "bidirectional": True}), ("LSTM", {"proj_size": 2, "batch_first": True}),
    ("GRU", {}), ("GRU", {"num_layers": 2, "bidirectional": True, "dropout": 0.5}),
    ("GRU", {"batch_first": True, "bias": False, "bidirectional": True}),
]  # fmt: skip


def _recurrent_id(name: str, kw: dict) -> str:
    return name + "".join(f"-{k}={v}" for k, v in kw.items())


def twins(name: str, kw: dict, fused: bool = True):
    """torch's layer in float64 and ours on its weights, both in eval mode (dropout off)."""
    torch.manual_seed(0)
    theirs = getattr(tnn(), name)(I_, H_, **kw).double().eval()
    extra = {} if name == "RNN" else {"fused": fused}
    ours = getattr(nn, name)(I_, H_, **kw, **extra).to(dtype=np.float64).eval()
    ours.load_state_dict(theirs.state_dict())
    return theirs, ours


def _sizes(kw: dict) -> tuple[int, int, int]:
    """(states, h's size, c's size)."""
    return kw.get("num_layers", 1) * (1 + kw.get("bidirectional", False)), kw.get("proj_size", 0) or H_, H_


def _inputs(kw: dict, unbatched: bool, seed: int) -> tuple:
    g = np.random.default_rng(seed)
    count, hsize, csize = _sizes(kw)
    xs = (T_, I_) if unbatched else (N_, T_, I_) if kw.get("batch_first") else (T_, N_, I_)
    lead = (count,) if unbatched else (count, N_)
    return g.standard_normal(xs), g.standard_normal(lead + (hsize,)), g.standard_normal(lead + (csize,))


def _call(module, name, x, h0, c0, state: bool):
    """The module's outputs as a flat list: output, h_n (and c_n)."""
    if name == "LSTM":
        out, (h, c) = module(x, (h0, c0) if state else None)
        return [out, h, c]
    out, h = module(x, h0 if state else None)
    return [out, h]


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "composed"])
@pytest.mark.parametrize("unbatched,state", [(False, True), (True, True), (False, False)],
                         ids=["batched", "unbatched", "zero-state"])  # fmt: skip
@pytest.mark.parametrize("name,kw", RECURRENT, ids=[_recurrent_id(*c) for c in RECURRENT])
def test_recurrent_layers_match_torch(name, kw, unbatched, state, fused):
    if name == "RNN" and not fused:
        pytest.skip("RNN has one path (its cells)")
    theirs, ours = twins(name, kw, fused)
    assert list(ours.state_dict()) == list(theirs.state_dict()) and repr(ours) == repr(theirs)
    x, h0, c0 = _inputs(kw, unbatched, seed=len(kw))
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    ox, oh, oc = (cr.Tensor(a, requires_grad=True, dtype=np.float64) for a in (x, h0, c0))
    touts, oouts = _call(theirs, name, tx, th, tc, state), _call(ours, name, ox, oh, oc, state)
    g = np.random.default_rng(1)
    vs = [g.standard_normal(tuple(t.shape)) for t in touts]
    for i, (t, o) in enumerate(zip(touts, oouts)):
        assert o.shape == tuple(t.shape), f"output {i}: {o.shape} vs torch {tuple(t.shape)}"
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-12, err_msg=f"output {i}")
    sum((t * torch.tensor(v)).sum() for t, v in zip(touts, vs)).backward()
    cr.stack([(o * cr.Tensor(v, dtype=np.float64)).sum() for o, v in zip(oouts, vs)]).sum().backward()
    pairs = [("input", ox, tx)] + ([("h0", oh, th)] + ([("c0", oc, tc)] if name == "LSTM" else []) if state else [])
    tparams = dict(theirs.named_parameters())
    pairs += [(k, p, tparams[k]) for k, p in ours.named_parameters()]
    for what, o, t in pairs:
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=f"gradient of {what}")


COMPILED = [("LSTM", {"num_layers": 2, "bidirectional": True}), ("GRU", {"bidirectional": True, "batch_first": True}),
            ("LSTM", {"proj_size": 2, "bidirectional": True}), ("RNN", {"num_layers": 2, "bidirectional": True})]  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,kw", COMPILED, ids=[_recurrent_id(*c) for c in COMPILED])
def test_recurrent_layers_compiled_and_on_each_device(name, kw, device):
    _, ours = twins(name, kw)
    names = [n for n, _ in ours.named_parameters()]

    def our_fn(x, h0, c0, *params):
        owner = ours
        for n, p in zip(names, params):
            setattr(owner, n, p)
        return cr.concatenate([t.reshape(-1) for t in _call(ours, name, x, h0, c0, True)])

    x, h0, c0 = _inputs(kw, False, seed=3)
    params = [p.numpy().copy() for p in ours.parameters()]
    check_compiled(our_fn, x, h0, c0, *params, device=device)
    check_on_device(our_fn, device, x, h0, c0, *params, double=False)


def test_composed_layers_differentiate_twice_as_torch():
    # the composed path is ordinary ops: gradients of gradients against PyTorch (bidirectional, 2 layers)
    for name in ("LSTM", "GRU"):
        theirs, ours = twins(name, {"num_layers": 2, "bidirectional": True}, fused=False)
        names = [n for n, _ in ours.named_parameters()]
        tnames = dict(theirs.named_parameters())

        def our_fn(x, *params, ours=ours, names=names, name=name):
            for n, p in zip(names, params):
                setattr(ours, n, p)
            return cr.concatenate([t.reshape(-1) for t in _call(ours, name, x, None, None, False)])

        def their_fn(x, *params, theirs=theirs, names=names, name=name):
            return torch.cat([t.reshape(-1) for t in _call_func(theirs, name, x, dict(zip(names, params)))])

        x = _inputs({}, False, seed=4)[0][:2]
        check_op(our_fn, their_fn, x, *[tnames[n].detach().numpy().copy() for n in names])


def _call_func(module, name, x, params):
    out = torch.func.functional_call(module, params, (x,))
    return [out[0], *out[1]] if name == "LSTM" else list(out)


@pytest.mark.parametrize("name", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("unbatched", [False, True])
def test_cells_match_torch_batched_and_unbatched(name, unbatched):
    torch.manual_seed(0)
    theirs = getattr(tnn(), name)(I_, H_).double()
    ours = getattr(nn, name)(I_, H_).to(dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    g = np.random.default_rng(5)
    lead = () if unbatched else (N_,)
    x, h, c = g.standard_normal(lead + (I_,)), g.standard_normal(lead + (H_,)), g.standard_normal(lead + (H_,))
    state = (lambda a, b: (a, b)) if name == "LSTMCell" else (lambda a, b: a)
    for given in (True, False):
        t_out = theirs(torch.tensor(x), state(torch.tensor(h), torch.tensor(c)) if given else None)
        o_out = ours(cr.Tensor(x, dtype=np.float64), state(cr.Tensor(h, dtype=np.float64), cr.Tensor(c, dtype=np.float64))
                     if given else None)  # fmt: skip
        for t, o in zip(t_out if name == "LSTMCell" else [t_out], o_out if name == "LSTMCell" else [o_out]):
            assert o.shape == tuple(t.shape)
            np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_recurrent_dropout_between_layers_in_training_only():
    _, ours = twins("LSTM", {"num_layers": 2, "dropout": 0.5})
    x = cr.Tensor(_inputs({}, False, seed=6)[0])
    eval_out = ours(x)[0].numpy()
    ours.train()
    cr.manual_seed(0)
    a = ours(x)[0].numpy()
    cr.manual_seed(0)
    assert np.array_equal(ours(x)[0].numpy(), a)  # seeded
    assert not np.allclose(a, eval_out)
    one = nn.LSTM(I_, H_, num_layers=1)
    assert one.dropout == 0.0 and "dropout" not in repr(one)


# -- state_dict keys, reprs, initialization ----------------------------------------------------
LAYERS = [
    "Dropout(0.2, inplace=True)", "Dropout1d()", "Dropout2d(0.3)", "Dropout3d(p=0.1)", "AlphaDropout(0.2)",
    "FeatureAlphaDropout()", "Embedding(10, 3, padding_idx=2)", "Embedding(10, 3, max_norm=1.0, norm_type=1.0)",
    "Embedding(10, 3, padding_idx=-1, scale_grad_by_freq=True)", "Flatten(0, 2)", "Unflatten(1, (2, 3))",
    "Unflatten(-1, [2, -1])", "GroupNorm(2, 4)", "GroupNorm(3, 6, eps=1e-3, affine=False)", "GroupNorm(1, 2, bias=False)",
    "LocalResponseNorm(3)", "LocalResponseNorm(2, alpha=0.1, beta=0.5, k=2.0)", "InstanceNorm1d(3)",
    "InstanceNorm2d(3, affine=True)", "InstanceNorm3d(3, momentum=None, track_running_stats=True)",
    "InstanceNorm1d(3, affine=True, bias=False, track_running_stats=True)", "LayerNorm(4, bias=False)",
    "ConstantPad1d(2, 3.5)", "ConstantPad2d((1, 0, 2, 1), -1.0)", "ConstantPad3d(1, 0.0)", "ZeroPad1d((1, 2))",
    "ZeroPad2d(1)", "ZeroPad3d((1, 0, 1, 0, 1, 0))", "ReflectionPad1d(1)", "ReflectionPad2d((1, 0, 2, 1))",
    "ReflectionPad3d(1)", "ReplicationPad1d((0, 2))", "ReplicationPad2d(1)", "ReplicationPad3d((1, 2, 0, 1, 1, 0))",
    "CircularPad1d(1)", "CircularPad2d((1, 2, 0, 1))", "CircularPad3d(1)", "PixelShuffle(2)", "PixelUnshuffle(3)",
    "ChannelShuffle(2)", "PairwiseDistance()", "PairwiseDistance(p=1.0, eps=0.0, keepdim=True)",
    "CosineSimilarity()", "CosineSimilarity(dim=0, eps=1e-6)", "Identity(3, unused=True)",
    "RNN(3, 5, 2, 'relu', False, True, 0.5, True)", "LSTM(3, 5, 2, True, True, 0.25, True, 2)",
    "GRU(3, 5, num_layers=3, dropout=0.1, bidirectional=True)", "RNNCell(3, 5, False, 'relu')", "LSTMCell(3, 5, False)",
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:dropout")
@pytest.mark.parametrize("layer", LAYERS)
def test_state_dict_keys_shapes_and_repr_are_torchs(layer):
    ours, theirs = eval("nn." + layer), eval("tnn()." + layer)
    assert repr(ours) == repr(theirs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]  # fmt: skip
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    if hasattr(theirs, "all_weights"):
        assert [[w.shape for w in ws] for ws in ours.all_weights] == [[tuple(w.shape) for w in ws] for ws in theirs.all_weights]
        assert ours._flat_weights_names == theirs._flat_weights_names and ours.mode == theirs.mode


@pytest.mark.parametrize("make", ["RNN(8, 64, 2, bidirectional=True)", "LSTM(8, 64, proj_size=16)", "GRU(8, 64)",
                                  "RNNCell(8, 64)", "LSTMCell(8, 64)", "GRUCell(8, 64, bias=False)"])  # fmt: skip
def test_recurrent_initialization_is_torchs_uniform(make):
    m = eval("nn." + make)
    bound = 1 / math.sqrt(64)
    values = np.concatenate([p.numpy().ravel() for p in m.parameters()])
    assert np.abs(values).max() <= bound
    assert abs(values.mean()) < 0.05 * bound and abs(values.std() - bound / math.sqrt(3)) < 0.05 * bound
    for p in m.parameters():  # each parameter drawn, none left at zero
        assert np.abs(p.numpy()).max() > 0.5 * bound
    before = [p.numpy().copy() for p in m.parameters()]
    m.reset_parameters()
    assert all(not np.array_equal(a, p.numpy()) for a, p in zip(before, m.parameters()))


def test_embedding_initialization_padding_row_and_pretrained():
    cr.manual_seed(0)
    emb = nn.Embedding(2000, 50, padding_idx=-3)
    w = emb.weight.numpy()
    assert emb.padding_idx == 1997 and not w[1997].any()
    rest = np.delete(w, 1997, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01  # N(0, 1)
    table = np.arange(6.0).reshape(3, 2)
    frozen = nn.Embedding.from_pretrained(cr.Tensor(table, dtype=np.float64), padding_idx=0)
    assert not frozen.weight.requires_grad and frozen.weight.dtype == np.float64
    np.testing.assert_array_equal(frozen.weight.numpy(), table)  # the given table, its padding row kept
    assert nn.Embedding.from_pretrained(table, freeze=False).weight.requires_grad
    given = nn.Embedding(3, 2, _weight=cr.Tensor(table), _freeze=True)
    assert not given.weight.requires_grad and np.array_equal(given.weight.numpy(), table)


@pytest.mark.parametrize("make", ["GroupNorm(2, 4)", "InstanceNorm1d(4, affine=True)", "LayerNorm((2, 4))",
                                  "InstanceNorm2d(4, affine=True, track_running_stats=True)"])  # fmt: skip
def test_norm_initialization_is_ones_and_zeros(make):
    m = eval("nn." + make)
    w, b = m.weight, m.bias
    assert (w.numpy() == 1).all() and (b.numpy() == 0).all()
    w.data[...] = 5
    b.data[...] = 3
    m.reset_parameters()
    assert (w.numpy() == 1).all() and (b.numpy() == 0).all()


# -- embedding, the module -----------------------------------------------------------------------
@pytest.mark.parametrize("kw", [{"padding_idx": 0}, {"max_norm": 1.0}, {"max_norm": 2.0, "norm_type": 1.0, "padding_idx": 3},
                                {"scale_grad_by_freq": True, "padding_idx": -1}])  # fmt: skip
def test_embedding_module_matches_torch(kw):
    torch.manual_seed(0)
    theirs = tnn().Embedding(6, 3, **kw).double()
    ours = nn.Embedding(6, 3, **kw).to(dtype=np.float64)
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[0, 3, 3, 5], [1, 0, 3, 2]])
    for step in range(2):  # max_norm rescales rows in place: the second call sees the first's weights
        t_out, o_out = theirs(torch.from_numpy(idx)), ours(idx)
        np.testing.assert_allclose(o_out.numpy(), t_out.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(ours.weight.numpy(), theirs.weight.detach().numpy(), rtol=1e-12)
        v = np.random.default_rng(step).standard_normal(o_out.shape)
        (t_out * torch.tensor(v)).sum().backward()
        (o_out * cr.Tensor(v, dtype=np.float64)).sum().backward()
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-12)
    if "padding_idx" in kw:
        assert not ours.weight.grad.numpy()[ours.padding_idx].any()


def test_embedding_max_norm_compiled_step_replays_the_rescaling():
    cr.manual_seed(0)
    emb = nn.Embedding(6, 3, max_norm=0.5)
    twin = nn.Embedding(6, 3, max_norm=0.5)
    twin.load_state_dict(emb.state_dict())

    def step(idx):
        emb.zero_grad()
        out = emb(idx)
        (out * out).sum().backward()
        return out

    compiled = cr.compile(step)
    for idx in (np.array([0, 1, 1]), np.array([2, 3, 4]), np.array([5, 0, 2])):
        got = compiled(idx)
        twin.zero_grad()
        want = twin(idx)
        (want * want).sum().backward()
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
        np.testing.assert_allclose(emb.weight.numpy(), twin.weight.numpy(), rtol=1e-6)  # rescaled in place, both
        np.testing.assert_allclose(emb.weight.grad.numpy(), twin.weight.grad.numpy(), rtol=1e-6)
    assert compiled.traces_made == 1


def test_embedding_refuses_sparse_and_bad_padding_idx():
    with pytest.raises(ValueError, match="Embedding: sparse=True .* expected sparse=False"):
        nn.Embedding(5, 2, sparse=True)
    with pytest.raises(ValueError, match="embedding: sparse=True"):
        F.embedding([1], cr.Tensor(np.zeros((3, 2))), sparse=True)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx=5 for 5 embeddings; expected -5 <= padding_idx < 5"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(ValueError, match=r"Embedding: _weight of shape \(2, 2\); expected \(5, 2\)"):
        nn.Embedding(5, 2, _weight=np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"from_pretrained: embeddings of shape \(4,\)"):
        nn.Embedding.from_pretrained(np.zeros(4))


# -- norms, the modules -------------------------------------------------------------------------
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("make,shape", [("InstanceNorm1d(3, affine=True, track_running_stats=True, momentum={m})", (4, 3, 5)),
                                        ("InstanceNorm2d(3, track_running_stats=True, momentum={m})", (2, 3, 3, 4)),
                                        ("InstanceNorm3d(3, affine=True, momentum={m})", (2, 3, 2, 2, 2)),
                                        ("InstanceNorm1d(3, track_running_stats=True, momentum={m})", (3, 5)),
                                        ("GroupNorm(3, 6)", (2, 6, 3)), ("LocalResponseNorm(3)", (2, 4, 3))])  # fmt: skip
def test_norm_modules_train_and_eval_as_torch(make, shape, momentum):
    make = make.format(m=momentum)
    torch.manual_seed(0)
    theirs = eval("tnn()." + make).double()
    ours = eval("nn." + make).to(dtype=np.float64)
    g = np.random.default_rng(7)
    for p in theirs.parameters():  # other values than the initial ones
        p.data = torch.tensor(g.standard_normal(tuple(p.shape)))
    ours.load_state_dict(theirs.state_dict())
    for training in (True, True, True, False):
        theirs.train(training), ours.train(training)
        x = g.standard_normal(shape) * 2 + 1
        tx, ox = torch.tensor(x, requires_grad=True), cr.Tensor(x, requires_grad=True, dtype=np.float64)
        t_out, o_out = theirs(tx), ours(ox)
        np.testing.assert_allclose(o_out.numpy(), t_out.detach().numpy(), rtol=1e-9, atol=1e-12)
        v = g.standard_normal(shape)
        (t_out * torch.tensor(v)).sum().backward()
        (o_out * cr.Tensor(v, dtype=np.float64)).sum().backward()
        np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-11)
        tparams = dict(theirs.named_parameters())
        for k, p in ours.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tparams[k].grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)
        for k, b in theirs.state_dict().items():  # the running statistics, step by step
            np.testing.assert_allclose(ours.state_dict()[k], b.numpy(), rtol=1e-6, err_msg=k)


@pytest.mark.parametrize("device", DEVICES)
def test_instance_norm_running_statistics_on_each_device(device):
    # a module's buffers move with it: training updates them there, eval normalizes by them there
    m = nn.InstanceNorm1d(3, affine=True, track_running_stats=True)

    def fn(x, w, b):
        m.reset_running_stats()  # each pass (the NumPy path's, then the device's) from the same statistics
        m.weight, m.bias = w, b
        m.train()
        y = m(x)
        m.eval()
        return y + m(x)

    check_on_device(fn, device, r(2, 3, 5), r(3), r(3), double=False, module=m)


def test_instance_norm_channels_warn_without_affine_and_refuse_with_it():
    with pytest.warns(UserWarning, match="InstanceNorm1d: input of shape \\(2, 4, 5\\) has 4 channels"):
        nn.InstanceNorm1d(3)(cr.Tensor(np.ones((2, 4, 5))))
    with pytest.raises(ValueError, match=r"InstanceNorm2d: input has shape \(2, 4, 3, 3\), 4 channels; expected num_features=3"):
        nn.InstanceNorm2d(3, affine=True)(cr.Tensor(np.ones((2, 4, 3, 3))))


# -- padding, flatten, shuffles, distances: the modules ------------------------------------------
MODULES = [
    ("ConstantPad1d((1, 2), 3.5)", (2, 3, 4)), ("ConstantPad2d((1, 0, 2, 1), -1.0)", (2, 2, 3)),
    ("ConstantPad3d(1, 0.5)", (1, 2, 2, 2, 2)), ("ZeroPad1d(2)", (3, 4)), ("ZeroPad2d((0, 1, 1, 0))", (1, 2, 3, 3)),
    ("ZeroPad3d((1, 0, 1, 0, 0, 1))", (2, 2, 2, 2)), ("ReflectionPad1d((2, 1))", (2, 3, 4)), ("ReflectionPad2d(1)", (2, 3, 3)),
    ("ReflectionPad3d((1, 0, 1, 1, 0, 1))", (1, 1, 2, 3, 2)), ("ReplicationPad1d(2)", (3, 4)),
    ("ReplicationPad2d((1, 2, 0, 1))", (1, 2, 3, 3)), ("ReplicationPad3d(1)", (2, 2, 2, 2)), ("CircularPad1d((1, 2))", (2, 3, 4)),
    ("CircularPad2d(1)", (2, 3, 3)), ("CircularPad3d((1, 0, 0, 1, 1, 1))", (1, 2, 2, 3, 2)), ("Flatten(0, -2)", (2, 3, 4)),
    ("Unflatten(1, (2, -1))", (3, 6, 2)), ("PixelShuffle(2)", (1, 8, 2, 3)), ("PixelUnshuffle(2)", (2, 1, 4, 2)),
    ("ChannelShuffle(3)", (2, 6, 2)), ("Dropout2d(0.4)", (2, 3, 2, 2)), ("AlphaDropout(0.4)", (3, 4)),
]  # fmt: skip


@pytest.mark.parametrize("make,shape", MODULES, ids=[m[0] for m in MODULES])
def test_shape_modules_match_torch(make, shape):
    theirs, ours = eval("tnn()." + make).eval(), eval("nn." + make).eval()
    check_op(lambda x: ours(x), lambda x: theirs(x), r(*shape))


def test_distance_modules_match_torch():
    a, b = r(3, 4), r(3, 4)
    for make in ("PairwiseDistance(p=1.0, keepdim=True)", "CosineSimilarity(dim=0)"):
        theirs, ours = eval("tnn()." + make), eval("nn." + make)
        check_op(lambda x, y: ours(x, y), lambda x, y: theirs(x, y), a, b)


# -- the dropout family in training ---------------------------------------------------------------
@pytest.mark.parametrize("fn,shape,channel_axes", [
    ("dropout1d", (40, 30, 7), 2), ("dropout1d", (300, 7), 1), ("dropout2d", (30, 40, 2, 3), 2),
    ("dropout2d", (30, 40, 6), 2), ("dropout3d", (20, 30, 2, 2, 2), 2), ("dropout3d", (300, 2, 2, 3), 1),
])  # fmt: skip
def test_channel_dropout_zeroes_whole_channels(fn, shape, channel_axes):
    x = cr.Tensor(np.ones(shape), requires_grad=True)
    cr.manual_seed(0)
    with pytest.warns(UserWarning) if fn == "dropout2d" and len(shape) == 3 else _nothing():
        y = getattr(F, fn)(x, 0.3)
    rows = y.numpy().reshape(int(np.prod(shape[:channel_axes])), -1)
    kept = rows[:, 0] != 0
    assert ((rows == 0).all(axis=1) | (rows == rows[:, :1]).all(axis=1)).all()  # each channel whole
    np.testing.assert_allclose(rows[kept], 1 / 0.7, rtol=1e-6)
    assert 0.65 < kept.mean() < 0.75
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy(), rtol=1e-6)  # the gradient follows the mask
    cr.manual_seed(0)
    with pytest.warns(UserWarning) if fn == "dropout2d" and len(shape) == 3 else _nothing():
        assert np.array_equal(getattr(F, fn)(x, 0.3).numpy(), y.numpy())  # seeded


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("feature", [False, True])
def test_alpha_dropout_keeps_selu_statistics(feature):
    g = np.random.default_rng(0)
    x = cr.Tensor(g.standard_normal((400, 50, 20)) if feature else g.standard_normal((400, 1000)))
    cr.manual_seed(0)
    fn = F.feature_alpha_dropout if feature else F.alpha_dropout
    y = fn(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02  # mean 0, variance 1 kept
    a = 1 / math.sqrt((1.7580993408473766**2 * 0.2 + 1) * 0.8)
    dropped = np.isclose(y, -a * 1.7580993408473766 * 0.8, rtol=1e-5)
    assert 0.18 < dropped.mean() < 0.22
    if feature:
        assert (dropped.all(axis=2) | ~dropped.any(axis=2)).mean() > 0.99  # whole channels (a few kept values fall near)
    assert fn(x, 0.2) is x  # training=False by default, as PyTorch's


# -- errors: the layer or function, the value and what was expected --------------------------------
@pytest.mark.parametrize("call,words", [
    (lambda: nn.LSTM(4, 5)(cr.Tensor(np.zeros((2, 3, 4, 1)))), ["LSTM", "(2, 3, 4, 1)", "(time, batch, features)", "unbatched"]),
    (lambda: nn.GRU(4, 5, batch_first=True)(cr.Tensor(np.zeros((2, 3, 3)))), ["GRU", "(2, 3, 3)", "(batch, time, features)", "4 features"]),
    (lambda: nn.LSTM(4, 5, bidirectional=True)(cr.Tensor(np.zeros((3, 2, 4))), (np.zeros((1, 2, 5)), np.zeros((2, 2, 5)))),
     ["LSTM", "h0", "(1, 2, 5)", "(2, 2, 5)"]),
    (lambda: nn.LSTM(4, 5, proj_size=2)(cr.Tensor(np.zeros((3, 4))), (np.zeros((1, 5)), np.zeros((1, 5)))),
     ["LSTM", "h0", "(1, 5)", "(1, 2)"]),
    (lambda: nn.RNN(4, 5)(cr.Tensor(np.zeros((3, 4))), np.zeros((1, 2, 5))), ["RNN", "h0", "(1, 2, 5)", "(1, 5)"]),
    (lambda: nn.LSTM(4, 5, proj_size=5), ["LSTM", "proj_size=5", "hidden_size=5"]),
    (lambda: nn.GRU(4, 5, dropout=1.5), ["GRU", "dropout=1.5", "0 <= dropout < 1"]),
    (lambda: nn.RNN(4, 0), ["RNN", "hidden_size=0", "> 0"]),
    (lambda: nn.RNN(4.0, 2), ["RNN", "input_size", "float", "int"]),
    (lambda: nn.LSTM(4, 2, batch_first=1), ["LSTM", "batch_first", "int", "bool"]),
    (lambda: nn.RNN(4, 5, 1, "sigmoid"), ["RNN", "'sigmoid'", "'tanh' or 'relu'"]),
    (lambda: nn.LSTMCell(4, 5)(cr.Tensor(np.zeros((2, 4))), (np.zeros((3, 5)), np.zeros((2, 5)))),
     ["LSTMCell", "hx[0]", "(3, 5)", "(2, 5)"]),
    (lambda: nn.GRUCell(4, 5)(cr.Tensor(np.zeros(3))), ["GRUCell", "(3,)", "(batch, 4)", "(4,)"]),
    (lambda: F.group_norm(cr.Tensor(np.zeros((2, 6, 3))), 4), ["group_norm", "6 channels", "(2, 6, 3)", "num_groups=4"]),
    (lambda: F.group_norm(cr.Tensor(np.zeros((1, 2))), 2), ["group_norm", "(1, 2)", "1 value per group"]),
    (lambda: F.group_norm(cr.Tensor(np.zeros((2, 4, 3))), 2, cr.Tensor(np.ones(3))), ["group_norm", "weight", "(3,)", "(4,)"]),
    (lambda: nn.GroupNorm(4, 6), ["GroupNorm", "num_channels=6", "num_groups=4"]),
    (lambda: F.instance_norm(cr.Tensor(np.zeros((2, 3, 1)))), ["instance_norm", "(2, 3, 1)", "1 position"]),
    (lambda: F.instance_norm(cr.Tensor(np.zeros((2, 3, 4))), use_input_stats=False), ["instance_norm", "running_mean"]),
    (lambda: nn.InstanceNorm1d(3)(cr.Tensor(np.zeros((2, 3, 4, 5)))), ["InstanceNorm1d", "(2, 3, 4, 5)", "3-D", "2-D"]),
    (lambda: F.local_response_norm(cr.Tensor(np.zeros((2, 3))), 2), ["local_response_norm", "(2, 3)", "3 dims"]),
    (lambda: F.pairwise_distance(cr.Tensor(np.zeros((2, 3))), cr.Tensor(np.zeros((4, 3)))),
     ["pairwise_distance", "(2, 3)", "(4, 3)", "broadcast"]),
    (lambda: F.cosine_similarity(cr.Tensor(np.zeros((2, 3))), cr.Tensor(np.zeros((2, 3))), dim=2), ["cosine_similarity", "2"]),
    (lambda: F.pixel_shuffle(cr.Tensor(np.zeros((1, 5, 2, 2))), 2), ["pixel_shuffle", "(1, 5, 2, 2)", "divisible", "4"]),
    (lambda: F.pixel_shuffle(cr.Tensor(np.zeros((1, 4, 2, 2))), 0), ["pixel_shuffle", "upscale_factor=0", "positive"]),
    (lambda: F.pixel_unshuffle(cr.Tensor(np.zeros((1, 1, 3, 4))), 2), ["pixel_unshuffle", "(1, 1, 3, 4)", "downscale_factor=2"]),
    (lambda: F.channel_shuffle(cr.Tensor(np.zeros((1, 5, 2))), 2), ["channel_shuffle", "(1, 5, 2)", "groups=2"]),
    (lambda: F.dropout1d(cr.Tensor(np.zeros((2, 3, 4, 5))), 0.5), ["dropout1d", "(2, 3, 4, 5)", "(N, C, L)"]),
    (lambda: F.alpha_dropout(cr.Tensor(np.zeros(3)), 1.0), ["alpha_dropout", "p=1.0", "0 <= p < 1"]),
    (lambda: nn.Dropout2d(-0.1), ["Dropout2d", "p=-0.1"]),
    (lambda: nn.ZeroPad2d((1, 2, 3)), ["ZeroPad2d", "(1, 2, 3)", "4 ints"]),
    (lambda: nn.CircularPad2d(1)(cr.Tensor(np.zeros((2, 2)))), ["CircularPad2d", "(2, 2)", "3-D or 4-D"]),
    (lambda: nn.Unflatten(1, 6), ["Unflatten", "int", "tuple or list"]),
    (lambda: nn.Unflatten(1, (2, 3.0)), ["Unflatten", "float", "position 1"]),
    (lambda: F.embedding([1], cr.Tensor(np.zeros(3))), ["embedding", "(3,)", "(num_embeddings, embedding_dim)"]),
    (lambda: F.embedding([1], cr.Tensor(np.zeros((3, 2))), padding_idx=-4), ["embedding", "padding_idx=-4", "3 embeddings"]),
])  # fmt: skip
def test_bad_input_names_the_layer_and_shapes(call, words):
    with pytest.raises((ValueError, TypeError, IndexError)) as e:
        call()
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_nothing_changes_before_an_error():
    # a bad index is found before max_norm rescales any row
    emb = nn.Embedding(4, 2, max_norm=0.1)
    before = emb.weight.numpy().copy()
    with pytest.raises(IndexError, match="embedding"):
        emb(np.array([0, 7]))
    np.testing.assert_array_equal(emb.weight.numpy(), before)
    # bad running statistics are found before any is updated
    m = nn.InstanceNorm1d(3, track_running_stats=True)
    mean = m.running_mean.copy()
    with pytest.raises(ValueError):
        m(cr.Tensor(np.ones((2, 3, 1))))
    np.testing.assert_array_equal(m.running_mean, mean)



def test_one_hot_is_torchs():
    for idx, k in ((np.array([0, 2, 1]), -1), (np.array([[1, 0], [3, 3]]), 5), (np.array(2), 4)):
        ours = F.one_hot(cr.tensor(idx), k).numpy()
        theirs = tF().one_hot(torch.from_numpy(idx), k).numpy()
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        np.testing.assert_array_equal(ours, theirs)

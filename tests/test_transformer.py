"""MultiheadAttention, the Transformer modules, RMSNorm and the positional encoding against torch.nn.

Each module is built in both libraries with the same arguments, PyTorch's state_dict is loaded
into ours (so the keys must match), and in float64 the outputs, the attention weights, and the
gradients of the inputs, of float masks and of every parameter must agree, for every mask kind,
both layouts, pre- and post-norm, both activations, cross-attention and unbatched inputs (in
eval mode: dropout off). Dropout in training mode is checked for shapes, effect and seeding.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import check_compiled, check_on_device, check_op, torch

import chainrule as cr
import chainrule.nn.functional as F
from chainrule import nn

# PyTorch warns when a boolean key padding mask meets a float attn_mask (which it then adds): a case here
pytestmark = [pytest.mark.filterwarnings("ignore:Support for mismatched"),
              pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")]  # PyTorch's fast path, off here

rng = np.random.default_rng(2526)
D, H = 8, 2  # d_model, heads


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def padding(n: int, s: int) -> np.ndarray:
    """A key padding mask (True: padding, not attended to) that leaves every row a key."""
    m = rng.uniform(size=(n, s)) < 0.4
    m[:, 0] = False
    return m


def causal_bool(length: int) -> np.ndarray:
    return np.triu(np.ones((length, length), bool), 1)  # MultiheadAttention's words: True may not be seen


def causal_float(length: int, s: int | None = None) -> np.ndarray:
    return np.triu(np.full((length, s or length), -np.inf), 1)


def build(name: str, *args, **kwargs):
    """The module in both libraries, in float64, with PyTorch's weights loaded into ours."""
    t_kwargs = dict(kwargs)
    act = kwargs.get("activation")
    if isinstance(act, tuple):  # (ours, theirs): a callable
        kwargs["activation"], t_kwargs["activation"] = act
    theirs = getattr(torch.nn, name)(*args, **t_kwargs).double()
    ours = getattr(nn, name)(*args, **kwargs).double()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict()), (list(state), list(ours.state_dict()))
    ours.load_state_dict(state)
    return ours.eval(), theirs.eval()


def compare(ours, theirs, inputs: tuple, masks: dict | None = None, grad_masks: tuple = (), **kwargs) -> None:
    """Forward both on the same float64 inputs and masks; outputs (and weights), the gradients of
    the inputs, of the masks named in ``grad_masks`` and of every parameter must agree."""
    masks = masks or {}
    xs = [cr.Tensor(x, dtype="float64", requires_grad=True) for x in inputs]
    ts = [torch.tensor(x, requires_grad=True) for x in inputs]
    ms = {k: cr.Tensor(v, dtype="float64", requires_grad=True) if k in grad_masks else v for k, v in masks.items()}
    tms = {k: torch.tensor(v, requires_grad=k in grad_masks) for k, v in masks.items()}
    out, tout = ours(*xs, **ms, **kwargs), theirs(*ts, **tms, **kwargs)
    outs, touts = (out, tout) if isinstance(out, tuple) else ((out,), (tout,))
    loss, tloss = 0, 0
    for o, t in zip(outs, touts):
        if t is None:
            assert o is None
            continue
        assert o.shape == tuple(t.shape), (o.shape, t.shape)
        np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-11, err_msg="forward")
        w = r(*o.shape)
        loss, tloss = loss + (o * cr.Tensor(w, dtype="float64")).sum(), tloss + (t * torch.tensor(w)).sum()
    loss.backward()
    tloss.backward()
    for i, (x, t) in enumerate(zip(xs, ts)):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=f"input {i}")
    for k in grad_masks:
        np.testing.assert_allclose(ms[k].grad.numpy(), tms[k].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=k)
    tparams = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


# -- MultiheadAttention ------------------------------------------------------------------------------

L, S, N = 4, 6, 3
MHA_MASKS = {
    "none": lambda: {},
    "kpm-bool": lambda: {"key_padding_mask": padding(N, S)},
    "kpm-float": lambda: {"key_padding_mask": r(N, S)},
    "attn-bool-2d": lambda: {"attn_mask": padding(L, S)},
    "attn-float-2d": lambda: {"attn_mask": r(L, S)},
    "attn-bool-3d": lambda: {"attn_mask": padding(N * H, L * S).reshape(N * H, L, S) & (np.arange(S) > 0)},
    "attn-float-3d": lambda: {"attn_mask": r(N * H, L, S)},
    "both-bool": lambda: {"attn_mask": padding(L, S), "key_padding_mask": padding(N, S)},
    "both-float": lambda: {"attn_mask": r(L, S), "key_padding_mask": r(N, S)},
    "bool-kpm-float-attn": lambda: {"attn_mask": r(N * H, L, S), "key_padding_mask": padding(N, S)},
}


@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)],
                         ids=["weights-averaged", "weights-per-head", "no-weights"])  # fmt: skip
@pytest.mark.parametrize("masks", list(MHA_MASKS))
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq-first", "batch-first"])
def test_mha_cross_attention_every_mask(batch_first, masks, need_weights, average):
    ours, theirs = build("MultiheadAttention", D, H, batch_first=batch_first)
    shape = (lambda n, length, e: (n, length, e)) if batch_first else (lambda n, length, e: (length, n, e))
    compare(ours, theirs, (r(*shape(N, L, D)), r(*shape(N, S, D)), r(*shape(N, S, D))), MHA_MASKS[masks](),
            need_weights=need_weights, average_attn_weights=average)  # fmt: skip


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_mha_self_attention_uses_the_packed_product(batch_first, need_weights):
    ours, theirs = build("MultiheadAttention", D, H, batch_first=batch_first)
    x = r(N, L, D) if batch_first else r(L, N, D)
    xs, ts = cr.Tensor(x, dtype="float64", requires_grad=True), torch.tensor(x, requires_grad=True)
    kpm = padding(N, L)
    out, w = ours(xs, xs, xs, key_padding_mask=kpm, need_weights=need_weights)
    tout, tw = theirs(ts, ts, ts, key_padding_mask=torch.tensor(kpm), need_weights=need_weights)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-9, atol=1e-11)
    g = r(*out.shape)
    out.backward(cr.Tensor(g, dtype="float64"))
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xs.grad.numpy(), ts.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.in_proj_weight.grad.numpy(), theirs.in_proj_weight.grad.numpy(), rtol=1e-8)


@pytest.mark.parametrize(
    "kwargs",
    [{"kdim": 3, "vdim": 5}, {"kdim": 3, "vdim": 5, "bias": False}, {"bias": False}, {"kdim": 8, "vdim": 5}],
    ids=["kdim-vdim", "kdim-vdim-no-bias", "no-bias", "vdim-only"],
)
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_other_key_and_value_widths_and_no_bias(kwargs, need_weights):
    ours, theirs = build("MultiheadAttention", D, H, batch_first=True, **kwargs)
    inputs = (r(N, L, D), r(N, S, kwargs.get("kdim", D)), r(N, S, kwargs.get("vdim", D)))
    compare(ours, theirs, inputs, {"key_padding_mask": padding(N, S), "attn_mask": r(L, S)}, need_weights=need_weights)


@pytest.mark.parametrize("masks", ["none", "kpm", "attn-2d", "attn-3d", "both"])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
def test_mha_unbatched(masks, need_weights, average):
    ours, theirs = build("MultiheadAttention", D, H, batch_first=True)  # ignored for unbatched inputs
    m = {"none": {}, "kpm": {"key_padding_mask": padding(1, S)[0]}, "attn-2d": {"attn_mask": r(L, S)},
         "attn-3d": {"attn_mask": r(H, L, S)},
         "both": {"attn_mask": padding(L, S), "key_padding_mask": padding(1, S)[0]}}[masks]  # fmt: skip
    compare(ours, theirs, (r(L, D), r(S, D), r(S, D)), m, need_weights=need_weights, average_attn_weights=average)


def test_mha_gradients_reach_float_masks():
    ours, theirs = build("MultiheadAttention", D, H)
    compare(ours, theirs, (r(L, N, D), r(S, N, D), r(S, N, D)), {"attn_mask": r(N * H, L, S), "key_padding_mask": r(N, S)},
            grad_masks=("attn_mask", "key_padding_mask"))  # fmt: skip
    compare(ours, theirs, (r(L, N, D), r(S, N, D), r(S, N, D)), {"attn_mask": r(L, S)}, grad_masks=("attn_mask",),
            need_weights=False)  # fmt: skip


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("padded", [False, True])
def test_mha_causal_hint(need_weights, padded):
    # PyTorch's is_causal is a hint that attn_mask is causal: with no padding and no weights it
    # takes SDPA's causal mask instead; otherwise the mask itself
    ours, theirs = build("MultiheadAttention", D, H)
    masks = {"attn_mask": causal_float(L)} | ({"key_padding_mask": padding(N, L)} if padded else {})
    compare(ours, theirs, (r(L, N, D), r(L, N, D), r(L, N, D)), masks, need_weights=need_weights, is_causal=True)
    compare(ours, theirs, (r(L, N, D), r(L, N, D), r(L, N, D)), {"attn_mask": causal_bool(L)}, need_weights=need_weights,
            is_causal=True)  # fmt: skip


def test_mha_fully_masked_query_gives_bias_not_nan():
    mha = nn.MultiheadAttention(D, H, batch_first=True).double()
    x = cr.Tensor(r(2, L, D), dtype="float64", requires_grad=True)
    kpm = np.zeros((2, L), bool)
    kpm[1] = True  # sequence 1: every key is padding
    for need_weights in (True, False):
        out, w = mha(x, x, x, key_padding_mask=kpm, need_weights=need_weights)
        out.sum().backward()
        assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
        np.testing.assert_allclose(out.numpy()[1], np.broadcast_to(mha.out_proj.bias.numpy(), (L, D)))
        assert w is None or not w.numpy()[1].any()


def with_params(module: nn.Module, call):
    """f(*inputs, *params): ``call(module, *inputs)`` with the module's parameters replaced by the
    given tensors (on a device, the parameters are inputs moved there too)."""
    names = [n for n, _ in module.named_parameters()]

    def f(*args):
        inputs, params = args[: len(args) - len(names)], args[len(args) - len(names) :]
        for name, p in zip(names, params):
            *path, attr = name.split(".")
            owner = module
            for part in path:
                owner = getattr(owner, part)
            setattr(owner, attr, p)
        return call(module, *inputs)

    return f, [p.numpy().astype(np.float64) for p in module.parameters()]


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_on_the_device_stand_in_and_compiled(need_weights):
    mha = nn.MultiheadAttention(D, H, batch_first=True)
    kpm, am = padding(N, S), r(L, S)

    def call(m, q, k, v):
        out, w = m(q, k, v, key_padding_mask=kpm, attn_mask=am, need_weights=need_weights)
        return out if w is None else out + w.sum()

    f, params = with_params(mha, call)
    inputs = (r(N, L, D), r(N, S, D), r(N, S, D), *params)
    check_compiled(f, *inputs)
    check_compiled(f, *inputs, device="strict")
    check_on_device(f, "strict", *inputs)


# -- the Transformer's layers, stacks and the whole model ------------------------------------------------

LAYOUTS = [(False, False), (False, True), (True, False), (True, True)]
ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "relu-fn": (F.relu, torch.nn.functional.relu) if torch else None,
               "silu-callable": (F.silu, torch.nn.functional.silu) if torch else None}  # fmt: skip


def seq(batch_first: bool, n: int, length: int) -> np.ndarray:
    return r(n, length, D) if batch_first else r(length, n, D)


@pytest.mark.parametrize("activation", list(ACTIVATIONS))
@pytest.mark.parametrize("batch_first,norm_first", LAYOUTS, ids=["seq-post", "seq-pre", "batch-post", "batch-pre"])
def test_encoder_layer(batch_first, norm_first, activation):
    ours, theirs = build("TransformerEncoderLayer", D, H, dim_feedforward=16, dropout=0.1,
                         activation=ACTIVATIONS[activation], batch_first=batch_first, norm_first=norm_first)  # fmt: skip
    x = seq(batch_first, N, L)
    compare(ours, theirs, (x,))
    compare(ours, theirs, (x,), {"src_mask": causal_float(L), "src_key_padding_mask": padding(N, L)})
    compare(ours, theirs, (x,), {"src_mask": causal_bool(L)}, is_causal=True)
    compare(ours, theirs, (x,), {"src_key_padding_mask": r(N, L)})


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first,norm_first", LAYOUTS, ids=["seq-post", "seq-pre", "batch-post", "batch-pre"])
def test_decoder_layer(batch_first, norm_first, activation):
    ours, theirs = build("TransformerDecoderLayer", D, H, dim_feedforward=16, activation=activation,
                         batch_first=batch_first, norm_first=norm_first)  # fmt: skip
    tgt, memory = seq(batch_first, N, L), seq(batch_first, N, S)
    compare(ours, theirs, (tgt, memory))
    compare(ours, theirs, (tgt, memory), {"tgt_mask": causal_float(L), "memory_mask": padding(L, S),
                                          "tgt_key_padding_mask": padding(N, L),
                                          "memory_key_padding_mask": padding(N, S)})  # fmt: skip
    compare(ours, theirs, (tgt, memory), {"tgt_mask": causal_float(L), "memory_mask": r(L, S)}, tgt_is_causal=True)


@pytest.mark.parametrize("norm_first", [False, True])
def test_layers_unbatched_and_without_bias(norm_first):
    ours, theirs = build("TransformerEncoderLayer", D, H, 16, norm_first=norm_first, bias=False)
    compare(ours, theirs, (r(L, D),), {"src_mask": causal_float(L), "src_key_padding_mask": padding(1, L)[0]})
    ours, theirs = build("TransformerDecoderLayer", D, H, 16, norm_first=norm_first, bias=False)
    compare(ours, theirs, (r(L, D), r(S, D)), {"tgt_mask": causal_float(L), "memory_key_padding_mask": padding(1, S)[0]})


@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_and_decoder_stacks(batch_first):
    layer = nn.TransformerEncoderLayer(D, H, 16, batch_first=batch_first)
    tlayer = torch.nn.TransformerEncoderLayer(D, H, 16, batch_first=batch_first)
    ours, theirs = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(D)), torch.nn.TransformerEncoder(
        tlayer, 3, norm=torch.nn.LayerNorm(D), enable_nested_tensor=False)
    ours, theirs = _loaded(ours, theirs)
    assert ours.layers[0] is not layer and ours.layers[0].linear1 is not ours.layers[1].linear1  # deep copies
    x = seq(batch_first, N, L)
    compare(ours, theirs, (x,), {"mask": causal_float(L), "src_key_padding_mask": padding(N, L)})
    compare(ours, theirs, (x,), {"mask": causal_float(L)}, is_causal=True)
    compare(ours, theirs, (x,), {"mask": causal_float(L)})  # PyTorch finds it causal by itself: the same numbers
    ours, theirs = _loaded(nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, 16, batch_first=batch_first), 2),
                           torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, H, 16, batch_first=batch_first), 2))  # fmt: skip
    compare(ours, theirs, (x, seq(batch_first, N, S)), {"tgt_mask": causal_float(L), "memory_key_padding_mask": padding(N, S)},
            tgt_is_causal=True)  # fmt: skip


def _loaded(ours, theirs):
    ours.double()
    theirs.double()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert list(state) == list(ours.state_dict())
    ours.load_state_dict(state)
    return ours.eval(), theirs.eval()


@pytest.mark.parametrize("batch_first,norm_first", LAYOUTS, ids=["seq-post", "seq-pre", "batch-post", "batch-pre"])
def test_transformer_every_mask(batch_first, norm_first):
    ours, theirs = build("Transformer", d_model=D, nhead=H, num_encoder_layers=2, num_decoder_layers=2,
                         dim_feedforward=16, activation="gelu", batch_first=batch_first, norm_first=norm_first)  # fmt: skip
    src, tgt = seq(batch_first, N, S), seq(batch_first, N, L)
    masks = {"src_mask": r(S, S), "tgt_mask": nn.Transformer.generate_square_subsequent_mask(L).double().numpy(),
             "memory_mask": padding(L, S), "src_key_padding_mask": padding(N, S),
             "tgt_key_padding_mask": padding(N, L), "memory_key_padding_mask": padding(N, S)}  # fmt: skip
    compare(ours, theirs, (src, tgt), masks)
    compare(ours, theirs, (src, tgt), {"tgt_mask": causal_float(L)}, tgt_is_causal=True)
    compare(ours, theirs, (r(S, D), r(L, D)), {"tgt_mask": causal_float(L), "src_key_padding_mask": padding(1, S)[0]})
    compare(ours, theirs, (src, tgt), {"src_mask": r(N * H, S, S), "memory_mask": r(N * H, L, S)},
            grad_masks=("src_mask", "memory_mask"))  # fmt: skip


def test_generate_square_subsequent_mask_is_pytorchs():
    for sz in (1, 2, 5):
        ours = nn.Transformer.generate_square_subsequent_mask(sz)
        assert ours.dtype == np.float32
        np.testing.assert_array_equal(ours.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(sz).numpy())
    assert nn.Transformer.generate_square_subsequent_mask(3, dtype="float64").dtype == np.float64


# -- PyTorch's names and initialization -------------------------------------------------------------------

STATE_DICTS = [
    ("MultiheadAttention", (D, H), {}),
    ("MultiheadAttention", (D, H), {"bias": False}),
    ("MultiheadAttention", (D, H), {"kdim": 3, "vdim": 5}),
    ("MultiheadAttention", (D, H), {"kdim": 3, "vdim": 5, "bias": False, "batch_first": True}),
    ("TransformerEncoderLayer", (D, H, 16), {}),
    ("TransformerEncoderLayer", (D, H), {"bias": False, "norm_first": True, "activation": "gelu"}),
    ("TransformerDecoderLayer", (D, H, 16), {}),
    ("TransformerDecoderLayer", (D, H, 16), {"bias": False}),
    ("Transformer", (), {"d_model": D, "nhead": H, "num_encoder_layers": 2, "num_decoder_layers": 3, "dim_feedforward": 16}),
    ("Transformer", (D, H, 1, 1, 16), {"bias": False, "batch_first": True, "norm_first": True}),
    ("LayerNorm", (D,), {}), ("LayerNorm", (D,), {"bias": False}), ("LayerNorm", ((2, D),), {"elementwise_affine": False}),
    ("RMSNorm", (D,), {}), ("RMSNorm", ((2, D),), {"eps": 1e-3}), ("RMSNorm", (D,), {"elementwise_affine": False}),
]  # fmt: skip


@pytest.mark.parametrize("name,args,kwargs", STATE_DICTS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(STATE_DICTS)])
def test_state_dict_keys_and_shapes_are_pytorchs(name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})


def test_stacks_and_custom_parts_state_dicts():
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, 16), 2, norm=nn.LayerNorm(D))
    tenc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(D, H, 16), 2, norm=torch.nn.LayerNorm(D),
                                       enable_nested_tensor=False)  # fmt: skip
    assert list(enc.state_dict()) == list(tenc.state_dict())
    assert "layers.1.self_attn.out_proj.weight" in enc.state_dict()
    model = nn.Transformer(D, H, custom_encoder=enc, custom_decoder=nn.TransformerDecoder(nn.TransformerDecoderLayer(D, H, 16), 1))
    tmodel = torch.nn.Transformer(D, H, custom_encoder=tenc,
                                  custom_decoder=torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(D, H, 16), 1))  # fmt: skip
    assert list(model.state_dict()) == list(tmodel.state_dict())
    assert model.encoder is enc


def test_initialization_is_pytorchs():
    cr.manual_seed(0)
    e = 64
    mha = nn.MultiheadAttention(e, 4)
    w = mha.in_proj_weight.numpy()
    bound = math.sqrt(6 / (e + 3 * e))  # Glorot uniform over the (3E, E) packed weight
    assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert not mha.in_proj_bias.numpy().any() and not mha.out_proj.bias.numpy().any()
    assert np.abs(mha.out_proj.weight.numpy()).max() <= 1 / math.sqrt(e)  # PyTorch's Linear: U(+-1/sqrt(in))
    sep = nn.MultiheadAttention(e, 4, kdim=16, vdim=32)
    assert np.abs(sep.k_proj_weight.numpy()).max() <= math.sqrt(6 / (e + 16))
    layer = nn.TransformerEncoderLayer(e, 4, 128)
    assert np.abs(layer.linear1.weight.numpy()).max() <= 1 / math.sqrt(e)
    assert np.abs(layer.linear1.bias.numpy()).max() <= 1 / math.sqrt(e) and layer.linear1.bias.numpy().any()
    model = nn.Transformer(e, 4, 1, 1, 128)
    lin = model.encoder.layers[0].linear2.weight.numpy()  # every matrix re-drawn Glorot uniform
    assert np.abs(lin).max() <= math.sqrt(6 / (e + 128)) and np.abs(lin).max() > 1 / math.sqrt(128)


# -- dropout in training mode --------------------------------------------------------------------------------


@pytest.mark.parametrize("name,args,inputs", [
    ("MultiheadAttention", (D, H), lambda: (r(L, N, D), r(S, N, D), r(S, N, D))),
    ("TransformerEncoderLayer", (D, H, 16), lambda: (r(L, N, D),)),
    ("TransformerDecoderLayer", (D, H, 16), lambda: (r(L, N, D), r(S, N, D))),
    ("Transformer", (D, H, 1, 1, 16), lambda: (r(S, N, D), r(L, N, D))),
], ids=["mha", "encoder-layer", "decoder-layer", "transformer"])  # fmt: skip
def test_dropout_in_training_changes_outputs_and_repeats_under_a_seed(name, args, inputs):
    m = getattr(nn, name)(*args, dropout=0.3)
    xs = [cr.Tensor(x) for x in inputs()]

    def run(**kw):
        out = m(*xs, **kw)
        return (out[0] if isinstance(out, tuple) else out).numpy()

    m.eval()
    plain = run()
    m.train()
    cr.manual_seed(4)
    a, b = run(), run()
    cr.manual_seed(4)
    c = run()
    assert a.shape == plain.shape and not np.allclose(a, plain) and not np.allclose(a, b)
    np.testing.assert_array_equal(a, c)
    if name == "MultiheadAttention":  # the fused and composed paths draw the same mask
        for need_weights in (True, False):
            cr.manual_seed(4)
            np.testing.assert_allclose(run(need_weights=need_weights), a, rtol=1e-5, atol=1e-6)
        cr.manual_seed(4)
        _, w = m(*xs)
        assert w.shape == (N, L, S) and not np.allclose(w.numpy().sum(-1), 1)  # the weights after dropout


@pytest.mark.parametrize("device", ["cpu", "strict"])
def test_layers_compiled_and_on_the_device_stand_in(device):
    mask, kpm = causal_float(L), padding(N, L)
    layer = nn.TransformerEncoderLayer(D, H, 16, batch_first=True, norm_first=True).eval()
    f, params = with_params(layer, lambda m, x: m(x, src_mask=mask, src_key_padding_mask=kpm))
    check_compiled(f, r(N, L, D), *params, device=device)
    check_on_device(f, device, r(N, L, D), *params)
    layer = nn.TransformerDecoderLayer(D, H, 16).eval()
    f, params = with_params(layer, lambda m, x, mem: m(x, mem, tgt_mask=mask, tgt_is_causal=True))
    check_compiled(f, r(L, N, D), r(S, N, D), *params, device=device)
    check_on_device(f, device, r(L, N, D), r(S, N, D), *params)


# -- RMSNorm, linear over extra axes, the positional encoding -------------------------------------------------


@pytest.mark.parametrize("shape,normalized,eps", [((3, 4), (4,), None), ((2, 3, 4), (3, 4), 1e-3), ((5,), 5, 0.1)])
def test_rms_norm_against_torch(shape, normalized, eps):
    w = r(*((normalized,) if isinstance(normalized, int) else normalized))
    check_op(lambda x, w: F.rms_norm(x, normalized, w, eps), lambda x, w: torch.nn.functional.rms_norm(
        x, [normalized] if isinstance(normalized, int) else list(normalized), w, eps), r(*shape), w)
    check_op(lambda x: F.rms_norm(x, normalized, eps=eps), lambda x: torch.nn.functional.rms_norm(
        x, [normalized] if isinstance(normalized, int) else list(normalized), eps=eps), r(*shape))
    ours, theirs = build("RMSNorm", normalized, eps=eps)
    compare(ours, theirs, (r(*shape),))


def test_rms_norm_default_eps_is_the_dtypes():
    x = np.full((1, 2), 1e-4)
    for dtype in ("float32", "float64"):
        out = nn.RMSNorm(2)(cr.Tensor(x, dtype=dtype)).numpy()
        want = torch.nn.RMSNorm(2, dtype=getattr(torch, dtype))(torch.tensor(x, dtype=getattr(torch, dtype)))
        np.testing.assert_allclose(out, want.detach().numpy(), rtol=1e-6)


def test_linear_over_extra_axes_is_the_fused_gate():
    check_op(F.linear, torch.nn.functional.linear, r(2, 3, 4), r(5, 4), r(5))
    check_op(F.linear, torch.nn.functional.linear, r(2, 1, 3, 4), r(5, 4))
    out = F.linear(cr.Tensor(r(2, 3, 4), requires_grad=True), cr.Tensor(r(5, 4)))
    assert out.op == "Linear" and out._ctx.inputs[0].op is None  # one node: no reshapes, no batched matmul and sum


@pytest.mark.parametrize("length,d_model", [(1, 2), (7, 6), (5, 7), (0, 4)])
def test_sinusoidal_positional_encoding_is_the_papers(length, d_model):
    pe = nn.utils.sinusoidal_positional_encoding(length, d_model).numpy()
    assert pe.shape == (length, d_model) and pe.dtype == np.float32
    for pos in range(length):
        for i in range(d_model):
            angle = pos / 10000 ** (2 * (i // 2) / d_model)
            assert pe[pos, i] == pytest.approx(math.sin(angle) if i % 2 == 0 else math.cos(angle), abs=1e-6)
    other = nn.utils.sinusoidal_positional_encoding(3, 4, base=100.0).numpy()
    assert other[1, 2] == pytest.approx(math.sin(1 / 10), abs=1e-7)


# -- errors, named, with the shapes, before anything runs ---------------------------------------------------


@pytest.mark.parametrize(
    "call,kind,match",
    [
        (lambda: nn.MultiheadAttention(10, 3), ValueError, r"MultiheadAttention: embed_dim=10 is not divisible by num_heads=3"),
        (lambda: nn.MultiheadAttention(0, 2), ValueError, r"MultiheadAttention: embed_dim=0, num_heads=2; expected both > 0"),
        (lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True), NotImplementedError, r"add_bias_kv=True is not implemented"),
        (lambda: nn.MultiheadAttention(8, 2, add_zero_attn=True), NotImplementedError, r"add_zero_attn=True"),
        (lambda: nn.MultiheadAttention(8, 2, dropout=1.0), ValueError, r"MultiheadAttention: dropout=1.0"),
        (lambda: nn.TransformerEncoderLayer(8, 2, activation="tanh"), ValueError,
         r"TransformerEncoderLayer: activation='tanh'; expected 'relu', 'gelu' or a callable"),
        (lambda: nn.TransformerDecoderLayer(8, 3), ValueError, r"embed_dim=8 is not divisible by num_heads=3"),
    ],
    ids=["not-divisible", "zero", "bias-kv", "zero-attn", "dropout", "activation", "decoder-heads"],
)
def test_bad_construction_is_named(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def _x(*shape):
    return cr.Tensor(np.zeros(shape), requires_grad=True)


MHA = nn.MultiheadAttention(D, H)
MHA_KV = nn.MultiheadAttention(D, H, kdim=3, vdim=5, batch_first=True)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: MHA(_x(4, 2, 6), _x(5, 2, 6), _x(5, 2, 6)),
         r"MultiheadAttention: query \(4, 2, 6\), key \(5, 2, 6\), value \(5, 2, 6\); expected last axes \(embed_dim, kdim, vdim\) = \(8, 8, 8\)"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 2, 8), _x(6, 2, 8)), r"key \(5, 2, 8\), value \(6, 2, 8\); expected key and value of one length"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 3, 8), _x(5, 3, 8)), r"query \(4, 2, 8\), key \(5, 3, 8\).*all three of one batch size"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 8), _x(5, 8)), r"expected all three 3-D \(batched\) or all 2-D \(unbatched\)"),
        (lambda: MHA_KV(_x(2, 4, 8), _x(2, 5, 5), _x(2, 5, 3)), r"expected last axes \(embed_dim, kdim, vdim\) = \(8, 3, 5\)"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 2, 8), _x(5, 2, 8), key_padding_mask=np.zeros((2, 4), bool)),
         r"key_padding_mask of shape \(2, 4\) with query \(4, 2, 8\), key \(5, 2, 8\), value \(5, 2, 8\); expected \(2, 5\)"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 2, 8), _x(5, 2, 8), attn_mask=np.zeros((5, 4))),
         r"attn_mask of shape \(5, 4\) .*; expected \(L, S\) = \(4, 5\) or \(N \* num_heads, L, S\) = \(4, 4, 5\)"),
        (lambda: MHA(_x(4, 8), _x(5, 8), _x(5, 8), attn_mask=np.zeros((2, 2, 4, 5))), r"attn_mask of shape \(2, 2, 4, 5\)"),
        (lambda: MHA(_x(4, 2, 8), _x(5, 2, 8), _x(5, 2, 8), attn_mask=np.zeros((4, 5), np.int64)),
         r"MultiheadAttention: attn_mask of dtype int64; expected bool or float"),
        (lambda: MHA(_x(4, 2, 8), _x(4, 2, 8), _x(4, 2, 8), is_causal=True), r"is_causal=True without attn_mask"),
        (lambda: nn.TransformerEncoderLayer(D, H, 16)(_x(4, 2, 6)),
         r"TransformerEncoderLayer: src of shape \(4, 2, 6\); expected \(S, N, d_model\) or \(S, d_model\) with d_model = 8"),
        (lambda: nn.TransformerDecoderLayer(D, H, 16, batch_first=True)(_x(2, 4, 8), _x(2, 3)),
         r"TransformerDecoderLayer: memory of shape \(2, 3\); expected \(N, S, d_model\)"),
        (lambda: nn.Transformer(D, H, 1, 1, 16)(_x(5, 2, 8), _x(4, 3, 8)),
         r"Transformer: src of shape \(5, 2, 8\) and tgt of shape \(4, 3, 8\); expected the same batch size on axis 1"),
        (lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, 16), 2)(_x(4, 2, 8), mask=np.zeros((3, 3))),
         r"MultiheadAttention: attn_mask of shape \(3, 3\)"),
    ],
    ids=["width", "kv-length", "batch", "ndim", "kdim", "kpm-shape", "attn-shape", "attn-4d", "mask-dtype",
         "causal-no-mask", "encoder-width", "decoder-memory", "transformer-batch", "encoder-mask"],
)
def test_bad_calls_name_the_module_and_shapes_before_running(call, match, monkeypatch):
    ran = []
    apply = cr.Function.apply.__func__
    monkeypatch.setattr(cr.Function, "apply", classmethod(lambda cls, *a, **k: ran.append(cls.__name__) or apply(cls, *a, **k)))
    with pytest.raises((ValueError, TypeError), match=match):
        call()
    assert not ran, f"gates ran before the error: {ran}"

"""Recurrent layers against PyTorch's on the same weights (oracle helper), BPTT over long sequences."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import DEVICES, _gpu_reason, check_compiled, check_on_device, check_op, torch

import chainrule as cr
from chainrule import nn

rng = np.random.default_rng(5)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape) * 0.5


def pair(ours_cls, theirs_name, *args, **kwargs):
    """Our module and a function running torch's same module with given weights."""
    cr.manual_seed(0)
    ours = ours_cls(*args, **kwargs)
    kwargs = {k: v for k, v in kwargs.items() if k != "fused"}  # ours only: the LSTM composed of cells
    names = [n for n, _ in ours.named_parameters()]
    shapes = [p.shape for _, p in ours.named_parameters()]

    def theirs_call(module_inputs, params):
        mod = getattr(torch.nn, theirs_name)(*args, **kwargs).double()
        return torch.func.functional_call(mod, dict(zip(names, params)), module_inputs)

    return ours, names, shapes, theirs_call


def leaves(outs, kind):
    """The tensors in a module's result: a tensor, (out, h) or (out, (h, c))."""
    if isinstance(outs, kind):
        return [outs]
    return [t for part in outs for t in leaves(part, kind)]


def flat_ours(outs):
    return cr.concatenate([t.reshape(-1) for t in leaves(outs, cr.Tensor)])


def flat_theirs(outs):
    return torch.cat([t.reshape(-1) for t in leaves(outs, torch.Tensor)])


def set_params(module, names, params):
    owners = dict(module.named_modules())
    for name, p in zip(names, params):
        prefix, _, attr = name.rpartition(".")
        setattr(owners[prefix], attr, p)


CELLS = [
    ("RNNCell", nn.RNNCell, (3, 4), {}),
    ("RNNCell-relu", nn.RNNCell, (3, 4), {"nonlinearity": "relu"}),
    ("LSTMCell", nn.LSTMCell, (3, 4), {}),
    ("GRUCell", nn.GRUCell, (3, 4), {}),
]


@pytest.mark.parametrize("name,cls,args,kwargs", CELLS, ids=[c[0] for c in CELLS])
def test_cells_match_torch(name, cls, args, kwargs):
    if torch is None:
        pytest.skip("torch is not installed")
    ours, names, shapes, theirs_call = pair(cls, cls.__name__, *args, **kwargs)
    lstm = cls is nn.LSTMCell
    x, h, c = r(2, 3), r(2, 4), r(2, 4)

    def our_fn(x, h, c, *params):
        set_params(ours, names, params)
        return flat_ours(ours(x, (h, c)) if lstm else ours(x, h))

    def their_fn(x, h, c, *params):
        return flat_theirs(theirs_call((x, (h, c)) if lstm else (x, h), params))

    check_op(our_fn, their_fn, x, h, c, *[r(*s) for s in shapes])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,cls,args,kwargs", CELLS, ids=[c[0] for c in CELLS])
def test_cells_on_each_device(name, cls, args, kwargs, device):
    ours = cls(*args, **kwargs)
    names = [n for n, _ in ours.named_parameters()]
    lstm = cls is nn.LSTMCell

    def our_fn(x, h, c, *params):
        set_params(ours, names, params)
        return flat_ours(ours(x, (h, c)) if lstm else ours(x, h))

    def no_state(x, *params):  # the state made by the cell itself, on x's device
        set_params(ours, names, params)
        return flat_ours(ours(x))

    params = [r(*p.shape) for p in ours.parameters()]
    check_on_device(our_fn, device, r(2, 3), r(2, 4), r(2, 4), *params)
    check_on_device(no_state, device, r(2, 3), *params, double=False)


SEQS = [
    ("RNN-2layers", nn.RNN, "RNN", (3, 4), {"num_layers": 2}),
    ("RNN-relu-batch_first", nn.RNN, "RNN", (3, 4), {"nonlinearity": "relu", "batch_first": True}),
    ("LSTM-2layers", nn.LSTM, "LSTM", (3, 4), {"num_layers": 2}),
    ("LSTM-batch_first-nobias", nn.LSTM, "LSTM", (3, 4), {"batch_first": True, "bias": False}),
    ("LSTM-composed-2layers", nn.LSTM, "LSTM", (3, 4), {"num_layers": 2, "fused": False}),
    ("GRU-2layers-batch_first", nn.GRU, "GRU", (3, 4), {"num_layers": 2, "batch_first": True}),
    ("GRU-nobias", nn.GRU, "GRU", (3, 4), {"bias": False}),
    ("GRU-composed-2layers", nn.GRU, "GRU", (3, 4), {"num_layers": 2, "fused": False}),
]


@pytest.mark.parametrize("name,cls,tname,args,kwargs", SEQS, ids=[s[0] for s in SEQS])
def test_sequence_modules_match_torch(name, cls, tname, args, kwargs):
    if torch is None:
        pytest.skip("torch is not installed")
    ours, names, shapes, theirs_call = pair(cls, tname, *args, **kwargs)
    layers = kwargs.get("num_layers", 1)
    lstm = cls is nn.LSTM
    x = r(2, 3, 3)  # (T, N, I) or (N, T, I): both axes 2 and 3 are small
    h0, c0 = r(layers, 3 if kwargs.get("batch_first") else 3, 4), r(layers, 3, 4)
    if kwargs.get("batch_first"):
        x = r(3, 2, 3)  # N=3, T=2
    def our_fn(x, h0, c0, *params):
        set_params(ours, names, params)
        return flat_ours(ours(x, (h0, c0)) if lstm else ours(x, h0))

    def their_fn(x, h0, c0, *params):
        return flat_theirs(theirs_call((x, (h0, c0)) if lstm else (x, h0), params))

    params = [r(*s) for s in shapes]
    check_op(our_fn, their_fn, x, h0, c0, *params, double=False)
    check_compiled(our_fn, x, h0, c0, *params)  # the fused gates' forwards and backwards replayed
    check_compiled(our_fn, x, h0, c0, *params, device="strict")  # ... and on the GPU's stand-in
    if not _gpu_reason():
        check_compiled(our_fn, x, h0, c0, *params, device="cuda")  # ... and on a GPU


def test_parameter_layout_is_torchs():
    if torch is None:
        pytest.skip("torch is not installed")
    ours = nn.LSTM(5, 7, num_layers=2)
    theirs = torch.nn.LSTM(5, 7, num_layers=2)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    gru = nn.GRU(5, 7)
    assert {k: v.shape for k, v in gru.state_dict().items()} == {k: tuple(v.shape) for k, v in torch.nn.GRU(5, 7).state_dict().items()}


def test_bptt_over_a_long_sequence():
    cr.manual_seed(0)
    lstm = nn.LSTM(4, 8)
    x = cr.Tensor(r(300, 2, 4))
    out, (h, c) = lstm(x)
    (out[-1] ** 2).sum().backward()  # the last output depends on all 300 steps
    g = lstm.weight_hh_l0.grad.numpy()
    assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_recurrent_errors():
    with pytest.raises(ValueError, match=r"LSTM: input has shape \(2, 3\); expected \(time, batch, features\) with 4 features"):
        nn.LSTM(4, 5)(cr.Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"GRU: h0 has shape \(1, 2, 5\); expected \(2, 2, 5\)"):
        nn.GRU(4, 5, num_layers=2)(cr.Tensor(np.zeros((3, 2, 4))), np.zeros((1, 2, 5)))
    with pytest.raises(ValueError, match="RNNCell: input has shape"):
        nn.RNNCell(4, 5)(cr.Tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="nonlinearity='sigmoid'"):
        nn.RNN(4, 5, nonlinearity="sigmoid")


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
def test_fused_layers_equal_the_composed_cells_and_refuse_double_backward(cls):
    cr.manual_seed(0)
    fused = cls(3, 5, num_layers=2)
    composed = cls(3, 5, num_layers=2, fused=False)
    composed.load_state_dict(fused.state_dict())
    x = r(6, 4, 3)
    grads = []
    for m in (fused, composed):
        xt = cr.Tensor(x, requires_grad=True, dtype="float64")
        out, state = m(xt)
        last = state[1] if cls is nn.LSTM else state  # c_n for the LSTM, h_n for the GRU
        ((out * out).sum() + (last * 0.5).sum()).backward()
        grads.append([xt.grad.numpy()] + [p.grad.numpy() for p in m.parameters()])
        m.zero_grad()
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    out, _ = fused(cr.Tensor(x, requires_grad=True))
    with pytest.raises(NotImplementedError, match="fused=False"):
        cr.grad(out.sum(), fused.weight_hh_l0, create_graph=True)[0].sum().backward()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,cls,tname,args,kwargs", SEQS, ids=[s[0] for s in SEQS])
def test_sequence_modules_on_each_device(name, cls, tname, args, kwargs, device):
    ours = cls(*args, **kwargs)
    names = [n for n, _ in ours.named_parameters()]

    def our_fn(x, *params):  # the first state made by the module, on x's device
        set_params(ours, names, params)
        return flat_ours(ours(x))

    check_on_device(our_fn, device, r(2, 3, 3), *[r(*p.shape) for p in ours.parameters()], double=False)

"""state_dict keys are PyTorch's: every layer, container and built-in model with a ``torch.nn``
twin gives the same keys in the same order, with the same shapes and dtypes, and files move
both ways through safetensors: torch's ``save_file`` -> ``cr.load(path, model)`` (strict), and
``cr.save(model)`` -> ``safetensors.torch.load_file`` -> torch's ``load_state_dict(strict=True)``.

Tied weights: torch's ``save_file`` refuses tensors that share memory, so the torch side clones
them first (one way PyTorch users take), which writes both names; ``safetensors.torch.save_model``
(the other way) keeps one name per shared tensor, and ``load_state_dict`` fills a tied parameter
from whichever name is there. chainrule's ``state_dict`` holds both names, as torch's does, so its
files load into torch strictly.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file as load_arrays
from safetensors.torch import load_file, save_file, save_model

import chainrule as cr
from chainrule import nn

tnn = torch.nn


def rand(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _twin(lib):
    """A model of our own with a buffer, a non-persistent one, containers and parameterless layers."""

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.stem = lib.Sequential(lib.Conv2d(1, 2, 3), lib.ReLU(), lib.BatchNorm2d(2), lib.MaxPool2d(2))
            self.heads = lib.ModuleDict({"cls": lib.Linear(2, 3), "box": lib.Sequential(lib.Flatten(), lib.Linear(2, 4))})
            self.blocks = lib.ModuleList([lib.LayerNorm(2), lib.Dropout(0.1), lib.Linear(2, 2, bias=False)])
            self.scales = lib.ParameterList([lib.Parameter(torch.ones(2) if lib is tnn else np.ones(2))])
            self.shifts = lib.ParameterDict(OrderedDict([("b", lib.Parameter(torch.zeros(2) if lib is tnn
                                                                             else np.zeros(2)))]))  # fmt: skip
            self.register_buffer("count", torch.zeros((), dtype=torch.int64) if lib is tnn else np.zeros((), np.int64))
            self.register_buffer("cache", torch.zeros(2) if lib is tnn else np.zeros(2, np.float32), persistent=False)

    return Net()


# (id, twin constructor, an input for the forward check or None)
LAYERS = [
    ("Linear", lambda L: L.Linear(3, 4), (2, 3)),
    ("Linear-nobias", lambda L: L.Linear(3, 4, bias=False), (2, 3)),
    ("Conv2d", lambda L: L.Conv2d(2, 3, 3, padding=1), (2, 2, 5, 5)),
    ("Conv2d-strided-nobias", lambda L: L.Conv2d(2, 3, (3, 2), stride=2, bias=False), (1, 2, 6, 6)),
    ("BatchNorm1d", lambda L: L.BatchNorm1d(3), (4, 3)),
    ("BatchNorm2d", lambda L: L.BatchNorm2d(3), (2, 3, 2, 2)),
    ("BatchNorm1d-noaffine", lambda L: L.BatchNorm1d(3, affine=False), (4, 3)),
    ("BatchNorm1d-nobias", lambda L: L.BatchNorm1d(3, bias=False), (4, 3)),
    ("BatchNorm1d-untracked", lambda L: L.BatchNorm1d(3, track_running_stats=False), (4, 3)),
    ("LayerNorm", lambda L: L.LayerNorm(4), (2, 4)),
    ("LayerNorm-2d-nobias", lambda L: L.LayerNorm((2, 4), bias=False), (3, 2, 4)),
    ("LayerNorm-noaffine", lambda L: L.LayerNorm(4, elementwise_affine=False), (2, 4)),
    ("RMSNorm", lambda L: L.RMSNorm(4), (2, 4)),
    ("Embedding", lambda L: L.Embedding(10, 4), None),
    ("RNNCell", lambda L: L.RNNCell(3, 5), (2, 3)),
    ("LSTMCell", lambda L: L.LSTMCell(3, 5), None),
    ("GRUCell-nobias", lambda L: L.GRUCell(3, 5, bias=False), (2, 3)),
    ("RNN", lambda L: L.RNN(3, 5, num_layers=2), None),
    ("LSTM", lambda L: L.LSTM(3, 5, num_layers=2, batch_first=True), None),
    ("GRU-nobias", lambda L: L.GRU(3, 5, bias=False), None),
    ("MultiheadAttention", lambda L: L.MultiheadAttention(8, 2), None),
    ("MultiheadAttention-kvdim", lambda L: L.MultiheadAttention(8, 2, kdim=4, vdim=6), None),
    ("MultiheadAttention-nobias", lambda L: L.MultiheadAttention(8, 2, bias=False), None),
    ("TransformerEncoderLayer", lambda L: L.TransformerEncoderLayer(8, 2, 16), None),
    ("TransformerDecoderLayer", lambda L: L.TransformerDecoderLayer(8, 2, 16, norm_first=True), None),
    ("TransformerEncoder", lambda L: L.TransformerEncoder(L.TransformerEncoderLayer(8, 2, 16), 2,
                                                          norm=L.LayerNorm(8), enable_nested_tensor=False), None),
    ("TransformerDecoder", lambda L: L.TransformerDecoder(L.TransformerDecoderLayer(8, 2, 16), 2), None),
    ("Transformer", lambda L: L.Transformer(8, 2, 1, 1, 16), None),
    ("Sequential", lambda L: L.Sequential(L.Linear(3, 4), L.ReLU(), L.Dropout(0.5), L.Linear(4, 2)), (2, 3)),
    ("Sequential-named", lambda L: L.Sequential(OrderedDict([("fc", L.Linear(3, 4)), ("act", L.Tanh()),
                                                             ("out", L.Linear(4, 1))])), (2, 3)),
    ("ModuleList", lambda L: L.ModuleList([L.Linear(2, 2), L.ReLU(), L.BatchNorm1d(2)]), None),
    ("ModuleDict", lambda L: L.ModuleDict({"a": L.Linear(2, 2), "b": L.GRUCell(2, 3)}), None),
    ("ParameterList", lambda L: L.ParameterList([L.Parameter(torch.ones(2, 3) if L is tnn else np.ones((2, 3)))]),
     None),
    ("ParameterDict", lambda L: L.ParameterDict({"w": L.Parameter(torch.ones(3) if L is tnn else np.ones(3)),
                                                 "a": L.Parameter(torch.ones(1) if L is tnn else np.ones(1))}), None),
    ("own-model", _twin, (2, 1, 6, 6)),
]  # fmt: skip

PARAMETERLESS = ["ReLU()", "Tanh()", "Sigmoid()", "GELU()", "Softmax(dim=1)", "LogSoftmax(dim=1)", "Dropout(0.5)",
                 "Flatten()", "MaxPool2d(2)", "AvgPool2d(2)", "AdaptiveAvgPool2d(1)", "Identity()", "SiLU()",
                 "LeakyReLU(0.1)", "ELU()", "Hardtanh()", "Softplus()", "GLU()"]


def build(make, seed: int = 0):
    torch.manual_seed(seed)
    theirs = make(tnn)
    cr.manual_seed(seed + 1)  # other numbers than torch's: a copy that worked is seen
    ours = make(nn)
    return theirs, ours


def same_entries(ours: dict, theirs: dict) -> None:
    assert list(ours) == list(theirs)
    for k, t in theirs.items():
        t = t.detach().numpy()
        assert ours[k].shape == t.shape and ours[k].dtype == t.dtype, (k, ours[k].shape, t.shape, ours[k].dtype)
        np.testing.assert_array_equal(ours[k], t, err_msg=k)


def _forward_check(theirs, ours, shape) -> None:
    if shape is None:
        return
    x = rand(shape, 7)
    if isinstance(ours, nn.Module) and ours.__class__.__name__ == "Net":  # the own model: its parts one by one
        t, o = theirs.stem(torch.tensor(x)), ours.stem(cr.Tensor(x))
    else:
        t, o = theirs(torch.tensor(x)), ours(cr.Tensor(x))
    np.testing.assert_allclose(o.numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("make,shape", [pytest.param(m, s, id=i) for i, m, s in LAYERS])
def test_keys_shapes_and_torch_files_load_strictly(make, shape, tmp_path):
    theirs, ours = build(make)
    theirs.eval(), ours.eval()
    mine = ours.state_dict()
    assert list(mine) == list(theirs.state_dict())
    assert [(k, v.shape, v.dtype) for k, v in mine.items()] == [
        (k, tuple(v.shape), v.numpy().dtype) for k, v in theirs.state_dict().items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
    path = tmp_path / "torch.safetensors"
    save_file({k: v.contiguous() for k, v in theirs.state_dict().items()}, str(path))
    assert cr.load(path, ours) is ours
    same_entries(ours.state_dict(), theirs.state_dict())
    _forward_check(theirs, ours, shape)


@pytest.mark.parametrize("make", [pytest.param(m, id=i) for i, m, _ in LAYERS])
def test_our_files_load_into_torch_strictly(make, tmp_path):
    theirs, ours = build(make)
    new = {}
    for i, (k, v) in enumerate(ours.state_dict().items()):
        new[k] = np.array(i + 3, v.dtype).reshape(v.shape) if v.dtype.kind == "i" else rand(v.shape, i)
    ours.load_state_dict(new)
    path = tmp_path / "ours.safetensors"
    cr.save(ours, path)
    result = theirs.load_state_dict(load_file(str(path)), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    same_entries(ours.state_dict(), theirs.state_dict())


@pytest.mark.parametrize("layer", PARAMETERLESS)
def test_parameterless_layers_have_torchs_empty_state(layer):
    ours, theirs = eval("nn." + layer), eval("tnn." + layer)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == []
    assert ours.load_state_dict({}) is not None


# -- the built-in models with a torch twin -------------------------------------------------------


def nanogpt(config):
    """test_gpt's torch twin with each block's modules in nanoGPT's order (ln_1, attn, ln_2, mlp)."""
    from test_gpt import TorchGPT

    model = TorchGPT(config)
    for block in model.transformer.h:
        for name in ("attn", "ln_2", "mlp"):  # moved to the end, in this order
            block[name] = block.pop(name)
    return model


def test_gpt_keys_tied_head_and_files_both_ways(tmp_path):
    from test_gpt import SMALL, small_gpt

    ours = small_gpt(0)
    torch.manual_seed(0)
    theirs = nanogpt(SMALL)
    keys = list(theirs.state_dict())
    assert list(ours.state_dict()) == keys and "lm_head.weight" in keys  # the tied head under both names
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]  # once there
    save_file({k: v.clone() for k, v in theirs.state_dict().items()}, str(tmp_path / "torch.safetensors"))
    cr.load(tmp_path / "torch.safetensors", ours)
    same_entries(ours.state_dict(), theirs.state_dict())
    save_model(theirs, str(tmp_path / "one-name.safetensors"))  # the shared matrix under one name only
    one_name = load_arrays(str(tmp_path / "one-name.safetensors"))
    assert len(one_name) == len(keys) - 1
    other = small_gpt(3)
    assert repr(other.load_state_dict(one_name)) == "<All keys matched successfully>"
    same_entries(other.state_dict(), theirs.state_dict())
    assert ours.lm_head.weight is ours.transformer["wte"].weight
    idx = np.random.default_rng(0).integers(0, SMALL.vocab_size, (2, 8))
    with cr.no_grad():
        out = ours(idx).numpy()
    np.testing.assert_allclose(out, theirs(torch.tensor(idx)).detach().numpy(), rtol=1e-4, atol=1e-5)

    cr.manual_seed(5)
    other = small_gpt(5)
    cr.save(other, tmp_path / "ours.safetensors")
    torch.manual_seed(1)
    back = nanogpt(SMALL)
    back.load_state_dict(load_file(str(tmp_path / "ours.safetensors")), strict=True)
    same_entries(other.state_dict(), back.state_dict())
    assert back.lm_head.weight is back.transformer.wte.weight


def test_alexnet_keys_and_shapes_are_torchvisions():
    from test_models import torch_alexnet

    from chainrule.models import alexnet

    theirs, ours = torch_alexnet(10), alexnet(10)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict(keep_vars=True).items()] == [
        (k, tuple(v.shape)) for k, v in theirs.state_dict(keep_vars=True).items()]


def test_a_file_without_num_batches_tracked_loads_as_in_torch(tmp_path):
    """Files written before the count existed (older chainrule, old PyTorch): strict loads pass."""
    theirs, ours = build(lambda L: L.Sequential(L.Linear(2, 3), L.BatchNorm1d(3)))
    state = {k: v for k, v in theirs.state_dict().items() if not k.endswith("num_batches_tracked")}
    save_file(state, str(tmp_path / "old.safetensors"))
    cr.load(tmp_path / "old.safetensors", ours)
    theirs.load_state_dict(state, strict=True)
    same_entries(ours.state_dict(), theirs.state_dict())

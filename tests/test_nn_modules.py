"""Layers as modules (through the oracle helper, parameters included) and Module's machinery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import check_compiled, check_op, torch

import chainrule as cr
from chainrule import nn

rng = np.random.default_rng(11)


def r(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def with_params(layer: nn.Module, *names: str):
    """f(x, *params): the layer's forward with its parameters replaced by the given tensors."""

    def f(x, *params):
        for name, p in zip(names, params):
            setattr(layer, name, p)
        return layer(x)

    return f


def tnn(name: str, *args, **kwargs):
    """A torch functional call with late lookup."""
    return lambda *a: getattr(torch.nn.functional, name)(*a, *args, **kwargs)


CASES = [
    pytest.param(with_params(nn.Linear(3, 4), "weight", "bias"), tnn("linear"), (r(2, 3), r(4, 3), r(4)), id="Linear"),
    pytest.param(
        with_params(nn.Conv2d(2, 3, 3, stride=2, padding=1), "weight", "bias"),
        lambda x, w, b: torch.nn.functional.conv2d(x, w, b, 2, 1),
        (r(2, 2, 5, 5), r(3, 2, 3, 3), r(3)),
        id="Conv2d",
    ),
    pytest.param(nn.MaxPool2d(2), tnn("max_pool2d", 2), (rng.permutation(32).reshape(1, 2, 4, 4) / 3.0,), id="MaxPool2d"),
    pytest.param(nn.AvgPool2d(2), tnn("avg_pool2d", 2), (r(1, 2, 4, 4),), id="AvgPool2d"),
    pytest.param(
        with_params(nn.BatchNorm1d(3), "weight", "bias"),
        lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True),
        (r(6, 3), r(3), r(3)),
        id="BatchNorm1d",
    ),
    pytest.param(
        with_params(nn.BatchNorm2d(2), "weight", "bias"),
        lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True),
        (r(3, 2, 2, 2), r(2), r(2)),
        id="BatchNorm2d",
    ),
    pytest.param(
        with_params(nn.LayerNorm(4), "weight", "bias"),
        lambda x, w, b: torch.nn.functional.layer_norm(x, (4,), w, b),
        (r(3, 4), r(4), r(4)),
        id="LayerNorm",
    ),
    pytest.param(nn.Flatten(), lambda x: x.flatten(1), (r(2, 3, 2),), id="Flatten"),
    pytest.param(nn.ReLU(), tnn("relu"), (r(3, 4),), id="ReLU"),
    pytest.param(nn.LeakyReLU(0.2), tnn("leaky_relu", 0.2), (r(3, 4),), id="LeakyReLU"),
    pytest.param(nn.Sigmoid(), lambda x: torch.sigmoid(x), (r(3, 4),), id="Sigmoid"),
    pytest.param(nn.Tanh(), lambda x: torch.tanh(x), (r(3, 4),), id="Tanh"),
    pytest.param(nn.GELU(), tnn("gelu"), (r(3, 4),), id="GELU"),
    pytest.param(nn.Dropout(0.5).eval(), lambda x: x * 1, (r(3, 4),), id="Dropout-eval"),
]


@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_layer_against_torch_and_gradcheck(ours, theirs, inputs):
    check_op(ours, theirs, *inputs)

@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_layer_compiled_replays_eager(ours, theirs, inputs):
    check_compiled(ours, *inputs)



def test_embedding_module():
    emb = nn.Embedding(5, 2)
    idx = np.array([1, 1, 4])
    check_op(lambda w: with_params(emb, "weight")(idx, w), lambda w: torch.nn.functional.embedding(torch.from_numpy(idx), w), r(5, 2))


def test_parameters_are_found_in_definition_order_and_once():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 4))
            self.head = nn.Linear(4, 1, bias=False)
            self.tied = self.head  # the same module twice: its parameters count once
            self.blocks = [nn.BatchNorm1d(4)]

        def forward(self, x):
            return self.head(self.blocks[0](self.body(x)))

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "head.weight",
                     "blocks.0.weight", "blocks.0.bias"]  # fmt: skip
    assert len(net.parameters()) == 7
    assert sorted(net.state_dict()) == sorted([*names, "blocks.0.running_mean", "blocks.0.running_var"])
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert net.blocks[0].training
    out = net(cr.Tensor(r(5, 2)))
    out.sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_and_errors_change_nothing():
    a, b = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    a(cr.Tensor(r(4, 2)))  # moves a's running statistics
    b.load_state_dict(a.state_dict())
    for (k, va), (_, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert np.array_equal(va, vb), k
    before = b.state_dict()
    bad = dict(a.state_dict())
    bad["0.weight"] = np.zeros((4, 2))
    bad["extra"] = np.zeros(1)
    del bad["1.bias"]
    with pytest.raises(ValueError) as e:
        b.load_state_dict(bad)
    msg = str(e.value)
    assert "missing keys ['1.bias']" in msg and "unexpected keys ['extra']" in msg
    assert "0.weight has shape (4, 2) in the file, (3, 2) in the model" in msg
    assert all(np.array_equal(before[k], v) for k, v in b.state_dict().items())  # nothing written


def test_state_dict_is_a_copy():
    lin = nn.Linear(2, 2)
    sd = lin.state_dict()
    sd["weight"][...] = 42
    assert not np.any(lin.weight.numpy() == 42)


def test_batchnorm_train_and_eval():
    bn = nn.BatchNorm1d(2)
    x = cr.Tensor(r(50, 2) * 3 + 5)
    for _ in range(100):
        bn(x)
    bn.eval()
    out = bn(x).numpy()  # running statistics have converged to the batch's
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=0), 1, atol=2e-2)


@pytest.mark.parametrize(
    "fill,shape,std",
    [
        (nn.init.kaiming_normal_, (256, 512), math.sqrt(2 / 512)),
        (nn.init.xavier_normal_, (256, 512), math.sqrt(2 / (256 + 512))),
        (nn.init.kaiming_uniform_, (32, 16, 3, 3), math.sqrt(2 / 144)),
        (nn.init.xavier_uniform_, (32, 16, 3, 3), math.sqrt(2 / (144 + 288))),
    ],
)
def test_initializations_have_their_papers_variance(fill, shape, std):
    cr.manual_seed(0)
    w = fill(nn.Parameter(np.zeros(shape)))
    assert w.numpy().std() == pytest.approx(std, rel=0.03)
    assert abs(w.numpy().mean()) < 0.05 * std


def test_layer_defaults_are_he_and_zero_bias():
    cr.manual_seed(1)
    lin = nn.Linear(1000, 300)
    assert lin.weight.numpy().std() == pytest.approx(math.sqrt(2 / 1000), rel=0.03)
    assert not np.any(lin.bias.numpy())
    assert nn.Linear(1000, 300, init="xavier").weight.numpy().std() == pytest.approx(math.sqrt(2 / 1300), rel=0.03)
    with pytest.raises(ValueError, match="init='he'"):
        nn.Linear(2, 2, init="he")


def test_seeded_construction_repeats():
    cr.manual_seed(5)
    a = nn.Conv2d(3, 4, 3).weight.numpy()
    cr.manual_seed(5)
    assert np.array_equal(a, nn.Conv2d(3, 4, 3).weight.numpy())


def test_sequential_rejects_non_modules():
    with pytest.raises(TypeError, match="Sequential: item 1 is a function"):
        nn.Sequential(nn.ReLU(), lambda x: x)


def test_repr_shows_the_tree():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))
    text = repr(net)
    assert "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text and "(3): Linear(8, 2)" in text


def test_training_steps_leave_no_graph_behind():
    import gc

    cr.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2))
    opt = cr.optim.Adam(net.parameters())
    x, y = cr.Tensor(r(3, 1, 4, 4)), np.array([0, 1, 1])

    def step():
        loss = nn.functional.cross_entropy(net(x), y) + 1e-3 * nn.functional.l2_penalty(net)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def live() -> int:
        gc.collect()
        return sum(type(o) in (cr.Tensor, nn.Parameter) for o in gc.get_objects())

    step()
    before = live()
    for _ in range(5):
        step()
    assert live() == before

"""Layers as modules (through the oracle helper, parameters included) and Module's machinery."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import DEVICES, check_compiled, check_on_device, check_op, torch

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

    f.layer = layer  # moved with the inputs by the device test (its buffers)
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
    pytest.param(nn.Softmax(dim=1), lambda x: torch.softmax(x, 1), (r(3, 4),), id="Softmax"),
    pytest.param(nn.Sequential(nn.Identity(), nn.Tanh()), lambda x: torch.tanh(x), (r(2, 3),), id="Identity"),
]


@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_layer_against_torch_and_gradcheck(ours, theirs, inputs):
    check_op(ours, theirs, *inputs)

@pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed on the device
@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_layer_compiled_replays_eager(ours, theirs, inputs, device):
    check_compiled(ours, *inputs, device=device, module=getattr(ours, "layer", ours))



@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("ours,theirs,inputs", CASES)
def test_layer_on_each_device(ours, theirs, inputs, device):
    # the layer's buffers (batch norm's running statistics) go along
    check_on_device(ours, device, *inputs, module=getattr(ours, "layer", ours))


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
    assert len(list(net.parameters())) == 7
    # PyTorch's keys: the shared module under both of its names, batch norm's count of batches
    assert sorted(net.state_dict()) == sorted([*names, "tied.weight", "blocks.0.running_mean", "blocks.0.running_var",
                                               "blocks.0.num_batches_tracked"])  # fmt: skip
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


def test_the_lectures_inits_are_he_and_glorot_with_zero_bias():
    cr.manual_seed(1)
    lin = nn.Linear(1000, 300, init="kaiming")
    assert lin.weight.numpy().std() == pytest.approx(math.sqrt(2 / 1000), rel=0.03)
    assert not np.any(lin.bias.numpy())
    glorot = nn.Linear(1000, 300, init="xavier")
    assert glorot.weight.numpy().std() == pytest.approx(math.sqrt(2 / 1300), rel=0.03)
    assert not np.any(glorot.bias.numpy())
    with pytest.raises(ValueError, match="init='he'"):
        nn.Linear(2, 2, init="he")


def test_linear_default_is_pytorchs():
    # U(-1/sqrt(in), 1/sqrt(in)) for weight and bias (tests/test_init_torch.py compares with torch)
    cr.manual_seed(1)
    lin = nn.Linear(1000, 300)
    bound = 1 / math.sqrt(1000)
    assert lin.weight.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.03)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.bias.numpy()).max() <= bound
    assert lin.bias.numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.15)


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
    assert "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text and "(3): Linear(in_features=8, out_features=2, bias=True)" in text


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


# -- containers, dtype, summary ----------------------------------------------------------


def test_plain_lists_and_dicts_of_parameters_are_refused_naming_the_container():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = [nn.Parameter([1.0]), nn.Parameter([2.0])]

    with pytest.raises(TypeError, match=r"Bad.ws: a plain list holding parameters .* use nn.ParameterList"):
        Bad()
    m = nn.Module()
    with pytest.raises(TypeError, match=r"use nn.ModuleDict"):
        m.heads = {"a": nn.Linear(2, 2)}
    with pytest.raises(TypeError, match=r"use nn.ParameterDict"):
        m.scales = {"a": nn.Parameter([1.0])}
    m.layers = []  # filled after being set: found when the parameters are looked up
    m.layers.append(nn.Parameter([1.0]))
    with pytest.raises(TypeError, match=r"Module.layers: a plain list .* nn.ParameterList"):
        m.parameters()


def test_containers_register_and_train():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([nn.Parameter(np.ones((2, 2))) for _ in range(2)])
            self.blocks = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(2, 1)})
            self.extra = nn.ParameterDict({"scale": [2.0]})
            self.plain = [nn.Linear(2, 2)]  # a plain list of modules stays registered

        def forward(self, x):
            for w, b in zip(self.ws, self.blocks):
                x = b(x @ w)
            return self.heads["a"](self.plain[0](x)) * self.extra["scale"]

    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["ws.0", "ws.1", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight", "blocks.1.bias",
                     "heads.a.weight", "heads.a.bias", "extra.scale", "plain.0.weight", "plain.0.bias"]
    assert sorted(net.state_dict()) == sorted(names)
    net(cr.Tensor(np.ones((3, 2)))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    assert net.num_parameters() == 8 + 12 + 3 + 1 + 6
    with pytest.raises(TypeError, match="ModuleList: item 0 is a int"):
        nn.ModuleList([3])


def test_module_to_double_and_back():
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    x = r(5, 3)
    y32 = net(cr.Tensor(x)).numpy()
    net.double()
    assert all(p.dtype == np.float64 for p in net.parameters()) and net[1].running_mean.dtype == np.float64
    out = net(cr.Tensor(x, dtype="float64"))
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), y32, rtol=1e-5, atol=1e-5)
    out.sum().backward()
    assert net[0].weight.grad.dtype == np.float64
    assert net.float()[0].weight.grad.dtype == np.float32
    assert net.to("cpu") is net
    with pytest.raises(ValueError, match="Module.to: expected a floating dtype .* got 'int32'"):
        net.to("int32")


def test_float64_gradcheck_of_a_whole_module():
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x = r(2, 3)
    params = net.parameters()

    def loss(w0, *_):
        return (net(w0) ** 2).sum()

    assert cr.gradcheck(loss, x)
    assert all(p.dtype == np.float64 for p in params)


def test_summary_table_and_restored_modes():
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Dropout(0.5), nn.Linear(64, 3))
    s = nn.summary(net, (2, 1, 8, 8))
    assert [(row.name, row.output_shape) for row in s.rows] == [
        ("", (2, 3)), ("0", (2, 4, 8, 8)), ("1", (2, 4, 8, 8)), ("2", (2, 4, 8, 8)), ("3", (2, 4, 4, 4)),
        ("4", (2, 64)), ("5", (2, 64)), ("6", (2, 3))]
    assert sum(row.parameters for row in s.rows) == s.total == net.num_parameters() == 40 + 8 + 195
    text = str(s)
    assert "0 (Conv2d)" in text and "(2, 4, 4, 4)" in text and "Total parameters: 243" in text
    assert net.training and net[5].training  # the summary ran in eval mode and put it back
    emb = nn.Sequential(nn.Embedding(10, 4), nn.Flatten())
    assert nn.summary(emb, inputs=np.array([[1, 2, 3]])).rows[-1].output_shape == (1, 12)
    cell = nn.LSTM(3, 5, num_layers=2)
    assert nn.summary(cell, (4, 1, 3)).total == cell.num_parameters()
    with pytest.raises(ValueError, match="summary: input shape 'abc' is not a tuple of sizes"):
        nn.summary(net, "abc")

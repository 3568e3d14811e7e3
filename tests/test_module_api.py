"""``nn.Module`` as PyTorch users know it, each behaviour checked against ``torch.nn`` on a twin:
the iterators and their names, registration, the hooks (forward and full backward), modes,
``zero_grad``, ``repr``, the containers' methods, ``load_state_dict``'s result and ``assign``,
batch norm's ``num_batches_tracked`` and ``momentum=None``, ``parameters_to_vector``."""

from __future__ import annotations

import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import chainrule as cr
from chainrule import nn

tnn = torch.nn


def r(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape).astype(np.float32)


def copy_weights(theirs: torch.nn.Module, ours: nn.Module) -> None:
    """torch's weights into ours, by state_dict key (the keys are the same)."""
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def numpy(t):
    if t is None:
        return None
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


# -- twins: the same architecture in both libraries --------------------------------------------


def twins():
    """A model with nesting, a shared module, a tied weight, buffers and parameterless layers."""

    def build(lib):
        class Block(lib.Module):
            def __init__(self):
                super().__init__()
                self.fc = lib.Linear(4, 4)
                self.bn = lib.BatchNorm1d(4)

            def forward(self, x):
                return self.bn(self.fc(x)).relu()

        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.scale = lib.Parameter(torch.ones(1) if lib is tnn else np.ones(1))
                self.body = lib.Sequential(lib.Linear(3, 4), lib.ReLU(), Block(), lib.Dropout(0.0))
                self.blocks = lib.ModuleList([Block(), Block()])
                self.shared = self.blocks[0]  # one module, two names
                self.head = lib.Linear(4, 4, bias=False)
                self.out = lib.Linear(4, 4, bias=False)
                self.out.weight = self.head.weight  # tied
                self.register_buffer("steps", torch.zeros(2) if lib is tnn else np.zeros(2, dtype=np.float32))
                self.register_buffer("scratch", torch.zeros(3) if lib is tnn else np.zeros(3, dtype=np.float32),
                                     persistent=False)  # fmt: skip

            def forward(self, x):
                x = self.body(x)
                for b in self.blocks:
                    x = b(x)
                return self.out(self.head(self.shared(x))) * self.scale

        return Net()

    torch.manual_seed(0)
    theirs = build(tnn)
    ours = build(nn)
    copy_weights(theirs, ours)
    return theirs, ours


def names(pairs):
    return [n for n, _ in pairs]


def test_iterators_are_iterators_with_torchs_names_and_order():
    theirs, ours = twins()
    for it in (ours.parameters(), ours.named_parameters(), ours.buffers(), ours.named_buffers(), ours.children(),
               ours.named_children(), ours.modules(), ours.named_modules()):  # fmt: skip
        assert iter(it) is it and not isinstance(it, list)
    assert next(ours.parameters()) is ours.scale
    for kwargs in ({}, {"prefix": "m"}, {"recurse": False}, {"remove_duplicate": False}):
        assert names(ours.named_parameters(**kwargs)) == names(theirs.named_parameters(**kwargs)), kwargs
        assert names(ours.named_buffers(**kwargs)) == names(theirs.named_buffers(**kwargs)), kwargs
    assert names(ours.named_children()) == names(theirs.named_children())
    assert names(ours.named_modules()) == names(theirs.named_modules())
    assert names(ours.named_modules(prefix="m", remove_duplicate=False)) == names(
        theirs.named_modules(prefix="m", remove_duplicate=False))
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert [type(m).__name__ for m in ours.children()] == [type(m).__name__ for m in theirs.children()]
    assert len(list(ours.buffers(recurse=False))) == 2


def test_state_dict_keys_order_and_values_are_torchs():
    theirs, ours = twins()
    sd_t, sd_o = theirs.state_dict(), ours.state_dict()
    assert list(sd_o) == list(sd_t)  # every path of the shared module and the tied weight, no scratch
    for k in sd_t:
        assert sd_o[k].shape == tuple(sd_t[k].shape) and sd_o[k].dtype == sd_t[k].numpy().dtype, k
        np.testing.assert_array_equal(sd_o[k], sd_t[k].numpy())
    assert list(ours.state_dict(prefix="p.")) == list(theirs.state_dict(prefix="p."))
    kept = ours.state_dict(keep_vars=True)
    assert kept["head.weight"] is ours.head.weight and kept["out.weight"] is ours.head.weight
    dest = {}
    assert ours.state_dict(destination=dest) is dest and list(dest) == list(sd_t)


def test_the_twins_compute_the_same():
    theirs, ours = twins()
    x = r(5, 3)
    np.testing.assert_allclose(ours(cr.Tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                               atol=1e-6)  # fmt: skip
    assert int(ours.blocks[0].bn.num_batches_tracked) == int(theirs.blocks[0].bn.num_batches_tracked) == 2


def test_get_submodule_parameter_buffer_and_their_errors():
    theirs, ours = twins()
    assert ours.get_submodule("") is ours and ours.get_submodule("body.2.fc") is ours.body[2].fc
    assert ours.get_submodule("blocks.1") is ours.blocks[1]
    assert ours.get_parameter("body.0.weight") is ours.body[0].weight and ours.get_parameter("scale") is ours.scale
    assert ours.get_buffer("blocks.0.bn.running_var") is ours.blocks[0].bn.running_var
    assert ours.get_buffer("scratch") is ours.scratch
    for call, target in (("get_submodule", "body.9"), ("get_submodule", "head.weight"), ("get_parameter", "body.0.nope"),
                         ("get_parameter", "steps"), ("get_buffer", "head.weight"), ("get_buffer", "body.0.nope")):
        with pytest.raises(AttributeError) as theirs_error:
            getattr(theirs, call)(target)
        with pytest.raises(AttributeError) as ours_error:
            getattr(ours, call)(target)
        assert str(ours_error.value) == str(theirs_error.value), (call, target)


def test_registration_checks_and_persistence():
    m = nn.Module()
    m.add_module("fc", nn.Linear(2, 2))
    m.register_module("act", nn.ReLU())
    m.register_parameter("w", nn.Parameter([1.0]))
    m.register_parameter("none", None)
    m.register_buffer("t", cr.Tensor([1.0, 2.0]))
    m.register_buffer("a", [0, 1])
    m.register_buffer("gone", None)
    m.register_buffer("tmp", np.zeros(2), persistent=False)
    assert names(m.named_children()) == ["fc", "act"]
    assert list(m.state_dict()) == ["w", "t", "a", "fc.weight", "fc.bias"]  # own parameters, buffers, children
    assert isinstance(m.t, cr.Tensor) and isinstance(m.a, np.ndarray)
    assert names(m.named_buffers()) == ["t", "a", "tmp"]
    for bad, kind in ((lambda: m.register_parameter("fc", nn.Parameter([1.0])), KeyError),
                      (lambda: m.register_parameter("a.b", nn.Parameter([1.0])), KeyError),
                      (lambda: m.register_parameter("", nn.Parameter([1.0])), KeyError),
                      (lambda: m.register_parameter("x", cr.Tensor([1.0])), TypeError),
                      (lambda: m.register_buffer("forward", np.zeros(1)), KeyError),
                      (lambda: m.register_buffer("p", nn.Parameter([1.0])), TypeError),
                      (lambda: m.register_buffer("s", "text"), TypeError),
                      (lambda: m.register_buffer(3, np.zeros(1)), TypeError),
                      (lambda: m.add_module("x", lambda x: x), TypeError),
                      (lambda: m.add_module("w", nn.ReLU()), KeyError)):  # fmt: skip
        with pytest.raises(kind):
            bad()
    m.register_buffer("tmp", np.ones(2))  # registered again: persistent now
    assert "tmp" in m.state_dict()
    m.t = nn.Parameter([3.0, 4.0])  # a parameter takes the buffer's name over, as in PyTorch
    assert "t" in dict(m.named_parameters()) and "t" not in dict(m.named_buffers())
    del m.a
    assert "a" not in m.state_dict() and not hasattr(m, "a")
    del m.fc
    assert names(m.named_children()) == ["act"]


def test_tensor_buffers_move_convert_and_load():
    m = nn.Module()
    m.register_buffer("t", cr.Tensor([1.0, 2.0]))
    t = m.t
    m.double()
    assert m.t is t and m.t.dtype == np.float64
    m.load_state_dict({"t": [5.0, 6.0]})
    assert m.t is t and m.t.numpy().tolist() == [5.0, 6.0]
    assert m.state_dict()["t"].dtype == np.float64


def test_apply_requires_grad_train_eval():
    theirs, ours = twins()
    seen_t, seen_o = [], []
    theirs.apply(lambda m: seen_t.append(type(m).__name__))
    assert ours.apply(lambda m: seen_o.append(type(m).__name__)) is ours
    assert seen_o == seen_t  # children first, the shared block once per path, as torch
    assert ours.requires_grad_(False) is ours and not any(p.requires_grad for p in ours.parameters())
    ours.requires_grad_()
    assert all(p.requires_grad for p in ours.parameters())
    assert ours.eval() is ours and not any(m.training for m in ours.modules())
    assert ours.train() is ours and all(m.training for m in ours.modules())
    with pytest.raises(ValueError, match="boolean"):
        ours.train("no")


def test_zero_grad_to_none_or_zeros_in_place():
    net = nn.Linear(2, 2)
    net(cr.Tensor(r(3, 2))).sum().backward()
    g = net.weight.grad
    net.zero_grad(set_to_none=False)
    assert net.weight.grad is g and not g.numpy().any()
    net(cr.Tensor(r(3, 2))).sum().backward()  # accumulates into the zeros
    assert net.weight.grad.numpy().any()
    net.zero_grad()
    assert net.weight.grad is None and net.bias.grad is None


# -- hooks --------------------------------------------------------------------------------------


def test_forward_hooks_replace_inputs_and_outputs_as_torchs():
    def run(lib, make):
        torch.manual_seed(0)
        m = lib.Linear(2, 2)
        log = []
        handles = [
            m.register_forward_pre_hook(lambda mod, args: log.append("pre1")),
            m.register_forward_pre_hook(lambda mod, args: (args[0] * 2,)),
            m.register_forward_pre_hook(lambda mod, args, kwargs: log.append(("pre-kw", sorted(kwargs))) or None,
                                        with_kwargs=True),
            m.register_forward_pre_hook(lambda mod, args: log.append("pre0"), prepend=True),
            m.register_forward_hook(lambda mod, args, out: out + 1),
            m.register_forward_hook(lambda mod, args, kwargs, out: log.append(("fwd-kw", tuple(out.shape))),
                                    with_kwargs=True),
            m.register_forward_hook(lambda mod, args, out: log.append("fwd0"), prepend=True),
        ]
        return m, log, handles

    (mt, lt, ht), (mo, lo, ho) = run(tnn, torch.tensor), run(nn, cr.Tensor)
    copy_weights(mt, mo)
    x = r(3, 2)
    out_t, out_o = mt(torch.tensor(x)), mo(cr.Tensor(x))
    np.testing.assert_allclose(numpy(out_o), numpy(out_t), rtol=1e-6)
    assert lo == lt == ["pre0", "pre1", ("pre-kw", []), "fwd0", ("fwd-kw", (3, 2))]
    for h in ht + ho:
        h.remove()
    np.testing.assert_allclose(numpy(mo(cr.Tensor(x))), numpy(mt(torch.tensor(x))), rtol=1e-6)
    assert len(lo) == len(lt) == 5
    with mo.register_forward_hook(lambda mod, args, out: out * 0):  # a handle is a context manager
        assert not mo(cr.Tensor(x)).numpy().any()
    assert mo(cr.Tensor(x)).numpy().any()


def test_forward_pre_hook_with_kwargs_replaces_both_and_bad_returns_are_refused():
    class Add(nn.Module):
        def forward(self, x, *, y=0.0):
            return x + y

    m = Add()
    m.register_forward_pre_hook(lambda mod, args, kwargs: ((args[0] * 10,), {"y": 1.0}), with_kwargs=True)
    assert m(cr.Tensor([1.0])).item() == 11.0
    bad = Add()
    bad.register_forward_pre_hook(lambda mod, args, kwargs: args, with_kwargs=True)
    with pytest.raises(TypeError, match="Add: a forward pre-hook with kwargs must return None or a tuple"):
        bad(cr.Tensor([1.0]))


def test_always_call_forward_hooks_run_when_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    m, seen = Boom(), []
    m.register_forward_hook(lambda mod, args, out: seen.append("plain"))
    m.register_forward_hook(lambda mod, args, out: seen.append(("always", out)), always_call=True)
    with pytest.raises(RuntimeError, match="boom"):
        m(cr.Tensor([1.0]))
    assert seen == [("always", None)]


def backward_log(lib, module, inputs, loss, pre_scale=None, replace_input=None):
    """Run ``loss(module(*inputs))`` backward with both kinds of backward hook; what they saw."""
    log = []

    def pre(mod, grad_output):
        log.append(("pre", [numpy(g) for g in grad_output]))
        if pre_scale is not None:
            return tuple(None if g is None else g * pre_scale for g in grad_output)
        return None

    def hook(mod, grad_input, grad_output):
        log.append(("hook", [numpy(g) for g in grad_input], [numpy(g) for g in grad_output]))
        if replace_input is not None:
            return tuple(None if g is None else g * replace_input for g in grad_input)
        return None

    handles = [module.register_full_backward_pre_hook(pre), module.register_full_backward_hook(hook)]
    tensor = torch.tensor if lib is tnn else cr.Tensor
    xs = [tensor(a, requires_grad=rg) if isinstance(a, np.ndarray) else a for a, rg in inputs]
    loss(module(*xs)).backward()
    grads = [numpy(x.grad) if hasattr(x, "grad") else None for x in xs]
    return log, grads, handles


def same_logs(a, b):
    assert [e[0] for e in a] == [e[0] for e in b]
    for ea, eb in zip(a, b):
        for ga, gb in zip(ea[1:], eb[1:]):
            assert len(ga) == len(gb)
            for u, v in zip(ga, gb):
                assert (u is None) == (v is None), (ea, eb)
                if u is not None:
                    np.testing.assert_allclose(v, u, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("pre_scale,replace_input", [(None, None), (2.0, None), (None, 3.0), (0.5, -1.0)])
def test_full_backward_hooks_see_and_replace_torchs_gradients(input_grad, pre_scale, replace_input):
    torch.manual_seed(0)
    mt = tnn.Linear(3, 2)
    mo = nn.Linear(3, 2)
    copy_weights(mt, mo)
    x = r(4, 3)
    kw = {"pre_scale": pre_scale, "replace_input": replace_input if input_grad else None}
    with pytest.warns(UserWarning) if not input_grad else _nothing():
        lt, gt, _ = backward_log(tnn, mt, [(x, input_grad)], lambda y: (y**2).sum(), **kw)
    lo, go, _ = backward_log(nn, mo, [(x, input_grad)], lambda y: (y**2).sum(), **kw)
    same_logs(lt, lo)
    if input_grad:
        np.testing.assert_allclose(go[0], gt[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mo.weight.grad.numpy(), mt.weight.grad.numpy(), rtol=1e-5, atol=1e-6)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_backward_hooks_on_several_inputs_and_outputs():
    """Tensor and non-Tensor arguments, an input that needs no gradient, one the forward does not
    use, an output unused by the loss."""

    def build(lib):
        class Two(lib.Module):
            def forward(self, a, b, c, k, unused):
                return a * b * k, a + c, "label"

        return Two()

    inputs = [(r(2, 3), True), (r(3), True), (r(2, 3, seed=1), False), (2.0, None), (r(4), True)]
    lt, gt, _ = backward_log(tnn, build(tnn), inputs, lambda out: (out[0] ** 2).sum(), replace_input=2.0)
    lo, go, _ = backward_log(nn, build(nn), inputs, lambda out: (out[0] ** 2).sum(), replace_input=2.0)
    same_logs(lt, lo)
    # as torch's: a tensor input that needs no gradient gets zeros, a number None; an unused output None
    assert not lo[-1][1][2].any() and lo[-1][1][3] is None and lo[0][1][1:] == [None, None]
    for i in (0, 1, 4):
        np.testing.assert_allclose(go[i], gt[i], rtol=1e-5)
    assert not go[4].any()


def test_backward_hooks_of_self_attention_see_query_key_and_value_apart():
    torch.manual_seed(0)
    mt = tnn.MultiheadAttention(4, 2, batch_first=True)
    mo = nn.MultiheadAttention(4, 2, batch_first=True)
    copy_weights(mt, mo)
    x = r(2, 3, 4)

    def self_attention(lib, m):
        log = []
        m.register_full_backward_hook(lambda mod, gin, gout: log.append(([numpy(g) for g in gin],
                                                                         [numpy(g) for g in gout])))  # fmt: skip
        t = (torch.tensor if lib is tnn else cr.Tensor)(x, requires_grad=True)
        out, _ = m(t, t, t, need_weights=False)
        (out**3).sum().backward()
        return log, numpy(t.grad)

    (lt, gt), (lo, go) = self_attention(tnn, mt), self_attention(nn, mo)
    assert len(lo) == 1 and len(lo[0][0]) == 3 and len(lo[0][1]) == 2 and lo[0][1][1] is None
    for a, b in zip(lt[0][0] + lt[0][1][:1], lo[0][0] + lo[0][1][:1]):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(go, gt, rtol=1e-4, atol=1e-6)


def test_backward_hooks_under_create_graph_give_torchs_second_derivative():
    x0 = np.array([[0.5, -1.0, 2.0]])
    w = np.array([[1.0, 2.0, -1.0], [0.5, 0.1, 0.3]])

    def run(lib):
        m = lib.Linear(3, 2, bias=False).double()
        if lib is tnn:
            m.weight.data = torch.tensor(w)
            x = torch.tensor(x0, requires_grad=True)
        else:
            m.load_state_dict({"weight": w})
            x = cr.Tensor(x0, requires_grad=True, dtype="float64")
        m.register_full_backward_hook(lambda mod, gin, gout: tuple(g * 2 for g in gin))
        m.register_full_backward_pre_hook(lambda mod, gout: tuple(g * 3 for g in gout))
        grad = torch.autograd.grad if lib is tnn else cr.grad
        (gx,) = grad(m(x).tanh().sum(), x, create_graph=True)  # the hooks' products are in the graph
        (ggx,) = grad((gx**2).sum(), x)
        return numpy(gx), numpy(ggx)

    for a, b in zip(run(tnn), run(nn)):
        np.testing.assert_allclose(b, a, rtol=1e-12)


def test_backward_hooks_removed_and_across_retained_graphs():
    m = nn.Linear(2, 1)
    seen = []
    h = m.register_full_backward_hook(lambda mod, gin, gout: seen.append(gin[0].shape))
    x = cr.Tensor(r(3, 2), requires_grad=True)
    out = m(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert seen == [(3, 2), (3, 2)]
    h.remove()
    m(x).sum().backward()
    assert len(seen) == 2
    with cr.no_grad():  # nothing recorded: nothing wrapped, no hook
        h2 = m.register_full_backward_hook(lambda *a: seen.append("no"))
        m(x)
    h2.remove()


def test_a_backward_hook_returning_the_wrong_number_is_refused():
    m = nn.Linear(2, 1)
    m.register_full_backward_hook(lambda mod, gin, gout: (gin[0], gin[0]))
    x = cr.Tensor(r(3, 2), requires_grad=True)
    with pytest.raises(ValueError, match="Linear: a backward hook returned 2 gradients; expected a tuple of 1"):
        m(x).sum().backward()


# -- repr ---------------------------------------------------------------------------------------


def test_repr_is_torchs_for_whole_models():
    theirs, ours = twins()
    assert repr(ours).replace("Net", "X") == repr(theirs).replace("Net", "X")

    def cnn(lib):
        return lib.Sequential(lib.Conv2d(1, 4, 3, padding=1), lib.BatchNorm2d(4), lib.ReLU(), lib.MaxPool2d(2),
                              lib.Conv2d(4, 8, 3, stride=2, bias=False), lib.AdaptiveAvgPool2d((1, 1)), lib.Flatten(),
                              lib.Dropout(0.5), lib.Linear(8, 10))  # fmt: skip

    assert repr(cnn(nn)) == repr(cnn(tnn))
    stack = [lib.ModuleList([lib.Linear(2, 2) for _ in range(3)] + [lib.ReLU(), lib.ReLU(), lib.Linear(2, 3)])
             for lib in (nn, tnn)]  # fmt: skip
    assert repr(stack[0]) == repr(stack[1])
    heads = [lib.ModuleDict({"a": lib.Linear(2, 2), "b": lib.LSTM(2, 3, num_layers=2, batch_first=True)})
             for lib in (nn, tnn)]  # fmt: skip
    assert repr(heads[0]) == repr(heads[1])
    enc = [lib.TransformerEncoder(lib.TransformerEncoderLayer(8, 2, 16), 2, enable_nested_tensor=False)
           for lib in (nn, tnn)]  # fmt: skip
    # torch's attention projection is a Linear subclass with another name
    assert repr(enc[0]) == repr(enc[1]).replace("NonDynamicallyQuantizableLinear", "Linear")


LAYERS = [
    "Linear(2, 3)", "Linear(2, 3, bias=False)", "Conv2d(1, 2, 3)", "Conv2d(1, 2, 3, stride=2, padding=1)",
    "Conv2d(1, 2, (3, 5), bias=False)", "MaxPool2d(2)", "MaxPool2d(3, stride=1, padding=1)", "AvgPool2d(2)",
    "AdaptiveAvgPool2d((1, 1))", "BatchNorm1d(3)", "BatchNorm2d(3, momentum=None, affine=False)",
    "BatchNorm1d(3, track_running_stats=False, bias=False)", "LayerNorm(4)",
    "LayerNorm((2, 3), elementwise_affine=False)", "LayerNorm(4, bias=False)", "RMSNorm(4)", "RMSNorm(4, eps=1e-6)",
    "Dropout(0.3)", "Flatten()", "Embedding(10, 4)", "Identity()", "ReLU()", "LeakyReLU(0.2)", "Sigmoid()", "Tanh()",
    "GELU()", "GELU(approximate='tanh')", "LogSoftmax(dim=1)", "Softmin(dim=1)", "GLU()", "SiLU()",
    "Mish()", "SELU()", "Hardsigmoid()", "Hardswish()", "ELU()", "CELU()", "Hardtanh()", "ReLU6()", "Softsign()",
    "Softplus()", "LogSigmoid()", "RNNCell(3, 5)", "RNNCell(3, 5, nonlinearity='relu')", "LSTMCell(3, 5)",
    "GRUCell(3, 5, bias=False)", "RNN(3, 5)", "LSTM(3, 5, num_layers=2)", "GRU(3, 5, batch_first=True)",
    "RNN(3, 5, nonlinearity='relu', bias=False)",
]  # fmt: skip


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layers_repr_is_torchs(layer):
    assert repr(eval("nn." + layer)) == repr(eval("tnn." + layer))


# -- containers --------------------------------------------------------------------------------


def keys(m):
    return list(m.state_dict())


def test_sequential_methods_keep_torchs_keys():
    def both(fn):
        torch.manual_seed(0)
        t = fn(tnn)
        o = fn(nn)
        assert keys(o) == keys(t) and repr(o) == repr(t)
        return t, o

    t, o = both(lambda lib: lib.Sequential(lib.Linear(2, 2), lib.ReLU(), lib.Linear(2, 3)))
    assert keys(o) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    both(lambda lib: lib.Sequential(OrderedDict([("inp", lib.Linear(2, 2)), ("act", lib.ReLU()),
                                                 ("out", lib.Linear(2, 1))])))  # fmt: skip
    both(lambda lib: lib.Sequential(OrderedDict([("inp", lib.Linear(2, 2)), ("act", lib.ReLU())]))[1:])
    both(lambda lib: lib.Sequential(lib.Linear(2, 2), lib.ReLU(), lib.Linear(2, 3))[::2])

    def edits(lib):
        s = lib.Sequential(lib.Linear(2, 2), lib.ReLU(), lib.Linear(2, 3), lib.Tanh())
        del s[1]
        s.append(lib.Linear(3, 4))
        s.insert(1, lib.Sigmoid())
        s[0] = lib.Linear(2, 2, bias=False)
        s.pop(-2)
        s.extend(lib.Sequential(lib.ReLU(), lib.Linear(4, 5)))
        return s + lib.Sequential(lib.Linear(5, 1))

    t, o = both(edits)
    assert len(o) == len(t) and [type(m).__name__ for m in o] == [type(m).__name__ for m in t]
    assert getattr(o, "2") is o[2] and o.get_submodule("2") is o[2]
    with pytest.raises(IndexError):
        o[len(o)]
    x = r(2, 2)
    copy_weights(t, o)
    np.testing.assert_allclose(o(cr.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_list_and_dict_methods_keep_torchs_keys():
    def ml(lib):
        m = lib.ModuleList([lib.Linear(1, 1), lib.Linear(1, 2)])
        m.append(lib.Linear(2, 3))
        m.extend([lib.ReLU(), lib.Linear(3, 4)])
        m.insert(0, lib.Linear(1, 1, bias=False))
        del m[3]
        m[1] = lib.Linear(1, 5)
        m.pop(0)
        m += [lib.Linear(4, 4)]
        return m + lib.ModuleList([lib.Linear(4, 1)])

    def md(lib):
        d = lib.ModuleDict({"b": lib.Linear(1, 1), "a": lib.Linear(1, 2)})
        d["c"] = lib.ReLU()
        d.update([("e", lib.Linear(2, 2)), ("b", lib.Linear(1, 3))])
        del d["a"]
        d.pop("c")
        return d

    for fn in (ml, md, lambda lib: ml(lib)[1:3]):
        t, o = fn(tnn), fn(nn)
        assert keys(o) == keys(t) and repr(o) == repr(t)
    d = md(nn)
    assert list(d.keys()) == ["b", "e"] and "b" in d and [k for k, _ in d.items()] == ["b", "e"] and len(d) == 2
    assert d.e is d["e"] and list(d.values())[0] is d["b"]
    with pytest.raises(KeyError):
        d["a"]
    with pytest.raises(KeyError, match="already exists"):
        d["train"] = nn.ReLU()
    d.clear()
    assert len(d) == 0 and keys(d) == []


def test_parameter_list_and_dict_keys_are_torchs():
    def pl(lib):
        p = lib.ParameterList([lib.Parameter(torch.ones(2)) if lib is tnn else nn.Parameter(np.ones(2))])
        p.append(lib.Parameter(torch.zeros(3)) if lib is tnn else nn.Parameter(np.zeros(3)))
        p.extend([lib.Parameter(torch.zeros(1)) if lib is tnn else [0.0]])
        return p

    def pd(lib):
        make = (lambda n: lib.Parameter(torch.zeros(n))) if lib is tnn else (lambda n: nn.Parameter(np.zeros(n)))
        d = lib.ParameterDict({"z": make(1), "a": make(2)})  # a plain dict: sorted, as torch takes it
        d.update(OrderedDict([("y", make(3)), ("b", make(4))]))
        d["c"] = make(5)
        del d["y"]
        return d

    for fn in (pl, pd):
        t, o = fn(tnn), fn(nn)
        assert keys(o) == keys(t)
        assert [tuple(p.shape) for p in o.parameters()] == [tuple(p.shape) for p in t.parameters()]
    p = pl(nn)
    assert len(p) == 3 and p[-1].shape == (1,) and [q.shape for q in p[1:]] == [(3,), (1,)]
    assert isinstance(p[2], nn.Parameter)
    d = pd(nn)
    assert list(d) == ["a", "z", "b", "c"] and d.get("nope") is None and d.pop("z").shape == (1,)
    assert "ParameterDict(\n    (a): Parameter containing: [float32 of size 2]" in repr(d)


# -- load_state_dict ------------------------------------------------------------------------------


def test_load_state_dict_returns_torchs_incompatible_keys():
    t, o = tnn.Linear(2, 3), nn.Linear(2, 3)
    state = {"weight": np.zeros((3, 2), np.float32), "extra": np.zeros(1, np.float32)}
    rt = t.load_state_dict({k: torch.tensor(v) for k, v in state.items()}, strict=False)
    ro = o.load_state_dict(state, strict=False)
    assert ro.missing_keys == rt.missing_keys == ["bias"] and ro.unexpected_keys == rt.unexpected_keys == ["extra"]
    assert tuple(ro) == (["bias"], ["extra"]) and repr(ro) == repr(rt)
    assert not o.weight.numpy().any()
    full = o.load_state_dict(o.state_dict())
    assert repr(full) == repr(t.load_state_dict(t.state_dict())) == "<All keys matched successfully>"
    with pytest.raises(ValueError, match=r"missing keys \['bias'\]; unexpected keys \['extra'\]"):
        o.load_state_dict(state)
    with pytest.raises(TypeError, match="expected a dict"):
        o.load_state_dict([("weight", state["weight"])])


def test_load_state_dict_takes_parameters_tensors_lists_and_torch_tensors():
    src, dst = nn.Linear(2, 3), nn.Linear(2, 3)
    dst.load_state_dict(dict(src.named_parameters()))  # Parameters (today's files were refused these)
    np.testing.assert_array_equal(dst.weight.numpy(), src.weight.numpy())
    dst.load_state_dict({"weight": cr.Tensor(np.ones((3, 2))), "bias": [1.0, 2.0, 3.0]})
    assert dst.bias.numpy().tolist() == [1.0, 2.0, 3.0] and dst.weight.numpy().all()
    dst.load_state_dict(tnn.Linear(2, 3).state_dict())  # a torch model's state, as it is
    bad = {"weight": [[1.0, 2.0]], "bias": [np.nan, 0.0, 0.0]}
    before = dst.state_dict()
    with pytest.raises(ValueError, match=r"shape mismatch: weight .*; NaN or Inf in \['bias'\]"):
        dst.load_state_dict(bad, strict=False)
    assert all(np.array_equal(v, dst.state_dict()[k]) for k, v in before.items())  # nothing written


def test_load_state_dict_assign_takes_new_tensors_of_their_dtype_and_keeps_ties():
    theirs, ours = twins()
    head = ours.head.weight
    state = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in ours.state_dict().items()}
    ours.load_state_dict(state, assign=True)
    assert ours.head.weight is not head and ours.head.weight.dtype == np.float64
    assert ours.out.weight is ours.head.weight  # the tie survives (torch's assign breaks it)
    assert ours.blocks[0].bn.running_mean.dtype == np.float64 and ours.shared is ours.blocks[0]
    assert isinstance(ours.head.weight, nn.Parameter) and ours.head.weight.requires_grad
    t, o = tnn.Linear(2, 2), nn.Linear(2, 2)
    t.load_state_dict({"weight": torch.zeros(2, 2), "bias": torch.zeros(2)}, assign=True)
    o.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(2)}, assign=True)
    assert o.weight.dtype == np.float64 and str(t.weight.dtype) == "torch.float32"  # each keeps what it was given


def test_a_tied_weight_loads_from_either_name():
    theirs, ours = twins()
    state = ours.state_dict()
    state["head.weight"] = np.full((4, 4), 2.0, np.float32)
    del state["out.weight"]  # safetensors' save_model keeps one name per shared tensor
    ours.load_state_dict(state)
    assert (ours.out.weight.numpy() == 2).all()


# -- batch norm -------------------------------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("track", [True, False])
def test_batch_norm_counts_batches_and_averages_as_torch(momentum, track):
    t = tnn.BatchNorm1d(3, momentum=momentum, track_running_stats=track)
    o = nn.BatchNorm1d(3, momentum=momentum, track_running_stats=track)
    assert keys(o) == keys(t)
    for step in range(4):
        x = r(6, 3, seed=step) * (step + 1) + step
        np.testing.assert_allclose(o(cr.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5,
                                   atol=1e-5)  # fmt: skip
    for (k, a), b in zip(o.state_dict().items(), t.state_dict().values()):
        assert a.dtype == b.numpy().dtype, k
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    o.eval(), t.eval()
    x = r(5, 3, seed=9)
    np.testing.assert_allclose(o(cr.Tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    if track:
        assert int(o.num_batches_tracked) == 4
        o.reset_running_stats()
        assert int(o.num_batches_tracked) == 0 and not o.running_mean.any()


def test_batch_norm_loads_a_state_dict_from_before_num_batches_tracked():
    bn = nn.BatchNorm2d(2)
    bn(cr.Tensor(r(4, 2, 3, 3)))
    old = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    fresh = nn.BatchNorm2d(2)
    assert fresh.load_state_dict(old).missing_keys == []  # as torch fills it in
    assert int(fresh.num_batches_tracked) == 0
    np.testing.assert_array_equal(fresh.running_mean, bn.running_mean)


class Shift(nn.Module):
    """Adds a buffer registered as a Tensor."""

    def __init__(self, n):
        super().__init__()
        self.register_buffer("shift", cr.Tensor(np.linspace(-1, 1, n)))

    def forward(self, x):
        return x + self.shift


def test_a_compiled_training_step_counts_batches_as_the_eager_one():
    """Batch norm's count and cumulative average, an untracked batch norm (None buffers) and a
    Tensor buffer (read afresh at each replay), compiled against eager."""

    def make():
        cr.manual_seed(0)
        net = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8, momentum=None), nn.ReLU(), Shift(8),
                            nn.BatchNorm1d(8, track_running_stats=False), nn.Linear(8, 2))  # fmt: skip
        return net, cr.optim.SGD(net.parameters(), lr=0.1)

    def step_of(net, opt):
        def step(x, y):
            loss = nn.functional.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        return step

    (eager, opt_e), (compiled, opt_c) = make(), make()
    run_e, run_c = step_of(eager, opt_e), cr.compile(step_of(compiled, opt_c))
    for i in range(5):
        if i == 4:  # a buffer changed between steps: the replay reads it
            for net in (eager, compiled):
                net[3].shift.data[...] = 2.0
        x, y = cr.Tensor(r(8, 2, seed=i)), np.arange(8) % 2
        np.testing.assert_allclose(run_c(x, y).item(), run_e(x, y).item(), rtol=1e-5)
    assert int(compiled[1].num_batches_tracked) == int(eager[1].num_batches_tracked) == 5
    np.testing.assert_allclose(compiled[1].running_var, eager[1].running_var, rtol=1e-5)


# -- parameters_to_vector ------------------------------------------------------------------------------


def test_parameters_to_vector_and_back_as_torch():
    theirs, ours = twins()
    vt = tnn.utils.parameters_to_vector(theirs.parameters())
    vo = nn.utils.parameters_to_vector(ours.parameters())
    np.testing.assert_array_equal(vo.numpy(), vt.detach().numpy())
    (vo * vo).sum().backward()  # differentiable: each parameter gets 2 p
    (vt * vt).sum().backward()
    for (n, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=n)
    new = np.arange(vo.shape[0], dtype=np.float32)
    head = ours.head.weight
    nn.utils.vector_to_parameters(cr.Tensor(new), ours.parameters())
    tnn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    assert ours.head.weight is head and ours.out.weight is head
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy(), err_msg=k)
    with pytest.raises(ValueError, match="vector_to_parameters: the vector has 3 numbers; the parameters hold"):
        nn.utils.vector_to_parameters(cr.Tensor([1.0, 2.0, 3.0]), ours.parameters())
    with pytest.raises(TypeError, match="expected a Tensor"):
        nn.utils.vector_to_parameters([1.0], ours.parameters())
    assert ours.state_dict()["body.0.weight"][0, 0] == new[1]  # nothing written by the refused calls


def test_deep_copies_keep_hooks_and_names():
    m = nn.Sequential(nn.Linear(2, 2))
    seen = []
    m[0].register_forward_hook(lambda mod, a, out: seen.append(1))
    c = copy.deepcopy(m)
    c(cr.Tensor(r(1, 2)))
    assert seen == [1] and keys(c) == keys(m)

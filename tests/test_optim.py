"""Ten steps of each optimizer and schedule against torch.optim, on the same parameters and gradients."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import torch

import chainrule as cr
from chainrule import optim

rng = np.random.default_rng(3)
SHAPES = [(3, 4), (4,), ()]

CONFIGS = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.1, "weight_decay": 0.01}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("AdaGrad", "Adagrad", {"lr": 0.1}),
    ("AdaGrad", "Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("RMSProp", "RMSprop", {"lr": 0.01}),
    ("RMSProp", "RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}),
    ("Adam", "Adam", {"lr": 0.01}),
    ("Adam", "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", "AdamW", {"lr": 0.01}),
    ("AdamW", "AdamW", {"lr": 0.01, "weight_decay": 0.5}),
]


@pytest.mark.parametrize("ours,theirs,kw", CONFIGS, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(CONFIGS)])
def test_ten_steps_match_torch(ours, theirs, kw):
    if torch is None:
        pytest.skip("torch is not installed")
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(10)]
    ps = [cr.nn.Parameter(w, dtype="float64") for w in start]
    tps = [torch.tensor(w, requires_grad=True) for w in start]
    opt = getattr(optim, ours)(ps, **kw)
    topt = getattr(torch.optim, theirs)(tps, **kw)
    for step, gs in enumerate(grads):
        for p, tp, g in zip(ps, tps, gs):
            p.grad = cr.Tensor(g, dtype="float64")
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ps, tps)):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}, parameter {i}")


@pytest.mark.parametrize(
    "ours,theirs",
    [
        (lambda o: optim.StepLR(o, 3, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
        (lambda o: optim.ExponentialLR(o, 0.9), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
        (lambda o: optim.CosineAnnealingLR(o, 7, 0.01), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 7, 0.01)),
    ],
    ids=["step", "exponential", "cosine"],
)
def test_schedules_match_torch(ours, theirs):
    if torch is None:
        pytest.skip("torch is not installed")
    opt = optim.SGD([cr.Tensor([1.0], requires_grad=True)], lr=0.5)
    topt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched, tsched = ours(opt), theirs(topt)
    for epoch in range(10):
        topt.step()
        sched.step()
        tsched.step()
        assert opt.lr == pytest.approx(tsched.get_last_lr()[0], rel=1e-12), epoch


def test_vanilla_sgd_is_the_lectures_update():
    w = cr.Tensor([0.5, -1.5], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)
    (w * w).sum().backward()
    expected = w.numpy() + -0.25 * w.grad.numpy()  # weights += -step_size * weights_grad
    opt.step()
    np.testing.assert_array_equal(w.numpy(), expected)


def test_state_dict_round_trip_continues_identically():
    def run(split: bool):
        w = cr.nn.Parameter(np.array([1.0, -2.0, 3.0]), dtype="float64")
        opt = optim.Adam([w], lr=0.1)
        for t in range(6):
            if split and t == 3:
                sd = opt.state_dict()
                w2 = cr.nn.Parameter(w.numpy(), dtype="float64")
                opt = optim.Adam([w2], lr=0.5)  # a different lr: the state dict restores 0.1
                opt.load_state_dict(sd)
                w = w2
            w.grad = cr.Tensor(np.sin(w.numpy() + t), dtype="float64")
            opt.step()
        return w.numpy()

    np.testing.assert_array_equal(run(False), run(True))


@pytest.mark.parametrize(
    "make,words",
    [
        (lambda p: optim.SGD(p, lr=0), ["SGD", "lr=0", "positive"]),
        (lambda p: optim.SGD(p, lr=-1.0), ["SGD", "lr=-1.0"]),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), ["SGD", "momentum=-0.5"]),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ["SGD", "nesterov", "momentum > 0"]),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ["Adam", "betas=(0.9, 1.0)"]),
        (lambda p: optim.Adam([], lr=0.1), ["Adam", "no parameters"]),
        (lambda p: optim.RMSProp([cr.Tensor([1.0])]), ["RMSProp", "parameter 0", "requires grad"]),
    ],
)
def test_bad_hyperparameters_are_named(make, words):
    with pytest.raises((ValueError, TypeError)) as e:
        make([cr.Tensor([1.0], requires_grad=True)])
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_parameters_without_gradient_are_left_alone():
    a, b = cr.Tensor([1.0], requires_grad=True), cr.Tensor([2.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert b.item() == 2.0 and a.item() != 1.0


@pytest.mark.parametrize("which", ["norm", "value"])
def test_gradient_clipping_matches_torch_nn_utils(which):
    """``nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` against torch's, on a model's gradients;
    ``optim.clip_grad_norm`` (chainrule's old name, and place) is the same function."""
    if torch is None:
        pytest.skip("torch is not installed")
    grads = [rng.standard_normal(s) * 3 for s in SHAPES]
    ps = [cr.nn.Parameter(np.zeros(s), dtype="float64") for s in SHAPES]
    tps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = cr.Tensor(g, dtype="float64"), torch.tensor(g)
    if which == "norm":
        assert optim.clip_grad_norm is cr.nn.utils.clip_grad_norm_
        norm = cr.nn.utils.clip_grad_norm_(ps, 1.5)
        np.testing.assert_allclose(norm, torch.nn.utils.clip_grad_norm_(tps, 1.5).item(), rtol=1e-12)
    else:
        assert cr.nn.utils.clip_grad_value_(ps, 0.7) is None
        torch.nn.utils.clip_grad_value_(tps, 0.7)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-6, atol=1e-12)

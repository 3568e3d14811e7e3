"""The optimizers' API: PyTorch's parameter groups, state and state dicts, chainrule's older
spellings, checks before changes, checkpoints, the compiled step and the GPU stand-in. (Each
option of each algorithm and each schedule against torch.optim: tests/test_optim_torch.py.)"""

from __future__ import annotations

import io

import numpy as np
import pytest
import strict
from oracle import _gpu_like, torch

import chainrule as cr
from chainrule import nn, optim
from chainrule.serialization import _encode, atomic_write

rng = np.random.default_rng(3)
SHAPES = [(3, 4), (4,), ()]

# chainrule's older spellings (AdaGrad, RMSProp) and the options it had before the groups
CONFIGS = [
    ("SGD", "SGD", {"lr": 0.1}),
    ("SGD", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("AdaGrad", "Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("RMSProp", "RMSprop", {"lr": 0.01, "alpha": 0.9, "weight_decay": 0.1}),
    ("Adam", "Adam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1}),
    ("AdamW", "AdamW", {"lr": 0.01, "weight_decay": 0.5}),
]

# every algorithm (but LBFGS, which needs a closure), for the tests of the machinery around them
EVERY = [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}), ("Adam", {"lr": 0.01, "amsgrad": True}),
         ("AdamW", {"lr": 0.01}), ("RMSprop", {"lr": 0.01, "momentum": 0.5, "centered": True}),
         ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}), ("Adadelta", {"weight_decay": 0.01}), ("Adamax", {"lr": 0.01}),
         ("NAdam", {"lr": 0.01, "weight_decay": 0.01}), ("RAdam", {"lr": 0.01, "decoupled_weight_decay": True,
                                                                  "weight_decay": 0.01})]  # fmt: skip
EVERY_IDS = [name for name, _ in EVERY]


def params64(seed: int = 0) -> list:
    g = np.random.default_rng(seed)
    return [nn.Parameter(g.standard_normal(s), dtype="float64") for s in SHAPES]


def set_grads(ps: list, t: int) -> None:
    for i, p in enumerate(ps):
        p.grad = cr.Tensor(np.sin(p.numpy() * (i + 1) + t), dtype="float64")


@pytest.mark.parametrize("ours,theirs,kw", CONFIGS, ids=[f"{a}-{i}" for i, (a, _, _) in enumerate(CONFIGS)])
def test_the_older_spellings_take_torchs_steps(ours, theirs, kw):
    if torch is None:
        pytest.skip("torch is not installed")
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(10)]
    ps = [nn.Parameter(w.copy(), dtype="float64") for w in start]
    tps = [torch.tensor(w, requires_grad=True) for w in start]
    opt = getattr(optim, ours)(ps, **kw)
    topt = getattr(torch.optim, theirs)(tps, **kw)
    assert getattr(optim, ours) is getattr(optim, theirs)
    for step, gs in enumerate(grads):
        for p, tp, g in zip(ps, tps, gs):
            p.grad = cr.Tensor(g, dtype="float64")
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ps, tps)):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=f"step {step}, parameter {i}")


def test_vanilla_sgd_is_the_lectures_update():
    w = cr.Tensor([0.5, -1.5], requires_grad=True)
    opt = optim.SGD([w], lr=0.25)
    (w * w).sum().backward()
    expected = w.numpy() + -0.25 * w.grad.numpy()  # weights += -step_size * weights_grad
    opt.step()
    np.testing.assert_array_equal(w.numpy(), expected)
    assert optim.SGD([w]).lr == 1e-3  # PyTorch's default (chainrule's was 1e-2)


def test_param_groups_options_and_state_as_torch_keeps_them():
    a, b, c = (nn.Parameter(np.ones(s)) for s in SHAPES)
    opt = optim.SGD([{"params": [a, b]}, {"params": c, "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5] and opt.param_groups[1]["params"] == [c]
    assert opt.param_groups[0] == {"params": [a, b], **opt.defaults} and opt.defaults["momentum"] == 0.0
    assert opt.params == [a, b, c] and opt.lr == 0.1
    opt.lr = 0.2  # chainrule's spelling: every group's rate
    opt.momentum = 0.3  # (any option likewise)
    assert [(g["lr"], g["momentum"]) for g in opt.param_groups] == [(0.2, 0.3), (0.2, 0.3)] and opt.nesterov is False
    d = nn.Parameter(np.ones(2))
    opt.add_param_group({"params": [d], "weight_decay": 0.1})
    assert opt.param_groups[2]["weight_decay"] == 0.1 and opt.param_groups[2]["lr"] == 0.1  # the defaults
    for p in opt.params:
        p.grad = cr.Tensor(np.ones(p.shape))
    opt.step()
    assert opt.state[c].keys() == {"momentum_buffer"} and not opt.state[d]  # keyed by the parameter
    sd = opt.state_dict()  # (d's group took the defaults' momentum, 0: no state, none in the state dict)
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2], [3]]
    assert sorted(sd["state"]) == [0, 1, 2] and sd["param_groups"][1]["lr"] == 0.2
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    named = optim.Adam([("w", a), ("b", b)])
    assert named.param_groups[0]["param_names"] == ["w", "b"] and named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    assert optim.Adam(nn.Linear(2, 3)).params[0].shape == (3, 2)  # a Module, or its parameters()


def test_zero_grad_forgets_or_writes_zeros():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    g = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is g and w.grad.numpy().tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None


def test_a_closure_runs_with_gradients_on_and_its_loss_comes_back():
    w = cr.Tensor([3.0], requires_grad=True)
    opt = optim.Adam([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = ((w - 1) ** 2).sum()
        loss.backward()
        return loss

    with cr.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and w.item() < 3.0
    assert opt.step() is None


def test_state_dict_round_trip_continues_identically():
    def run(split: bool):
        w = nn.Parameter(np.array([1.0, -2.0, 3.0]), dtype="float64")
        opt = optim.Adam([w], lr=0.1)
        for t in range(6):
            if split and t == 3:
                sd = opt.state_dict()
                w2 = nn.Parameter(w.numpy(), dtype="float64")
                opt = optim.Adam([w2], lr=0.5)  # a different lr: the state dict restores 0.1
                opt.load_state_dict(sd)
                w = w2
            w.grad = cr.Tensor(np.sin(w.numpy() + t), dtype="float64")
            opt.step()
        return w.numpy()

    np.testing.assert_array_equal(run(False), run(True))


def _old_form(opt: optim.Optimizer, renamed: dict) -> dict:
    """``opt``'s state as chainrule wrote it before the groups: {"hyper", "state": a list, old names}."""
    sd = opt.state_dict()
    hyper = {k: v for k, v in sd["param_groups"][0].items() if k in ("lr", "momentum", "nesterov", "weight_decay",
                                                                       "betas", "eps", "alpha")}  # fmt: skip
    back = {v: k for k, v in renamed.items()}
    states = [{back.get(k, k): v for k, v in sd["state"].get(i, {}).items()} for i in range(len(opt.params))]
    if isinstance(opt, optim.SGD):
        states = [{**s, "step": 3} for s in states]  # it counted steps for every algorithm
    return {"hyper": {k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()}, "state": states}


OLD = [("SGD", {"lr": 0.1, "momentum": 0.9}, {"velocity": "momentum_buffer"}),
       ("Adam", {"lr": 0.01, "betas": (0.8, 0.99)}, {"m": "exp_avg", "v": "exp_avg_sq"}),
       ("AdaGrad", {"lr": 0.1}, {"cache": "sum"}), ("RMSProp", {"lr": 0.01}, {"cache": "square_avg"})]  # fmt: skip


@pytest.mark.parametrize("name,kw,renamed", OLD, ids=[o[0] for o in OLD])
def test_older_state_dicts_and_checkpoints_still_load(tmp_path, name, kw, renamed):
    """Today's checkpoints (hyperparameters, per-parameter counts, optim.<i>.<old name> tensors)
    load into the new optimizers and the run continues as an uninterrupted one."""
    whole, half = params64(), params64()
    opt_w, opt_h = getattr(optim, name)(whole, **kw), getattr(optim, name)(half, **kw)
    for t in range(3):
        set_grads(whole, t), set_grads(half, t)
        opt_w.step(), opt_h.step()
    old = _old_form(opt_h, renamed)
    resumed = [nn.Parameter(p.numpy().copy(), dtype="float64") for p in half]
    from_dict = getattr(optim, name)(resumed, lr=0.5)
    from_dict.load_state_dict(old)
    # the same state as a checkpoint file of the older format
    net = nn.Linear(2, 2)
    arrays = {f"model.{k}": v for k, v in net.state_dict().items()}
    counts = [{k: v for k, v in s.items() if not hasattr(v, "shape")} for s in old["state"]]
    arrays.update({f"optim.{i}.{k}": v for i, s in enumerate(old["state"]) for k, v in s.items() if hasattr(v, "shape")})
    meta = {"format": "chainrule-checkpoint", "epoch": 3, "rng": cr.rng.get_state(), "extra": {},
            "optimizer": {"type": name, "hyper": old["hyper"], "counts": counts}}  # fmt: skip
    atomic_write(tmp_path / "old.ckpt", _encode(arrays, meta))
    resumed2 = [nn.Parameter(p.numpy().copy(), dtype="float64") for p in half]
    from_file = getattr(optim, name)(resumed2, lr=0.5)

    assert cr.load_checkpoint(tmp_path / "old.ckpt", nn.Linear(2, 2), from_file)["epoch"] == 3
    for t in range(3, 6):
        for ps, opt in ((whole, opt_w), (resumed, from_dict), (resumed2, from_file)):
            set_grads(ps, t)
            opt.step()
    for a, b, c in zip(whole, resumed, resumed2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(a.numpy(), c.numpy())


@pytest.mark.parametrize("make,words", [
    (lambda p: optim.SGD(p, lr=-1.0), ["SGD", "lr=-1.0", ">= 0"]),
    (lambda p: optim.SGD(p, lr=float("nan")), ["SGD", "lr=nan", "finite"]),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), ["SGD", "momentum=-0.5"]),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ["SGD", "nesterov", "momentum > 0"]),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ["SGD", "dampening 0"]),
    (lambda p: optim.SGD([{"params": p}, {"params": [cr.Tensor([2.0], requires_grad=True)], "lr": -2}]), ["SGD", "lr=-2"]),
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ["Adam", "betas=(0.9, 1.0)"]),
    (lambda p: optim.Adam([], lr=0.1), ["Adam", "no parameters"]),
    (lambda p: optim.Adam(p[0]), ["Adam", "one Tensor"]),
    (lambda p: optim.Adam(p, differentiable=True), ["Adam", "differentiable=True"]),
    (lambda p: optim.RMSprop([cr.Tensor([1.0])]), ["RMSprop", "parameter 0", "requires grad"]),
    (lambda p: optim.Adadelta(p, rho=1.5), ["Adadelta", "rho=1.5"]),
    (lambda p: optim.NAdam(p, momentum_decay=-1), ["NAdam", "momentum_decay=-1"]),
    (lambda p: optim.LBFGS(p, line_search_fn="armijo"), ["LBFGS", "line_search_fn='armijo'"]),
    (lambda p: optim.LBFGS([{"params": p}, {"params": [cr.Tensor([2.0], requires_grad=True)]}]), ["LBFGS", "one parameter group"]),
    (lambda p: optim.LBFGS(p).step(), ["LBFGS.step", "closure"]),
    (lambda p: optim.StepLR(optim.SGD(p), 0), ["StepLR", "step_size=0"]),
    (lambda p: optim.CosineAnnealingLR(optim.SGD(p)), ["CosineAnnealingLR", "T_max=None"]),
    (lambda p: optim.StepLR(p, 2), ["StepLR", "list is not an Optimizer"]),
    (lambda p: optim.OneCycleLR(optim.SGD(p), 1.0), ["OneCycleLR", "total_steps"]),
    (lambda p: optim.CyclicLR(optim.Adagrad(p), 0.1, 1.0), ["CyclicLR", "neither momentum nor betas"]),
    (lambda p: optim.LambdaLR(optim.SGD(p), [lambda e: 1.0] * 2), ["LambdaLR", "2 values of lr_lambda", "expected 1"]),
])  # fmt: skip
def test_bad_arguments_are_named(make, words):
    with pytest.raises((ValueError, TypeError)) as e:
        make([cr.Tensor([1.0], requires_grad=True)])
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def _trained(name: str = "Adam", **kw) -> tuple:
    ps = params64()
    opt = getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], **kw)
    for t in range(2):
        set_grads(ps, t)
        opt.step()
    return ps, opt


@pytest.mark.parametrize("damage,words", [
    (lambda sd: sd["param_groups"].pop(), "1 parameter groups; this optimizer has 2"),
    (lambda sd: sd["param_groups"][1]["params"].append(7), r"param_groups\[1\] lists \[2, 7\]"),
    (lambda sd: sd["param_groups"][1].update(params=[1]), "a parameter id appears twice"),
    (lambda sd: sd["param_groups"][0].update(eps=-1.0), r"hyperparameters of param_groups\[0\]: Adam: eps=-1.0"),
    (lambda sd: sd["param_groups"][0].update(initial_lr=float("inf")), "initial_lr=inf"),
    (lambda sd: sd["state"][0].update(exp_avg=np.zeros((4, 3))), r"exp_avg of parameter 0 is .*shape \(3, 4\)"),
    (lambda sd: sd["state"][1]["exp_avg_sq"].__setitem__(0, np.nan), "exp_avg_sq of parameter 1 holds NaN"),
    (lambda sd: sd["state"][2].update(step=-1), "step of parameter 2 is -1; expected a count"),
    (lambda sd: sd["state"][2].update(step=2.5), "step of parameter 2 is 2.5"),
    (lambda sd: sd["state"][2].pop("exp_avg"), r"has \['exp_avg_sq', 'step'\]; Adam with these options keeps"),
    (lambda sd: sd["state"][0].update(momentum_buffer=np.zeros((3, 4))), "momentum_buffer"),
    (lambda sd: sd["param_groups"][0].update(amsgrad=True), r"keeps \['exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'"),
    (lambda sd: sd["state"].update({9: {}}), "parameter id 9, which no group lists"),
    (lambda sd: sd.pop("param_groups"), "expected {'state': dict, 'param_groups': list}"),
])  # fmt: skip
def test_a_bad_state_dict_is_refused_before_anything_changes(damage, words):
    ps, opt = _trained()
    good = opt.state_dict()
    sd = opt.state_dict()
    damage(sd)
    set_grads(ps, 5)
    opt.step()
    before = opt.state_dict()
    with pytest.raises(ValueError, match=words):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"] and after["state"].keys() == before["state"].keys()
    for k, s in before["state"].items():
        assert all(np.array_equal(s[n], after["state"][k][n]) for n in s)
    opt.load_state_dict(good)  # and a good one still loads
    assert opt.state_dict()["state"][0]["step"] == 2


def _checkpoint_run(tmp_path, make_opt, make_sched, steps: int = 6, split: int = 3):
    """Train a tiny net for ``steps`` steps, or ``split`` of them, a checkpoint, fresh objects, the rest."""
    x = np.random.default_rng(0).standard_normal((8, 2))
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])

    def fresh():
        cr.manual_seed(0)
        net = nn.Sequential(nn.Linear(2, 5), nn.Tanh(), nn.Linear(5, 3)).double()
        opt = make_opt(net)
        return net, opt, make_sched(opt)

    def one(net, opt, sched, t):
        def closure():
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(cr.Tensor(x * (1 + 0.1 * t), dtype="float64")), y)
            loss.backward()
            return loss

        opt.step(closure)
        if isinstance(sched, optim.ReduceLROnPlateau):
            sched.step(1.0)  # no improvement: it reduces after its patience
        elif sched is not None:
            sched.step()

    net, opt, sched = fresh()
    for t in range(steps):
        one(net, opt, sched, t)
    net2, opt2, sched2 = fresh()
    for t in range(split):
        one(net2, opt2, sched2, t)
    cr.save_checkpoint(tmp_path / "c.ckpt", net2, opt2, epoch=split, scheduler=sched2)
    net3, opt3, sched3 = fresh()
    cr.load_checkpoint(tmp_path / "c.ckpt", net3, opt3, sched3)
    for t in range(split, steps):
        one(net3, opt3, sched3, t)
    for (k, v), w in zip(net.state_dict().items(), net3.state_dict().values()):
        np.testing.assert_array_equal(v, w, err_msg=k)
    return opt, opt3


@pytest.mark.parametrize("name,kw", EVERY + [("LBFGS", {"max_iter": 3, "history_size": 2}),
                                             ("LBFGS", {"max_iter": 2, "line_search_fn": "strong_wolfe"})],
                         ids=EVERY_IDS + ["LBFGS", "LBFGS-wolfe"])  # fmt: skip
def test_a_checkpoint_resumes_each_optimizer_exactly(tmp_path, name, kw):
    opt, opt3 = _checkpoint_run(tmp_path, lambda net: getattr(optim, name)(net.parameters(), **kw), lambda opt: None)
    assert opt.state_dict()["param_groups"] == opt3.state_dict()["param_groups"]


SCHEDULED = [
    ("MultiStepLR", lambda o: optim.MultiStepLR(o, [1, 4, 4], 0.5)),  # a Counter: JSON makes its keys strings
    ("ReduceLROnPlateau", lambda o: optim.ReduceLROnPlateau(o, patience=1)),  # best starts at inf
    ("SequentialLR", lambda o: optim.SequentialLR(o, [optim.LinearLR(o, 0.5, total_iters=2),
                                                      optim.CosineAnnealingLR(o, T_max=4)], [2])),
    ("OneCycleLR", lambda o: optim.OneCycleLR(o, 0.1, total_steps=10)),
    ("LambdaLR", lambda o: optim.LambdaLR(o, lambda e: 0.9**e)),
]  # fmt: skip


@pytest.mark.parametrize("name,make", SCHEDULED, ids=[s[0] for s in SCHEDULED])
def test_a_checkpoint_resumes_each_schedule_exactly(tmp_path, name, make):
    opt, opt3 = _checkpoint_run(tmp_path, lambda net: optim.SGD(net.parameters(), lr=0.1, momentum=0.9), make)
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in opt3.param_groups]


def test_an_older_schedule_state_loads():
    opt = optim.SGD([cr.Tensor([1.0], requires_grad=True)], lr=0.5)
    sched = optim.CosineAnnealingLR(opt, t_max=10)  # chainrule's older spelling of T_max
    assert sched.T_max == sched.t_max == 10
    sched.load_state_dict({"base_lr": 0.5, "last_epoch": 3})
    sched.step(4)
    assert sched.get_last_lr()[0] == pytest.approx(0.5 * (1 + np.cos(np.pi * 4 / 10)) / 2)


@pytest.mark.parametrize("name,kw", EVERY, ids=EVERY_IDS)
def test_a_compiled_step_takes_the_eager_steps(name, kw):
    """Float32, two groups; a schedule changes both rates between calls: the replay reads them."""
    def run(compiled: bool):
        cr.manual_seed(0)
        net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
        first, *rest = list(net.parameters())
        opt = getattr(optim, name)([{"params": [first]}, {"params": rest, "lr": kw.get("lr", 0.01) * 2}], **kw)
        sched = optim.ExponentialLR(opt, 0.9)

        def step(x, y):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(cr.Tensor(x)), y)
            loss.backward()
            opt.step()
            return loss

        fn = cr.compile(step) if compiled else step
        x, y = cr.data.spiral(n_per_class=10, seed=1)
        losses = []
        for _ in range(6):
            losses.append(fn(x.astype(np.float32), y).item())
            sched.step()
        return losses, [p.numpy() for p in net.parameters()], opt, fn

    losses, params, opt, _ = run(False)
    c_losses, c_params, c_opt, fn = run(True)
    assert c_losses == losses
    for a, b in zip(params, c_params):
        np.testing.assert_array_equal(a, b)
    assert fn.traces_made == (1 if name == "Adagrad" else 2)  # the state appears after the first call
    assert type(c_opt.param_groups[1]["lr"]) is float and c_opt.param_groups[1]["lr"] == opt.param_groups[1]["lr"]
    sd, c_sd = opt.state_dict(), c_opt.state_dict()
    for k, s in sd["state"].items():
        for n, v in s.items():
            assert type(c_sd["state"][k][n]) is type(v), n  # counts come back as ints
            np.testing.assert_array_equal(c_sd["state"][k][n], v, err_msg=n)


@pytest.mark.parametrize("name,kw", EVERY, ids=EVERY_IDS)
def test_each_optimizer_on_the_gpu_stand_in_takes_the_cpus_steps(name, kw):
    """StrictArray parameters (tests/strict.py): the state is made on the "device", no host array
    meets it, no value is read back to the host, and the numbers are the CPU's."""
    def run(device: bool):
        ps = params64()
        if device:
            for p in ps:
                p._data = strict.device_array(p._data)
        opt = getattr(optim, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.02}], **kw)
        with _gpu_like("strict"):
            for t in range(4):
                for i, p in enumerate(ps):
                    g = np.cos(np.arange(p.numel(), dtype=np.float64).reshape(p.shape) + t + i)
                    p.grad = cr.Tensor(strict.device_array(g) if device else g)
                before = strict.syncs()
                opt.step()
                assert strict.syncs() == before, "the step read a value back to the host"
        return ps, opt

    ps, opt = run(False)
    dps, dopt = run(True)
    for p, q in zip(ps, dps):
        assert type(q.data) is strict.StrictArray
        np.testing.assert_array_equal(q.data.view(np.ndarray), p.numpy())
    arrays = [v for s in dopt.state.values() for v in s.values() if hasattr(v, "shape")]
    assert arrays and all(type(v) is strict.StrictArray for v in arrays)


def test_fit_steps_reduce_on_plateau_with_the_validation_loss():
    cr.manual_seed(0)
    x, y = cr.data.spiral(n_per_class=20, seed=0)
    net = nn.Linear(2, 3)
    opt = optim.SGD(net.parameters(), lr=1e-6)  # too small to improve: a plateau
    sched = optim.ReduceLROnPlateau(opt, patience=0, factor=0.5, threshold=0.5)
    history = cr.training.fit(net, (x, y), loss=nn.functional.cross_entropy, optimizer=opt, epochs=3, batch_size=60,
                              val_data=(x, y), scheduler=sched, progress=False, log=io.StringIO())  # fmt: skip
    assert history["lr"] == [1e-6, 1e-6, 5e-7] and opt.lr == 2.5e-7  # epoch 1 set the best; then no better


def test_parameters_without_gradient_are_left_alone():
    a, b = cr.Tensor([1.0], requires_grad=True), cr.Tensor([2.0], requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 3).sum().backward()
    opt.step()
    assert b.item() == 2.0 and a.item() != 1.0 and b not in opt.state


@pytest.mark.parametrize("which", ["norm", "norm-1", "norm-inf", "norm-3", "value"])
def test_gradient_clipping_matches_torch_nn_utils(which):
    """``nn.utils.clip_grad_norm_`` and ``clip_grad_value_`` against torch's, on a model's gradients;
    ``optim.clip_grad_norm`` (chainrule's old name, and place) is the same function."""
    if torch is None:
        pytest.skip("torch is not installed")
    grads = [rng.standard_normal(s) * 3 for s in SHAPES]
    ps = [nn.Parameter(np.zeros(s), dtype="float64") for s in SHAPES]
    tps = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, tp, g in zip(ps, tps, grads):
        p.grad, tp.grad = cr.Tensor(g, dtype="float64"), torch.tensor(g)
    if which.startswith("norm"):
        assert optim.clip_grad_norm is cr.nn.utils.clip_grad_norm_
        kind = {"norm": 2.0, "norm-1": 1.0, "norm-inf": float("inf"), "norm-3": 3.0}[which]
        norm = cr.nn.utils.clip_grad_norm_(ps, 1.5, norm_type=kind)
        want = torch.nn.utils.clip_grad_norm_(tps, 1.5, norm_type=kind)
        assert isinstance(norm, cr.Tensor) and norm.shape == ()
        np.testing.assert_allclose(norm.item(), want.item(), rtol=1e-12)
    else:
        assert cr.nn.utils.clip_grad_value_(ps, 0.7) is None
        torch.nn.utils.clip_grad_value_(tps, 0.7)
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_clip_grad_norm_refuses_a_nonfinite_norm_when_asked():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    w.grad = cr.Tensor([np.inf, 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        cr.nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert w.grad.numpy()[1] == 1.0  # refused before anything was scaled
    assert not np.isfinite(cr.nn.utils.clip_grad_norm_([w], 1.0).item())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
                                {"maximize": True}, {"amsgrad": True}])  # fmt: skip
def test_adams_one_loop_takes_the_passes_steps_bit_for_bit(monkeypatch, dtype, kw):
    from chainrule.ops import kernels
    from chainrule.optim import adam

    if not kernels.available():
        pytest.skip("Numba is not installed: Adam runs its NumPy passes alone")
    g = np.random.default_rng(0)
    start = g.standard_normal((64, 33)).astype(dtype)
    grads = [g.standard_normal((64, 33)).astype(dtype) for _ in range(5)]
    ran = []

    def walk():
        w = cr.Tensor(start.copy(), requires_grad=True)
        opt = optim.Adam([w], lr=0.01, **kw)
        for grad in grads:
            w.grad = cr.Tensor(grad)
            opt.step()
        return w.numpy()

    loop = kernels.adam
    monkeypatch.setattr(kernels, "adam", lambda *a, **k: ran.append(1) or loop(*a, **k))
    one = walk()
    assert len(ran) == (0 if kw.get("amsgrad") else 5)  # amsgrad: its passes alone
    monkeypatch.setattr(adam, "_one_pass", lambda *a: False)
    np.testing.assert_array_equal(one, walk())

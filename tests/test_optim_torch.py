"""``chainrule.optim`` against ``torch.optim``, as tables: each optimizer with each option set,
each schedule, compared step by step on the same values in float64; state dicts carried from
PyTorch to chainrule (and back) in the middle of a run, which then continues identically."""

from __future__ import annotations

import math

import numpy as np
import pytest
from oracle import torch

import chainrule as cr
from chainrule import optim

pytestmark = pytest.mark.skipif(torch is None, reason="torch is not installed")

SHAPES = [(3, 4), (4,), ()]
STEPS = 12

# (class, options, options of a second group holding the last parameter): every option of each algorithm
OPTIMIZERS = [
    ("SGD", {"lr": 0.1}, {}),
    ("SGD", {"lr": 0.1, "weight_decay": 0.01, "maximize": True}, {"lr": 0.3}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}, {"momentum": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "dampening": 0.3, "weight_decay": 1e-3}, {}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}, {"lr": 0.01}),
    ("Adam", {"lr": 0.01}, {}),
    ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}, {"betas": (0.5, 0.9)}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "maximize": True}, {"lr": 0.02}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {}),
    ("AdamW", {"lr": 0.01}, {"weight_decay": 0.0}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.5, "amsgrad": True, "maximize": True}, {}),
    ("RMSprop", {"lr": 0.01}, {}),
    ("RMSprop", {"lr": 0.01, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}, {"alpha": 0.5}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}, {"momentum": 0.0}),
    ("RMSprop", {"lr": 0.01, "centered": True, "maximize": True}, {"centered": False}),
    ("Adagrad", {"lr": 0.1}, {}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.2, "eps": 1e-8},
     {"lr_decay": 0.0}),
    ("Adagrad", {"lr": 0.1, "maximize": True}, {"initial_accumulator_value": 1.0}),
    ("Adadelta", {}, {}),
    ("Adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-4, "weight_decay": 0.1, "maximize": True}, {"rho": 0.95}),
    ("Adamax", {}, {}),
    ("Adamax", {"lr": 0.01, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1, "maximize": True}, {"lr": 0.1}),
    ("NAdam", {}, {}),
    ("NAdam", {"lr": 0.01, "betas": (0.8, 0.99), "weight_decay": 0.1, "momentum_decay": 0.01}, {"momentum_decay": 0.0}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True, "maximize": True}, {}),
    ("RAdam", {"lr": 0.01}, {}),  # rho_t passes 5 at step 6: both of its branches
    ("RAdam", {"lr": 0.01, "betas": (0.8, 0.9), "weight_decay": 0.1, "maximize": True}, {"eps": 1e-4}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}, {"betas": (0.9, 0.6)}),  # rho_inf <= 5
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(OPTIMIZERS)]


@pytest.fixture(autouse=True)
def float64_scalars():
    """PyTorch keeps scalar state (NAdam's mu_product) in its default dtype: float64 here, as ours is."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def pair(name: str, kw: dict, second: dict, start: list[np.ndarray]) -> tuple:
    """The same optimizer on the same values: ours and PyTorch's, with two parameter groups."""
    ps = [cr.nn.Parameter(w, dtype="float64") for w in start]
    tps = [torch.tensor(w, requires_grad=True) for w in start]
    opt = getattr(optim, name)([{"params": ps[:-1]}, {"params": ps[-1:], **second}], **kw)
    topt = getattr(torch.optim, name)([{"params": tps[:-1]}, {"params": tps[-1:], **second}], **kw)
    return ps, tps, opt, topt


def take_steps(ps, tps, opt, topt, grads, where=""):
    for step, gs in enumerate(grads):
        for p, tp, g in zip(ps, tps, gs):
            p.grad, tp.grad = cr.Tensor(g, dtype="float64"), torch.tensor(g)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ps, tps)):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{where}step {step}, parameter {i}")  # fmt: skip


def numpy_state(sd: dict) -> dict:
    """A PyTorch state dict with its tensors as NumPy arrays (what a user converts and hands over)."""
    def conv(v):
        if isinstance(v, torch.Tensor):
            return v.detach().numpy().copy()
        return type(v)(conv(x) for x in v) if isinstance(v, (list, tuple)) else v

    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": [dict(g) for g in sd["param_groups"]]}  # fmt: skip


def torch_state(sd: dict) -> dict:
    """Our state dict as PyTorch takes it (arrays as tensors)."""
    def conv(v):
        if isinstance(v, np.ndarray):
            return torch.tensor(v)
        return type(v)(conv(x) for x in v) if isinstance(v, (list, tuple)) else v

    return {"state": {k: {n: conv(v) for n, v in s.items()} for k, s in sd["state"].items()},
            "param_groups": sd["param_groups"]}


def same_state(ours: dict, theirs: dict) -> None:
    """Our state_dict() equals PyTorch's: the groups' options and ids, every state entry by name."""
    assert ours["param_groups"] == theirs["param_groups"]
    assert ours["state"].keys() == theirs["state"].keys()
    for k, s in theirs["state"].items():
        assert ours["state"][k].keys() == s.keys(), k
        for name, v in s.items():
            np.testing.assert_allclose(np.asarray(ours["state"][k][name], dtype=float), np.asarray(v, dtype=float),
                                       rtol=1e-10, atol=1e-12, err_msg=f"{k}.{name}")  # fmt: skip


@pytest.mark.parametrize("name,kw,second", OPTIMIZERS, ids=IDS)
def test_each_option_steps_as_torch(name, kw, second):
    rng = np.random.default_rng(3)
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(STEPS)]
    ps, tps, opt, topt = pair(name, kw, second, start)
    same_state(opt.state_dict(), numpy_state(topt.state_dict()))  # before any step (Adagrad's state is made here)
    take_steps(ps, tps, opt, topt, grads)
    same_state(opt.state_dict(), numpy_state(topt.state_dict()))
    assert all(type(s["step"]) is int for s in opt.state_dict()["state"].values() if "step" in s)  # our choice


@pytest.mark.parametrize("name,kw,second", OPTIMIZERS, ids=IDS)
def test_torch_state_dict_loads_and_continues_identically(name, kw, second):
    """Five steps in PyTorch, its state dict (arrays) into a fresh chainrule optimizer, five more in both;
    then ours into a fresh PyTorch one, which continues as ours does."""
    rng = np.random.default_rng(4)
    start = [rng.standard_normal(s) for s in SHAPES]
    grads = [[rng.standard_normal(s) for s in SHAPES] for _ in range(15)]
    _, tps, _, topt = pair(name, kw, second, start)
    for gs in grads[:5]:
        for tp, g in zip(tps, gs):
            tp.grad = torch.tensor(g)
        topt.step()
    now = [tp.detach().numpy().copy() for tp in tps]
    other = {"lr": 0.5} if name != "Adadelta" else {"lr": 0.7}  # the state dict restores the options too
    ps, _, opt, _ = pair(name, {**kw, **other}, {}, now)
    opt.load_state_dict(numpy_state(topt.state_dict()))
    take_steps(ps, tps, opt, topt, grads[5:10], "after loading PyTorch's state: ")
    tps2 = [torch.tensor(p.numpy(), requires_grad=True) for p in ps]
    topt2 = getattr(torch.optim, name)([{"params": tps2[:-1]}, {"params": tps2[-1:]}], **{**kw, **other})
    topt2.load_state_dict(torch_state(opt.state_dict()))
    take_steps(ps, tps2, opt, topt2, grads[10:], "PyTorch after loading ours: ")


@pytest.mark.parametrize("name,kw,second", OPTIMIZERS[::4], ids=IDS[::4])
def test_step_with_a_closure_returns_its_loss(name, kw, second):
    rng = np.random.default_rng(5)
    start = [rng.standard_normal(s) for s in SHAPES]
    ps, tps, opt, topt = pair(name, kw, second, start)

    def closure(params):
        def run():
            for p in params:
                p.grad = None
            loss = sum(((p - 0.5) ** 4).sum() for p in params)
            loss.backward()
            return loss
        return run

    for step in range(5):
        ours, theirs = opt.step(closure(ps)), topt.step(closure(tps))
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-10), step
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)


# -- L-BFGS: the whole step, its line search and its state -------------------------------------

LBFGS = [
    {},
    {"max_iter": 3},
    {"line_search_fn": "strong_wolfe"},
    {"max_iter": 2, "line_search_fn": "strong_wolfe", "history_size": 2},
    {"lr": 0.5, "max_iter": 4, "history_size": 3},
    {"line_search_fn": "strong_wolfe", "max_iter": 7, "max_eval": 9, "history_size": 2, "tolerance_change": 1e-12},
    {"tolerance_grad": 1e-2, "line_search_fn": "strong_wolfe"},
]
CENTER = np.array([0.5, -0.3, 0.8, 0.1])


def objective(params):
    """Smooth and convex near its minimum (a quartic bowl, coupled through y), so that rounding
    does not grow over the iterations and each run can be followed to 1e-8."""
    x, y = params
    c = torch.tensor(CENTER) if isinstance(x, torch.Tensor) else cr.Tensor(CENTER, dtype="float64")
    return ((x - c) ** 4).sum() + 0.5 * ((x * y.sum()) ** 2).sum() + ((y - 1.0) ** 2).sum() + (x**2).sum() * 0.1


@pytest.mark.parametrize("kw", LBFGS, ids=[str(i) for i in range(len(LBFGS))])
def test_lbfgs_steps_as_torch(kw):
    start = [np.array([-1.2, 1.0, 0.3, -0.5]), np.array([2.0, -1.0])]
    ps = [cr.nn.Parameter(w.copy(), dtype="float64") for w in start]
    tps = [torch.tensor(w, requires_grad=True) for w in start]
    opt, topt = optim.LBFGS(ps, **kw), torch.optim.LBFGS(tps, **kw)

    def closure(o, params):
        def run():
            o.zero_grad()
            loss = objective(params)
            loss.backward()
            return loss
        return run

    for step in range(6):
        ours, theirs = opt.step(closure(opt, ps)), topt.step(closure(topt, tps))
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-9, abs=1e-12), step
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-8, atol=1e-10, err_msg=f"step {step}")
        s, ts = opt.state[ps[0]], topt.state[tps[0]]
        assert (s["func_evals"], s["n_iter"], len(s.get("old_dirs", []))) == (
            ts["func_evals"], ts["n_iter"], len(ts.get("old_dirs", []))), step
    # its state dict (flat vectors, their history, the last scalars) round-trips through PyTorch's
    sd = numpy_state(topt.state_dict())
    fresh = [cr.nn.Parameter(tp.detach().numpy().copy(), dtype="float64") for tp in tps]
    other = optim.LBFGS(fresh, **kw)
    other.load_state_dict(sd)
    for _ in range(2):
        ours, theirs = other.step(closure(other, fresh)), topt.step(closure(topt, tps))
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-9, abs=1e-12)
        for p, tp in zip(fresh, tps):
            np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-8, atol=1e-10)


# -- schedules ---------------------------------------------------------------------------------

L = torch.optim.lr_scheduler if torch is not None else None


class Halving:
    """A callable object: its __dict__ is saved in the schedule's state (a plain function's is not)."""

    def __init__(self):
        self.factor = 0.9

    def __call__(self, epoch):
        return self.factor**epoch


SCHEDULES = [  # (name, make(lib, optimizer), optimizer class, steps)
    ("StepLR", lambda lib, o: lib.StepLR(o, 3, 0.5), "SGD", 20),
    ("MultiStepLR", lambda lib, o: lib.MultiStepLR(o, [2, 5, 5, 9], 0.3), "SGD", 20),
    ("ExponentialLR", lambda lib, o: lib.ExponentialLR(o, 0.9), "SGD", 20),
    ("CosineAnnealingLR", lambda lib, o: lib.CosineAnnealingLR(o, 7, 0.01), "SGD", 30),  # past T_max: back up
    ("CosineAnnealingWarmRestarts", lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 3, 2, 0.001), "SGD", 30),
    ("LambdaLR", lambda lib, o: lib.LambdaLR(o, [lambda e: 1 / (e + 1), Halving()]), "SGD", 20),
    ("MultiplicativeLR", lambda lib, o: lib.MultiplicativeLR(o, lambda e: 0.95), "SGD", 20),
    ("LinearLR", lambda lib, o: lib.LinearLR(o, 0.25, 0.9, 6), "SGD", 20),
    ("ConstantLR", lambda lib, o: lib.ConstantLR(o, 0.5, 4), "SGD", 20),
    ("PolynomialLR", lambda lib, o: lib.PolynomialLR(o, 8, 2.0), "SGD", 20),
    ("OneCycleLR", lambda lib, o: lib.OneCycleLR(o, [1.0, 2.0], total_steps=25), "SGD", 24),
    ("OneCycleLR-adam", lambda lib, o: lib.OneCycleLR(o, 1.0, epochs=5, steps_per_epoch=5, pct_start=0.4,
                                                      anneal_strategy="linear", three_phase=True), "Adam", 24),
    ("CyclicLR", lambda lib, o: lib.CyclicLR(o, 0.01, [0.1, 0.2], step_size_up=4, step_size_down=2), "SGD", 30),
    ("CyclicLR-triangular2", lambda lib, o: lib.CyclicLR(o, 0.01, 0.1, 3, mode="triangular2"), "Adam", 30),
    ("CyclicLR-exp_range", lambda lib, o: lib.CyclicLR(o, 0.01, 0.1, 3, mode="exp_range", gamma=0.9,
                                                       cycle_momentum=False), "SGD", 30),
    ("SequentialLR", lambda lib, o: lib.SequentialLR(o, [lib.LinearLR(o, 0.1, 1.0, 3), lib.ExponentialLR(o, 0.8),
                                                         lib.StepLR(o, 2, 0.5)], [3, 8]), "SGD", 20),
    ("ChainedScheduler", lambda lib, o: lib.ChainedScheduler([lib.ConstantLR(o, 0.5, 3), lib.ExponentialLR(o, 0.9)]),
     "SGD", 20),
]
SCHEDULE_IDS = [s[0] for s in SCHEDULES]


def schedule_pair(make, opt_name: str, lr=(0.5, 0.2)):
    """Ours and PyTorch's optimizer (two groups), and the schedule ``make`` builds on each."""
    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    opt = getattr(optim, opt_name)([{"params": [cr.Tensor([1.0], requires_grad=True)], "lr": r} for r in lr], **extra)
    topt = getattr(torch.optim, opt_name)([{"params": [torch.zeros(1, requires_grad=True)], "lr": r} for r in lr],
                                          **extra)  # fmt: skip
    return opt, topt, make(optim, opt), make(L, topt)


def same_groups(opt, topt, where):
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for k in ("lr", "initial_lr", "momentum", "betas", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            if k in tg:
                np.testing.assert_allclose(g[k], tg[k], rtol=1e-12, atol=1e-15, err_msg=f"{where}: {k}")
            else:
                assert k not in g or k in ("momentum", "betas"), (where, k)


def step_both(opt, topt, sched, tsched, steps, where=""):
    for epoch in range(steps):
        topt.step()
        sched.step()
        tsched.step()
        assert len(sched.get_last_lr()) == 2
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=1e-15,
                                   err_msg=f"{where}epoch {epoch}")  # fmt: skip
        same_groups(opt, topt, f"{where}epoch {epoch}")


@pytest.mark.parametrize("name,make,opt_name,steps", SCHEDULES, ids=SCHEDULE_IDS)
def test_each_schedule_steps_as_torch(name, make, opt_name, steps):
    opt, topt, sched, tsched = schedule_pair(make, opt_name)
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)  # epoch 0, applied on making
    same_groups(opt, topt, "made")
    assert getattr(sched, "last_epoch", None) == getattr(tsched, "last_epoch", None)  # (a chain has none)
    step_both(opt, topt, sched, tsched, steps)
    assert getattr(sched, "last_epoch", None) == getattr(tsched, "last_epoch", None)


@pytest.mark.parametrize("name,make,opt_name,steps", SCHEDULES, ids=SCHEDULE_IDS)
def test_torch_schedule_state_loads_and_continues(name, make, opt_name, steps):
    """PyTorch's schedule and optimizer state halfway (the optimizer's holds the rates), into
    fresh chainrule ones; both continue the same. Ours survives a JSON round trip (a checkpoint's)."""
    import json

    opt, topt, sched, tsched = schedule_pair(make, opt_name)
    half = steps // 2
    for _ in range(half):
        topt.step()
        tsched.step()
    opt.load_state_dict(numpy_state(topt.state_dict()))
    sched.load_state_dict(tsched.state_dict())
    assert sched.get_last_lr() == tsched.get_last_lr()
    step_both(opt, topt, sched, tsched, steps - half - 2, "after loading: ")
    again, _, sched2, _ = schedule_pair(make, opt_name)
    again.load_state_dict(opt.state_dict())
    sched2.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    for _ in range(2):
        sched.step()
        sched2.step()
        assert sched.get_last_lr() == sched2.get_last_lr()


@pytest.mark.parametrize("name,make", [("StepLR", lambda lib, o, e: lib.StepLR(o, 3, 0.5, last_epoch=e)),
                                       ("CosineAnnealingLR", lambda lib, o, e: lib.CosineAnnealingLR(o, 7, 0.01, e)),
                                       ("ExponentialLR", lambda lib, o, e: lib.ExponentialLR(o, 0.9, e)),
                                       ("LinearLR", lambda lib, o, e: lib.LinearLR(o, 0.25, 1.0, 6, e)),
                                       ("CosineAnnealingWarmRestarts",
                                        lambda lib, o, e: lib.CosineAnnealingWarmRestarts(o, 3, 2, 0.0, e))],
                         ids=lambda v: v if isinstance(v, str) else "")  # fmt: skip
def test_a_schedule_made_with_last_epoch_resumes_as_torch(name, make):
    opt, topt, _, _ = schedule_pair(lambda lib, o: None, "SGD")
    for g in opt.param_groups + topt.param_groups:  # a resumed run's groups hold their initial rates
        g["initial_lr"] = g["lr"]
    sched, tsched = make(optim, opt, 4), make(L, topt, 4)
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
    step_both(opt, topt, sched, tsched, 10)


@pytest.mark.parametrize("name,make", [("StepLR", lambda lib, o: lib.StepLR(o, 3, 0.5)),
                                       ("MultiStepLR", lambda lib, o: lib.MultiStepLR(o, [2, 4, 4], 0.5)),
                                       ("CosineAnnealingLR", lambda lib, o: lib.CosineAnnealingLR(o, 7, 0.01)),
                                       ("LinearLR", lambda lib, o: lib.LinearLR(o, 0.25, 1.0, 6)),
                                       ("ConstantLR", lambda lib, o: lib.ConstantLR(o, 0.5, 4)),
                                       ("PolynomialLR", lambda lib, o: lib.PolynomialLR(o, 8, 2.0)),
                                       ("WarmRestarts", lambda lib, o: lib.CosineAnnealingWarmRestarts(o, 3, 2))],
                         ids=lambda v: v if isinstance(v, str) else "")  # fmt: skip
def test_step_with_an_epoch_takes_the_closed_form_as_torch(name, make):
    import warnings

    opt, topt, sched, tsched = schedule_pair(make, "SGD")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyTorch's deprecation of step(epoch)
        for epoch in (5, 2, 9, 0, 12, 7.5 if name == "WarmRestarts" else 7):
            topt.step()
            sched.step(epoch)
            tsched.step(epoch)
            np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, err_msg=str(epoch))


@pytest.mark.parametrize("kw", [{}, {"mode": "max", "factor": 0.5, "patience": 1, "threshold_mode": "abs"},
                                {"patience": 0, "cooldown": 2, "min_lr": [0.05, 0.0], "threshold": 0.1},
                                {"patience": 1, "eps": 0.2}], ids=["default", "max-abs", "cooldown", "eps"])  # fmt: skip
def test_reduce_on_plateau_as_torch(kw):
    opt, topt, _, _ = schedule_pair(lambda lib, o: None, "SGD")
    sched, tsched = optim.ReduceLROnPlateau(opt, **kw), L.ReduceLROnPlateau(topt, **kw)
    metrics = [1.0, 0.9, 0.95, 0.95, 0.97, 0.8, 0.8, 0.81, 0.9, 1.0, 0.7, 0.7] * 3
    for epoch, m in enumerate(metrics):
        topt.step()
        sched.step(m)
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr(), epoch
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == (
            tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best), epoch
        if epoch == 15:  # halfway: PyTorch's state into a fresh one
            sched = optim.ReduceLROnPlateau(opt, **kw)
            sched.load_state_dict(tsched.state_dict())


def test_schedules_check_a_state_before_taking_it():
    opt, _, sched, _ = schedule_pair(lambda lib, o: lib.StepLR(o, 3, 0.5), "SGD")
    before = sched.state_dict()
    for bad, words in [({"last_epoch": "3"}, "last_epoch='3'"), ({"base_lrs": [0.1]}, "2 finite numbers"),
                       ({"gamma": "x"}, "gamma='x'"), ({"nonsense": 1}, "unknown key 'nonsense'"),
                       ({"base_lr": -1.0, "last_epoch": 2}, "finite base_lr > 0")]:  # fmt: skip
        with pytest.raises(ValueError, match=words):
            sched.load_state_dict(bad)
        assert sched.state_dict() == before
    sched.load_state_dict({"base_lr": 0.4, "last_epoch": 2})  # chainrule's older state: one base rate
    assert sched.base_lrs == [0.4, 0.4] and sched.last_epoch == 2


def test_torch_scheduler_semantics_on_making_and_on_a_bad_resume():
    opt, _, _, _ = schedule_pair(lambda lib, o: None, "SGD")
    lin = optim.LinearLR(opt, start_factor=0.5, total_iters=4)  # epoch 0 is applied when it is made
    assert opt.lr == 0.25 and opt.param_groups[0]["initial_lr"] == 0.5
    fresh, _, _, _ = schedule_pair(lambda lib, o: None, "SGD")
    with pytest.raises(ValueError, match="no 'initial_lr'"):
        optim.StepLR(fresh, 2, last_epoch=3)
    assert math.isclose(lin.get_last_lr()[1], 0.1)

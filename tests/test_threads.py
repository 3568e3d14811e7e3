"""Grad mode is per thread: races shown deterministically with events, and a bounded stress test."""

from __future__ import annotations

import threading

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

TIMEOUT = 10  # seconds any wait may take before the test fails instead of hanging


class Pause(cr.Function):
    """An identity gate whose backward signals ``reached`` and waits for ``go``."""

    @staticmethod
    def forward(ctx, x, reached, go):
        ctx.reached, ctx.go = reached, go
        return x.copy()

    @staticmethod
    def backward(ctx, grad_out):
        ctx.reached.set()
        assert ctx.go.wait(TIMEOUT)
        return grad_out, None, None


def run_thread(fn):
    errors = []

    def target():
        try:
            fn()
        except BaseException as e:  # re-raised in the main thread
            errors.append(e)

    th = threading.Thread(target=target)
    th.start()
    return th, errors


def finish(*pairs):
    for th, errors in pairs:
        th.join(TIMEOUT)
        assert not th.is_alive()
        if errors:
            raise errors[0]


def test_a_graph_built_while_another_thread_runs_backward_records():
    reached, go = threading.Event(), threading.Event()
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    loss = Pause.apply(x * 3, reached, go).sum()
    back = run_thread(loss.backward)
    assert reached.wait(TIMEOUT)  # the other thread is inside its backward now (grad mode off there)
    y = x * 2
    assert y.requires_grad and y.op == "Mul" and cr.is_grad_enabled()
    go.set()
    finish(back)
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_two_overlapping_backwards_leave_grad_mode_on_everywhere():
    # A enters its backward, B enters its own, A leaves, B leaves: with one process-wide flag,
    # B would restore the "off" it saw when it entered and leave recording off for everyone.
    x = cr.Tensor([1.0], requires_grad=True)
    ra, ga, rb, gb = (threading.Event() for _ in range(4))
    la = Pause.apply(x * 1, ra, ga).sum()
    lb = Pause.apply(x * 1, rb, gb).sum()
    seen = {}

    def a():
        la.backward()
        seen["a"] = cr.is_grad_enabled()

    def b():
        lb.backward()
        seen["b"] = cr.is_grad_enabled()

    ta = run_thread(a)
    assert ra.wait(TIMEOUT)
    tb = run_thread(b)
    assert rb.wait(TIMEOUT)
    ga.set()
    finish(ta)
    gb.set()
    finish(tb)
    assert seen == {"a": True, "b": True} and cr.is_grad_enabled()
    assert (x * 2).requires_grad


def test_no_grad_in_one_thread_does_not_reach_another():
    inside, checked = threading.Event(), threading.Event()
    result = {}
    shared = cr.no_grad()  # one instance entered by two threads at once is fine

    def a():
        with shared:
            inside.set()
            assert checked.wait(TIMEOUT)
            result["a"] = cr.is_grad_enabled()

    ta = run_thread(a)
    assert inside.wait(TIMEOUT)
    result["main"] = (cr.Tensor([1.0], requires_grad=True) * 2).requires_grad
    with shared:
        result["main inside"] = cr.is_grad_enabled()
    checked.set()
    finish(ta)
    assert result == {"a": False, "main": True, "main inside": False} and cr.is_grad_enabled()


def _train(net: nn.Module, x: np.ndarray, y: np.ndarray, steps: int) -> list[np.ndarray]:
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for _ in range(steps):
        loss = F.cross_entropy(net(cr.Tensor(x)), y) + 1e-3 * F.l2_penalty(net)
        opt.zero_grad()
        loss.backward()
        with cr.no_grad():
            opt.step()
    return [p.grad.numpy().copy() for p in net.parameters()] + [p.numpy().copy() for p in net.parameters()]


def test_threads_training_their_own_nets_get_the_single_threaded_results():
    n_threads, steps = 4, 15
    data, nets = [], []
    for i in range(n_threads):
        cr.manual_seed(i)
        g = np.random.default_rng(i)
        data.append((g.standard_normal((32, 6)).astype(np.float32), g.integers(0, 3, 32)))
        nets.append(nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3)))
    start = [net.state_dict() for net in nets]
    expected = [_train(net, x, y, steps) for net, (x, y) in zip(nets, data)]  # one at a time
    for net, sd in zip(nets, start):
        net.load_state_dict(sd)
    barrier = threading.Barrier(n_threads, timeout=TIMEOUT)
    got: dict[int, list[np.ndarray]] = {}

    def worker(i):
        barrier.wait()  # all start together, so their steps interleave
        got[i] = _train(nets[i], *data[i], steps)

    threads = [run_thread(lambda i=i: worker(i)) for i in range(n_threads)]
    finish(*threads)
    for i in range(n_threads):
        for a, b in zip(got[i], expected[i]):
            np.testing.assert_array_equal(a, b)


def test_threads_convolving_at_once_each_get_their_own_window_copies():
    # each thread's convolutions copy windows into that thread's own scratch buffer
    g = np.random.default_rng(3)
    cases = [(g.standard_normal((4, c, 10 + c, 9)).astype(np.float32), g.standard_normal((5, c, 3, 3)).astype(np.float32))
             for c in (1, 2, 3, 4)]  # fmt: skip

    def grads(x, w):
        xt, wt = cr.Tensor(x, requires_grad=True), cr.Tensor(w, requires_grad=True)
        (F.conv2d(xt, wt, padding=1) ** 2).sum().backward()
        return xt.grad.numpy(), wt.grad.numpy()

    expected = [grads(x, w) for x, w in cases]
    barrier = threading.Barrier(len(cases), timeout=TIMEOUT)
    got: dict[int, list] = {}

    def worker(i):
        barrier.wait()
        got[i] = [grads(*cases[i]) for _ in range(10)]

    finish(*[run_thread(lambda i=i: worker(i)) for i in range(len(cases))])
    for i, want in enumerate(expected):
        for run in got[i]:
            for a, b in zip(run, want):
                np.testing.assert_array_equal(a, b)

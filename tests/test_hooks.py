"""Gradient hooks, retain_grad and the small Tensor conveniences around them."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import torch

import chainrule as cr


def lecture_circuit():
    x = cr.Tensor(-2.0, requires_grad=True)
    y = cr.Tensor(5.0, requires_grad=True)
    z = cr.Tensor(-4.0, requires_grad=True)
    q = x + y
    return x, y, z, q, q * z


def test_hook_sees_the_upstream_gradient_of_the_lecture_example():
    x, y, z, q, f = lecture_circuit()
    seen = []
    q.register_hook(lambda g: seen.append(g.item()))
    f.backward()
    assert seen == [-4.0]  # df/dq = z: the add gate's upstream gradient
    assert x.grad.item() == -4.0 and q.grad is None  # a computed tensor keeps no .grad without retain_grad


def test_hook_at_a_fork_sees_the_sum_once():
    x = cr.Tensor(3.0, requires_grad=True)
    a = x * 2.0
    seen = []
    a.register_hook(lambda g: seen.append(g.item()))
    (a * a + a).backward()  # d/da (a^2 + a) = 2a + 1 = 13
    assert seen == [13.0]


def test_hook_replaces_the_gradient_downstream_and_remove_undoes_it():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3.0
    handle = h.register_hook(lambda g: g * 0.0 + 1.0)
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    handle.remove()
    h2 = x * 3.0
    (h2 * h2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [18.0, 36.0])


def test_leaf_hook_runs_before_accumulation_and_on_each_backward():
    w = cr.Tensor([1.0, -1.0], requires_grad=True)
    calls = []

    def halve(g):
        calls.append(g.numpy().copy())
        return g * 0.5

    w.register_hook(halve)
    (w * w).sum().backward()
    (w * w).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, -2.0])  # 2 x (2w / 2)
    assert len(calls) == 2


def test_retain_grad_keeps_and_accumulates_like_torch():
    x, y, z, q, f = lecture_circuit()
    q.retain_grad()
    f.backward(retain_graph=True)
    assert q.grad.item() == -4.0
    f.backward()
    assert q.grad.item() == -8.0
    if torch is not None:
        tx = torch.tensor(-2.0, requires_grad=True)
        tq = tx + 5.0
        tq.retain_grad()
        tf = tq * -4.0
        tf.backward(retain_graph=True)
        tf.backward()
        assert tq.grad.item() == q.grad.item()


def test_retain_grad_sees_what_the_hooks_left():
    x = cr.Tensor(1.0, requires_grad=True)
    h = x * 2.0
    h.retain_grad()
    h.register_hook(lambda g: g * 10.0)  # registered after retain_grad, still runs before it
    (h * 3.0).backward()
    assert h.grad.item() == 30.0 and x.grad.item() == 60.0


def test_hooks_in_grad_and_under_create_graph():
    x = cr.Tensor(2.0, requires_grad=True)
    y = x**3
    y.register_hook(lambda g: g * 2.0)
    (dx,) = cr.grad(y, x, create_graph=True)  # 2 * 3x^2
    assert dx.item() == 24.0
    (d2x,) = cr.grad(dx, x)  # 2 * 6x
    assert d2x.item() == 24.0


def test_hook_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="register_hook: this tensor does not require grad"):
        cr.Tensor([1.0]).register_hook(print)
    with pytest.raises(TypeError, match="register_hook: expected a function"):
        cr.Tensor([1.0], requires_grad=True).register_hook(3)
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2.0
    h.register_hook(lambda g: np.zeros(3))
    with pytest.raises(ValueError, match=r"returned a gradient of shape \(3,\) for a tensor of shape \(2,\)"):
        h.sum().backward()
    assert x.grad is None  # a failing backward leaves .grad untouched


def test_requires_grad_tolist_numel():
    t = cr.Tensor([[1.0, 2.0]])
    assert t.requires_grad_() is t and t.requires_grad
    assert t.requires_grad_(False).requires_grad is False
    assert t.tolist() == [[1.0, 2.0]] and t.numel() == 2
    with pytest.raises(TypeError, match="requires_grad_: needs floating-point data"):
        cr.Tensor([1, 2]).requires_grad_()
    h = cr.Tensor([1.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="requires_grad_: this tensor was computed by a gate"):
        h.requires_grad_(False)


def test_argmax_argmin_and_casts():
    x = cr.Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 7.0]], requires_grad=True)
    assert x.argmax().item() == 3 and x.argmin(axis=1).tolist() == [0, 1]
    assert x.argmax(axis=0, keepdims=True).shape == (1, 3) and not x.argmax().requires_grad
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32
    assert x.astype("int64").dtype == np.int64 and not x.astype("int64").requires_grad
    with pytest.raises(ValueError, match="argmax: dim 2 is out of range"):
        x.argmax(axis=2)
    with pytest.raises(TypeError, match="astype: 'banana' is not a dtype"):
        x.astype("banana")
    with pytest.raises(ValueError, match=r"var: 1 entries over dims \(0,\)"):
        cr.Tensor([1.0]).var(axis=0)
    with pytest.raises(ValueError, match="norm: ord='nuc' is not supported"):  # any number p is PyTorch's vector norm
        x.norm('nuc')

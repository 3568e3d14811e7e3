"""In-place edits between a forward and its backward are errors, never a wrong gradient."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_a_write_into_a_saved_leaf_fails_at_the_write_and_the_gradient_stays_right():
    x = cr.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (x * x).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[...] = 100
    with pytest.raises(ValueError, match="read-only"):
        x.data += 1
    with pytest.raises(ValueError, match="read-only"):
        np.copyto(x.data, 0.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    x.data[...] = 100  # the graph is freed: writes are fine again
    assert x.data.flags.writeable


def test_a_graph_dropped_without_backward_lets_go_of_its_arrays():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    assert not w.data.flags.writeable
    del loss
    gc.collect()
    assert w.data.flags.writeable
    w.data[0] = 5.0


def test_the_array_stays_protected_while_any_graph_holds_it():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    first, second = (w * 2.0).sum(), (w * w).sum()
    first.backward()
    assert not w.data.flags.writeable  # the second graph still holds it
    second.backward()
    assert w.data.flags.writeable


def test_an_optimizer_step_before_backward_is_named():
    w = cr.Tensor([1.0, -2.0], requires_grad=True, name="w")
    x = cr.Tensor([3.0, 4.0])
    loss = (w * x).sum()
    opt = cr.optim.SGD([w], lr=0.1)
    w.grad = cr.Tensor([1.0, 1.0])
    opt.step()
    with pytest.raises(RuntimeError, match=r"Mul saved input 0 'w' \(shape \(2,\)\).*changed in place by SGD\.step"):
        loss.backward()
    assert w.grad.numpy().tolist() == [1.0, 1.0]  # a failing backward leaves .grad as it was


def test_retained_graph_then_step_then_second_backward_is_refused():
    net = nn.Linear(3, 2)
    opt = cr.optim.Adam(net.parameters())
    loss = net(cr.Tensor(np.ones((4, 3)))).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"Linear saved input 1 .*changed in place by Adam\.step"):
        loss.backward()


@pytest.mark.parametrize(("change", "who"), [
    (lambda net: nn.init.zeros_(net.weight), "nn.init.zeros_"),
    (lambda net: nn.init.normal_(net.weight), "nn.init"),
    (lambda net: net.load_state_dict(net.state_dict()), "load_state_dict"),
])  # fmt: skip
def test_library_writers_are_named(change, who):
    net = nn.Linear(2, 2)
    loss = net(cr.Tensor([[1.0, 2.0]])).sum()
    change(net)
    with pytest.raises(RuntimeError, match=f"changed in place by {who}"):
        loss.backward()


def test_augmented_assignment_on_a_computed_tensor_is_detected():
    x = cr.Tensor([0.5, 1.5], requires_grad=True)
    h = x * 2  # computed, so not write-protected; t.data op= still counts
    loss = (h * h).sum()
    h.data += 1
    with pytest.raises(RuntimeError, match=r"Mul saved input 0 .*an in-place operation on \.data"):
        loss.backward()


def test_a_saved_output_changed_in_place_is_detected():
    x = cr.Tensor([0.0, 1.0], requires_grad=True)
    y = x.exp()  # Exp saves its output
    y.data *= 2
    with pytest.raises(RuntimeError, match="Exp saved its output"):
        y.sum().backward()


def test_rebinding_data_is_not_an_in_place_change():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    x.data = np.array([7.0, 7.0], dtype=np.float32)  # the graph keeps the old array
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_ordinary_training_still_writes_in_place():
    net = nn.Linear(2, 1)
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    before = net.weight.data
    for _ in range(3):
        loss = net(cr.Tensor([[1.0, 2.0]])).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert net.weight.data is before and before.flags.writeable  # the same array, updated in place

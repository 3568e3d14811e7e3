"""The lecture's numbers, as the tour computes them."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest

from chainrule.viz import tour


def test_add_mul_example():
    ex = tour.example_add_mul()
    assert ex.values["q"] == 3.0 and ex.values["f"] == -12.0
    assert ex.grads == {"x": -4.0, "y": -4.0, "z": 3.0}
    mul, add = ex.steps  # reverse order: the mul gate runs first
    assert (mul.gate, mul.upstream, mul.local, mul.downstream) == ("Mul", 1.0, [-4.0, 3.0], [-4.0, 3.0])
    assert (add.gate, add.upstream, add.local, add.downstream) == ("Add", -4.0, [1.0, 1.0], [-4.0, -4.0])


@pytest.mark.parametrize("make", [tour.example_neuron_circuit, tour.example_neuron_sigmoid_gate])
def test_sigmoid_neuron_both_ways(make):
    ex = make()
    assert round(ex.values["f"], 2) == 0.73
    np.testing.assert_allclose(ex.grads["w"], [-0.20, -0.39, 0.20], atol=0.005)
    np.testing.assert_allclose(ex.grads["x"], [0.39, -0.59], atol=0.005)


def test_circuit_and_gate_agree_exactly_enough():
    a, b = tour.example_neuron_circuit(), tour.example_neuron_sigmoid_gate()
    np.testing.assert_allclose(a.grads["w"], b.grads["w"], rtol=1e-12)
    assert round(b.values["local"], 2) == 0.20
    assert [s.gate for s in a.steps] == ["Div", "Add", "Exp", "Mul", "Add", "Add", "Mul", "Mul"]


def test_backward_patterns():
    ex = tour.example_patterns()
    assert ex.grads == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
    max_step = next(s for s in ex.steps if s.gate == "Maximum")
    assert max_step.downstream == [2.0, 0.0]  # routed to the larger input
    add_step = next(s for s in ex.steps if s.gate == "Add")
    assert add_step.downstream == [2.0, 2.0]  # distributed unchanged


def test_branch_sums():
    ex = tour.example_branch()
    assert ex.grads == {"u": 7.0}
    mul = next(s for s in ex.steps if s.gate == "Mul")
    assert mul.downstream == [3.0, 3.0]  # u*u: one contribution per use


def test_vectorized_norm():
    ex = tour.example_vectorized()
    assert ex.values["f"] == pytest.approx(0.116)
    np.testing.assert_allclose(ex.grads["W"], [[0.088, 0.176], [0.104, 0.208]], atol=1e-12)
    np.testing.assert_allclose(ex.grads["x"], [-0.112, 0.636], atol=1e-12)
    np.testing.assert_allclose(ex.grads["W"], ex.grads["W (numerical)"], rtol=1e-7)


def test_one_attention_head_gate_by_gate():
    """The tour's attention head against PyTorch's scaled_dot_product_attention: the same
    output's gradients, and the backward walks the weighted sum, the softmax, the scores."""
    import torch

    ex = tour.example_attention()
    assert [st.gate for st in ex.steps] == ["Sum", "Mul", "MatMul", "Softmax", "Div", "MatMul", "Permute"]
    q, k, v = (torch.tensor(a, dtype=torch.float64, requires_grad=True)
               for a in ([[1.0, 0.0], [0.5, 1.0]], [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]],
                         [[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]]))  # fmt: skip
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    (out * torch.tensor([[1.0, -1.0], [0.5, 2.0]], dtype=torch.float64)).sum().backward()
    for name, t in (("q", q), ("k", k), ("v", v)):
        np.testing.assert_allclose(ex.grads[name], t.grad.numpy(), rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(ex.grads["v"], ex.grads["v (by formula: weights^T upstream)"], rtol=1e-12)
    assert ex.check.passed and np.allclose(ex.values["weights"].sum(axis=1), 1)


def test_svm_gradient_checked_and_loss_goes_down():
    ex = tour.example_svm()
    assert ex.grads["max relative error"] < 1e-7
    losses = ex.values["losses"]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def _leaf_named(out, name):
    stack, seen = [out], set()
    while stack:
        t = stack.pop()
        if t._ctx is None and t.name == name:
            return t
        if t._ctx is not None and id(t) not in seen:
            seen.add(id(t))
            stack.extend(a for a in t._ctx.inputs if hasattr(a, "_ctx"))
    raise AssertionError(f"no leaf {name} in the graph")


def test_svm_uses_one_W_throughout(monkeypatch):
    """The graph, the gradient table, the gradient check and the loss curve's first point are all at one W."""
    from chainrule.autograd.gradcheck import value_and_grad

    ex = tour.example_svm(steps=3)
    W = _leaf_named(ex.graph, "W")
    np.testing.assert_array_equal(W.numpy(), ex.extra["W"])
    assert ex.graph.item() == ex.values["L"] == ex.values["losses"][0]
    np.testing.assert_array_equal(W.grad.numpy(), ex.grads["W (analytic)"])  # the table is the graph's gradient
    np.testing.assert_allclose(ex.grads["W (numerical)"], ex.grads["W (analytic)"], rtol=1e-6, atol=1e-9)
    X, y = ex.extra["data"]
    loss, dW = value_and_grad(lambda w: tour.svm_loss(w, X, y, ex.values["lambda"]))(ex.extra["W"].copy())
    assert loss == ex.values["losses"][0] and np.allclose(dW, ex.grads["W (analytic)"], rtol=1e-12)
    assert ex.check.passed
    buf = io.StringIO()
    monkeypatch.setattr(tour, "EXAMPLES", (tour.example_svm,))  # the printed section alone
    tour.run(buf)
    svm = buf.getvalue().split("== Linear classifier")[1]
    first = f"{ex.values['losses'][0]:.3f}"
    assert f"L={ex.values['L']:.4g}" in svm and f"loss {first} ->" in svm


def test_tour_prints_upstream_times_local():
    buf = io.StringIO()
    tour.run(buf)
    text = buf.getvalue()
    assert "q: 1 x -4 = -4" in text and "x: -4 x 1 = -4" in text
    assert "dot: 1 x 0.1966 = 0.1966" in text


def test_python_m_chainrule_tour():
    res = subprocess.run([sys.executable, "-m", "chainrule", "tour"], capture_output=True, text=True, check=True)
    assert "Worked example 1" in res.stdout and "gradient descent" in res.stdout


def test_spiral_in_the_tour():
    ex = tour.example_spiral(epochs=1000)
    assert 0.45 <= ex.values["linear training accuracy"] <= 0.56
    assert ex.values["net training accuracy"] >= 0.95
    assert ex.values["losses"][-1] < ex.values["losses"][0] / 4


def test_the_report_shows_the_engines_numbers(tmp_path):
    import json
    import re

    from chainrule.viz import build_graph
    from chainrule.viz.report import write_report

    examples = [make() for make in tour.EXAMPLES[:-2]] + [tour.example_spiral(epochs=300), tour.example_vanishing(epochs=2)]
    page = write_report(examples, tmp_path / "tour.html").read_text()
    for ex in examples:
        assert ex.title.split(":")[0] in page
    shown = [json.loads(m) for m in re.findall(r"data-grad='(\[[^']*\])'", page)]
    expected = []
    for ex in examples:
        if ex.graph is not None:
            expected += [n.grad_numbers for n in build_graph(ex.graph, max_nodes=40).nodes.values() if n.grad_numbers]
    assert shown == expected and [-4.0] in shown and [3.0] in shown  # (x + y) z: dx = -4, dz = 3
    checks = [ex.check for ex in examples if ex.check is not None]
    assert len(checks) == 8 and all(c.passed for c in checks)  # the attention head is the eighth
    assert page.count('<span class="pass">passed</span>') == 8
    if _has_matplotlib():
        assert page.count("data:image/png;base64,") == 3  # boundaries, loss curves, gradient norms
    acc = examples[-2].values["net training accuracy"]
    assert f"2-layer net: {acc:.0%} training accuracy" in page


def _has_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def test_tour_command_writes_the_report(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["tour", "--report", str(tmp_path / "tour.html")]) == 0
    assert "wrote" in capsys.readouterr().out and (tmp_path / "tour.html").stat().st_size > 10_000

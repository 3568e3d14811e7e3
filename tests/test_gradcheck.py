"""The numerical gradient, gradcheck (it must catch a wrong gate), value_and_grad."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr


class GoodSigmoid(cr.Function):
    @staticmethod
    def forward(ctx, t):
        s = 1 / (1 + np.exp(-t))
        ctx.save_for_backward(s)
        return s

    @staticmethod
    def backward(ctx, grad_out):
        (s,) = ctx.saved_tensors
        return grad_out * (1 - s) * s


class WrongSigmoid(GoodSigmoid):
    @staticmethod
    def backward(ctx, grad_out):
        (s,) = ctx.saved_tensors
        return grad_out * s  # forgot the (1 - s)


def test_numerical_gradient_centered_beats_forward():
    f = lambda x: (x**3).sum()  # noqa: E731
    x = np.array([1.0, -2.0])
    exact = 3 * x**2
    for h in (1e-2, 1e-3):
        fwd = cr.numerical_gradient(f, x, h=h, method="forward")
        ctr = cr.numerical_gradient(f, x, h=h)
        assert np.abs(ctr - exact).max() < np.abs(fwd - exact).max() / 10
    np.testing.assert_allclose(cr.numerical_gradient(f, x), exact, rtol=1e-8)
    assert x.tolist() == [1.0, -2.0]  # restored


def test_numerical_gradient_of_tensor_function():
    W = cr.Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), dtype="float64")
    g = cr.numerical_gradient(lambda w: (w * w).sum(), W)
    np.testing.assert_allclose(g, 2 * W.numpy(), rtol=1e-8)
    with pytest.raises(ValueError, match="method"):
        cr.numerical_gradient(lambda w: w.sum(), W, method="backward")


def test_gradcheck_passes_correct_gate_and_reports():
    res = cr.gradcheck(GoodSigmoid.apply, np.array([-1.0, 0.3, 2.0]))
    assert res and res.max_rel_error < 1e-7
    assert "passed" in res.report()


def test_gradcheck_catches_wrong_gate():
    with pytest.raises(cr.GradcheckError, match=r"FAILED.*input 0, entry \(\d,\).*analytic.*numerical"):
        cr.gradcheck(WrongSigmoid.apply, np.array([-1.0, 0.3, 2.0]))
    res = cr.gradcheck(WrongSigmoid.apply, np.array([-1.0, 0.3, 2.0]), raise_exception=False)
    assert not res and res.max_rel_error > 0.1


def test_gradcheck_random_directions_for_large_inputs():
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((40, 50)), rng.standard_normal((50, 30))
    assert cr.gradcheck(lambda a, b: (a @ b).tanh(), A, B, mode="random", directions=4)
    with pytest.raises(cr.GradcheckError, match="random direction"):
        cr.gradcheck(lambda a: WrongSigmoid.apply(a).sum(), rng.standard_normal((30, 30)), mode="random")


@pytest.mark.parametrize(
    "f,x,gate",
    [
        (cr.relu, np.array([0.0, 1.5]), "Relu (relu's input is 0)"),
        (lambda x: cr.max(x), np.array([3.0, 3.0, 3.0, 1.0]), "Max (entries tie for the max)"),  # a 3-way tie: 1/3 each
        (cr.abs, np.array([1e-7, -2.0]), "Abs (abs's input is 0)"),  # within h of the kink
        # a tie split twice: 1/4 of the gradient, where the centered difference sees 1/2
        (lambda x: cr.maximum(cr.maximum(x, 1.0), 1.0), np.array([1.0, 3.0]), "Maximum (max's two inputs are tied)"),
    ],
)
@pytest.mark.parametrize("mode", ["full", "random"])
def test_gradcheck_at_a_kink_says_so(f, x, gate, mode):
    """A failure on a kink is not a wrong gate: the message says where, names the gate and says what to do."""
    res = cr.gradcheck(f, x, mode=mode, raise_exception=False)
    assert not res and "kink" in res.report() and gate in res.report() and "move the point" in res.report()
    if mode == "full":
        assert "input 0 sits on a kink at entr" in res.report() and "(0,)" in res.report()
        assert "(1,)" not in res.report().split("sits on a kink")[1].split(":")[0] or x[1] == x[0]
    with pytest.raises(cr.GradcheckError, match="on a kink"):
        cr.gradcheck(f, x, mode=mode)
    moved = x + np.array([0.1, 0.05, 0.2, -0.3][: x.size])  # off the kink, the same gates pass
    assert cr.gradcheck(f, moved, mode=mode)


def test_gradcheck_of_a_wrong_gate_is_no_kink():
    res = cr.gradcheck(WrongSigmoid.apply, np.array([-1.0, 0.3, 2.0]), raise_exception=False)
    assert not res and "kink" not in res.report()
    res = cr.gradcheck(lambda a: WrongSigmoid.apply(cr.relu(a)), np.array([-1.0, 0.3, 2.0]), raise_exception=False)
    assert not res and "kink" not in res.report()  # a relu in the graph, off its kink: the gate is wrong


def test_gradcheck_passes_integer_inputs_through():
    idx = np.array([2, 0, 2])
    assert cr.gradcheck(lambda x, i: x[i] * 2, np.array([1.0, 2.0, 3.0]), idx)


def test_value_and_grad_is_the_lectures_evaluate_gradient():
    rng = np.random.default_rng(0)
    data = rng.standard_normal((20, 3))
    target = data @ np.array([1.0, -2.0, 0.5])

    def loss_fun(data, weights):
        return ((cr.Tensor(data, dtype="float64") @ weights - target) ** 2).mean()

    evaluate_gradient = cr.value_and_grad(loss_fun, argnum=1)
    weights = np.zeros(3)
    first, _ = evaluate_gradient(data, weights)
    for _ in range(200):
        loss, weights_grad = evaluate_gradient(data, weights)
        weights += -0.1 * weights_grad
    assert loss < first * 1e-3
    np.testing.assert_allclose(weights, [1.0, -2.0, 0.5], atol=1e-2)
    num = cr.numerical_gradient(lambda w: loss_fun(data, cr.Tensor(w, dtype="float64")), weights)
    np.testing.assert_allclose(evaluate_gradient(data, weights)[1], num, rtol=1e-5, atol=1e-9)
    _, gt = cr.value_and_grad(loss_fun, argnum=1)(data, cr.Tensor(weights, dtype="float64"))
    assert isinstance(gt, cr.Tensor)

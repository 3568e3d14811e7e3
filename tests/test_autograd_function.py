"""``chainrule.autograd.Function``, PyTorch's custom function (Tensors in forward and backward),
against ``torch.autograd.Function``: the same class text runs in both, with ``torch`` bound to
either library."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch", reason="compared against PyTorch")

BOTH = [pytest.param(torch, id="pytorch"), pytest.param(cr, id="chainrule")]


def functions(lib):
    """Three custom functions written once, as in PyTorch, against ``lib``."""

    class LeakyClamp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, lo, hi):
            ctx.save_for_backward(x)
            ctx.lo, ctx.hi = lo, hi
            return x.clamp(lo, hi)

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            grad_x = None
            if ctx.needs_input_grad[0]:
                grad_x = lib.where((x >= ctx.lo) & (x <= ctx.hi), grad_output, 0.1 * grad_output)
            return grad_x, None, None

    class Swish(lib.autograd.Function):   # differentiable backward: gradients of gradients
        @staticmethod
        def forward(ctx, x):
            s = lib.sigmoid(x)
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, grad_output):
            x, s = ctx.saved_tensors
            return grad_output * (s + x * s * (1 - s))

    class ScaledExp(lib.autograd.Function):   # saves its output and a None; two Tensor inputs
        @staticmethod
        def forward(ctx, x, scale):
            y = lib.exp(x) * scale
            ctx.save_for_backward(y, scale, None)
            ctx.seen = (lib.is_grad_enabled(), tuple(ctx.needs_input_grad))
            return y

        @staticmethod
        def backward(ctx, grad_output):
            y, scale, nothing = ctx.saved_tensors
            assert nothing is None
            ctx.seen_in_backward = lib.is_grad_enabled()
            gx = grad_output * y if ctx.needs_input_grad[0] else None
            gs = (grad_output * y / scale).sum() if ctx.needs_input_grad[1] else None
            return gx, gs

    return LeakyClamp, Swish, ScaledExp


def values(t):
    return None if t is None else t.detach().numpy()


def run(lib, x_np, scale_np):
    LeakyClamp, Swish, ScaledExp = functions(lib)
    x = lib.tensor(x_np, requires_grad=True)
    scale = lib.tensor(scale_np, requires_grad=True)
    h = LeakyClamp.apply(x * 2, -1.0, 1.0)
    y = Swish.apply(h) + ScaledExp.apply(x, scale)
    (gx,) = lib.autograd.grad((y * y).sum(), [x], create_graph=True)   # first order, as a graph
    gx.sum().backward()                                                 # second order
    return [values(v) for v in (h, y, gx, x.grad, scale.grad)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_custom_functions_match_pytorch_to_second_order(dtype):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, size=(4, 5)).astype(dtype)    # clamp kinks at +-1 of 2x: away from them
    x[np.abs(np.abs(2 * x) - 1) < 0.05] = 0.3
    scale = np.asarray(rng.uniform(0.5, 2.0), dtype=dtype)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for ours, theirs in zip(run(cr, x, scale), run(torch, x, scale)):
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)


def test_gradcheck_through_a_custom_function():
    _, Swish, ScaledExp = functions(cr)
    rng = np.random.default_rng(1)
    assert cr.gradcheck(Swish.apply, rng.standard_normal((3, 4)))
    assert cr.gradcheck(lambda x, s: ScaledExp.apply(x, s), rng.standard_normal(5), np.array(1.7))


@pytest.mark.parametrize("lib", BOTH)
def test_needs_input_grad_and_grad_mode_inside(lib):
    _, _, ScaledExp = functions(lib)
    x = lib.tensor([0.5, -1.0], requires_grad=True)
    scale = lib.tensor(2.0)
    y = ScaledExp.apply(x, scale)
    y.sum().backward()
    ctx = y.grad_fn
    assert ctx.seen == (False, (True, False))          # forward under no_grad
    assert ctx.seen_in_backward is False               # an ordinary backward builds no graph
    np.testing.assert_allclose(values(x.grad), 2 * np.exp([0.5, -1.0]), rtol=1e-6)


def test_the_gate_is_named_after_the_class_and_chainrule_function_stays_raw():
    LeakyClamp, _, _ = functions(cr)
    y = LeakyClamp.apply(cr.tensor([2.0], requires_grad=True), -1.0, 1.0)
    assert y.op == "LeakyClamp"

    class Raw(cr.Function):            # chainrule's own gate base still hands over arrays
        @staticmethod
        def forward(ctx, a):
            assert isinstance(a, np.ndarray)
            return np.exp(a)

        @staticmethod
        def backward(ctx, grad_out):
            assert isinstance(grad_out, np.ndarray)
            return grad_out

    Raw.apply(cr.tensor([1.0], requires_grad=True)).sum().backward()


def test_errors_name_the_function():
    class TwoOutputs(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x, x

    class WrongCount(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    class WrongShape(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, grad_output):
            return grad_output

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="TwoOutputs.forward returned 2 outputs"):
        TwoOutputs.apply(x)
    with pytest.raises(ValueError, match="WrongCount.backward returned 1 gradient"):
        WrongCount.apply(x, cr.tensor([3.0, 4.0], requires_grad=True)).sum().backward()
    with pytest.raises(ValueError, match=r"WrongShape.backward returned a gradient of shape \(\)"):
        WrongShape.apply(x).backward()
    with pytest.raises(TypeError, match="subclass chainrule.autograd.Function"):
        cr.autograd.Function.apply(x)
    assert x.grad is None                   # nothing was written by the failed passes


def test_a_saved_leaf_is_protected_as_by_any_gate():
    _, Swish, _ = functions(cr)
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    y = Swish.apply(x)
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    y.sum().backward()
    x.data[0] = 5.0                          # writable again once the backward freed the gate


def test_compiled_step_with_a_custom_function_equals_eager():
    _, Swish, _ = functions(cr)

    def losses(compiled):
        cr.manual_seed(0)
        net = cr.nn.Linear(4, 3)
        opt = cr.optim.SGD(net.parameters(), lr=0.1)

        def step(x):
            loss = Swish.apply(net(cr.Tensor(x))).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        step = cr.compile(step) if compiled else step
        rng = np.random.default_rng(0)
        return [step(rng.standard_normal((8, 4)).astype(np.float32)).item() for _ in range(5)], net.weight.numpy()

    (eager, w_eager), (compiled, w_compiled) = losses(False), losses(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)
    np.testing.assert_allclose(w_compiled, w_eager, rtol=1e-5, atol=1e-7)

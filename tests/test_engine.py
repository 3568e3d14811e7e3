"""The engine on its own: graph shapes, accumulation, modes, memory, higher order."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from oracle import torch

import chainrule as cr


def leaf(v, dtype="float64"):
    return cr.Tensor(v, requires_grad=True, dtype=dtype)


def test_lecture_example_one():
    x, y, z = leaf(-2.0), leaf(5.0), leaf(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert (q.item(), f.item()) == (3.0, -12.0)
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_diamond_sums_both_paths():
    # x feeds a and b, both feed f: df/dx = df/da da/dx + df/db db/dx
    x = leaf(1.5)
    a = x * 3.0
    b = x.exp()
    f = a * b
    f.backward()
    e = np.exp(1.5)
    assert x.grad.item() == pytest.approx(3 * e + 3 * 1.5 * e)


def test_reused_input():
    x = leaf(3.0)
    f = (x + x) * x  # 2x^2 -> 4x
    f.backward()
    assert x.grad.item() == 12.0


def test_leaf_grad_accumulates_until_reset():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    assert x.grad.numpy().tolist() == [4.0, 8.0]
    x.zero_grad()
    (x * 3.0).sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 3.0]
    x.grad = None
    (x * 1.0).sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 1.0]


def test_add_gate_gives_each_leaf_its_own_gradient_buffer():
    x, y = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (x + y).sum().backward()
    x.grad.data *= 10  # an optimizer may update grads in place
    assert y.grad.numpy().tolist() == [1.0, 1.0]
    b = leaf(2.0)
    (b * np.ones(3)).sum().backward()  # broadcast adjoint: must be writable
    b.grad.data += 1


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2.0
    y.backward(np.array([1.0, 0.0, -1.0]))
    assert x.grad.numpy().tolist() == [2.0, 0.0, -2.0]


def test_no_grad_context_and_decorator():
    x = leaf([1.0])
    with cr.no_grad():
        y = x * 2
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf

    @cr.no_grad()
    def f(t):
        return t * t

    assert not f(x).requires_grad
    assert (x * x).requires_grad


def test_freed_graph_raises_clear_error():
    x = leaf(2.0)
    y = (x * x).exp()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = leaf(2.0)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == 8.0


def test_million_node_chain_has_no_recursion_limit():
    x = leaf(0.0, dtype="float32")
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0
    assert y.item() == 1_000_000.0


def _live_tensors() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cr.Tensor)


def test_no_tensors_leak_in_a_training_loop():
    rng = np.random.default_rng(0)
    W = cr.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)

    def step():
        scores = cr.Tensor(X) @ W
        loss = -cr.log_softmax(scores)[np.arange(8), y].mean() + 0.1 * (W * W).sum()
        W.grad = None
        loss.backward()
        W.data -= 0.1 * W.grad.data

    step()
    before = _live_tensors()
    for _ in range(50):
        step()
    assert _live_tensors() == before


def test_graph_is_released_when_dropped():
    import weakref

    x = leaf([1.0, 2.0])
    y = (x.exp() * 2).sum()
    ref = weakref.ref(y)
    del y
    gc.collect()
    assert ref() is None


def test_grad_function_returns_without_accumulating():
    x = leaf(3.0)
    (g,) = cr.grad(x**3, x)
    assert g.item() == 27.0 and x.grad is None


def test_grad_of_intermediate_and_unused():
    x = leaf(2.0)
    q = x * 3.0
    f = q * q
    gq, gx = cr.grad(f, [q, x])
    assert (gq.item(), gx.item()) == (12.0, 36.0)
    other = leaf(1.0)
    with pytest.raises(ValueError, match="not used"):
        cr.grad(x * 2, [x, other])
    assert cr.grad(x * 2, [x, other], allow_unused=True)[1] is None


def test_second_order_matches_torch():
    if torch is None:
        pytest.skip("torch not installed")
    v = np.array([0.3, -1.2, 2.0])
    x = leaf(v)
    f = (cr.sigmoid(x) * x.tanh() + x**3).sum()
    (g,) = cr.grad(f, x, create_graph=True)
    (h,) = cr.grad((g * g).sum(), x)
    tx = torch.tensor(v, requires_grad=True)
    tf_ = (torch.sigmoid(tx) * torch.tanh(tx) + tx**3).sum()
    (tg,) = torch.autograd.grad(tf_, tx, create_graph=True)
    (th,) = torch.autograd.grad((tg * tg).sum(), tx)
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-10)


def test_backward_create_graph_gives_differentiable_grad():
    x = leaf(2.0)
    (x**4).backward(create_graph=True)
    g = x.grad  # 4x^3 = 32, itself a graph
    assert g.requires_grad and g.item() == 32.0
    x.grad = None
    g.backward()
    assert x.grad.item() == 48.0  # 12x^2


def test_third_order():
    x = leaf(1.5)
    (g1,) = cr.grad(x.exp() * x, x, create_graph=True)
    (g2,) = cr.grad(g1, x, create_graph=True)
    (g3,) = cr.grad(g2, x)
    # d^3/dx^3 x e^x = (x + 3) e^x
    assert g3.item() == pytest.approx((1.5 + 3) * np.exp(1.5))


class Square(cr.Function):
    """A user's gate; it notes what its backward was handed."""

    seen: list = []

    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    @staticmethod
    def backward(ctx, grad_out):
        (a,) = ctx.saved_tensors
        Square.seen.append((type(grad_out), type(a)))
        return grad_out * 2 * a


def test_custom_gate_is_the_same_mechanism():
    x = leaf(3.0)
    y = Square.apply(x)
    assert y.op == "Square"
    (g,) = cr.grad(y, x, create_graph=True)
    (h,) = cr.grad(g, x)
    assert (g.item(), h.item()) == (6.0, 2.0)


def test_detach_and_properties():
    x = leaf([[1.0, 2.0]])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and np.shares_memory(d.data, y.data)
    assert y.shape == (1, 2) and y.ndim == 2 and y.numel() == 2 and y.size() == (1, 2) and y.op == "Mul"
    assert isinstance(y.numpy(), np.ndarray)
    assert "op=Mul" in repr(y)


def test_tensor_subclass_takes_part_in_graphs():
    class Parameter(cr.Tensor):
        pass

    w = Parameter([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    y.backward()
    assert w.grad.numpy().tolist() == [2.0, 4.0]


def test_backward_currency_raw_arrays_or_tensors():
    x = leaf([1.0, 2.0])
    Square.apply(x).sum().backward()
    assert Square.seen[-1] == (np.ndarray, np.ndarray)  # ordinary backward: raw arrays, fast
    cr.grad(Square.apply(x).sum(), x, create_graph=True)
    assert Square.seen[-1] == (cr.Tensor, cr.Tensor)  # building a graph: Tensors


def test_call_uses_another_gate_inside_a_backward():
    from chainrule.autograd.function import call
    from chainrule.ops.elementwise import Exp

    class ExpOfSquare(cr.Function):  # f = exp(a^2), f' = 2 a exp(a^2)
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return np.exp(a * a)

        @staticmethod
        def backward(ctx, grad_out):
            (a,) = ctx.saved_tensors
            return grad_out * 2 * a * call(Exp, a * a)

    x = leaf(0.7)
    (g,) = cr.grad(ExpOfSquare.apply(x), x, create_graph=True)
    (h,) = cr.grad(g, x)
    e = np.exp(0.49)
    assert g.item() == pytest.approx(2 * 0.7 * e)
    assert h.item() == pytest.approx((2 + 4 * 0.49) * e)  # f'' = (2 + 4a^2) exp(a^2)


def test_gradients_come_back_in_the_inputs_dtype():
    x = cr.Tensor([1.0, 2.0], requires_grad=True)  # float32
    y = (x * np.array([0.5, 0.25])).sum()  # a float64 constant promotes the product
    assert y.dtype == np.float64
    (g,) = cr.grad(y, x, retain_graph=True)
    assert g.dtype == np.float32
    y.backward()
    assert x.grad.dtype == np.float32


def test_engine_module_knows_no_op():
    # STYLE: the engine holds Tensor, Function and backward, and no particular op
    import inspect

    from chainrule import ops
    from chainrule.autograd import engine, function, grad_mode, tensor

    # its docstrings' examples define a gate of their own: leave those lines out
    lines = [line for m in (engine, function, grad_mode, tensor) for line in inspect.getsource(m).splitlines()]
    source = "\n".join(line for line in lines if not line.strip().startswith((">>>", "...")))
    assert "from .ops" not in source and "import ops" not in source
    gates = [name for name, obj in vars(ops.elementwise).items() if isinstance(obj, type) and issubclass(obj, cr.Function) and obj is not cr.Function]
    assert "Mul" in gates
    for name in gates:
        assert f"{name}." not in source and f"{name}(" not in source, name


def test_fork_sums_in_place_never_touch_a_shared_gradient():
    # the engine adds a fork's later gradients into its own first sum in place; a gradient
    # that an add gate handed to two inputs must stay intact for the other one
    a = cr.Tensor([1.0, 2.0], requires_grad=True)
    b = cr.Tensor([3.0, 4.0], requires_grad=True)
    s = a + b  # hands the same gradient array to a and b
    (s * 1.0 + a * 2.0 + a * 3.0 + a * 4.0).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [10.0, 10.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    w = cr.Tensor(np.ones((3, 3)), requires_grad=True)
    h = cr.Tensor(np.ones(3))
    for _ in range(20):  # a weight used at every step of a sequence
        h = (w @ h).tanh()
    h.sum().backward()
    num = cr.numerical_gradient(lambda w_: _unrolled(w_, 20), np.ones((3, 3)))
    np.testing.assert_allclose(w.grad.numpy(), num, rtol=1e-4, atol=1e-6)


def _unrolled(w, steps):
    h = cr.Tensor(np.ones(3), dtype="float64")
    for _ in range(steps):
        h = (cr.Tensor(w, dtype="float64") @ h).tanh()
    return h.sum()


def test_gradients_accumulate_in_place_unless_someone_holds_the_old_one():
    w = cr.Tensor([1.0, 2.0], requires_grad=True)
    (w * 2).sum().backward()
    first = id(w.grad._data)
    (w * 3).sum().backward()  # nothing else holds w.grad: added in place, no second array
    assert id(w.grad._data) == first and w.grad.numpy().tolist() == [5.0, 5.0]
    held = w.grad
    (w * 1).sum().backward()  # the caller keeps the old gradient: it stays as it was
    assert held.numpy().tolist() == [5.0, 5.0] and w.grad.numpy().tolist() == [6.0, 6.0]
    array = w.grad.data
    (w * 1).sum().backward()  # the same for a held array
    assert array.tolist() == [6.0, 6.0] and w.grad.numpy().tolist() == [7.0, 7.0]


def test_the_package_ships_its_type_hints():
    import importlib.resources

    assert importlib.resources.files("chainrule").joinpath("py.typed").is_file()  # PEP 561


def test_slices_gradients_are_written_into_one_sum():
    """A slice's backward hands the walk a Partial (zero but at its index); the walk writes the
    parts into one sum, and whatever looks at a gradient sees it whole."""
    from chainrule.autograd.partial import Partial

    data = np.random.default_rng(0).standard_normal((4, 6))
    seen = []
    for parts in ("split", "leaf", "mixed"):
        x = cr.Tensor(data.copy(), requires_grad=True)
        h = x * 1.0 if parts != "leaf" else x
        h.register_hook(lambda g: seen.append(type(g)))
        a, b, c = h.split(2, dim=1)
        y = (a * 2).sum() + (b * 3).sum() + (c * 4).sum()
        if parts == "mixed":
            y = y + (h * 5).sum()  # a whole gradient joins the slices'
        y.backward()
        want = np.repeat([[2.0, 3.0, 4.0]], 4, axis=0).repeat(2, axis=1) + (5.0 if parts == "mixed" else 0.0)
        np.testing.assert_array_equal(x.grad.numpy(), want)
    assert seen and all(t is not Partial for t in seen)
    x = cr.Tensor(data.copy(), requires_grad=True)
    (g,) = cr.autograd.grad(x[:, :3].sum() * 2, [x])
    assert type(g) is cr.Tensor and g.numpy()[:, :3].tolist() == [[2.0] * 3] * 4 and not g.numpy()[:, 3:].any()


def test_slices_of_single_entries_are_summed_too():
    """An index of ints alone picks one entry: its part of the sum is a scalar, not a view, and is
    written back (a view's part is added in place)."""
    x = cr.Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (x[1, 2] * 2 + x[1, 2] * 3 + x[0].sum() + x[..., 1].sum()).backward()
    assert x.grad.numpy().tolist() == [[1.0, 2.0, 1.0], [0.0, 1.0, 5.0]]


def test_a_slices_gradient_in_another_dtype_is_summed_in_numpys():
    x = cr.Tensor(np.ones((2, 4), np.float32), requires_grad=True)
    h = x * 1.0
    y = h[:, :2].sum() + (h.double() * 3).sum()  # a float32 slice and a float64 whole
    y.backward()
    assert x.grad.dtype == cr.float32 and x.grad.numpy().tolist() == [[4.0, 4.0, 3.0, 3.0]] * 2

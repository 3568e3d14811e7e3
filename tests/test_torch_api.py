"""The Tensor a PyTorch user types: both spellings of dims, size(), max/min's three forms, in-place
changes under PyTorch's rules, PyTorch's indexing result, and the corners that used to give a wrong
answer without a word (each test here failed on the code before issue 23)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import chainrule as cr


def leaf(x, dtype="float64"):
    return cr.Tensor(np.asarray(x, dtype=float), requires_grad=True, dtype=dtype)


# -- dim= and keepdim= beside axis= and keepdims= ------------------------------------------

SPELLINGS = [
    ("sum", lambda t, **k: t.sum(**k), lambda t, **k: t.sum(**k)),
    ("mean", lambda t, **k: t.mean(**k), lambda t, **k: t.mean(**k)),
    ("amax", lambda t, **k: t.amax(**k), lambda t, **k: t.amax(**k)),
    ("var", lambda t, **k: t.var(**k), lambda t, **k: t.var(**k)),
    ("std", lambda t, **k: t.std(**k), lambda t, **k: t.std(**k)),
    ("norm", lambda t, **k: t.norm(**k), lambda t, **k: t.norm(**k)),
]


@pytest.mark.parametrize("name,ours,theirs", SPELLINGS, ids=[s[0] for s in SPELLINGS])
@pytest.mark.parametrize("dim", [1, -1, (0, 2), [0, 1]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_dim_and_keepdim_spell_pytorch(name, ours, theirs, dim, keepdim):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    want = theirs(torch.tensor(x), dim=dim, keepdim=keepdim).numpy()
    by_torch_names = ours(cr.Tensor(x, dtype="float64"), dim=dim, keepdim=keepdim).numpy()
    by_numpy_names = ours(cr.Tensor(x, dtype="float64"), axis=dim, keepdims=keepdim).numpy()
    np.testing.assert_allclose(by_torch_names, want, rtol=1e-12)
    np.testing.assert_allclose(by_numpy_names, want, rtol=1e-12)


def test_function_forms_take_dim_too():
    x = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    assert cr.sum(x, dim=1).tolist() == [3.0, 7.0]
    assert cr.mean(x, dim=0, keepdim=True).shape == (1, 2)
    assert cr.softmax(x, dim=0).shape == (2, 2) and cr.log_softmax(x, 1).shape == (2, 2)
    assert cr.argmax(x, dim=1).tolist() == [1, 1] and cr.argmax(x, dim=1, keepdim=True).shape == (2, 1)
    assert x.squeeze(dim=0).shape == (2, 2) and x.squeeze(0).shape == (2, 2) and x.unsqueeze(dim=0).shape == (1, 2, 2)
    assert cr.concatenate([x, x], dim=1).shape == (2, 4) and cr.stack([x, x], dim=2).shape == (2, 2, 2)
    assert x.transpose(dim0=0, dim1=1).tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert cr.Tensor(np.zeros((2, 3, 4, 5))).flatten(start_dim=1, end_dim=2).shape == (2, 12, 5)


def test_both_spellings_at_once_is_an_error_naming_the_op():
    x = cr.Tensor([[1.0, 2.0]])
    with pytest.raises(TypeError, match=r"sum: got both axis=0 and dim=1"):
        x.sum(axis=0, dim=1)
    with pytest.raises(TypeError, match=r"mean: got both keepdims=True and keepdim=False"):
        x.mean(keepdims=True, keepdim=False)


def test_dim_out_of_range_names_op_dim_and_range():
    x = cr.Tensor(np.zeros((2, 3)))
    for call, op in [(lambda: x.sum(dim=2), "sum"), (lambda: x.max(dim=-3), "max"), (lambda: x.softmax(dim=5), "softmax"),
                     (lambda: x.argmax(dim=2), "argmax"), (lambda: x.unsqueeze(4), "unsqueeze")]:  # fmt: skip
        with pytest.raises(IndexError, match=rf"{op}: dim -?\d is out of range .* expected an int in \[-\d, \d\]"):
            call()


def test_unknown_keyword_names_the_keyword_and_the_op():
    x = cr.Tensor([1.0, 2.0])
    for call, op in [(lambda: x.sum(dims=0), "sum"), (lambda: cr.argmax(x, dims=0), "argmax"),
                     (lambda: x.max(dims=0), "max")]:  # fmt: skip
        with pytest.raises(TypeError, match=rf"^{op}\(\) got an unexpected keyword argument 'dims'"):
            call()


def test_size_is_pytorchs():
    t = cr.Tensor(np.zeros((2, 3, 4)))
    assert t.size() == (2, 3, 4) == t.shape and t.size(0) == 2 and t.size(-1) == 4 and t.numel() == 24
    assert cr.Tensor(1.0).size() == ()
    with pytest.raises(IndexError, match=r"size: dim 3 is out of range .* \[-3, 2\]"):
        t.size(3)


# -- max and min: a second tensor, a dim, or everything ------------------------------------


def test_max_of_two_tensors_is_the_lecture_max_gate():
    x, y = leaf(3.0), leaf(5.0)
    f = cr.max(x, y)
    f.backward()
    assert f.item() == 5.0 and (x.grad.item(), y.grad.item()) == (0.0, 1.0)  # max routes
    assert cr.max(3, 5).item() == 5 and cr.min(3.0, 5.0).item() == 3.0
    a = cr.Tensor([1.0, 7.0])
    assert a.max(cr.Tensor([4.0, 2.0])).tolist() == [4.0, 7.0] and a.min(cr.Tensor([4.0, 2.0])).tolist() == [1.0, 2.0]
    assert a.max(np.array([4.0, 2.0])).tolist() == [4.0, 7.0]


def test_explain_max_gate_gives_the_max():
    from chainrule.viz import expr

    f, leaves = expr.build("max(x, y)", {"x": 3.0, "y": 5.0})
    f.backward()
    assert f.item() == 5.0 and (leaves["x"].grad.item(), leaves["y"].grad.item()) == (0.0, 1.0)


def test_max_over_a_dim_gives_values_and_indices_as_pytorch():
    x = np.array([[1.0, 7.0, 3.0], [4.0, 2.0, 4.5]])
    ours = leaf(x).max(dim=1)
    theirs = torch.tensor(x).max(dim=1)
    assert ours.values.tolist() == theirs.values.tolist() and ours.indices.tolist() == theirs.indices.tolist()
    values, indices = leaf(x).min(1, keepdim=True)  # positional dim: PyTorch's form too
    assert values.shape == (2, 1) and indices.tolist() == [[0], [1]] and indices.dtype == np.int64
    t = leaf(x)
    t.max(dim=0).values.sum().backward()  # the gradient goes to the index PyTorch picks
    tt = torch.tensor(x, requires_grad=True)
    tt.max(dim=0).values.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


def test_max_with_axis_keeps_numpys_values():
    x = cr.Tensor([[1.0, 3.0, 3.0]])
    assert x.max(axis=1).tolist() == [3.0] and x.max().item() == 3.0


# -- in place, PyTorch's rules ---------------------------------------------------------------


def test_manual_sgd_under_no_grad_changes_the_same_tensor():
    W = leaf(np.ones((2, 2)))
    before, array = W, W.data
    for _ in range(3):  # the lecture's loop: the second iteration failed when -= rebound W
        loss = (W * W).sum()
        loss.backward()
        with cr.no_grad():
            W -= 0.1 * W.grad
        W.grad.zero_()
    assert W is before and W.data is array and W.requires_grad and W.is_leaf
    np.testing.assert_allclose(W.numpy(), 0.8**3 * np.ones((2, 2)))


def test_in_place_on_a_leaf_that_requires_grad_is_pytorchs_error_at_that_line():
    w = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
        w += 1
    for method in ("add_", "mul_", "sub_", "div_"):
        with pytest.raises(RuntimeError, match=f"{method}: a leaf Variable"):
            getattr(w, method)(2.0)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.zero_()
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w[0] = 3.0
    assert w.tolist() == [1.0, 2.0] and w.grad is None  # nothing changed


def test_in_place_methods_on_tensors_without_grad():
    t = cr.Tensor([1.0, 2.0, 3.0])
    array = t.data
    assert t.add_(1).mul_(2).sub_(cr.Tensor([1.0, 1.0, 1.0])).div_(2) is t
    assert t.tolist() == [1.5, 2.5, 3.5] and t.data is array
    t.add_(cr.Tensor([2.0, 2.0, 2.0]), alpha=-0.5)
    assert t.tolist() == [0.5, 1.5, 2.5]
    t.clamp_(1.0, 2.0)
    assert t.tolist() == [1.0, 1.5, 2.0]
    t.fill_(4).copy_(cr.Tensor([9.0]))
    assert t.tolist() == [9.0, 9.0, 9.0]
    t.zero_()
    assert t.tolist() == [0.0, 0.0, 0.0] and t.data is array
    cr.manual_seed(1)
    a = t.normal_(2.0, 0.5).tolist()
    cr.manual_seed(1)
    assert t.uniform_(0, 1).tolist() != a and t.normal_(2.0, 0.5).tolist() != a  # the stream moved on
    cr.manual_seed(1)
    assert t.normal_(2.0, 0.5).tolist() == a


def test_in_place_errors_change_nothing():
    t = cr.Tensor([1, 2, 3])
    with pytest.raises(TypeError, match=r"add_: the result type float64 can't be cast to the tensor's dtype int64"):
        t += 1.5
    u = cr.Tensor([1.0, 2.0])
    with pytest.raises(ValueError, match=r"add_: an operand of shape \(3, 2\) does not broadcast to the tensor's shape \(2,\)"):
        u += cr.Tensor(np.ones((3, 2)))
    with pytest.raises(ValueError, match="fill_: got a value of shape"):
        u.fill_(cr.Tensor([1.0, 2.0]))
    assert t.tolist() == [1, 2, 3] and u.tolist() == [1.0, 2.0] and not hasattr(u, "_written_at")


def test_operator_on_a_graph_tensor_records_the_change():
    w = leaf([1.0, 2.0])
    h = w * 2
    h += w  # h = h + w: recorded, the name bound to the new value
    h *= 3
    h.sum().backward()
    assert w.grad.tolist() == [9.0, 9.0]
    with pytest.raises(RuntimeError, match="mul_: an in-place change of a tensor of the graph"):
        (w * 2).mul_(3)  # the method would drop the gradient: an error that says what to write


def test_in_place_change_of_a_saved_tensor_is_caught_at_backward():
    x = cr.Tensor([1.0, 2.0])
    w = leaf([3.0, 4.0])
    loss = (w * x).sum()  # Mul saved x
    x.mul_(10)
    with pytest.raises(RuntimeError, match=r"Mul saved input 1 .* changed in place by Tensor.mul_"):
        loss.backward()
    y = leaf([1.0, 2.0])
    loss = (y * y).sum()
    with cr.no_grad():
        y += 1  # allowed under no_grad; the version check names it at backward
    with pytest.raises(RuntimeError, match=r"Mul saved input 0 .* Tensor.add_"):
        loss.backward()


def test_setitem():
    t = cr.Tensor(np.zeros((3, 4, 5)))
    t[0, :, [1, 2]] = cr.Tensor(np.arange(8.0).reshape(4, 2))  # PyTorch's reading: a (4, 2) selection
    ref = torch.zeros(3, 4, 5)
    ref[0, :, [1, 2]] = torch.arange(8.0).reshape(4, 2)
    np.testing.assert_array_equal(t.numpy(), ref.numpy())
    scores = cr.Tensor(np.ones((2, 3)))
    scores[scores > 0.5] = -1.0
    assert scores.tolist() == [[-1.0] * 3] * 2
    with pytest.raises(ValueError, match=r"setitem: a value of shape \(3,\) does not broadcast"):
        scores[0, :2] = cr.Tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="setitem: an in-place change of a tensor of the graph"):
        (leaf([1.0]) * 2)[0] = 1.0


def test_grad_zero_in_place_keeps_the_gradient_tensor():
    w = leaf([1.0, 2.0])
    (w * w).sum().backward()
    g = w.grad
    w.grad.zero_()
    assert w.grad is g and g.tolist() == [0.0, 0.0]
    (w * w).sum().backward()
    assert w.grad.tolist() == [2.0, 4.0]


# -- gradients that were NaN where PyTorch gives a number --------------------------------------

POWER_POINTS = [(0.0, 0.0), (0.0, -1.0), (0.0, 2.0), (0.0, 0.5), (2.0, 0.0), (-2.0, 0.0), (0.0, -2.5)]


@pytest.mark.parametrize("a,b", POWER_POINTS)
def test_power_gradients_at_zero_are_pytorchs(a, b):
    x, y = leaf(a), leaf(b)
    tx, ty = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
    with np.errstate(divide="ignore", invalid="ignore"):
        (x**y).backward()
    (tx**ty).backward()
    np.testing.assert_equal([x.grad.item(), y.grad.item()], [tx.grad.item(), ty.grad.item()])


def test_power_with_number_operands_at_zero():
    x = leaf([0.0, 1.0])
    (x**0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    y = leaf([-1.0, 0.0, 2.0])
    with np.errstate(divide="ignore"):
        (0.0**y).sum().backward()
    ty = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64, requires_grad=True)
    (0.0**ty).sum().backward()
    np.testing.assert_equal(y.grad.numpy(), ty.grad.numpy())  # -inf, 0, 0


@pytest.mark.parametrize("op", ["std", "var"])
def test_std_and_var_where_the_spread_is_zero(op):
    x = np.array([[2.0, 2.0, 2.0], [1.0, 3.0, 5.0]])
    t = leaf(x)
    getattr(t, op)(dim=1).sum().backward()
    tt = torch.tensor(x, requires_grad=True)
    getattr(tt, op)(dim=1).sum().backward()
    assert not np.isnan(t.grad.numpy()).any()
    np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=1e-12)


# -- indexing: PyTorch's result where it differs from NumPy's -----------------------------------

INDEXES = [
    (0, slice(None), [1, 2]),
    (Ellipsis, 0, [1, 2]),
    ([0, 1], slice(None), 0),
    (None, 0, slice(None), [1, 2]),
    (0, [1, 2], None, [0, 3]),
    (slice(None), 1, slice(None), [[0, 1], [2, 3]]),
    (-1, np.array([True, False, True, True])),
]


@pytest.mark.parametrize("index", INDEXES, ids=str)
def test_integer_beside_index_arrays_follows_pytorch(index):
    x = np.random.default_rng(2).standard_normal((3, 4, 5, 6))
    t = leaf(x)
    tindex = tuple(torch.tensor(i) if isinstance(i, (list, np.ndarray)) else i for i in index)
    tt = torch.tensor(x, requires_grad=True)
    out, tout = t[index], tt[tindex]
    assert out.shape == tuple(tout.shape)
    np.testing.assert_array_equal(out.numpy(), tout.detach().numpy())
    g = np.random.default_rng(3).standard_normal(out.shape)
    out.backward(cr.Tensor(g, dtype="float64"))
    tout.backward(torch.tensor(g))
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


# -- dtypes ------------------------------------------------------------------------------------


def test_dtype_names_and_conversions():
    t = cr.Tensor([1.7, -2.2])
    assert cr.float32 == np.float32 and cr.float64 is cr.double and cr.long is cr.int64 and cr.float is cr.float32
    assert t.long().dtype == cr.int64 and t.long().tolist() == [1, -2] and t.int().dtype == cr.int32
    assert t.bool().dtype == cr.bool and t.half().dtype == cr.float16 and t.double().dtype == cr.float64
    assert t.to(cr.float64).dtype == cr.float64 and t.to("cpu", cr.int64).dtype == cr.int64
    assert not t.long().requires_grad


def test_manual_sgd_with_in_place_updates_compiles():
    def run(compiled: bool) -> list:
        rng = np.random.default_rng(0)
        W = cr.Tensor(rng.standard_normal((4, 3)) * 0.1, requires_grad=True)
        b = cr.Tensor(np.zeros(3), requires_grad=True)
        X, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)

        def step(x, labels):
            nonlocal W  # W -= ... binds the name: the same tensor, changed in place
            loss = cr.nn.functional.cross_entropy(cr.Tensor(x) @ W + b, labels)
            loss.backward()
            with cr.no_grad():
                W -= 0.5 * W.grad
                b.sub_(b.grad, alpha=0.5)
                W.grad.zero_()
                b.grad.zero_()
            return loss

        fn = cr.compile(step) if compiled else step
        losses = [fn(X, y).item() for _ in range(4)]
        return losses + W.numpy().ravel().tolist()

    eager, compiled = run(False), run(True)
    np.testing.assert_allclose(compiled, eager, rtol=1e-6)
    assert eager[3] < eager[0]


def test_every_function_and_method_has_its_own_name_in_errors():
    # Python's "got an unexpected keyword argument" names the function by its qualified name: a
    # function made by a factory must carry the op's name, not "_arg.<locals>.arg"
    import chainrule.nn.functional as F

    places = [(cr, dir(cr)), (cr.Tensor, dir(cr.Tensor)), (F, dir(F))]
    made = [f"{getattr(where, '__name__', where)}.{name}" for where, names in places for name in names
            if "<locals>" in getattr(getattr(where, name), "__qualname__", "")]  # fmt: skip
    assert not made, made
    with pytest.raises(TypeError, match=r"^__lt__\(\) got an unexpected keyword"):
        cr.Tensor.__lt__(cr.Tensor(1.0), other=2)


def test_clip_and_division_keep_pytorchs_numbers_at_the_edges():
    x = leaf([-2.0, 0.5, 3.0])
    cr.clip(x, -1.0, 1.0).backward(cr.Tensor([np.inf, 1.0, np.inf], dtype="float64"))
    assert x.grad.tolist() == [0.0, 1.0, 0.0]  # an infinite upstream where the gradient is 0: 0, not NaN
    a, b = leaf([1e-160]), leaf([1e-160])
    (a / b).backward()
    ta, tb = (torch.tensor([1e-160], dtype=torch.float64, requires_grad=True) for _ in range(2))
    (ta / tb).backward()
    assert b.grad.tolist() == tb.grad.tolist()  # -(a / b) / b: b * b would underflow to 0 and give -inf
    assert cr.Tensor([2.0]).pow(exponent=3).tolist() == [8.0]


DTYPE_ERRORS = [
    (lambda: cr.gather(cr.ones(2, 2), 1, cr.tensor([[0.0], [1.0]])), r"gather: index has dtype float32; expected integers"),
    (lambda: cr.nn.functional.one_hot(cr.tensor([0.5])), r"one_hot: class values have dtype float32; expected integers"),
    (lambda: cr.zeros(2, dtype=cr.int64, requires_grad=True), r"zeros: requires_grad=True needs floating-point data"),
    (lambda: ~cr.ones(2), r"__invert__: got dtype float32; expected a boolean or integer tensor"),
    (lambda: cr.multinomial(cr.tensor([1, 2]), 1), r"multinomial: input has dtype int64; expected floating-point"),
    (lambda: cr.nn.functional.cross_entropy(cr.ones(2, 3), cr.tensor([0.0, 1.0])), r"cross_entropy: labels have dtype float32"),
    (lambda: cr.tensor([1]).add_(0.5), r"add_: the result type float64 can't be cast to the tensor's dtype int64"),
]


@pytest.mark.parametrize("call,match", DTYPE_ERRORS, ids=[m.split(":")[0] for _, m in DTYPE_ERRORS])
def test_a_dtype_an_op_cannot_take_says_which_it_can(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_numpy_array_times_tensor_in_a_compiled_step():
    # ``x * W`` with x the step's NumPy input: the Tensor's op, recorded, not a constant of the trace
    W = cr.Tensor(np.ones(3), requires_grad=True)

    def step(x):
        y = (x * W).sum() + (W + x).sum() + (x < W).sum()
        y.backward()
        g = W.grad
        W.grad = None
        return y, g

    compiled = cr.compile(step)
    for i in range(3):
        x = np.arange(3.0) + i
        (want, want_g), (got, got_g) = step(x), compiled(x)
        assert got.item() == want.item() and got_g.tolist() == want_g.tolist()
    assert compiled.traces_made == 1


def test_numpy_operands_meet_tensors():
    W = cr.Tensor([1.0, 2.0], requires_grad=True)
    (W * W).sum().backward()
    W.data += -0.5 * W.grad  # an older PyTorch idiom: NumPy's array takes the Tensor's values in place
    assert W.tolist() == [0.0, 0.0] and type(W.data) is np.ndarray
    out = np.array([1.0, 2.0]) * W + np.float64(1.0)
    assert isinstance(out, cr.Tensor) and out.requires_grad
    with pytest.raises(TypeError):
        np.exp(W)  # a ufunc chainrule does not map: use cr.exp

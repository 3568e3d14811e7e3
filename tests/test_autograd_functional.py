"""chainrule.autograd: the re-exported engine, ``backward`` over several roots, and
``functional``'s jacobian/hessian/vjp/jvp/hvp/vhp against ``torch.autograd.functional`` on the
same functions and values in float64 (single input and tuples, several outputs, shapes (),
(3,), (2, 3)), against our own finite differences, and their errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
import torch.autograd.functional as TF

import chainrule as cr
import chainrule.autograd as A
import chainrule.autograd.engine
import chainrule.autograd.functional as F

rng = np.random.default_rng(7)
SHAPES = [(), (3,), (2, 3)]


def r(*shape):
    return rng.uniform(-1.0, 1.0, size=shape)


def ours(arrays):
    return tuple(cr.Tensor(a, dtype="float64") for a in arrays)


def theirs(arrays):
    return tuple(torch.tensor(a) for a in arrays)


def unpack(ts, is_tuple):
    return ts if is_tuple else ts[0]


def same(got, want, what="result"):
    """The same structure (Tensor / tuple / nested tuple) and values."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, cr.Tensor), f"{what}: got {type(got).__name__}, expected a Tensor"
        assert got.shape == tuple(want.shape), f"{what}: shape {got.shape} != {tuple(want.shape)}"
        assert got.dtype == cr.float64
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12, err_msg=what)
    else:
        assert isinstance(got, tuple) and len(got) == len(want), f"{what}: got {got!r}, expected {len(want)} entries"
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{what}[{i}]")


# functions written once for both libraries: (name, func, number of inputs)
VECTOR_FUNCS = [
    ("exp-mul", lambda x: x.exp() * x, 1),
    ("tanh-of-product", lambda x, y: (x * y).tanh() + y * y, 2),
    ("two-outputs", lambda x, y: (x * y, (x * x).sum() * y.exp()), 2),
    ("unused-input", lambda x, y: x * x, 2),
]
SCALAR_FUNCS = [
    ("cubic", lambda x: (x * x * x + x.exp()).sum(), 1),
    ("coupled", lambda x, y: (x * y.tanh() + x * x * y).sum(), 2),
    ("one-unused", lambda x, y: (x.exp() * x).sum(), 2),
]


def _cases(funcs):
    return [pytest.param(f, n, shape, is_tuple, id=f"{name}-{'x'.join(map(str, shape)) or 'scalar'}-"
                         f"{'tuple' if is_tuple else 'single'}")
            for name, f, n in funcs for shape in SHAPES for is_tuple in ([True] if n > 1 else [False, True])]  # fmt: skip


@pytest.mark.parametrize("f,n,shape,is_tuple", _cases(VECTOR_FUNCS))
def test_jacobian_vjp_jvp_match_torch(f, n, shape, is_tuple):
    xs = [r(*shape) for _ in range(n)]
    a, b = unpack(ours(xs), is_tuple), unpack(theirs(xs), is_tuple)
    same(F.jacobian(f, a), TF.jacobian(f, b), "jacobian")
    same(F.jacobian(f, a, vectorize=True), TF.jacobian(f, b, vectorize=True), "jacobian(vectorize)")
    out = f(*theirs(xs))
    vs = [r(*o.shape) for o in (out if isinstance(out, tuple) else (out,))]
    v_ours, v_theirs = unpack(ours(vs), isinstance(out, tuple)), unpack(theirs(vs), isinstance(out, tuple))
    same(F.vjp(f, a, v_ours), TF.vjp(f, b, v_theirs), "vjp")
    us = [r(*shape) for _ in range(n)]
    same(F.jvp(f, a, unpack(ours(us), is_tuple)), TF.jvp(f, b, unpack(theirs(us), is_tuple)), "jvp")


@pytest.mark.parametrize("f,n,shape,is_tuple", _cases(SCALAR_FUNCS))
def test_hessian_hvp_vhp_match_torch(f, n, shape, is_tuple):
    xs = [r(*shape) for _ in range(n)]
    a, b = unpack(ours(xs), is_tuple), unpack(theirs(xs), is_tuple)
    same(F.hessian(f, a), TF.hessian(f, b), "hessian")
    same(F.vjp(f, a), TF.vjp(f, b), "vjp(v=None)")
    vs = [r(*shape) for _ in range(n)]
    v_ours, v_theirs = unpack(ours(vs), is_tuple), unpack(theirs(vs), is_tuple)
    same(F.hvp(f, a, v_ours), TF.hvp(f, b, v_theirs), "hvp")
    same(F.vhp(f, a, v_ours), TF.vhp(f, b, v_theirs), "vhp")


def test_matrix_times_vector_jacobian_has_output_then_input_shape():
    W, x = r(2, 3), r(3)
    f = lambda W, x: (W @ x).tanh()  # noqa: E731
    got = F.jacobian(f, ours([W, x]))
    same(got, TF.jacobian(f, theirs([W, x])))
    assert got[0].shape == (2, 2, 3) and got[1].shape == (2, 3)


def test_v_may_be_omitted_for_one_element_inputs_and_outputs():
    x = r()
    f = lambda x: x.exp() * x  # noqa: E731
    same(F.jvp(f, ours([x])[0]), TF.jvp(f, theirs([x])[0]))
    same(F.hvp(f, ours([x])[0]), TF.hvp(f, theirs([x])[0]))


@pytest.mark.parametrize("name", ["jacobian", "vjp", "jvp", "hessian", "hvp", "vhp"])
def test_create_graph_results_are_differentiable_as_torch(name):
    x = r(3)
    vec, scal = (lambda x: x.exp() * x * x), (lambda x: (x.exp() * x * x).sum())  # noqa: E731
    f = scal if name in ("hessian", "hvp", "vhp") else vec
    v = r(3)
    call = {"jacobian": lambda m, a, v: getattr(m, name)(f, a, create_graph=True),
            "hessian": lambda m, a, v: getattr(m, name)(f, a, create_graph=True)}.get(
        name, lambda m, a, v: getattr(m, name)(f, a, v, create_graph=True)[1])  # fmt: skip
    a = cr.Tensor(x, dtype="float64", requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    got, want = call(F, a, cr.Tensor(v, dtype="float64")), call(TF, b, torch.tensor(v))
    same(got, want)
    assert got.requires_grad
    (got * got).sum().backward()
    (want * want).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10)


def test_without_create_graph_results_and_inputs_are_cut_from_the_graph():
    a = cr.Tensor(r(3), dtype="float64", requires_grad=True)
    out, g = F.vjp(lambda x: (x * x).sum(), a)
    assert not out.requires_grad and not g.requires_grad and a.grad is None
    assert not F.jacobian(lambda x: x * x, a).requires_grad


def test_jacobian_matches_our_finite_differences():
    x = r(2, 3)
    f = lambda x: (x * x.tanh()).exp()  # noqa: E731
    J = F.jacobian(f, cr.Tensor(x, dtype="float64")).numpy().reshape(6, 6)
    for j in range(6):
        row = cr.numerical_gradient(lambda t, j=j: f(t).reshape(-1)[j], cr.Tensor(x, dtype="float64"))
        np.testing.assert_allclose(J[j], row.reshape(-1), rtol=1e-6, atol=1e-9)
    H = F.hessian(lambda t: f(t).sum(), cr.Tensor(x, dtype="float64")).numpy().reshape(6, 6)
    for j in range(6):
        def grad_entry(t, j=j):
            with cr.enable_grad():  # numerical_gradient calls f under no_grad
                return cr.grad(f(t.requires_grad_()).sum(), t)[0].reshape(-1)[j]

        row = cr.numerical_gradient(grad_entry, cr.Tensor(x, dtype="float64"))
        np.testing.assert_allclose(H[j], row.reshape(-1), rtol=1e-5, atol=1e-8)


# -- errors ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["jacobian", "vjp", "jvp", "hessian", "hvp", "vhp"])
def test_a_func_that_does_not_return_a_tensor_is_an_error_naming_the_function(name):
    x = cr.Tensor([1.0, 2.0], dtype="float64")
    args = (x,) if name in ("jacobian", "hessian") else (x, cr.Tensor([1.0, 1.0], dtype="float64"))
    with pytest.raises(TypeError, match=rf"^{name}: the output of func is float; expected a Tensor or a tuple of Tensors"):
        getattr(F, name)(lambda t: 3.0, *args)
    with pytest.raises(TypeError, match=rf"^{name}: entry 1 of the output of func is ndarray; expected a Tensor"):
        getattr(F, name)(lambda t: (t, np.ones(2)), *args)


@pytest.mark.parametrize("name", ["jacobian", "vjp", "jvp", "hessian", "hvp", "vhp"])
def test_inputs_must_be_tensors(name):
    with pytest.raises(TypeError, match=rf"^{name}: inputs is list; expected a Tensor or a tuple of Tensors|"
                                        rf"^{name}: entry 0 of inputs is float"):
        getattr(F, name)(lambda t: t, [1.0, 2.0])


@pytest.mark.parametrize("name,against", [("vjp", "output"), ("jvp", "input"), ("hvp", "input"), ("vhp", "input")])
def test_v_of_the_wrong_shape_names_the_function_and_both_shapes(name, against):
    x = cr.Tensor(r(3), dtype="float64")
    f = (lambda t: t * t) if name in ("vjp", "jvp") else (lambda t: (t * t).sum())
    with pytest.raises(ValueError, match=rf"^{name}: v has shape \(2,\) but the {against} has shape \(3,\); "
                                         "expected the same shape"):
        getattr(F, name)(f, x, cr.Tensor(r(2), dtype="float64"))
    g = {"vjp": lambda s, t: (s * t, s + t), "jvp": lambda s, t: s * t}.get(name, lambda s, t: (s * t).sum())
    with pytest.raises(ValueError, match=rf"^{name}: v\[1\] has shape \(\) but {against} 1 has shape \(3,\)"):
        getattr(F, name)(g, (x, x), (x, cr.Tensor(1.0, dtype="float64")))
    with pytest.raises(ValueError, match=rf"^{name}: got 1 Tensor\(s\) in v for 2 {against}\(s\); expected one each"):
        getattr(F, name)(g, (x, x), (x,))
    with pytest.raises(ValueError, match=rf"^{name}: v=None is only for a single one-element {against}, got shape"):
        getattr(F, name)(f, x)


@pytest.mark.parametrize("name", ["hessian", "hvp", "vhp"])
def test_second_order_functions_need_one_element_output(name):
    x = cr.Tensor(r(3), dtype="float64")
    extra = () if name == "hessian" else (x,)
    with pytest.raises(ValueError, match=rf"^{name}: func returned shape \(3,\); expected a single one-element Tensor"):
        getattr(F, name)(lambda t: t * t, x, *extra)
    with pytest.raises(ValueError, match=rf"^{name}: func returned 2 Tensors; expected a single one-element Tensor"):
        getattr(F, name)(lambda t: (t.sum(), t.sum()), x, *extra)


def test_strict_mode_refuses_an_input_the_output_does_not_depend_on():
    x = cr.Tensor(r(3), dtype="float64")
    with pytest.raises(RuntimeError, match="jacobian: output 0 of func is independent of input 1; strict=True"):
        F.jacobian(lambda s, t: s * 2, (x, x), strict=True)
    with pytest.raises(RuntimeError, match="vjp: the result is independent of input 1; strict=True"):
        F.vjp(lambda s, t: (s * 2).sum(), (x, x), strict=True)
    with pytest.raises(RuntimeError, match="jacobian: strict=True and vectorize=True are not supported together"):
        F.jacobian(lambda s: s * 2, x, strict=True, vectorize=True)
    # not strict: zeros, as PyTorch
    same(F.vjp(lambda s, t: (s * 2).sum(), ours([r(3), r(3)]))[1][1], torch.zeros(3, dtype=torch.float64))


# -- the package -------------------------------------------------------------------------

def test_the_package_reexports_the_engine_objects_themselves():
    assert A.grad is cr.grad is chainrule.autograd.engine.grad
    # A.Function is PyTorch's (Tensors in forward and backward), cr.Function the raw-array gate base
    assert A.Function is sys.modules["chainrule.autograd.custom_function"].Function and A.Function is not cr.Function
    assert A.no_grad is cr.no_grad and A.enable_grad is cr.enable_grad
    assert A.detect_anomaly is cr.detect_anomaly and A.gradcheck is cr.gradcheck is sys.modules["chainrule.autograd.gradcheck"].gradcheck
    assert A.functional is F and cr.autograd is A


def test_backward_over_several_roots_accumulates_each_once_as_torch():
    x = r(3)
    a = cr.Tensor(x, dtype="float64", requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    calls = []
    a.register_hook(lambda g: calls.append(1))
    seeds = r(3)
    for m, t, S in ((A, a, lambda s: cr.Tensor(s, dtype="float64")), (torch.autograd, b, torch.tensor)):
        y = t * t
        m.backward([y, (t.exp()).sum(), y.sum()], [S(seeds), None, None])
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)
    assert calls == [1]  # one pass: the leaf's hook ran once
    A.backward((a * a).sum())  # a single Tensor; gradients add up across calls
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy() + 2 * x, rtol=1e-12)


def test_backward_errors_come_before_any_gradient_is_written():
    a = cr.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="backward: got 1 grad_tensors for 2 tensors; expected one each"):
        A.backward([a.sum(), a.sum()], [None])
    with pytest.raises(ValueError, match=r"backward: output has shape \(2,\); an implicit gradient exists only"):
        A.backward([a.sum(), a * 2])
    with pytest.raises(RuntimeError, match=r"backward: tensors\[1\] does not require grad"):
        A.backward([a.sum(), cr.Tensor([1.0])])
    assert a.grad is None

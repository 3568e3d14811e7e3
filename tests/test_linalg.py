"""Contractions (chainrule.ops.linalg) as data: einsum over many subscripts, tensordot, outer, mm,
bmm, mv, dot. Each row is checked against PyTorch (forward, gradients, gradients of gradients) and
finite differences, compiled and replayed, and on each device; then every error message."""

from __future__ import annotations

import numpy as np
import pytest
from oracle import op_table, table_rows, torch

import chainrule as cr
import chainrule.ops.linalg  # noqa: F401 - the Tensor methods (outer, mm, bmm, mv, dot)
from chainrule.ops.axes import DimError
from chainrule.ops.linalg import bmm, dot, einsum, mm, mv, outer, tensordot

rng = np.random.default_rng(2024)


def r(*shape: int) -> np.ndarray:
    return rng.uniform(-2.0, 2.0, size=shape).astype(np.float64)


def tf(name: str):
    """Late lookup of a torch function, so collecting this file does not need torch."""
    return lambda *a, **k: getattr(torch, name)(*a, **k)


CASES: list = []


case = table_rows(CASES)


def ein(equation: str, *shapes: tuple[int, ...], name: str | None = None, scale: float = 1.0) -> None:
    """One einsum row: the equation on operands of these shapes (values scaled: a big sum's finite
    differences lose digits in proportion to its size)."""
    case(f"einsum-{name or equation}-{'-'.join('x'.join(map(str, s)) or 'scalar' for s in shapes)}",
         lambda *xs: einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs), *[scale * r(*s) for s in shapes])  # fmt: skip


# -- einsum ------------------------------------------------------------------------------
ein("ij,jk->ik", (2, 3), (3, 4))
ein("ij,jk->ik", (32, 32), (32, 32), name="matmul-blas", scale=0.25)  # enough work for NumPy's optimized path
ein("ij->ji", (2, 3))
ein("ij->ij", (2, 3))
ein("ii->i", (3, 3))
ein("ii->i", (1, 1))
ein("ii", (3, 3), name="trace")
ein("ii->", (3, 3))
ein("iii->i", (2, 2, 2))
ein("iij->j", (3, 3, 2))
ein("iij->ij", (3, 3, 2))
ein("ii,ij->j", (3, 3), (3, 2))
ein("ij->", (2, 3))
ein("ij->j", (2, 3))
ein("i,i->", (4,), (4,))
ein("i,j->ij", (2,), (3,))
ein("bij,bjk->bik", (2, 2, 3), (2, 3, 4))
ein("bij,bjk->bik", (8, 16, 16), (8, 16, 16), name="bmm-blas", scale=0.25)
ein("bij,bik->bjk", (2, 3, 2), (2, 3, 4))
ein("...ij,...jk->...ik", (2, 1, 2, 3), (4, 3, 2), name="ellipsis-broadcast")
ein("...ij,...jk->...ik", (2, 3), (3, 4), name="ellipsis-empty")
ein("...ij,...jk", (5, 2, 3), (1, 3, 4), name="ellipsis-implicit")
ein("...ii->...i", (2, 3, 3))
ein("i...->...", (2, 3, 4))
ein("...ij->ij", (2, 3, 4), name="ellipsis-summed")
ein("...->...", ())
ein("ij,j->i", (2, 1), (3,), name="size1-broadcast")
ein("ij,jk,kl->il", (2, 3), (3, 4), (4, 2))
ein("i,i,i->", (3,), (3,), (3,))
ein("ij,jk", (2, 3), (3, 4), name="implicit")
ein("ba,cb", (2, 3), (4, 2), name="implicit-sorted")
ein("Ab,bA", (2, 3), (3, 2), name="implicit-upper")
ein(" i j , j k -> i k ", (2, 3), (3, 4), name="spaces")
ein(",->", (), ())
ein("i,->i", (3,), ())
ein("ij,->", (2, 3), ())
case("einsum-same-operand-twice", lambda a: einsum("ij,ij->i", a, a), lambda a: torch.einsum("ij,ij->i", a, a), r(2, 3))
case("einsum-list-form", lambda a, b: einsum("ij,jk", [a, b]), lambda a, b: torch.einsum("ij,jk", [a, b]), r(2, 3), r(3, 4))
case("einsum-sublist-form", lambda a, b: einsum(a, [0, 1], b, [1, 2], [0, 2]),
     lambda a, b: torch.einsum(a, [0, 1], b, [1, 2], [0, 2]), r(2, 3), r(3, 4))  # fmt: skip
case("einsum-sublist-ellipsis", lambda a, b: einsum(a, [..., 0, 1], b, [..., 1, 2]),
     lambda a, b: torch.einsum(a, [..., 0, 1], b, [..., 1, 2]), r(2, 2, 3), r(3, 4))  # fmt: skip

# -- tensordot ---------------------------------------------------------------------------
case("tensordot-default", tensordot, tf("tensordot"), r(2, 3, 4), r(3, 4, 5))
case("tensordot-0", lambda a, b: tensordot(a, b, 0), lambda a, b: torch.tensordot(a, b, 0), r(2, 3), r(4))
case("tensordot-1", lambda a, b: tensordot(a, b, dims=1), lambda a, b: torch.tensordot(a, b, dims=1), r(2, 3), r(3, 4))
case("tensordot-pairs", lambda a, b: tensordot(a, b, dims=([1, 0], [0, 1])),
     lambda a, b: torch.tensordot(a, b, dims=([1, 0], [0, 1])), r(2, 3, 4), r(3, 2, 5))  # fmt: skip
case("tensordot-negative", lambda a, b: tensordot(a, b, dims=([-1], [0])),
     lambda a, b: torch.tensordot(a, b, dims=([-1], [0])), r(2, 3), r(3, 2))  # fmt: skip
case("tensordot-numpy-axes", lambda a, b: tensordot(a, b, axes=(0, 1)),
     lambda a, b: torch.tensordot(a, b, dims=([0], [1])), r(3, 2), r(4, 3))  # fmt: skip
case("tensordot-scalars", lambda a, b: tensordot(a, b, dims=0), lambda a, b: torch.tensordot(a, b, dims=0), r(), r())

# -- outer, mm, bmm, mv, dot (functions and Tensor methods) -----------------------------
case("outer", outer, tf("outer"), r(3), r(4))
case("outer-size1", lambda a, b: a.outer(b), lambda a, b: a.outer(b), r(1), r(4))
case("mm", mm, tf("mm"), r(2, 3), r(3, 4))
case("mm-method", lambda a, b: a.mm(b), lambda a, b: a.mm(b), r(1, 3), r(3, 1))
case("bmm", bmm, tf("bmm"), r(2, 2, 3), r(2, 3, 4))
case("bmm-method", lambda a, b: a.bmm(b), lambda a, b: a.bmm(b), r(1, 3, 2), r(1, 2, 2))
case("mv", mv, tf("mv"), r(2, 3), r(3))
case("mv-method", lambda a, v: a.mv(v), lambda a, v: a.mv(v), r(4, 1), r(1))
case("dot", dot, tf("dot"), r(3), r(3))
case("dot-method", lambda a, b: a.dot(b), lambda a, b: a.dot(b), r(1), r(1))


test_op_against_torch_and_gradcheck, test_op_compiled_replays_eager, test_op_on_each_device = op_table(CASES)


def test_einsum_of_integers_matches_torch_and_carries_no_gradient():
    a, b = np.arange(6).reshape(2, 3), np.arange(12).reshape(3, 4)
    out = einsum("ij,jk->ik", cr.Tensor(a), cr.Tensor(b))
    assert out.dtype == np.int64 and not out.requires_grad
    if torch is not None:
        np.testing.assert_array_equal(out.numpy(), torch.einsum("ij,jk->ik", torch.from_numpy(a), torch.from_numpy(b)).numpy())


def test_einsum_diagonal_gradient_lies_on_the_diagonal():
    a = cr.Tensor(r(3, 3, 2), requires_grad=True, dtype=np.float64)
    einsum("iij->ij", a).sum().backward()
    want = np.zeros((3, 3, 2))
    want[np.arange(3), np.arange(3)] = 1.0
    np.testing.assert_array_equal(a.grad.numpy(), want)


# -- errors ---------------------------------------------------------------------------------
A, B = cr.Tensor(np.ones((2, 3))), cr.Tensor(np.ones((4, 5)))

EINSUM_ERRORS = [
    (("ij,jk", A), r"einsum: the equation has subscripts for 2 operand\(s\) but 1 were given \(equation 'ij,jk', operand shapes \(2, 3\)\)"),
    (("ij,jk->ik", A, B), r"einsum: subscript 'j' has size 4 in operand 1, which does not broadcast with size 3 .*'ij,jk->ik'.*\(2, 3\), \(4, 5\)"),
    (("i1", A), r"einsum: invalid subscript '1' in operand 0's subscripts.*'i1'.*\(2, 3\)"),
    (("i.j", A), r"einsum: invalid subscript '\.' in operand 0's subscripts"),
    (("...i...", A), r"einsum: a second ellipsis in operand 0's subscripts"),
    (("ij->ii", A), r"einsum: output subscript 'i' appears more than once"),
    (("ij->k", A), r"einsum: output subscript 'k' appears in no operand"),
    (("ij", cr.Tensor(np.ones((2, 3, 4)))), r"einsum: operand 0 has 3 dimension\(s\) but 2 subscript\(s\) and no ellipsis.*\(2, 3, 4\)"),
    (("ijk", A), r"einsum: operand 0 has 2 dimension\(s\) but 3 subscript\(s\)"),
    (("ii", A), r"einsum: subscript 'i' is repeated in operand 0 with sizes 2 and 3"),
    (("i->i->i", cr.Tensor(np.ones(2))), r"einsum: more than one '->'"),
    (("...i,...i", cr.Tensor(np.ones((2, 3))), cr.Tensor(np.ones((5, 3)))),
     r"einsum: subscript '\.\.\.' \(its dimension 0\) has size 5 in operand 1, which does not broadcast with size 2"),
    (("ij",), r"einsum: got no operands for equation 'ij'"),
]


@pytest.mark.parametrize("args,match", EINSUM_ERRORS)
def test_einsum_errors_name_einsum_the_equation_and_the_shapes(args, match):
    with pytest.raises(ValueError, match=match):
        einsum(*args)


def test_einsum_sublist_errors():
    with pytest.raises(ValueError, match=r"einsum: sublist subscript 52; expected an int in \[0, 52\)"):
        einsum(A, [0, 52])
    with pytest.raises(ValueError, match="einsum: expected an equation string or operand, sublist pairs"):
        einsum(A, A)


@pytest.mark.parametrize("call,kind,match", [
    (lambda: tensordot(A, B, dims=([1], [0])), ValueError,
     r"tensordot: contracted dimensions need to match, but a has size 3 in dim 1 and b has size 4 in dim 0 \(shapes \(2, 3\) and \(4, 5\)\)"),
    (lambda: tensordot(A, B, dims=3), ValueError, r"tensordot: dims=3 for shapes \(2, 3\) and \(4, 5\); expected an int in \[0, 2\]"),
    (lambda: tensordot(A, B, dims=-1), ValueError, r"tensordot: dims=-1 .*expected an int in \[0, 2\]"),
    (lambda: tensordot(A, B, dims=([2], [0])), DimError, r"tensordot: dim 2 of a is out of range for shape \(2, 3\); expected an int in \[-2, 1\]"),
    (lambda: tensordot(A, B, dims=([0, 1], [0])), ValueError, r"tensordot: dims=.* lists 2 dim\(s\) of a and 1 of b"),
    (lambda: tensordot(A, A, dims=([0, 0], [0, 1])), ValueError, r"tensordot: dims=.* repeats a dim of a"),
    (lambda: tensordot(A, B, dims="x"), TypeError, r"tensordot: dims='x'; expected an int or a pair of dim lists"),
    (lambda: tensordot(A, B, dims=1, axes=1), TypeError, r"tensordot: got both dims=1 and axes=1"),
    (lambda: outer(A, B), ValueError, r"outer: expected two 1-D tensors, got shapes \(2, 3\) and \(4, 5\) \(2-D and 2-D\)"),
    (lambda: mm(A, cr.Tensor(np.ones(3))), ValueError, r"mm: expected two 2-D tensors, got shapes \(2, 3\) and \(3,\)"),
    (lambda: mm(A, B), ValueError, r"mm: mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)"),
    (lambda: bmm(A, B), ValueError, r"bmm: expected two 3-D tensors, got shapes \(2, 3\) and \(4, 5\)"),
    (lambda: bmm(cr.Tensor(np.ones((2, 3, 4))), cr.Tensor(np.ones((3, 4, 5)))), ValueError,
     r"bmm: expected batch2 of shape \(2, 4, m\) .*\(2, 3, 4\).*got \(3, 4, 5\)"),
    (lambda: mv(A, cr.Tensor(np.ones(4))), ValueError, r"mv: size mismatch, matrix \(2, 3\) and vector \(4,\)"),
    (lambda: mv(A, A), ValueError, r"mv: expected a 2-D matrix and a 1-D vector, got shapes \(2, 3\) and \(2, 3\)"),
    (lambda: dot(A, A), ValueError, r"dot: expected two 1-D tensors, got shapes \(2, 3\) and \(2, 3\)"),
    (lambda: dot(cr.Tensor(np.ones(3)), cr.Tensor(np.ones(4))), ValueError, r"dot: inconsistent tensor size, shapes \(3,\) and \(4,\)"),
])  # fmt: skip
def test_composed_op_errors_name_the_op_and_the_shapes(call, kind, match):
    with pytest.raises(kind, match=match):
        call()


def test_einsum_of_empty_dimensions_gives_empty_gradients():
    a = cr.Tensor(np.ones((2, 0)), requires_grad=True)
    b = cr.Tensor(np.ones((0, 3)), requires_grad=True)
    out = einsum("ij,jk->ik", a, b)
    assert out.tolist() == [[0.0] * 3] * 2
    out.sum().backward()
    assert a.grad.shape == (2, 0) and b.grad.shape == (0, 3)

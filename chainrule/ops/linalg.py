"""Matrix product, batched and broadcasting like ``numpy.matmul``."""

from __future__ import annotations

from typing import Any

from ..engine import Context, Function, Tensor, as_tensor, call
from .broadcast import sum_to
from .shape import Permute


class MatMul(Function):
    """a @ b. For 2-D a (n, k) and b (k, m): da = g b^T, db = a^T g.

    1-D operands are promoted as NumPy does (a vector a is a row, a vector b a
    column) and leading batch axes broadcast; the backward undoes both.
    """

    @staticmethod
    def forward(ctx: Context, a: Any, b: Any) -> Any:
        ka = a.shape[-1]
        kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if ka != kb:
            raise ValueError(
                f"shapes {a.shape} and {b.shape} are not aligned: the last axis of a ({ka}) must "
                f"equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of b ({kb})"
            )
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        a2 = a.reshape(1, -1) if a.ndim == 1 else a  # (.., n, k)
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b  # (.., k, m)
        g2 = grad_out
        if a.ndim == 1:  # put back the n = 1 axis the product dropped
            g2 = g2.reshape(g2.shape[:-1] + (1,) + g2.shape[-1:]) if b.ndim > 1 else g2.reshape(1)
        if b.ndim == 1:  # and the m = 1 axis
            g2 = g2.reshape(g2.shape + (1,))  # (.., n, m)
        ga = sum_to(g2 @ _swap_last(b2), a2.shape).reshape(a.shape) if na else None
        gb = sum_to(_swap_last(a2) @ g2, b2.shape).reshape(b.shape) if nb else None
        return ga, gb


def _swap_last(x: Any) -> Any:
    """x with its last two axes swapped (x^T for a matrix), on a Tensor or an array."""
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return call(Permute, x, axes=tuple(axes))


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules (batched, broadcasting, 1-D promotion).

    >>> import chainrule as cr
    >>> W = cr.Tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x = cr.Tensor([1.0, 1.0])
    >>> (W @ x).numpy()
    array([3., 7.], dtype=float32)
    """
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(
            f"matmul: got shapes {a.shape} and {b.shape}; expected both to have at least one "
            "dimension (use * for scalars)"
        )
    return MatMul.apply(a, b)

"""Fused primitives for the two layers every classifier runs: a linear layer and its loss.

Each could be composed (``x @ W.T + b`` is three gates; cross-entropy is log-softmax,
indexing, a negation and a mean: five), but as one gate each they record one node
instead of several, and the linear layer computes W's gradient directly in W's layout
(``g^T x``), with no transposed copy. Both are fused for speed; the cross-entropy also
for stability (it never forms log(softmax) from a softmax that underflowed).
"""

from __future__ import annotations

from typing import Any

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor
from ..backend import array_module
from .reduce import LogSoftmax, Softmax


class Linear(Function):
    """x W^T + b for x (N, in), W (out, in), b (out,): gx = g W, gW = g^T x, gb = sum_n g."""

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any = None) -> Any:
        ctx.save_for_backward(x, w)
        out = x @ w.T
        if b is None:
            return out
        if b.dtype == out.dtype:
            out += b  # the product is a fresh array: add in place
            return out
        return out + b

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        gx = grad_out @ w if needs[0] else None
        gw = grad_out.T @ x if needs[1] else None
        gb = grad_out.sum(axis=0) if len(needs) > 2 and needs[2] else None
        return (gx, gw, gb)[: len(needs)]


class CrossEntropy(Function):
    """Mean (or sum, or per-row) of -log softmax(s)[y] over (N, K) scores s.

    Local gradient: d L_i / d s = softmax(s_i) - onehot(y_i), the course's "probabilities
    minus one at the correct class".
    """

    @staticmethod
    def forward(ctx: Context, s: Any, *, labels: Any, reduction: str) -> Any:
        ctx.save_for_backward(s)
        ctx.labels, ctx.reduction = labels, reduction
        rows = array_module(s).arange(s.shape[0])
        losses = -call(LogSoftmax, s, axis=1)[rows, labels]
        if reduction == "mean":
            return losses.mean()
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (s,) = ctx.saved_tensors
        n = s.shape[0]
        xp = array_module(s.data if isinstance(s, Tensor) else s)
        onehot = xp.zeros(s.shape, dtype=s.dtype)
        onehot[xp.arange(n), ctx.labels] = 1
        d = call(Softmax, s, axis=1) - onehot  # (N, K)
        if ctx.reduction == "mean":
            return d * (grad_out / n)
        if ctx.reduction == "sum":
            return d * grad_out
        return d * grad_out.reshape(n, 1)

"""Fused primitives for the layers every network runs: a linear layer, its loss, layer norm.

Each could be composed (``x @ W.T + b`` is three gates; cross-entropy is log-softmax,
indexing, a negation and a mean: five; layer norm eight), but as one gate each they record
one node instead of several, and the linear layer computes W's gradient directly in W's
layout (``g^T x``), with no transposed copy. All are fused for speed; the cross-entropy also
for stability (it never forms log(softmax) from a softmax that underflowed), layer norm also
for memory (it keeps the per-row mean and 1/std, not four intermediate arrays).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor
from ..backend import array_module
from . import kernels
from .broadcast import sum_to
from .linalg import column_sums, product, products
from .reduce import LogSoftmax, Softmax


class Linear(Function):
    """x W^T + b for x (..., in), W (out, in), b (out,): with x2 and g2 the rows of x and of
    the upstream gradient, gx = g2 W, gW = g2^T x2, gb = sum of the rows of g2. Leading axes are
    rows of one matrix inside the gate (one node, not a reshape on each side)."""

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any = None) -> Any:
        ctx.save_for_backward(x, w)
        x2 = x if x.ndim == 2 else x.reshape(-1, x.shape[-1])
        add = b is not None and b.dtype == np.result_type(x2.dtype, w.dtype)  # into the fresh product, in place
        out = product(x2, w.T, add=b if add else None)
        if b is not None and not add:
            out = out + b
        return out if x.ndim == 2 else out.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w = ctx.saved_tensors
        needs = ctx.needs_input_grad
        flat = x.ndim != 2
        g = grad_out.reshape(-1, w.shape[0]) if flat else grad_out
        x2 = x.reshape(-1, x.shape[-1]) if flat else x
        bias = len(needs) > 2 and needs[2]
        if needs[0] and needs[1]:  # on the pool at once, the bias's sums by the thread free first
            gx, gw, *sums = products((g, w), (g.T, x2), sums=g if bias else None)
            gb = sums[0] if bias else None
        else:
            gx = product(g, w) if needs[0] else None
            gw = product(g.T, x2) if needs[1] else None
            gb = column_sums(g) if bias else None
        if gx is not None and flat:
            gx = gx.reshape(x.shape)
        return (gx, gw, gb)[: len(needs)]


class CrossEntropy(Function):
    """Mean (or sum, or per-row) of -log softmax(s)[y] over (N, K) scores s. A row whose label is
    ``ignore_index`` counts 0 and leaves the mean's denominator, as PyTorch's (all ignored: NaN).

    Local gradient: d L_i / d s = softmax(s_i) - onehot(y_i), the course's "probabilities
    minus one at the correct class" (0 on an ignored row).
    """

    @staticmethod
    def forward(ctx: Context, s: Any, *, labels: Any, reduction: str, ignore_index: int | None = None) -> Any:
        xp = array_module(s)
        keep = None if ignore_index is None else labels != ignore_index  # (N,)
        if keep is not None:
            labels = xp.where(keep, labels, 0)  # an ignored row picks class 0, then counts 0
        ctx.save_for_backward(s)
        ctx.labels, ctx.reduction, ctx.keep, ctx.lse = labels, reduction, keep, None
        if _loss_loop(s, labels):  # one compiled pass a row each way (``kernels.cross_entropy``)
            ctx.lse, picked = kernels.run(kernels.cross_entropy, s, labels)
            losses = ctx.lse - picked
        else:
            losses = -call(LogSoftmax, s, axis=1)[xp.arange(s.shape[0]), labels]
        if keep is not None:
            losses = xp.where(keep, losses, losses.dtype.type(0))
        if reduction == "mean":
            if keep is None:
                return losses.mean()
            count = keep.sum(dtype=s.dtype)  # every row ignored: NaN, as PyTorch's (without 0/0's warning)
            return xp.where(count > 0, losses.sum() / xp.maximum(count, 1), xp.nan).astype(s.dtype)
        return losses.sum() if reduction == "sum" else losses

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (s,) = ctx.saved_tensors
        n, keep = s.shape[0], ctx.keep
        xp = array_module(s.data if isinstance(s, Tensor) else s)
        if ctx.lse is not None and not isinstance(s, Tensor):
            d = kernels.run(kernels.cross_entropy_grad, s, ctx.lse, ctx.labels)  # (N, K)
        else:  # with create_graph, s is a Tensor: composed, so the gradient is differentiable again
            onehot = xp.zeros(s.shape, dtype=s.dtype)
            onehot[xp.arange(n), ctx.labels] = 1
            d = call(Softmax, s, axis=1) - onehot  # (N, K)
        if keep is None:
            if ctx.reduction == "mean":
                return d * (grad_out / n)
            if ctx.reduction == "sum":
                return d * grad_out
            return d * grad_out.reshape(n, 1)
        rows = keep.astype(s.dtype).reshape(n, 1)  # (N, 1): 0 on an ignored row
        if ctx.reduction == "mean":
            return d * (grad_out * (rows / xp.maximum(keep.sum(dtype=s.dtype), 1)))  # all ignored: 0, not 0/0
        if ctx.reduction == "sum":
            return d * (grad_out * rows)
        return d * (grad_out.reshape(n, 1) * rows)


def _loss_loop(s: Any, labels: Any) -> bool:
    """Whether the cross-entropy runs as ``kernels``' loops: float32 scores of some rows and
    classes, integer labels, Numba present. Over a GPT batch's (2048, 65) scores the passes
    (log-softmax, then softmax again back) took 2.4 ms a step, the loops 0.96 ms (PyTorch 1.10)."""
    return (s.dtype == np.float32 and s.ndim == 2 and s.size > 0 and getattr(labels, "dtype", None) is not None
            and labels.dtype.kind in "iu" and kernels.usable(s))  # fmt: skip


def _standardized(x: Any, axes: tuple[int, ...], eps: float) -> tuple[Any, Any, Any, Any]:
    """(xhat, mean, var, rstd) over ``axes`` on raw arrays, what layer and batch norm share:
    xhat = (x - mean) rstd in a fresh array, var biased, rstd = 1 / sqrt(var + eps). Over the
    last axis alone and from 4096 entries, the row sums of squares are an einsum (no temporary;
    below that, einsum's own cost outweighs a small temporary)."""
    xp = array_module(x)
    mean = x.mean(axis=axes, keepdims=True)
    out = x - mean
    if axes == (x.ndim - 1,) and x.size >= 4096:
        var = xp.einsum("...i,...i->...", out, out)[..., None]
        var *= 1 / x.shape[-1]
    else:
        var = (out * out).mean(axis=axes, keepdims=True)
    rstd = 1 / xp.sqrt(var + eps)
    out *= rstd
    return out, mean, var, rstd


def _standardized_gates(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor]:
    """(xhat, rstd) as gates of the Tensor x, for a backward under create_graph: the statistics
    are functions of x there, so the gradient's own gradient reaches x through them."""
    xc = x - x.mean(axis=axes, keepdims=True)
    rstd = 1 / ((xc * xc).mean(axis=axes, keepdims=True) + eps) ** 0.5
    return xc * rstd, rstd


def _input_grad(g: Any, w: Any, xhat: Any, rstd: Any, axes: tuple[int, ...]) -> Any:
    """Normalization's input gradient: with gh = g w, rstd (gh - mean(gh) - xhat mean(gh xhat))."""
    gh = g * w if w is not None else g
    return rstd * (gh - gh.mean(axis=axes, keepdims=True) - xhat * (gh * xhat).mean(axis=axes, keepdims=True))


def _layer_norm_rows_backward(x: Any, w: Any, mean: Any, rstd: Any, g: Any, needs: tuple) -> tuple:
    """``LayerNorm``'s backward over the last axis on raw arrays: its formulas, with two (rows, n)
    buffers written in place and the row sums of products as ``einsum``s."""
    xp = array_module(x)
    n = x.shape[-1]
    xhat = x - mean
    xhat *= rstd
    gw = gb = None
    if w is not None and needs[1]:
        gw = xp.einsum("ij,ij->j", g.reshape(-1, n), xhat.reshape(-1, n)).reshape(w.shape)
    if needs[2]:
        gb = g.reshape(-1, n).sum(axis=0)
    if not needs[0]:
        return None, gw, gb
    gh = g * w if w is not None else g.copy()
    c1 = gh.sum(axis=-1, keepdims=True)
    c1 *= 1 / n  # mean(gh)
    c2 = xp.einsum("...i,...i->...", gh, xhat)[..., None]
    c2 *= 1 / n  # mean(gh xhat)
    gh -= c1
    xhat *= c2
    gh -= xhat
    gh *= rstd
    return gh, gw, gb


def _loopable(x: Any, *others: Any) -> bool:
    """Whether ``kernels``' compiled loops may take x and ``others`` (None skipped): NumPy float
    arrays (a compiled step's traced ones too) of x's dtype, Numba installed."""
    given = [a for a in others if a is not None]
    return kernels.usable(x, *given) and all(a.dtype == x.dtype for a in given)


def _rows_loop(x: Any, w: Any, b: Any, axes: tuple[int, ...], g: Any = None) -> bool:
    """Whether layer norm runs as ``kernels``' compiled loops: over the last axis, ``_loopable``."""
    return axes == (x.ndim - 1,) and x.ndim >= 1 and x.size > 0 and _loopable(x, w, b, g)


class LayerNorm(Function):
    """(x - mean) / sqrt(var + eps) * w + b over the trailing ``axes`` (w and b optional).

    Saved: x (alive anyway: the graph holds its inputs), w, and per row the mean and
    rstd = 1 / sqrt(var + eps). With xhat = (x - mean) rstd and gh = g w:
    gx = rstd (gh - mean(gh) - xhat mean(gh xhat)), gw = sum over rows of g xhat, gb = sum g.
    Under create_graph the backward rebuilds xhat from x with gates, so it is differentiable.
    Over the last axis alone (the usual case) the row sums of products are ``einsum``s and the
    rest in place: no (rows, n) temporaries beyond one each way (a GPT's (16, 128, 128): forward
    0.54 -> 0.41 ms, backward 1.28 -> 0.81).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any, *, axes: tuple[int, ...], eps: float) -> Any:
        ctx.axes, ctx.eps = axes, eps
        if _rows_loop(x, w, b, axes):  # one compiled pass a row each way (``kernels.layer_norm``)
            n = x.shape[-1]
            out, mean, rstd = kernels.run(kernels.layer_norm, x.reshape(-1, n), w, b, eps)
            ctx.save_for_backward(x, w, mean.reshape(x.shape[:-1] + (1,)), rstd.reshape(x.shape[:-1] + (1,)))
            return out.reshape(x.shape)
        out, mean, _, rstd = _standardized(x, axes, eps)  # out: xhat, to be scaled and shifted in place
        ctx.save_for_backward(x, w, mean, rstd)
        if w is not None:
            out *= w
        if b is not None:
            out += b
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w, mean, rstd = ctx.saved_tensors
        axes = ctx.axes
        if isinstance(grad_out, Tensor):  # create_graph: xhat and rstd as functions of x
            xhat, rstd = _standardized_gates(x, axes, ctx.eps)
        elif axes == (x.ndim - 1,):
            if _rows_loop(x, w, None, axes, grad_out):
                n = x.shape[-1]
                needs = ctx.needs_input_grad
                gx, gw, gb = kernels.run(kernels.layer_norm_backward, x.reshape(-1, n), w, mean, rstd,
                                         grad_out.reshape(-1, n), needs[0])  # fmt: skip
                return (gx.reshape(x.shape) if needs[0] else None, gw.reshape(w.shape) if w is not None and needs[1]
                        else None, gb if needs[2] else None)  # fmt: skip
            return _layer_norm_rows_backward(x, w, mean, rstd, grad_out, ctx.needs_input_grad)
        else:
            xhat = (x - mean) * rstd
        gx = _input_grad(grad_out, w, xhat, rstd, axes)
        needs = ctx.needs_input_grad
        gw = sum_to(grad_out * xhat, w.shape) if w is not None and needs[1] else None
        gb = sum_to(grad_out, grad_out.shape[-len(axes):]) if needs[2] else None
        return gx if needs[0] else None, gw, gb



def _channel_rows(x: Any, w: Any, b: Any, axes: tuple[int, ...], g: Any = None) -> Any:
    """x's (rows, C) matrix where batch norm runs as ``kernels``' compiled loops: statistics over
    every axis but 1, x's memory channels-last (a convolution's output; ``kernels.channels_last``),
    NumPy float arrays of one dtype (a compiled step's traced ones too), Numba installed; else None."""
    if x.ndim < 2 or axes != (0, *range(2, x.ndim)) or x.size == 0:
        return None
    return kernels.channels_last(x) if _loopable(x, w, b, g) else None


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation that undoes ``perm``."""
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))


class BatchNorm(Function):
    """Batch norm in training: (x - mean) / sqrt(var + eps) * w + b, the statistics over ``axes``
    (all but the channel axis), and the running statistics updated in place (``stats``: the
    running mean and variance arrays and the momentum, or None).

    One gate for speed: composed, it was eleven gates and half of a small CNN's step. With
    xhat = (x - mean) rstd and n entries a channel: gb = sum g, gw = sum g xhat, and (batch
    norm's long derivation, folded) gx = w rstd (g - gb / n - xhat gw / n). Saved: x (alive
    anyway), w, mean, rstd. Under create_graph the backward is composed, as ``LayerNorm``'s.
    ``w`` and ``b`` come shaped to broadcast ((1, C, 1, 1)).
    """

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any, *, axes: tuple[int, ...], eps: float,
                stats: tuple | None = None) -> Any:  # fmt: skip
        ctx.axes, ctx.eps = axes, eps
        x2 = _channel_rows(x, w, b, axes)
        if x2 is not None:  # one compiled pass each (``kernels.batch_norm``), in x's own layout
            out2, mean, var, rstd = kernels.run(kernels.batch_norm, x2, w, b, eps)
            kept = (1, -1) + (1,) * (x.ndim - 2)
            mean, var, rstd = mean.reshape(kept), var.reshape(kept), rstd.reshape(kept)
            perm = (0, *range(2, x.ndim), 1)
            out = out2.reshape(tuple(x.shape[i] for i in perm)).transpose(_inverse(perm))
        else:
            out, mean, var, rstd = _standardized(x, axes, eps)  # var biased, for normalizing
            if w is not None:
                out *= w
            if b is not None:
                out += b
        ctx.save_for_backward(x, w, mean, rstd)
        if stats is not None:  # PyTorch's running statistics: the variance with Bessel's correction
            running_mean, running_var, momentum = stats
            n = x.size // mean.size
            c = running_mean.shape[0]
            running_mean *= 1 - momentum
            running_mean += momentum * mean.reshape(c).astype(running_mean.dtype)
            running_var *= 1 - momentum
            running_var += momentum * var.reshape(c).astype(running_var.dtype) * (n / (n - 1))
        return out

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> tuple:
        x, w, mean, rstd = ctx.saved_tensors
        axes, needs = ctx.axes, ctx.needs_input_grad
        if isinstance(grad_out, Tensor):  # create_graph: the statistics as functions of x
            xhat, rstd = _standardized_gates(x, axes, ctx.eps)
            gx = _input_grad(grad_out, w, xhat, rstd, axes)
            gw = sum_to(grad_out * xhat, w.shape) if w is not None and needs[1] else None
            gb = grad_out.sum(axis=axes, keepdims=True) if len(needs) > 2 and needs[2] else None
            return gx if needs[0] else None, gw, gb
        x2 = _channel_rows(x, w, None, axes, grad_out)
        if x2 is not None:
            perm = (0, *range(2, x.ndim), 1)
            g2 = kernels.channels_last(grad_out)
            g2 = grad_out.transpose(perm).reshape(x2.shape) if g2 is None else g2  # a copy in x's layout
            gx, gw, gb = kernels.run(kernels.batch_norm_backward, x2, w, mean, rstd, g2, needs[0])
            gx = gx.reshape(tuple(x.shape[i] for i in perm)).transpose(_inverse(perm)) if needs[0] else None
            return (gx, gw.reshape(w.shape) if w is not None and needs[1] else None,
                    gb.reshape(mean.shape).astype(grad_out.dtype, copy=False) if len(needs) > 2 and needs[2] else None)  # fmt: skip
        n = x.size // mean.size  # entries a channel
        xhat = x - mean
        xhat *= rstd
        t = grad_out * xhat
        gw = t.sum(axis=axes, keepdims=True)  # sum g xhat, per channel
        gb = grad_out.sum(axis=axes, keepdims=True)  # sum g
        gx = None
        if needs[0]:
            xhat *= gw * (1 / n)
            gx = array_module(x).subtract(grad_out, gb * (1 / n), out=t)
            gx -= xhat
            gx *= rstd if w is None else rstd * w
        return (gx, gw.astype(w.dtype, copy=False) if w is not None and needs[1] else None,
                gb.astype(grad_out.dtype, copy=False) if len(needs) > 2 and needs[2] else None)

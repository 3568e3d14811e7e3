"""Gradient clipping, as ``torch.nn.utils.clip_grad``: the joint norm (``clip_grad_norm_``) or
each value (``clip_grad_value_``), in place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ...autograd.tensor import Tensor
from ...backend import array_module


def _grads(params: Any) -> list[Any]:
    """The gradient arrays of a module's parameters, of one Tensor, or of an iterable of them
    (those without a gradient left out)."""
    if hasattr(params, "parameters"):
        params = params.parameters()
    elif isinstance(params, Tensor):
        params = [params]
    return [p.grad.data for p in params if p.grad is not None]


def clip_grad_norm_(params: Tensor | Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients down together so their joint (2-)norm is at most ``max_norm``.

    ``params``: a Module, a Tensor or an iterable of Tensors. Returns the norm before
    clipping: a float, or on a GPU a 0-d CuPy array (``float()`` it to print; the step itself
    never waits for the GPU). Recurrent nets (and the NTM) use it against the occasional
    exploding gradient of backpropagation through time. ``clip_grad_norm`` is the same function.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # gradient (6, 8), norm 10
    >>> clip_grad_norm_([w], 5.0), w.grad.numpy().tolist()
    (10.0, [3.0, 4.0])
    """
    grads = _grads(params)
    if not grads:
        return 0.0
    xp = array_module(grads[0])
    total = xp.sqrt(sum((g * g).sum(dtype=xp.float64) for g in grads))
    # without a branch on the value, so a compiled step (chainrule.compile) can hold it: a factor
    # of exactly 1 leaves the gradients as they are
    scale = xp.minimum(1.0, max_norm / (total + 1e-12))
    for g in grads:
        g *= scale.astype(g.dtype)
    if type(total) is np.ndarray or isinstance(total, np.generic):
        return float(total)
    return total  # traced (an ndarray subclass), it stays an array of the step; on a GPU, float() would wait


clip_grad_norm = clip_grad_norm_  # the name chainrule.optim has always exported


def clip_grad_value_(params: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clip every gradient entry into ``[-clip_value, clip_value]``, in place.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0, -4.0, 0.5], requires_grad=True)
    >>> (w * w).sum().backward()          # gradient (6, -8, 1)
    >>> clip_grad_value_(w, 2.0)
    >>> w.grad.numpy().tolist()
    [2.0, -2.0, 1.0]
    """
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value={clip_value}; expected a value >= 0")
    for g in _grads(params):
        array_module(g).clip(g, -clip_value, clip_value, out=g)

"""Clipping the gradients' joint norm (PyTorch keeps it in ``torch.nn.utils.clip_grad``)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients down together so their joint norm is at most ``max_norm``.

    Returns the norm before clipping: a float, or on a GPU a 0-d CuPy array (``float()`` it
    to print; the step itself never waits for the GPU). Recurrent nets (and the NTM) use it against the
    occasional exploding gradient of backpropagation through time.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # gradient (6, 8), norm 10
    >>> clip_grad_norm([w], 5.0), w.grad.numpy().tolist()
    (10.0, [3.0, 4.0])
    """
    grads = [p.grad.data for p in (params.parameters() if hasattr(params, "parameters") else params) if p.grad is not None]
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

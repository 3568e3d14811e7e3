"""The engine and PyTorch's ``torch.autograd``: the Tensor, the gate base, the backward walk.

Read in this order: ``grad_mode`` (per-thread modes and the watcher), ``tensor`` (the
data), ``function`` (``Function``, the gate base, and ``Context``, a node of the graph),
``engine`` (the backward walk: the chain rule, no op known), then the pieces beside the
loop, one check each: ``hooks``, ``inplace`` (the version check and write protection) and
``anomaly``; and ``partial``, a slice's gradient that the walk writes into its sum. ``Function`` here is PyTorch's ``torch.autograd.Function`` (``custom_function``: its
forward and backward see Tensors), built on the raw-array gate base ``chainrule.Function``.
``gradcheck`` compares the walk with finite differences; ``functional`` holds
``jacobian``, ``hessian``, ``vjp``, ``jvp``, ``hvp`` and ``vhp``, composed from ``grad`` as
PyTorch's are. ``backward`` here runs one pass from several roots at once.

>>> import chainrule as cr
>>> x = cr.Tensor([1.0, 2.0], requires_grad=True)
>>> cr.autograd.backward([(x * x).sum(), (3 * x).sum()])  # each root's gradient once: 2x + 3
>>> x.grad.tolist()
[5.0, 7.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import backend
from . import functional, hooks  # hooks gives the Tensor its hook methods
from .custom_function import Function  # PyTorch's: Tensors in and out (chainrule.Function: arrays)
from .engine import _run_backward, _seed_gradient, grad
from .function import Context
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .gradcheck import gradcheck
from .tensor import Tensor

__all__ = ["Context", "Function", "Tensor", "backward", "detect_anomaly", "enable_grad", "functional", "grad", "gradcheck", "hooks",
           "is_grad_enabled", "no_grad"]  # fmt: skip


def backward(tensors: Tensor | Sequence[Tensor], grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False) -> None:  # fmt: skip
    """Accumulate into the leaves' ``.grad`` the gradient of ``sum_i <grad_tensors[i], tensors[i]>``
    (PyTorch's ``torch.autograd.backward``): one backward pass from all roots at once, so a
    leaf reached from several roots gets each root's gradient once, and its hooks run once.
    ``grad_tensors`` may be omitted (or None for a root) only for one-element roots.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> y = w * w
    >>> cr.autograd.backward([y, w.sum()], [cr.Tensor([1.0, 0.0]), None])
    >>> w.grad.tolist()
    [3.0, 1.0]
    """
    roots = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None:
        grads = [None] * len(roots)
    elif isinstance(grad_tensors, Tensor) or backend.is_array(grad_tensors):
        grads = [grad_tensors]
    else:
        grads = list(grad_tensors)
    if len(grads) != len(roots):
        raise ValueError(f"backward: got {len(grads)} grad_tensors for {len(roots)} tensors; expected one each")
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"backward: tensors[{i}] is {type(r).__name__}; expected a Tensor")
        if not r.requires_grad:
            raise RuntimeError(f"backward: tensors[{i}] does not require grad (no input of its graph has "
                               "requires_grad=True, or it was computed under no_grad)")
    seeds = [_seed_gradient(r, g, "backward") for r, g in zip(roots, grads)]  # all checked before the pass
    _run_backward(roots, seeds, create_graph if retain_graph is None else retain_graph, create_graph,
                  accumulate=True)

"""Gradient clipping, as ``torch.nn.utils.clip_grad``: the joint norm (``clip_grad_norm_``) or
each value (``clip_grad_value_``), in place."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:  # fmt: skip
    """Scale all gradients down together so their joint ``norm_type``-norm is at most ``max_norm``,
    as ``torch.nn.utils.clip_grad_norm_``: the factor max_norm / (norm + 1e-6), capped at 1.

    ``parameters``: a Module, a Tensor or an iterable of Tensors. Returns the norm before
    clipping as a 0-d Tensor (on a GPU its array stays there: ``.item()`` it to print; the step
    itself never waits for the GPU). ``norm_type`` may be ``inf`` (the largest entry);
    ``error_if_nonfinite`` raises on a NaN or infinite norm (one read of the value; without it,
    none). ``foreach`` is taken for PyTorch's signature and changes nothing. Recurrent nets (and
    the NTM) use it against the occasional exploding gradient of backpropagation through time.
    ``clip_grad_norm`` is the same function.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # gradient (6, 8), norm 10
    >>> round(clip_grad_norm_([w], 5.0).item(), 4), w.grad.numpy().round(4).tolist()
    (10.0, [3.0, 4.0])
    """
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    xp = array_module(grads[0])
    if norm_type == float("inf"):
        total = xp.max(xp.stack([xp.abs(g).max().astype(xp.float64) for g in grads]))
    elif norm_type == 2.0:
        total = xp.sqrt(sum((g * g).sum(dtype=xp.float64) for g in grads))
    else:
        total = sum((xp.abs(g) ** norm_type).sum(dtype=xp.float64) for g in grads) ** (1.0 / norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is non-finite "
                           f"({float(total)}), so it cannot be clipped; error_if_nonfinite=False scales them anyway")  # fmt: skip
    # without a branch on the value, so a compiled step (chainrule.compile) can hold it: a factor
    # of exactly 1 leaves the gradients as they are
    scale = xp.minimum(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= scale.astype(g.dtype)
    return Tensor._make(xp.asarray(total).astype(grads[0].dtype))


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

"""A model's parameters as one vector and back, as ``torch.nn.utils.convert_parameters``
(the flat view that second-order methods and weight averaging work on)."""

from __future__ import annotations

from collections.abc import Iterable

from ... import devices, ops
from ...autograd.grad_mode import no_grad
from ...autograd.inplace import write_in_place
from ...autograd.tensor import Tensor


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """The parameters flattened and joined, in order, into one 1-D Tensor (differentiable:
    a loss of the vector sends its gradient back to each parameter).

    >>> import chainrule as cr
    >>> net = cr.nn.Linear(2, 1)
    >>> cr.nn.utils.parameters_to_vector(net.parameters()).shape
    (3,)
    """
    return ops.concatenate([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters, in place (each keeps its dtype,
    device and object, so an optimizer holding them sees the new values). The sizes are
    checked before anything is written.

    >>> import chainrule as cr
    >>> net = cr.nn.Linear(2, 1)
    >>> cr.nn.utils.vector_to_parameters(cr.Tensor([1.0, 2.0, 3.0]), net.parameters())
    >>> net.weight.numpy().tolist(), net.bias.numpy().tolist()
    ([[1.0, 2.0]], [3.0])
    """
    if not isinstance(vec, Tensor):
        raise TypeError(f"vector_to_parameters: expected a Tensor, got {type(vec).__name__}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: the vector has {vec.numel()} numbers; the parameters hold {total}, "
                         "expected the same")
    flat = vec.data.reshape(-1)
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            target = write_in_place(p, "vector_to_parameters")
            target[...] = devices.like(flat[start : start + n].reshape(p.shape), target)
            start += n

"""Moving a tensor between devices, as one differentiable gate.

``ToDevice`` copies its input to another device (``chainrule.devices.move``) and its
backward copies the gradient back to where the input was: a copy is the identity on the
numbers, so the chain rule only has to carry the gradient home. ``to``/``cuda``/``cpu``
are the Tensor methods; a tensor already on the device comes back as it is (no node).
"""

from __future__ import annotations

from typing import Any

from .. import devices
from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor
from .elementwise import astype


class ToDevice(Function):
    """y = x, with y's memory on another device (GPU <-> host, or GPU to GPU)."""

    @staticmethod
    def forward(ctx: Context, a: Any, device: devices.Device) -> Any:
        ctx.home = devices.device_of(a)
        return devices.move(a, device, "to")

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        if isinstance(grad_out, Tensor):  # create_graph: the way back is recorded as a gate too
            return call(ToDevice, grad_out, device=ctx.home)
        return devices.move(grad_out, ctx.home, "to")


def to(a: Tensor, device: Any = None, dtype: Any = None) -> Tensor:
    """``a`` on ``device`` and/or as ``dtype`` (PyTorch's ``Tensor.to``); ``a`` itself when
    nothing changes. One argument may be either: ``t.to("cuda")``, ``t.to("float64")``.
    Gradients flow back across the copy, to the device ``a`` was on.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> y = x.to("cpu", "float64")
    >>> (y * y).sum().backward()
    >>> y.dtype, x.grad.numpy(), x.grad.device
    (dtype('float64'), array([2., 4.], dtype=float32), device('cpu'))
    """
    device, dtype = devices.to_arguments(device, dtype, "to")
    if device is not None:
        target = devices.resolve(device, "to")  # "cuda" alone: the current GPU's number
        if a.device != target:
            a = ToDevice.apply(a, device=target)
    if dtype is not None:
        a = astype(a, dtype)
    return a


def cuda(a: Tensor, index: int | None = None) -> Tensor:
    """``a.to("cuda")`` (``"cuda:K"`` with ``index``): a copy on the GPU, needing CuPy."""
    return to(a, devices.Device("cuda", index))


def cpu(a: Tensor) -> Tensor:
    """``a.to("cpu")``: the values in host memory as NumPy.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0])
    >>> x.cpu() is x
    True
    """
    return to(a, devices.CPU)

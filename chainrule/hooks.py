"""Gradient hooks: a function that sees (and may replace) the gradient flowing through a tensor.

``t.register_hook(fn)`` asks the backward pass to call ``fn(grad)`` once the gradient of
``t`` is complete - every gate that used ``t`` has delivered its part and the parts are
summed - and before it goes on: into ``t``'s own gate for a computed tensor, into
``.grad`` for a leaf. That gradient is the lecture's *upstream gradient* of the gate that
made ``t``, so a hook is the way to watch it (or to clip or rescale it: a hook that
returns a tensor replaces the gradient; one that returns None leaves it as it was).
``t.retain_grad()`` is such a hook that keeps the gradient of a computed tensor in its
``.grad`` (accumulating, as a leaf's does); it always runs after the user's hooks, so
``.grad`` holds what the pass actually used.

The engine stays a loop that knows nothing of this: a computed tensor's hooks live on
its gate's ``Context`` (``ctx.hooks``, None on the class, so a tensor without hooks costs
one attribute read per gate of a backward), a leaf's in its ``_hooks`` slot; the loop
calls ``run`` where either is set.

>>> import chainrule as cr
>>> x = cr.Tensor(3.0, requires_grad=True)
>>> q = x * 2
>>> seen = []
>>> handle = q.register_hook(lambda g: seen.append(g.item()))
>>> (q * q).backward()
>>> seen, x.grad.item()
([12.0], 24.0)
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from . import backend

Hook = Callable[[Any], Any]


class Hooks:
    """The hooks of one tensor: the user's, in registration order, and ``retain_grad``'s."""

    __slots__ = ("fns", "retain")

    def __init__(self) -> None:
        self.fns: dict[int, Hook] = {}
        self.retain: weakref.ref | None = None  # the tensor whose .grad keeps the gradient


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, hooks: Hooks, key: int) -> None:
        self._hooks, self._key = hooks, key

    def remove(self) -> None:
        self._hooks.fns.pop(self._key, None)


_keys = iter(range(1 << 62))  # next() on a range iterator is atomic under the GIL


def _hooks_of(t: Any, who: str) -> Hooks:
    if not t.requires_grad:
        raise RuntimeError(f"{who}: this tensor does not require grad, so no gradient will flow through it; "
                           "expected a tensor with requires_grad=True or one computed from such a tensor")
    if t._ctx is not None:
        if t._ctx.hooks is None:
            t._ctx.hooks = Hooks()
        return t._ctx.hooks
    hooks = getattr(t, "_hooks", None)
    if hooks is None:
        hooks = t._hooks = Hooks()
    return hooks


def register_hook(t: Any, fn: Hook) -> RemovableHandle:
    """Call ``fn(grad)`` with the gradient of ``t`` during every backward pass through it.

    ``grad`` is a Tensor of ``t``'s shape. ``fn`` may return a Tensor or array of that
    shape, which replaces the gradient from there on, or None to leave it unchanged.
    Returns a handle whose ``remove()`` unregisters the hook.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> h = w.register_hook(lambda g: g * 0.5)     # halve w's gradient before it lands in .grad
    >>> (w * w).sum().backward()
    >>> w.grad.numpy()
    array([1., 2.], dtype=float32)
    >>> h.remove()
    """
    if not callable(fn):
        raise TypeError(f"register_hook: expected a function of the gradient, got {type(fn).__name__}")
    hooks = _hooks_of(t, "register_hook")
    key = next(_keys)
    hooks.fns[key] = fn
    return RemovableHandle(hooks, key)


def retain_grad(t: Any) -> None:
    """Keep the gradient of a computed tensor in its ``.grad`` after ``backward()``.

    Leaves keep theirs anyway (this is then a no-op), as in PyTorch.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True)
    >>> q = x + 5.0
    >>> q.retain_grad()
    >>> (q * -4.0).backward()
    >>> q.grad.item()
    -4.0
    """
    if t._ctx is None and t.requires_grad:
        return
    _hooks_of(t, "retain_grad").retain = weakref.ref(t)


def run(hooks: Hooks, g: Any, raw: bool, shape: tuple[int, ...]) -> Any:
    """The gradient after ``hooks``: each user hook in order, then ``retain_grad``.

    ``g`` is a raw array in an ordinary backward (the hooks see it as a Tensor and the
    pass goes on with an array) and a Tensor under ``create_graph``.
    """
    from .engine import Tensor  # the engine imports this module

    for fn in list(hooks.fns.values()):
        out = fn(Tensor._make(g) if raw else g)
        if out is None:
            continue
        if raw:
            out = out._data if isinstance(out, Tensor) else backend.asarray(out)
        elif not isinstance(out, Tensor):
            out = Tensor._make(backend.asarray(out))
        if tuple(out.shape) != tuple(shape):
            raise ValueError(f"register_hook: the hook {getattr(fn, '__name__', fn)!r} returned a gradient of "
                             f"shape {tuple(out.shape)} for a tensor of shape {tuple(shape)}; expected that shape")
        g = out
    t = hooks.retain() if hooks.retain is not None else None
    if t is not None:
        kept = Tensor._make(g.copy()) if raw else g
        t.grad = kept if t.grad is None else t.grad + kept
    return g

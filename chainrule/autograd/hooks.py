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

``leaf.register_post_accumulate_grad_hook(fn)`` calls ``fn(leaf)`` once the leaf's ``.grad``
holds this backward's gradient - *during* the pass, as soon as no gate left to run can add to
it (PyTorch's hook of that name), which is what lets distributed training send a gradient
while the backward goes on. While such a hook exists, a backward first counts, for each
hooked leaf, the gates that will deliver to it (``ready_counts``), and the loop writes that
leaf's ``.grad`` (a copy of its own) when the count reaches zero; other leaves are still
written last, after every gate succeeded.

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

from .. import backend
from .tensor import Tensor

Hook = Callable[[Any], Any]


class Hooks:
    """The hooks of one tensor: the user's, in registration order, and ``retain_grad``'s."""

    __slots__ = ("__weakref__", "fns", "post", "retain")

    def __init__(self) -> None:
        self.fns: dict[int, Hook] = {}
        self.post: dict[int, Callable[[Any], None]] = {}  # post-accumulate hooks (leaves only)
        self.retain: weakref.ref | None = None  # the tensor whose .grad keeps the gradient


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook."""

    def __init__(self, table: dict, key: int) -> None:
        self._table, self._key = table, key

    def remove(self) -> None:
        self._table.pop(self._key, None)


# The hooks that hold post-accumulate hooks: while one lives, a backward counts deliveries first.
# A WeakSet: a tensor that dies takes its entry with it (its len() is all the engine reads).
_post_owners: weakref.WeakSet[Hooks] = weakref.WeakSet()


_keys = iter(range(1 << 62))  # next() on a range iterator is atomic under the GIL


def _hooks_of(t: Any, who: str) -> Hooks:
    if not t.requires_grad:
        raise RuntimeError(f"{who}: this tensor does not require grad, so no gradient will flow through it; "
                           "expected a tensor with requires_grad=True or one computed from such a tensor")
    if t._ctx is not None:
        if t._ctx.hooks is None:
            t._ctx.hooks = Hooks()
        return t._ctx.hooks
    hooks = t._hooks
    if hooks is None:
        hooks = t._hooks = Hooks()
    return hooks


def register_hook(t: Tensor, fn: Hook) -> RemovableHandle:
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
    return RemovableHandle(hooks.fns, key)


def register_post_accumulate_grad_hook(t: Tensor, fn: Callable[[Any], None]) -> RemovableHandle:
    """Call ``fn(t)`` in each backward, once leaf ``t``'s ``.grad`` holds that pass's gradient.

    It fires during the pass, as soon as every gate that uses ``t`` has run (the gates
    nearer the inputs may still be running): distributed training starts sending
    ``t.grad`` there. Such a leaf's ``.grad`` is written then, not at the end of the pass
    with the others, so a backward that fails later leaves it updated.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> h = w.register_post_accumulate_grad_hook(lambda p: print("w.grad is", p.grad.numpy()))
    >>> (w * w).sum().backward()
    w.grad is [2. 4.]
    """
    if not callable(fn):
        raise TypeError(f"register_post_accumulate_grad_hook: expected a function of the tensor, got {type(fn).__name__}")
    if t._ctx is not None:
        raise RuntimeError("register_post_accumulate_grad_hook: only leaves accumulate a .grad; expected a leaf "
                           "(a parameter or an input), got a tensor computed by a gate")
    hooks = _hooks_of(t, "register_post_accumulate_grad_hook")
    key = next(_keys)
    hooks.post[key] = fn
    _post_owners.add(hooks)
    return RemovableHandle(hooks.post, key)


def post_hooks_live() -> bool:
    """Whether any leaf has a post-accumulate hook (the engine then counts deliveries first)."""
    return len(_post_owners) > 0


def ready_counts(roots: Any) -> dict[int, int] | None:
    """For each leaf with post-accumulate hooks behind ``roots``: how many gradients it will
    receive in this pass (one per use by a gate that passes it one, one per root it is)."""
    counts: dict[int, int] = {}
    seen: set[int] = set()
    stack = list(roots)
    for r in roots:
        if r._ctx is None and r._hooks is not None and r._hooks.post:
            counts[id(r)] = counts.get(id(r), 0) + 1
    while stack:
        t = stack.pop()
        ctx = t._ctx
        if ctx is None or id(ctx) in seen:
            continue
        seen.add(id(ctx))
        for a, needed in zip(ctx.inputs, ctx.needs_input_grad):
            if not needed:
                continue
            if a._ctx is None:
                h = a._hooks
                if h is not None and h.post:
                    counts[id(a)] = counts.get(id(a), 0) + 1
            else:
                stack.append(a)
    return counts or None


def run_post(hooks: Hooks, t: Any) -> None:
    """A leaf's post-accumulate hooks, in registration order."""
    for fn in list(hooks.post.values()):
        fn(t)


def retain_grad(t: Tensor) -> None:
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


# The Tensor's hook methods (``t.register_hook(fn)`` is ``register_hook(t, fn)``): the
# Tensor is data, and this module is the feature.
Tensor.register_hook = register_hook
Tensor.register_post_accumulate_grad_hook = register_post_accumulate_grad_hook
Tensor.retain_grad = retain_grad

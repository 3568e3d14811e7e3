"""A module's hooks, as ``torch.nn.Module``'s: forward pre-hooks and forward hooks around its
``forward``, and full backward (pre-)hooks, which see the gradients of its outputs and inputs.

The backward hooks are built on the engine's tensor hooks (``chainrule.autograd.hooks``), as
PyTorch's ``BackwardHook`` is built on its graph's: the module's tensor inputs go through one
``_Watched`` gate before ``forward``, its tensor outputs through another after it. The engine
runs a gate once every gradient to its output has arrived (newest first), so the outputs'
gate runs before the module's own gates, with every output's gradient (the pre-hooks run
there), and the inputs' gate after them, with every input's (the hooks run there, with both).
Several tensors share one gate by being flattened into one vector that parts are cut from.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import ops
from ...autograd.function import Function
from ...autograd.grad_mode import is_grad_enabled
from ...autograd.hooks import RemovableHandle
from ...autograd.tensor import Tensor
from ...backend import array_module


class Hooks:
    """A module's hooks, each table key -> (hook, flags...), in call order."""

    __slots__ = ("backward", "backward_pre", "forward", "forward_pre")

    def __init__(self) -> None:
        self.forward_pre: dict[int, tuple] = {}  # (hook, with_kwargs)
        self.forward: dict[int, tuple] = {}  # (hook, with_kwargs, always_call)
        self.backward_pre: dict[int, tuple] = {}  # (hook,)
        self.backward: dict[int, tuple] = {}  # (hook,)

    def add(self, kind: str, entry: tuple, prepend: bool) -> Handle:
        table = getattr(self, kind)
        key = next(_keys)
        if prepend:  # in place: the handles hold this very dict
            rest = list(table.items())
            table.clear()
            table[key] = entry
            table.update(rest)
        else:
            table[key] = entry
        return Handle(table, key)


class Handle(RemovableHandle):
    """What ``register_*_hook`` returns: ``remove()``, or a ``with`` block that removes it at its end."""

    @property
    def id(self) -> int:
        return self._key

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()


_keys = itertools.count()  # next() on a count is atomic under the GIL


def call_with_hooks(module: Any, args: tuple, kwargs: dict) -> Any:
    """``module.forward`` with its hooks, in PyTorch's order: forward pre-hooks, the inputs wrapped
    for the backward hooks, forward, forward hooks, the outputs wrapped. Forward hooks made
    with ``always_call`` also run when something before them raised."""
    hooks = module._module_hooks
    result = None
    called: set[int] = set()
    try:
        for fn, with_kwargs in list(hooks.forward_pre.values()):
            if with_kwargs:
                new = fn(module, args, kwargs)
                if new is not None:
                    if not (isinstance(new, tuple) and len(new) == 2):
                        raise TypeError(f"{type(module).__name__}: a forward pre-hook with kwargs must return None "
                                        f"or a tuple (new_args, new_kwargs), got {new!r}")
                    args, kwargs = new
            else:
                new = fn(module, args)
                if new is not None:
                    args = new if isinstance(new, tuple) else (new,)
        watch = None
        if hooks.backward or hooks.backward_pre:
            watch = _BackwardHooks(module, [h[0] for h in hooks.backward.values()],
                                   [h[0] for h in hooks.backward_pre.values()])  # fmt: skip
            args = watch.wrap_inputs(args)
        result = module.forward(*args, **kwargs)
        for key, (fn, with_kwargs, always) in list(hooks.forward.items()):
            if always:
                called.add(key)
            new = fn(module, args, kwargs, result) if with_kwargs else fn(module, args, result)
            if new is not None:
                result = new
        if watch is not None:
            result = watch.wrap_outputs(result)
        return result
    except Exception:
        for key, (fn, with_kwargs, always) in list(hooks.forward.items()):
            if always and key not in called:
                try:
                    new = fn(module, args, kwargs, result) if with_kwargs else fn(module, args, result)
                    if new is not None:
                        result = new
                except Exception as e:  # noqa: BLE001 - the forward's own error is the one raised
                    warnings.warn(f"module forward hook with always_call=True raised an exception that was "
                                  f"silenced as another error was raised in forward: {e}", stacklevel=2)
        raise


class _Watched(Function):
    """The tensors whose gradients one backward hook sees together, as one gate: one tensor as
    it is, several flattened into one vector (the parts cut from it follow)."""

    @staticmethod
    def forward(ctx: Any, *arrays: Any) -> Any:
        ctx.shapes = [a.shape for a in arrays]
        ctx.dtypes = [a.dtype for a in arrays]
        if len(arrays) == 1:
            return arrays[0]
        return array_module(arrays[0]).concatenate([a.reshape(-1) for a in arrays])

    @staticmethod
    def backward(ctx: Any, grad_out: Any) -> Any:
        if len(ctx.shapes) == 1:
            return grad_out
        out, start = [], 0
        for shape, dtype in zip(ctx.shapes, ctx.dtypes):
            n = int(np.prod(shape))
            g = grad_out[start : start + n].reshape(shape)
            out.append(g if g.dtype == dtype else g.astype(dtype))
            start += n
        return tuple(out)


class _Group:
    """Tensors wrapped by one ``_Watched`` gate: ``parts``, the tensors the module sees (or
    returns) instead, and the split of the gate's gradient back into one per tensor (None for
    a tensor that received none; a hook on each part notes which did)."""

    def __init__(self, tensors: list[Tensor], on_grads: Callable[[list], list | None]) -> None:
        self.tensors = tensors
        self.node = _Watched.apply(*tensors)
        self.reached = [False] * len(tensors)
        if len(tensors) == 1:
            self.parts = [self.node]
        else:
            self.parts, start = [], 0
            for i, t in enumerate(tensors):
                part = self.node[start : start + t.numel()].reshape(t.shape)
                part = part if part.dtype == t.dtype else part.astype(t.dtype)
                part.register_hook(lambda g, i=i: self.reached.__setitem__(i, True))
                self.parts.append(part)
                start += t.numel()
        self.node.register_hook(lambda g: self._run(g, on_grads))

    def _run(self, g: Tensor, on_grads: Callable[[list], list | None]) -> Any:
        if len(self.tensors) == 1:
            grads = [g]
        else:
            grads, start = [], 0
            for t, reached in zip(self.tensors, self.reached):
                n = t.numel()
                piece = g[start : start + n].reshape(t.shape)
                grads.append((piece if piece.dtype == t.dtype else piece.astype(t.dtype)) if reached else None)
                start += n
            self.reached = [False] * len(self.tensors)  # for the next backward through a kept graph
        new = on_grads(grads)
        return None if new is None else self._join(new, g)

    def _join(self, grads: list, g: Tensor) -> Tensor:
        """Replacement gradients (None: zeros) in the gate's layout."""
        xp = array_module(g._data)
        pieces = []
        for t, gi in zip(self.tensors, grads):
            if gi is None:
                gi = Tensor._make(xp.zeros(t.shape, dtype=g.dtype))
            elif not isinstance(gi, Tensor):
                gi = Tensor._make(xp.asarray(gi))
            if tuple(gi.shape) != tuple(t.shape):
                raise ValueError(f"backward hook: a gradient of shape {tuple(gi.shape)} was returned for a tensor of "
                                 f"shape {tuple(t.shape)}; expected that shape")
            pieces.append(gi)
        if len(pieces) == 1:
            return pieces[0]
        return ops.concatenate([p.reshape(-1).astype(g.dtype) for p in pieces])


class _BackwardHooks:
    """One call's full backward (pre-)hooks, as PyTorch's ``BackwardHook``.

    As there: ``grad_output`` has None for an output that is not a Tensor, needs no gradient or
    got none; ``grad_input`` has None for an argument that is not a Tensor and zeros for a
    tensor input that got no gradient, and when no input needs a gradient the hooks run with
    the outputs' gradients and ``grad_input`` all None."""

    def __init__(self, module: Any, hooks: list[Callable], pre_hooks: list[Callable]) -> None:
        self.module, self.hooks, self.pre_hooks = module, hooks, pre_hooks
        self.n_inputs, self.inputs = 0, None  # positions of the inputs wrapped (None: none needs a gradient)
        self.like: dict[int, tuple] = {}  # each tensor input's (shape, dtype, array module): its zeros
        self.n_outputs, self.outputs = 0, None
        self.grad_outputs: tuple | None = None

    def _wrap(self, values: tuple, on_grads: Callable[[list], list | None]) -> tuple[tuple, list[int] | None]:
        wrapped = [i for i, v in enumerate(values) if isinstance(v, Tensor) and v.requires_grad]
        if not wrapped or not is_grad_enabled():
            return values, None
        group = _Group([values[i] for i in wrapped], on_grads)
        new = list(values)
        for i, part in zip(wrapped, group.parts):
            new[i] = part
        return (tuple(new) if type(values) is tuple else type(values)(*new)), wrapped

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        self.like = {i: (a.shape, a.dtype, array_module(a._data)) for i, a in enumerate(args) if isinstance(a, Tensor)}
        args, self.inputs = self._wrap(args, self._on_inputs)
        return args

    def wrap_outputs(self, result: Any) -> Any:
        if not isinstance(result, (Tensor, tuple)):
            warnings.warn(f"{type(self.module).__name__}: for backward hooks to be called, the module's output "
                          f"should be a Tensor or a tuple of Tensors, got {type(result).__name__}", stacklevel=3)
            return result
        one = not isinstance(result, tuple)
        outs = (result,) if one else result
        self.n_outputs = len(outs)
        outs, self.outputs = self._wrap(outs, self._on_outputs)
        return outs[0] if one else outs

    def _returned(self, what: str, new: Any, expected: int) -> tuple:
        if not isinstance(new, (tuple, list)) or len(new) != expected:
            got = len(new) if isinstance(new, (tuple, list)) else type(new).__name__
            raise ValueError(f"{type(self.module).__name__}: a backward {what} returned {got} gradients; expected a "
                             f"tuple of {expected} (or None)")
        return tuple(new)

    def _on_outputs(self, grads: list) -> list | None:
        full: list[Any] = [None] * self.n_outputs
        for i, g in zip(self.outputs, grads):
            full[i] = g
        grad_outputs, changed = tuple(full), False
        for fn in self.pre_hooks:
            new = fn(self.module, grad_outputs)
            if new is not None:
                grad_outputs, changed = self._returned("pre-hook", new, self.n_outputs), True
        self.grad_outputs = grad_outputs
        if self.inputs is None:  # no input needs a gradient: the hooks run now, with grad_input all None
            for fn in self.hooks:
                new = fn(self.module, (None,) * self.n_inputs, grad_outputs)
                if new is not None and not (isinstance(new, tuple) and all(g is None for g in new)):
                    raise ValueError(f"{type(self.module).__name__}: no input of this call needs a gradient, so a "
                                     "backward hook must return None (or None for every gradient)")
            self.grad_outputs = None
        return [grad_outputs[i] for i in self.outputs] if changed else None

    def _on_inputs(self, grads: list) -> list | None:
        if self.grad_outputs is None:  # the gradient reached the inputs without passing the outputs
            return None
        full: list[Any] = [None] * self.n_inputs
        for i, (shape, dtype, xp) in self.like.items():  # a tensor input that got no gradient: zeros
            full[i] = Tensor._make(xp.zeros(shape, dtype=dtype))
        for i, g in zip(self.inputs, grads):
            if g is not None:
                full[i] = g
        grad_inputs, changed = tuple(full), False
        for fn in self.hooks:
            new = fn(self.module, grad_inputs, self.grad_outputs)
            if new is not None:
                grad_inputs, changed = self._returned("hook", new, self.n_inputs), True
        self.grad_outputs = None
        return [grad_inputs[i] for i in self.inputs] if changed else None

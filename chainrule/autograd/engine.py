"""The backward walk: reverse-mode backpropagation over the graph ``Function.apply`` records.

This module knows no particular op. Every op in ``chainrule.ops`` is a ``Function``
subclass with a ``forward`` on raw arrays and a ``backward`` formula; calling
``Op.apply(...)`` runs the forward and, when a gradient is wanted, records a node of
the computational graph (a ``Context``) on the output tensor.

``backward()`` is the lecture's recursive chain rule, run without recursion:

1. topological order: every recorded gate gets a sequence number when it runs; its
   inputs were made before it, so running the pending gates newest-first (a heap)
   visits a tensor only after every gate that used it (PyTorch orders its engine
   the same way). No recursion: graph depth is limited by memory alone;
2. reverse walk: each gate multiplies the gradient that arrived from above
   (upstream) by its local gradient (its ``backward``) and hands one gradient to each
   of its inputs (downstream);
3. a tensor used by several gates (a fork) receives the *sum* of their gradients
   before its own gate runs, which that order guarantees.

A backward formula is written once, with operators, the array methods Tensors share
with ndarrays (``sum``, ``reshape``, indexing) and ``call(Gate, ...)`` for anything
else, and runs in one of two currencies: on raw arrays (the usual case, no graph built,
no Tensor per intermediate gradient - this is what makes small graphs fast), or, with
``create_graph=True``, on Tensors whose ops record a graph of their own, so gradients
of gradients come for free.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend, devices
from . import grad_mode, hooks, tensor
from .function import _RAW, Context, _check_writes
from .inplace import _clock
from .partial import Partial, merge, whole

# Bound by assignment, not by ``from ... import``: CPython 3.11 compiles ``name.method()`` on an
# imported name as an attribute load (it takes the name for a module), which makes a bound-method
# object per call; an assigned name gets the direct method call. (See function.py.)
Tensor, _grad_mode, _watch = tensor.Tensor, grad_mode._grad_mode, grad_mode._watch


def _seed_gradient(out: Tensor, grad: Any, who: str) -> Any:
    """The upstream gradient that starts a backward pass, checked against ``out``: the
    caller's Tensor as it is, anything else as an array."""
    if grad is None:
        if out._data.size != 1:
            raise ValueError(
                f"{who}: output has shape {out.shape}; an implicit gradient exists only for a "
                "one-element output - pass grad= with the output's shape"
            )
        data = out._data
        xp = np if type(data) is np.ndarray else backend.array_module(data)
        one = xp.asarray(1, dtype=data.dtype)  # C-level, unlike xp.ones
        return one if data.ndim == 0 else one.reshape(data.shape)
    g = grad if isinstance(grad, Tensor) else backend.asarray(grad, out.dtype)
    if type(out._data) is not np.ndarray or type(getattr(g, "_data", g)) is not np.ndarray:
        where, want = devices.device_of(getattr(g, "_data", g)), devices.device_of(out._data)
        if where != want:
            raise ValueError(f"{who}: the gradient is on {where} but the output is on {want}; "
                             "expected the same device (move it with .to(device))")
    if g.shape != out.shape:
        raise ValueError(
            f"{who}: gradient has shape {g.shape} but the output has shape {out.shape}; "
            "expected the same shape"
        )
    return g


def backward(
    self: Tensor,
    grad: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> None:
    """Apply the chain rule from this tensor back to every leaf that requires grad.

    Leaves' ``.grad`` *accumulate* across calls (as in PyTorch) until reset with
    ``zero_grad()`` or ``t.grad = None``. ``grad`` is the upstream gradient; it may
    be omitted only for a one-element output (then it is 1). The graph's saved
    buffers are freed afterwards unless ``retain_graph=True`` (the default when
    ``create_graph=True``, which also makes the gradients differentiable).
    """
    if not self.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad (no input of the graph has "
            "requires_grad=True, or it was computed under no_grad)"
        )
    seed = _seed_gradient(self, grad, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    _run_backward([self], [seed], retain_graph, create_graph, accumulate=True)


Tensor.backward = backward  # the Tensor is data; the walk gives it its backward


StepHook = Callable[[Tensor, Any, tuple], None]


def _run_backward(
    roots: Sequence[Tensor],
    seeds: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    accumulate: bool,
    wanted: Sequence[Tensor] = (),
    on_step: StepHook | None = None,
) -> dict[int, Tensor]:
    """Backpropagate ``seeds`` from ``roots``; return the gradients of ``wanted``.

    With ``accumulate`` the gradients of leaves are added into their ``.grad``.
    """
    # Without create_graph the pass runs on raw arrays (no Tensor per gradient, no op
    # machinery); with it, on Tensors whose ops record the graph of the gradient.
    raw = not create_graph
    grads: dict[int, Any] = {}  # id(tensor) -> the gradient summed so far
    pending: list[tuple[int, Tensor]] = []  # heap of gates to run, newest first
    leaves: list[Tensor] = []
    wanted_ids = set(map(id, wanted)) if wanted else None
    found: dict[int, Any] = {}
    arrivals = []
    owned = set()  # arrays a leaf's .grad may not take as its own
    summed: set[int] = set()  # tensors whose gradient is already a sum this pass made
    for r, s in zip(roots, seeds):
        if raw:
            s = s._data if isinstance(s, Tensor) else s
            owned.add(id(s))
        elif not isinstance(s, Tensor):
            s = Tensor._make(s)
        arrivals.append((r, s))
    push, pop = heapq.heappush, heapq.heappop
    # leaves with post-accumulate hooks: how many gradients each will still receive
    ready = hooks.ready_counts(roots) if accumulate and hooks.post_hooks_live() else None
    early: set[int] = set()  # leaves already written by the pass (their hooks fired)

    mode = _grad_mode.set(create_graph)  # this thread's; a backward's own ops record only for create_graph
    watch = _watch.get()
    try:
        while True:
            # deliver gradients; a tensor seen for the first time joins the queue
            for a, ga in arrivals:
                key = id(a)
                if key in grads:
                    # a fork: the gradients of all uses add up. The first sum is a fresh array
                    # of ours, so later ones can go into it in place (a weight used at every
                    # step of a sequence would otherwise make a new array per step)
                    total = grads[key]
                    if type(ga) is Partial or type(total) is Partial:  # a slice's: written at its index
                        grads[key] = merge(total, ga, key in summed)
                        summed.add(key)
                    elif raw and key in summed and total.dtype == ga.dtype:
                        total += ga
                        grads[key] = total  # a 0-d sum is a NumPy scalar: += rebinds it
                    else:
                        grads[key] = total + ga
                        summed.add(key)
                else:
                    grads[key] = ga
                    if a._ctx is None:
                        leaves.append(a)
                    else:
                        push(pending, (-a._ctx.seq, a))
                if ready is not None and key in ready:
                    ready[key] -= 1
                    if ready[key] == 0:  # no gate left to run adds to this leaf: write it now
                        grads[key] = whole(grads[key])
                        _store(a, hooks.run(a._hooks, grads[key], raw, a._data.shape), raw, owned, copy=True)
                        early.add(key)
                        hooks.run_post(a._hooks, a)
            if not pending:
                break
            t = pop(pending)[1]
            g = grads.pop(id(t))
            if type(g) is Partial:  # a gate's backward sees whole arrays
                g = g.dense()
            ctx = t._ctx
            if ctx._freed:
                raise RuntimeError(
                    f"backward: the graph through {ctx.fn.__name__} was already freed by an "
                    "earlier backward(); pass retain_graph=True to the first call to "
                    "backpropagate through it twice"
                )
            if ctx.hooks is not None:  # t's gradient is complete here: its hooks see it
                g = hooks.run(ctx.hooks, g, raw, t._data.shape)
            if wanted_ids and id(t) in wanted_ids:
                found[id(t)] = g
            if ctx.clock < _clock[0]:  # an in-place write happened since this gate's forward
                _check_writes(ctx, t)
            saved = None if raw else ctx.saved_tensors
            if watch is not None:
                watch.backward_begin(ctx, g)
            if not saved:
                downstream = ctx.fn.backward(ctx, g)
            else:
                # a graph-building backward sees its saved values as tensors of the graph
                ctx.saved_tensors = tuple([ctx._in_graph(v, t) for v in saved])
                try:
                    downstream = ctx.fn.backward(ctx, g)
                finally:
                    ctx.saved_tensors = saved
            if type(downstream) is not tuple:
                downstream = (downstream,)
            if len(downstream) != len(ctx.inputs):
                _check_count(ctx, downstream)
            if on_step is not None or (watch is not None and not watch.sees_partials):  # they see whole arrays
                downstream = tuple([whole(d) for d in downstream])
            if watch is not None:
                watch.backward_end(ctx, downstream)
            arrivals = []
            for a, needed, ga in zip(ctx.inputs, ctx.needs_input_grad, downstream):
                if needed and ga is not None:
                    if type(ga) is not Partial and (
                        (not isinstance(ga, _RAW) if raw else type(ga) is not Tensor) or ga.shape != a._data.shape
                    ):
                        ga = _check_gradient(ctx, a, ga, raw)
                    arrivals.append((a, ga))
            if on_step is not None:
                on_step(t, g, downstream)
            if not retain_graph:
                if ctx.saved_tensors:  # () from the class when the gate saved nothing
                    del ctx.saved_tensors
                if ctx.hold is not None:
                    del ctx.hold  # the leaves' arrays become writable again
                ctx._freed = True
        if watch is not None:
            watch.leaves()
        for leaf in leaves:
            if early and id(leaf) in early:
                continue
            g = whole(grads[id(leaf)])
            leaf_hooks = leaf._hooks
            if leaf_hooks is not None:
                g = hooks.run(leaf_hooks, g, raw, leaf._data.shape)
            if wanted_ids and id(leaf) in wanted_ids:
                found[id(leaf)] = g
            if accumulate:
                _store(leaf, g, raw, owned)
                if leaf_hooks is not None and leaf_hooks.post:  # its count never reached zero: a gate that
                    hooks.run_post(leaf_hooks, leaf)  # used it handed it None; its .grad is final now all the same
    finally:
        _grad_mode.reset(mode)
    if raw and found:  # hand back Tensors of the inputs' dtypes, as leaves' .grad are
        found = {id(w): Tensor._make(backend.asarray(found[id(w)]).astype(w.dtype, copy=False))
                 for w in wanted if id(w) in found}
    return found


def _store(leaf: Tensor, g: Any, raw: bool, owned: set[int], copy: bool = False) -> None:
    """Add a pass's gradient ``g`` into ``leaf.grad``. ``copy``: ``g`` may still be in use by the
    pass (a leaf written before the pass ended), so ``.grad`` gets memory of its own."""
    if not raw:
        leaf.grad = g if leaf.grad is None else leaf.grad + g
    elif leaf.grad is not None:
        _accumulate(leaf, g)
    else:
        # .grad must own writable memory of the leaf's dtype: ``g`` may share its
        # memory with another leaf's (an add gate hands the same gradient to both
        # inputs; a reshape hands on a view), with the seed, be a read-only
        # broadcast view, or a NumPy scalar. Memory is tracked by its root array,
        # so a fresh temporary (or a view of one) is taken without a copy.
        if isinstance(g, np.generic):
            g = np.asarray(g)  # a fresh 0-d array of its own
        root = g
        if g.base is None:  # the common case: a fresh array
            shared = copy or id(g) in owned
        else:
            while root.base is not None:
                root = root.base
            shared = copy or id(root) in owned or not getattr(g.flags, "writeable", True)
        if shared:
            g = root = g.copy()
        if g.dtype != leaf._data.dtype:
            g = root = g.astype(leaf._data.dtype)
        owned.add(id(root))
        leaf.grad = Tensor._make(g)


def _accumulate(leaf: Tensor, g: Any) -> None:
    """leaf.grad += g. In place when nothing but the leaf holds its gradient (as PyTorch's
    AccumulateGrad decides): a large weight's gradient then costs no second copy. Someone
    holding the old ``.grad`` (or its array) keeps it unchanged: the sum is a new array."""
    old = leaf.grad
    data = old._data
    # references: leaf.grad, ``old`` and getrefcount's own argument; the array: old._data, ``data``, argument
    if (type(data) is np.ndarray and data.flags.writeable and data.dtype == g.dtype and data.shape == g.shape
            and sys.getrefcount(old) <= 3 and sys.getrefcount(data) <= 3):  # fmt: skip
        data += g
    else:
        leaf.grad = Tensor._make(data + g)


def _check_count(ctx: Context, downstream: tuple) -> None:
    if len(downstream) != len(ctx.inputs):
        raise ValueError(
            f"{ctx.fn.__name__}.backward returned {len(downstream)} gradient(s) for "
            f"{len(ctx.inputs)} input(s); expected one per input (None where an input needs "
            "no gradient)"
        )


def _check_gradient(ctx: Context, a: Tensor, ga: Any, raw: bool) -> Any:
    """A gate's gradient for input ``a`` in the pass's currency (raw array or Tensor),
    or an error naming the gate."""
    if raw:
        ga = backend.asarray(ga._data if isinstance(ga, Tensor) else ga)
    elif not isinstance(ga, Tensor):
        ga = Tensor._make(backend.asarray(ga))
    if ga.shape != a._data.shape:
        i = next(i for i, x in enumerate(ctx.inputs) if x is a)
        raise ValueError(
            f"{ctx.fn.__name__}.backward returned a gradient of shape {ga.shape} for input {i}, "
            f"which has shape {a.shape}; expected the input's shape"
        )
    return ga


def _call_backward(ctx: Context, g: Any) -> tuple:
    """Run one gate's backward alone, checked: one gradient per input that needs one,
    None for the others (explainers use it for local gradients). ``g`` is a raw array
    when grad mode is off, a Tensor when it is on."""
    out = ctx.fn.backward(ctx, g)
    if type(out) is not tuple:
        out = (out,)
    _check_count(ctx, out)
    raw = not _grad_mode.get()
    return tuple(
        _check_gradient(ctx, a, whole(ga), raw) if needed and ga is not None else None
        for a, needed, ga in zip(ctx.inputs, ctx.needs_input_grad, out)
    )


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    create_graph: bool = False,
    retain_graph: bool | None = None,
    allow_unused: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    With ``create_graph=True`` the returned gradients are themselves differentiable,
    so gradients of gradients follow.

    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True)
    >>> (dx,) = cr.grad(x ** 3, x, create_graph=True)
    >>> (d2x,) = cr.grad(dx, x)
    >>> dx.item(), d2x.item()
    (27.0, 18.0)
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs)
    if len(grad_outputs) != len(outs):
        raise ValueError(
            f"grad: got {len(grad_outputs)} grad_outputs for {len(outs)} outputs; expected one each"
        )
    for i, o in enumerate(outs):
        if not o.requires_grad:
            raise RuntimeError(f"grad: output {i} does not require grad")
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise ValueError(f"grad: input {i} is not a Tensor that requires grad")
    seeds = [_seed_gradient(o, g, "grad") for o, g in zip(outs, grad_outputs)]
    if retain_graph is None:
        retain_graph = create_graph
    found = _run_backward(outs, seeds, retain_graph, create_graph, accumulate=False, wanted=ins)
    result = []
    for i, t in enumerate(ins):
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise ValueError(
                f"grad: input {i} (shape {t.shape}) is not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(g)
    return tuple(result)

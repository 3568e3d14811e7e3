"""Grad modes, per thread: ``no_grad``, ``enable_grad``, ``detect_anomaly``, and the watcher.

A mode is a ``ContextVar`` (per thread and per asyncio task; its C-level ``get()`` is about
as cheap as reading a global flag). ``Function.apply`` reads ``_grad_mode`` to decide
whether to record a node, and ``_watch`` to let a ``Watcher`` (anomaly mode, a compiled
step's trace) see each gate's forward and backward.
"""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from . import anomaly

# Modes, per thread: a ContextVar is per thread (and per asyncio task), and its get() is
# C-level, so reading it on every op costs about as little as reading a global did.
_grad_mode: contextvars.ContextVar[bool] = contextvars.ContextVar("chainrule.grad_mode", default=True)


class Watcher:
    """Something that watches every gate of this thread: anomaly mode, or a trace.

    The engine calls these around each forward and backward when a watcher is set
    (``_watch``, per thread); with none set, each op pays one ``ContextVar.get``. The
    base class does nothing: a watcher overrides what it needs. ``sees_partials``: its
    ``backward_end`` takes a slice's gradient as the ``Partial`` the walk merges (a trace, which
    then records the merge as the walk makes it); else it sees whole arrays.
    """

    sees_partials = False
    traces = False  # a compiled step's trace: the arrays it sees are its traced NumPy arrays

    def enter(self, fn: type, args: tuple, datas: list) -> list:
        """Before gate ``fn``'s forward; returns the arrays the forward will see."""
        return datas

    def leave(self, fn: type, datas: list, out: Any) -> None:
        """After the forward produced ``out``."""

    def recorded(self, ctx: Any) -> None:
        """The gate was recorded as a node of the graph."""

    def backward_begin(self, ctx: Any, grad_out: Any) -> None:
        """Before the gate's backward runs on ``grad_out``."""

    def backward_end(self, ctx: Any, downstream: tuple) -> None:
        """After it handed on ``downstream``, one gradient per input."""

    def leaves(self) -> None:
        """The pass is done with the gates and writes the leaves' gradients."""

    def replays(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (``replayed``): a trace records it as an operation of its step."""
        return fn(*args)

    def checks(self, check: Callable[..., Any], *arrays: Any) -> None:
        """``check(*arrays)`` (``check_values``): a trace runs it again at every replay."""
        check(*arrays)

    def uses_module(self, module: Any) -> None:
        """A module's call is about to use its parameters and buffers."""

    def uses_optimizer(self, optimizer: Any) -> None:
        """An optimizer's step is about to use its state."""

    def back_in_code(self) -> None:
        """The optimizer's step is done: what follows is the user's code again."""

    def resets_grads(self, tensors: Any) -> None:
        """``zero_grad`` is about to set these tensors' ``.grad`` to None."""


_watch: contextvars.ContextVar[Watcher | None] = contextvars.ContextVar("chainrule.watch", default=None)


def watcher() -> Watcher | None:
    """This thread's watcher (None outside anomaly mode and traces)."""
    return _watch.get()


def host_array(x: Any) -> bool:
    """Whether ``x`` is a NumPy array proper: an ``np.ndarray``, or inside a compiled step's trace
    one of its traced arrays (which stand for NumPy's); not another subclass (the GPU stand-in's).

    >>> import numpy as np
    >>> host_array(np.zeros(2)), host_array(2.0)
    (True, False)
    """
    if type(x) is np.ndarray:
        return True
    watch = _watch.get()
    return watch is not None and watch.traces and isinstance(x, np.ndarray)


def replayed(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``; inside a compiled step's trace, an operation of the step that every
    replay makes anew (a random draw, a compiled loop) instead of a value frozen at tracing.

    >>> replayed(max, 2, 3)
    3
    """
    watch = _watch.get()
    return fn(*args) if watch is None else watch.replays(fn, *args)


def check_values(check: Callable[..., Any], *arrays: Any) -> None:
    """Run ``check(*arrays)``, which raises on values it refuses (labels, indices); inside a
    compiled step's trace every replay runs it again on that call's arrays, so a compiled
    step validates as the eager one does.

    >>> import numpy as np
    >>> def nonnegative(a):
    ...     if a.min() < 0:
    ...         raise ValueError("negative")
    >>> check_values(nonnegative, np.array([1, 2]))
    """
    watch = _watch.get()
    if watch is None:
        check(*arrays)
    else:
        watch.checks(check, *arrays)


def is_grad_enabled() -> bool:
    """Whether operations record a graph in this thread (False inside ``no_grad``)."""
    return _grad_mode.get()


class _Mode:
    """Context manager and decorator that sets one per-thread mode inside its block.

    ``also`` makes a context manager entered with the mode (anomaly mode's NumPy error
    state). One instance may be entered by several threads at once: what restores each
    thread's previous state is kept under that thread's id.
    """

    def __init__(self, var: contextvars.ContextVar[Any], value: Any, also: Callable[[], Any] | None = None) -> None:
        self.var, self.value, self.also = var, value, also
        self._undo: dict[int, list[tuple[contextvars.Token, Any]]] = {}

    def __enter__(self) -> None:
        extra = self.also() if self.also is not None else None
        if extra is not None:
            extra.__enter__()
        self._undo.setdefault(threading.get_ident(), []).append((self.var.set(self.value), extra))

    def __exit__(self, *exc: Any) -> None:
        stack = self._undo[threading.get_ident()]
        token, extra = stack.pop()
        if not stack:
            del self._undo[threading.get_ident()]
        self.var.reset(token)
        if extra is not None:
            extra.__exit__(*exc)

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self:  # safe to share: the undo stacks are per thread
                return fn(*args, **kwargs)

        return wrapper


def no_grad() -> _Mode:
    """Build no graph inside: as ``with chainrule.no_grad():`` or as ``@chainrule.no_grad()``.

    The mode is per thread: another thread keeps recording while this one is inside.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> with cr.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """
    return _Mode(_grad_mode, False)


def enable_grad() -> _Mode:
    """Record a graph again inside an outer ``no_grad``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0], requires_grad=True)
    >>> with cr.no_grad(), cr.enable_grad():
    ...     y = w * 2
    >>> y.requires_grad
    True
    """
    return _Mode(_grad_mode, True)


def detect_anomaly() -> _Mode:
    """Inside, the first NaN or Inf a gate produces is an error that says where it came from.

    The forward records where each gate was created (the file and line of your code);
    a forward output or a backward gradient that is not finite raises ``AnomalyError``
    naming the gate, its input shapes, the direction and that line (see
    ``chainrule.autograd.anomaly``). NumPy's own warnings for the same event are silenced inside,
    since the error says it. Off by default; per thread; costs nothing when off.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 0.0], requires_grad=True)
    >>> with cr.detect_anomaly():
    ...     y = x.log()
    Traceback (most recent call last):
    ...
    chainrule.autograd.anomaly.AnomalyError: Log (forward) produced -inf from inputs of shape (2,); the gate was created at <doctest chainrule.autograd.grad_mode.detect_anomaly[2]>:2: y = x.log()
    """
    return _Mode(_watch, anomaly.WATCHER, also=anomaly.quiet_numpy)


# ---------------------------------------------------------------------------------
# Tensor
# ---------------------------------------------------------------------------------

"""The optimizers' base class: parameters, per-parameter state, hyperparameters, ``step``
and ``state_dict``; the state follows its parameter to another device."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .. import backend, devices
from ..autograd.grad_mode import no_grad, watcher
from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..backend import array_module, to_numpy


class Optimizer:
    """Base class: holds the parameters, their per-parameter state, and the hyperparameters.

    Subclasses list their hyperparameters in ``hyper`` and write ``_update(w, dw, state)``
    (``state["step"]`` counts this parameter's updates, 1 on the first):

    >>> import chainrule as cr
    >>> class SignSGD(Optimizer):
    ...     def __init__(self, params, lr=0.1):
    ...         super().__init__(params, lr)
    ...     def _update(self, w, dw, state):
    ...         w -= self.lr * (dw > 0) - self.lr * (dw < 0)
    >>> w = cr.Tensor([1.0, -1.0], requires_grad=True)
    >>> opt = SignSGD([w]); (w * w).sum().backward(); opt.step(); w.numpy()
    array([ 0.9, -0.9], dtype=float32)
    """

    hyper: tuple[str, ...] = ("lr",)

    def __init__(self, params: Iterable[Tensor], lr: float, **hyper: Any) -> None:
        name = type(self).__name__
        self.params = list(params.parameters() if hasattr(params, "parameters") else params)
        if not self.params:
            raise ValueError(f"{name}: got no parameters; expected at least one tensor to optimize")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError(f"{name}: parameter {i} is not a Tensor that requires grad")
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"{name}: lr={lr!r}; expected a positive number")
        for k, v in hyper.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and not (v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name}: {k}={v!r}; expected a finite value >= 0")
        self.lr = float(lr)
        for k, v in hyper.items():
            setattr(self, k, v)
        self.state: list[dict[str, Any]] = [{} for _ in self.params]

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (before the next backward)."""
        params = self.params
        watch = watcher()
        if watch is not None:  # a trace: these gradients are reset inside the step
            watch.resets_grads(params)
        for p in params:
            p.grad = None

    @no_grad()
    def step(self) -> None:
        """Apply one update to every parameter that has a gradient."""
        watch = watcher()
        if watch is not None:  # a trace (``chainrule.compile``) binds the state it reads
            watch.uses_optimizer(self)
        follow = backend._cupy is not None  # a GPU array has been seen: parameters may have moved
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                if follow and state:
                    _follow(state, p._data)
                state["step"] = state.get("step", 0) + 1
                self._update(write_in_place(p, f"{type(self).__name__}.step"), p.grad.data, state)
        if watch is not None:
            watch.back_in_code()

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- checkpoints --------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Hyperparameters (plain values) and per-parameter state (NumPy arrays and ints)."""
        return {
            "hyper": {k: getattr(self, k) for k in ("lr", *self.hyper)},
            "state": [{k: _plain(v) for k, v in s.items()} for s in self.state],
        }

    def check_state_dict(self, sd: dict[str, Any]) -> None:
        """Raise ValueError if ``sd`` cannot be loaded: hyperparameters (checked by this
        class's own constructor, on a throwaway optimizer), the parameter count, the
        shapes, finite arrays and step counts. Changes nothing."""
        name = type(self).__name__
        hyper, states = sd.get("hyper"), sd.get("state")
        if not isinstance(hyper, dict) or not isinstance(states, list):
            raise ValueError(f"{name}.load_state_dict: expected 'hyper' (a dict) and 'state' (a list)")
        try:
            type(self)(self.params, **{k: tuple(v) if isinstance(v, list) else v for k, v in hyper.items()})
        except (TypeError, ValueError) as e:
            raise ValueError(f"{name}.load_state_dict: hyperparameters {hyper}: {e}") from None
        if len(states) != len(self.params):
            raise ValueError(f"{name}.load_state_dict: state for {len(states)} parameters; this optimizer has {len(self.params)}")
        for i, (p, s) in enumerate(zip(self.params, states)):
            for k, v in s.items():
                if hasattr(v, "shape"):
                    if tuple(v.shape) != p.shape:
                        raise ValueError(f"{name}.load_state_dict: {k} of parameter {i} has shape {v.shape}; expected {p.shape}")
                    if not bool(array_module(v).isfinite(v).all()):
                        raise ValueError(f"{name}.load_state_dict: {k} of parameter {i} holds NaN or Inf")
                elif type(v) is not int or v < 0:
                    raise ValueError(f"{name}.load_state_dict: {k} of parameter {i} is {v!r}; expected a count >= 0")

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore ``state_dict()`` output; everything is checked first (``check_state_dict``)."""
        self.check_state_dict(sd)
        self._apply_state(sd)

    def _apply_state(self, sd: dict[str, Any]) -> None:
        """Take a checked ``state_dict``'s hyperparameters and per-parameter state."""
        states = sd["state"]
        for k, v in sd["hyper"].items():
            setattr(self, k, tuple(v) if isinstance(v, list) else v)
        self.state = [
            {k: _on(v, p.data) if hasattr(v, "shape") else int(v) for k, v in s.items()}
            for p, s in zip(self.params, states)
        ]


def _plain(v: Any) -> Any:
    """A state value for ``state_dict``: a NumPy copy of an array, a count as an int (a compiled
    step on a GPU keeps its counts there as 0-d arrays)."""
    if not hasattr(v, "shape"):
        return v
    if v.ndim == 0 and v.dtype.kind == "i":
        return int(v)
    return to_numpy(v).copy()


def _on(v: Any, w: Any) -> Any:
    """The state array ``v`` on parameter values ``w``'s device, in their dtype (a count keeps its own)."""
    return array_module(w).asarray(devices.like(v, w), dtype=w.dtype if v.dtype.kind == "f" else v.dtype)


def _follow(state: dict[str, Any], w: Any) -> None:
    """Move a parameter's state arrays to where its values are now (a ``Module.to`` after
    steps were taken): the state follows the parameters, as a checkpoint's does on load."""
    for k, v in state.items():
        if hasattr(v, "shape") and (type(v) is not type(w) or getattr(v, "device", None) != getattr(w, "device", None)):
            state[k] = _on(v, w)

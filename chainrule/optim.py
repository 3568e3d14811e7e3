"""Optimizers and learning-rate schedules.

Each optimizer is one class whose ``_update`` is its paper's rule, written on the raw
arrays in place (no graph: ``step`` runs under ``no_grad``). ``w`` is a parameter's
values, ``dw`` its gradient, as in the lecture's ``weights += -step_size * weights_grad``.
Defaults match ``torch.optim``, and a test runs ten steps of each against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from . import backend, devices
from .backend import array_module, to_numpy
from .engine import Tensor, no_grad, watcher
from .inplace import write_in_place

__all__ = ["SGD", "AdaGrad", "Adam", "AdamW", "CosineAnnealingLR", "ExponentialLR", "LRScheduler",
           "Optimizer", "RMSProp", "StepLR", "clip_grad_norm"]  # fmt: skip


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
            watch.uses_state(self)
        follow = backend._cupy is not None  # a GPU array has been seen: parameters may have moved
        for p, state in zip(self.params, self.state):
            if p.grad is not None:
                if follow and state:
                    _follow(state, p._data)
                state["step"] = state.get("step", 0) + 1
                self._update(write_in_place(p, f"{type(self).__name__}.step"), p.grad.data, state)
        if watch is not None:
            watch.uses_state(None)

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


class SGD(Optimizer):
    """Stochastic gradient descent; with no options, the lecture's ``w += -lr * dw``.

    Momentum keeps a velocity ``v = momentum * v + dw`` and steps along it (for a fixed lr
    this is the course's ``v = mu * v - lr * dw; w += v``). Nesterov looks ahead:
    it steps along ``dw + momentum * v``. ``weight_decay`` adds ``wd * w`` to the gradient
    (the gradient of an L2 penalty ``wd/2 * sum w^2``).

    >>> import chainrule as cr
    >>> w = cr.Tensor([1.0, -2.0], requires_grad=True)
    >>> opt = SGD([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.numpy()
    array([ 0.8, -1.6], dtype=float32)
    """

    hyper = ("momentum", "nesterov", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:  # fmt: skip
        if nesterov and momentum <= 0:
            raise ValueError("SGD: nesterov=True needs momentum > 0")
        super().__init__(params, lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        if self.momentum:
            if "velocity" not in state:
                # first step: the velocity is the gradient (an array even for 0-d w, so *= below is in place)
                state["velocity"] = array_module(w).array(dw, dtype=w.dtype)
            else:
                v = state["velocity"]
                v *= self.momentum
                v += dw
            v = state["velocity"]
            dw = dw + self.momentum * v if self.nesterov else v
        w -= self.lr * dw


class AdaGrad(Optimizer):
    """Duchi et al. (2011): per-weight step sizes that shrink with the sum of squared gradients.

    ``cache += dw^2;  w -= lr * dw / (sqrt(cache) + eps)``
    """

    hyper = ("eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr, eps=eps, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        cache = state.setdefault("cache", array_module(w).zeros_like(w))
        cache += dw * dw
        w -= self.lr * dw / (array_module(w).sqrt(cache) + self.eps)


class RMSProp(Optimizer):
    """Tieleman & Hinton (2012): AdaGrad with a leaky (moving-average) cache.

    ``cache = alpha * cache + (1 - alpha) * dw^2;  w -= lr * dw / (sqrt(cache) + eps)``
    """

    hyper = ("alpha", "eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:  # fmt: skip
        super().__init__(params, lr, alpha=alpha, eps=eps, weight_decay=weight_decay)

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        if self.weight_decay:
            dw = dw + self.weight_decay * w
        cache = state.setdefault("cache", array_module(w).zeros_like(w))
        cache *= self.alpha
        cache += (1 - self.alpha) * dw * dw
        w -= self.lr * dw / (array_module(w).sqrt(cache) + self.eps)


class Adam(Optimizer):
    """Kingma & Ba (2015): momentum on the gradient plus RMSProp's scaling, bias-corrected.

    ``weight_decay`` is added to the gradient (L2, as in the paper's setting); for
    decoupled decay use ``AdamW``.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0], requires_grad=True)
    >>> opt = Adam([w], lr=0.1)
    >>> for _ in range(100):
    ...     opt.zero_grad(); ((w - 1) ** 2).sum().backward(); opt.step()
    >>> round(w.item(), 1)
    1.0
    """

    hyper = ("betas", "eps", "weight_decay")

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:  # fmt: skip
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{type(self).__name__}: betas={betas}; expected two values in [0, 1)")
        super().__init__(params, lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def _decay(self, w: Any, dw: Any) -> Any:
        return dw + self.weight_decay * w if self.weight_decay else dw

    def _update(self, w: Any, dw: Any, state: dict[str, Any]) -> None:
        xp = array_module(w)
        dw = self._decay(w, dw)
        b1, b2 = self.betas
        t = state["step"]
        m = state.setdefault("m", xp.zeros_like(w))
        v = state.setdefault("v", xp.zeros_like(w))
        m *= b1
        m += (1 - b1) * dw  # first moment: a running mean of the gradient
        v *= b2
        v += (1 - b2) * dw * dw  # second moment: a running mean of its square
        c1, c2 = 1 - b1**t, 1 - b2**t  # bias correction: both moments start at zero
        if not isinstance(c1, float):  # a traced step count is a 0-d array: keep w's dtype
            c1, c2 = c1.astype(w.dtype), c2.astype(w.dtype)
        m_hat = m / c1
        v_hat = v / c2
        w -= self.lr * m_hat / (xp.sqrt(v_hat) + self.eps)


class AdamW(Adam):
    """Loshchilov & Hutter (2019): Adam with the weight decay decoupled from the gradient.

    ``w -= lr * wd * w`` happens beside the Adam step, not inside its moment estimates.
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:  # fmt: skip
        super().__init__(params, lr, betas, eps, weight_decay)

    def _decay(self, w: Any, dw: Any) -> Any:
        w *= 1 - self.lr * self.weight_decay
        return dw


def clip_grad_norm(params: Iterable[Tensor], max_norm: float) -> float:
    """Scale all gradients down together so their joint norm is at most ``max_norm``.

    Returns the norm before clipping: a float, or on a GPU a 0-d CuPy array (``float()`` it
    to print; the step itself never waits for the GPU). Recurrent nets (and the NTM) use it against the
    occasional exploding gradient of backpropagation through time.

    >>> import chainrule as cr
    >>> w = cr.Tensor([3.0, 4.0], requires_grad=True)
    >>> (w * w).sum().backward()          # gradient (6, 8), norm 10
    >>> clip_grad_norm([w], 5.0), w.grad.numpy().tolist()
    (10.0, [3.0, 4.0])
    """
    grads = [p.grad.data for p in (params.parameters() if hasattr(params, "parameters") else params) if p.grad is not None]
    if not grads:
        return 0.0
    xp = array_module(grads[0])
    total = xp.sqrt(sum((g * g).sum(dtype=xp.float64) for g in grads))
    # without a branch on the value, so a compiled step (chainrule.compile) can hold it: a factor
    # of exactly 1 leaves the gradients as they are
    scale = xp.minimum(1.0, max_norm / (total + 1e-12))
    for g in grads:
        g *= scale.astype(g.dtype)
    if type(total) is np.ndarray or isinstance(total, np.generic):
        return float(total)
    return total  # traced (an ndarray subclass), it stays an array of the step; on a GPU, float() would wait


# -- learning-rate schedules -------------------------------------------------------------


class LRScheduler:
    """Sets ``optimizer.lr`` from the epoch count; call ``step()`` once per epoch."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.last_epoch = 0

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        self.optimizer.lr = self.lr_at(self.last_epoch)

    def get_last_lr(self) -> float:
        return self.optimizer.lr

    def state_dict(self) -> dict[str, Any]:
        return {"base_lr": self.base_lr, "last_epoch": self.last_epoch}

    def check_state_dict(self, sd: Any) -> None:
        """Raise ValueError unless ``sd`` is a schedule's state: a finite lr > 0 and an epoch count >= 0."""
        ok = isinstance(sd, dict) and isinstance(sd.get("base_lr"), (int, float)) and type(sd.get("last_epoch")) is int
        if not ok or not (math.isfinite(sd["base_lr"]) and sd["base_lr"] > 0 and sd["last_epoch"] >= 0):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {sd!r}; expected a finite base_lr > 0 and last_epoch >= 0")

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.check_state_dict(sd)
        self.base_lr, self.last_epoch = float(sd["base_lr"]), int(sd["last_epoch"])
        self.optimizer.lr = self.lr_at(self.last_epoch)


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    >>> import chainrule as cr
    >>> opt = SGD([cr.Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> [(sched.step(), opt.lr)[1] for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size={step_size}; expected >= 1")
        super().__init__(optimizer)
        self.step_size, self.gamma = step_size, gamma

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        super().__init__(optimizer)
        self.gamma = gamma

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to ``eta_min`` over ``t_max`` epochs."""

    def __init__(self, optimizer: Optimizer, t_max: int, eta_min: float = 0.0) -> None:
        if t_max < 1:
            raise ValueError(f"CosineAnnealingLR: t_max={t_max}; expected >= 1")
        super().__init__(optimizer)
        self.t_max, self.eta_min = t_max, eta_min

    def lr_at(self, epoch: int) -> float:
        return self.eta_min + (self.base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.t_max)) / 2


"""Learning-rate schedules, PyTorch's ``torch.optim.lr_scheduler``.

A scheduler sets ``group["lr"]`` in each of its optimizer's groups from the epoch count
``last_epoch``; call ``step()`` once per epoch (or per batch, for the cyclic ones), after the
optimizer's step. Making one records ``initial_lr`` in each group (its ``base_lrs``) and
applies epoch 0, as PyTorch does; ``last_epoch=k`` resumes at epoch k from the groups'
``initial_lr``. Each ``get_lr`` is PyTorch's recursive form (it scales the current lr, so
schedules chain and an lr changed by hand is kept), the same numbers to the last bit;
``step(epoch)`` uses the closed form where PyTorch has one. ``get_last_lr()`` is a list, one
rate per group. ``state_dict()`` holds every attribute but the optimizer (functions are left
out), and ``load_state_dict`` checks a state (``check_state_dict``) before taking it.
"""

from __future__ import annotations

import math
import types
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .optimizer import Optimizer, _brief, _number

_IGNORED = ("_get_lr_called_within_step", "verbose")  # PyTorch's bookkeeping for its warnings


class LRScheduler:
    """Base class: ``base_lrs``, ``last_epoch``, ``step()``, ``get_last_lr()`` and the state.
    A subclass writes ``get_lr()``, the rates at ``last_epoch`` (and ``_get_closed_form_lr``).

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> [(sched.step(), opt.lr)[1] for _ in range(4)], sched.get_last_lr(), opt.param_groups[0]["initial_lr"]
    ([1.0, 0.5, 0.5, 0.25], [0.25], 1.0)
    """

    _not_state: tuple[str, ...] = ("optimizer",)

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        _check_optimizer(name, optimizer)
        if type(last_epoch) is not int or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch={last_epoch!r}; expected -1 (a new schedule) or an epoch >= 0")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise ValueError(f"{name}: last_epoch={last_epoch} resumes a schedule, but param_groups[{i}] has no "
                                 "'initial_lr' (load the optimizer's state first, or start with last_epoch=-1)")  # fmt: skip
        self.base_lrs: list[float] = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._initial_step()

    def _initial_step(self) -> None:
        """Apply the schedule's first epoch (the recursive forms know it by ``_is_initial``)."""
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list[float]:
        """The rates for ``last_epoch`` (use ``get_last_lr()`` to read the current ones)."""
        raise NotImplementedError

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step`` set, one per group."""
        return list(self._last_lr)

    def step(self, epoch: int | None = None) -> None:
        """Move to the next epoch (or to ``epoch``, by the closed form) and set the groups' rates."""
        self._step_count += 1
        self._update_lr(epoch)

    def _update_lr(self, epoch: int | None = None) -> None:
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            self.last_epoch = epoch
            values = self._get_closed_form_lr() if hasattr(self, "_get_closed_form_lr") else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)

    # -- state --------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimizer (and functions), as PyTorch's."""
        return {k: _copy(v) for k, v in self.__dict__.items() if k not in self._not_state}

    def check_state_dict(self, sd: Any) -> dict[str, Any]:
        """Raise ValueError unless ``sd`` is this schedule's state (its keys, each value of the
        kind it has here, one rate per group); returns it as ``load_state_dict`` takes it (an
        older chainrule one, ``{"base_lr", "last_epoch"}``, converted). Changes nothing."""
        name = f"{type(self).__name__}.load_state_dict"
        if isinstance(sd, dict) and "base_lr" in sd:
            sd = self._from_old(sd)
        if not isinstance(sd, dict):
            raise ValueError(f"{name}: {_brief(sd)}; expected a dict (a state_dict())")
        mine, out = self.state_dict(), {}
        for k, v in sd.items():
            if k in _IGNORED:
                continue
            if k not in mine:
                raise ValueError(f"{name}: unknown key {k!r}; a {type(self).__name__} keeps {', '.join(sorted(mine))}")
            out[k] = self._check_entry(name, k, v, mine[k])
        return out

    def _check_entry(self, name: str, k: str, v: Any, now: Any) -> Any:
        groups = len(self.optimizer.param_groups)
        if k == "last_epoch" and not (type(v) is int and v >= -1):
            raise ValueError(f"{name}: last_epoch={v!r}; expected an int >= -1")
        if k in ("base_lrs", "_last_lr", "max_lrs", "min_lrs", "base_momentums", "max_momentums") and not (
                isinstance(v, list) and len(v) == groups and all(_number(x) and math.isfinite(x) for x in v)):  # fmt: skip
            raise ValueError(f"{name}: {k}={_brief(v)}; expected {groups} finite numbers, one per group")
        kinds = {bool: (bool,), str: (str,), list: (list, tuple), dict: (dict,)}
        ok = next((isinstance(v, want) for kind, want in kinds.items() if isinstance(now, kind)), True)
        if _number(now):
            ok = _number(v) and not math.isnan(v)
        if not (ok or now is None or v is None):
            raise ValueError(f"{name}: {k}={_brief(v)}; expected a {type(now).__name__} like {_brief(now)}")
        return list(v) if isinstance(v, tuple) else v

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take ``state_dict()`` output (ours, PyTorch's or an older chainrule one), checked first."""
        self.__dict__.update(self.check_state_dict(state_dict))

    def _from_old(self, sd: dict[str, Any]) -> dict[str, Any]:
        """chainrule's schedules before PyTorch's kept one base rate and the epoch count."""
        base, epoch = sd.get("base_lr"), sd.get("last_epoch")
        if not (_number(base) and math.isfinite(base) and base > 0 and type(epoch) is int and epoch >= 0):
            raise ValueError(f"{type(self).__name__}.load_state_dict: {sd!r}; expected a finite base_lr > 0 and "
                             "last_epoch >= 0")  # fmt: skip
        return {"base_lrs": [float(base)] * len(self.optimizer.param_groups), "last_epoch": epoch}


class LambdaLR(LRScheduler):
    """``lr = initial_lr * lr_lambda(epoch)``: a function of the epoch, or one per group.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = LambdaLR(opt, lambda epoch: 0.5 ** epoch); sched.step(); sched.get_last_lr()
    [0.5]
    """

    _not_state = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float] | list[Callable[[int], float]],
                 last_epoch: int = -1) -> None:  # fmt: skip
        self.lr_lambdas = _per_group(type(self).__name__, optimizer, lr_lambda, "lr_lambda")
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base_lr * f(self.last_epoch) for f, base_lr in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self) -> dict[str, Any]:
        """As PyTorch's: a plain function's slot is None, a callable object's holds its ``__dict__``."""
        state = super().state_dict()
        state["lr_lambdas"] = [None if isinstance(f, types.FunctionType) else dict(f.__dict__) for f in self.lr_lambdas]
        return state

    def _check_entry(self, name: str, k: str, v: Any, now: Any) -> Any:
        if k == "lr_lambdas" and not (isinstance(v, list) and len(v) == len(self.lr_lambdas)
                                      and all(x is None or isinstance(x, dict) for x in v)):  # fmt: skip
            raise ValueError(f"{name}: lr_lambdas={_brief(v)}; expected {len(self.lr_lambdas)} entries, None or a dict")
        return super()._check_entry(name, k, v, now)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self.check_state_dict(state_dict)
        for f, saved in zip(self.lr_lambdas, state.pop("lr_lambdas", [None] * len(self.lr_lambdas))):
            if saved is not None:
                f.__dict__.update(saved)
        self.__dict__.update(state)


class MultiplicativeLR(LambdaLR):
    """``lr *= lr_lambda(epoch)`` at each epoch after the first."""

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [g["lr"] * f(self.last_epoch) for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    >>> import chainrule as cr
    >>> opt = cr.optim.SGD([cr.Tensor([1.0], requires_grad=True)], lr=1.0)
    >>> sched = StepLR(opt, step_size=2, gamma=0.5)
    >>> [(sched.step(), opt.lr)[1] for _ in range(4)]
    [1.0, 0.5, 0.5, 0.25]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        if type(step_size) is not int or step_size < 1:
            raise ValueError(f"StepLR: step_size={step_size!r}; expected an int >= 1")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiply the rate by ``gamma`` at each milestone epoch (twice at a milestone listed twice)."""

    def __init__(self, optimizer: Optimizer, milestones: Iterable[int], gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.milestones = Counter(milestones)
        if not all(type(m) is int for m in self.milestones):
            raise ValueError(f"MultiStepLR: milestones={sorted(self.milestones.elements())!r}; expected ints")
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch not in self.milestones:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma ** self.milestones[self.last_epoch] for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        milestones = sorted(self.milestones.elements())
        return [base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs]

    def _check_entry(self, name: str, k: str, v: Any, now: Any) -> Any:
        v = super()._check_entry(name, k, v, now)
        if k == "milestones":  # a checkpoint's JSON has made the epochs strings
            try:
                return Counter({int(m): int(n) for m, n in v.items()})
            except (TypeError, ValueError):
                raise ValueError(f"{name}: milestones={_brief(v)}; expected epochs and counts (ints)") from None
        return v


class ConstantLR(LRScheduler):
    """The rate times ``factor`` until epoch ``total_iters``, then the rate again."""

    def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1) -> None:
        if not (_number(factor) and 0 <= factor <= 1):
            raise ValueError(f"ConstantLR: factor={factor!r}; expected a number in [0, 1]")
        self.factor, self.total_iters = factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [g["lr"] * self.factor for g in self.optimizer.param_groups]
        if self.last_epoch != self.total_iters:
            return _lrs(self.optimizer)
        return [g["lr"] * (1.0 / self.factor) for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
                for base_lr in self.base_lrs]  # fmt: skip


class LinearLR(LRScheduler):
    """The rate's factor goes linearly from ``start_factor`` to ``end_factor`` over ``total_iters`` epochs."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, total_iters: int = 5,
                 last_epoch: int = -1) -> None:  # fmt: skip
        if not (_number(start_factor) and 0 < start_factor <= 1):
            raise ValueError(f"LinearLR: start_factor={start_factor!r}; expected a number in (0, 1]")
        if not (_number(end_factor) and 0 <= end_factor <= 1):
            raise ValueError(f"LinearLR: end_factor={end_factor!r}; expected a number in [0, 1]")
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [g["lr"] * self.start_factor for g in self.optimizer.param_groups]
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        # factor_e / factor_{e-1}, with factor_e = start + (end - start) * e / total
        span = self.end_factor - self.start_factor
        scale = 1.0 + span / (self.total_iters * self.start_factor + (self.last_epoch - 1) * span)
        return [g["lr"] * scale for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                           * min(self.total_iters, self.last_epoch) / self.total_iters)
                for base_lr in self.base_lrs]  # fmt: skip


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial:
            return _lrs(self.optimizer)
        return [g["lr"] * self.gamma for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class PolynomialLR(LRScheduler):
    """The rate times ``(1 - epoch / total_iters) ** power``, 0 from ``total_iters`` on."""

    def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1) -> None:
        self.total_iters, self.power = total_iters, power
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self._is_initial or self.last_epoch > self.total_iters:
            return _lrs(self.optimizer)
        e, n = self.last_epoch, self.total_iters
        factor = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ** self.power
        return [g["lr"] * factor for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
                for base_lr in self.base_lrs]  # fmt: skip


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from the base rate down to ``eta_min`` over ``T_max`` epochs (SGDR's
    schedule without restarts; ``t_max=`` is chainrule's older spelling of ``T_max``).

    ``lr_e = eta_min + (base_lr - eta_min) * (1 + cos(pi * e / T_max)) / 2``, applied as PyTorch
    does, as a ratio of the current rate (which keeps an lr changed by hand).
    """

    def __init__(self, optimizer: Optimizer, T_max: int | None = None, eta_min: float = 0.0, last_epoch: int = -1, *,
                 t_max: int | None = None) -> None:  # noqa: N803 - PyTorch's name
        T_max = t_max if T_max is None else T_max  # noqa: N806
        if type(T_max) is not int or T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max={T_max!r}; expected an int >= 1")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    @property
    def t_max(self) -> int:
        return self.T_max

    def get_lr(self) -> list[float]:
        e, n, lo = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return _lrs(self.optimizer)
        if self._step_count == 1 and e > 0:  # resumed at epoch e: the closed form once
            return [lo + (base_lr - lo) * (1 + math.cos(e * math.pi / n)) / 2 for base_lr in self.base_lrs]
        if (e - 1 - n) % (2 * n) == 0:  # at the bottom of the cosine: its step back up
            return [g["lr"] + (base_lr - lo) * (1 - math.cos(math.pi / n)) / 2
                    for base_lr, g in zip(self.base_lrs, self.optimizer.param_groups)]  # fmt: skip
        ratio = (1 + math.cos(math.pi * e / n)) / (1 + math.cos(math.pi * (e - 1) / n))
        return [ratio * (g["lr"] - lo) + lo for g in self.optimizer.param_groups]

    def _get_closed_form_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
                for base_lr in self.base_lrs]  # fmt: skip


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR (Loshchilov & Hutter, 2017): cosine annealing restarted every ``T_i`` epochs, the
    period starting at ``T_0`` and multiplied by ``T_mult`` at each restart. ``step(epoch)``
    takes a fractional epoch (``epoch + batch / batches``)."""

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1) -> None:  # fmt: skip
        if type(T_0) is not int or T_0 <= 0:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_0={T_0!r}; expected an int >= 1")
        if type(T_mult) is not int or T_mult < 1:
            raise ValueError(f"CosineAnnealingWarmRestarts: T_mult={T_mult!r}; expected an int >= 1")
        if not _number(eta_min):
            raise ValueError(f"CosineAnnealingWarmRestarts: eta_min={eta_min!r}; expected a number")
        self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, last_epoch
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base_lr in self.base_lrs]  # fmt: skip

    def step(self, epoch: float | None = None) -> None:
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur = self.T_cur + 1
            if self.T_cur >= self.T_i:  # a restart
                self.T_cur, self.T_i = self.T_cur % self.T_i, self.T_i * self.T_mult
        elif epoch < 0:
            raise ValueError(f"CosineAnnealingWarmRestarts.step: epoch={epoch!r}; expected >= 0")
        elif epoch >= self.T_0:
            if self.T_mult == 1:
                self.T_cur = epoch % self.T_0
            else:  # restarts so far: n with T_0 (T_mult^n - 1) / (T_mult - 1) <= epoch
                n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                self.T_cur = epoch - self.T_0 * (self.T_mult**n - 1) / (self.T_mult - 1)
                self.T_i = self.T_0 * self.T_mult**n
        else:
            self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = _lrs(self.optimizer)


class _Composite(LRScheduler):
    """A schedule made of schedules: its state holds each one's."""

    _not_state = ("optimizer", "_schedulers")
    _schedulers: list[LRScheduler]

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "_schedulers": [s.state_dict() for s in self._schedulers]}

    def _check_entry(self, name: str, k: str, v: Any, now: Any) -> Any:
        if k != "_schedulers":
            return super()._check_entry(name, k, v, now)
        if not isinstance(v, list) or len(v) != len(self._schedulers):
            raise ValueError(f"{name}: _schedulers={_brief(v)}; expected {len(self._schedulers)} schedulers' states")
        return [s.check_state_dict(part) for s, part in zip(self._schedulers, v)]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self.check_state_dict(state_dict)
        for s, part in zip(self._schedulers, state.pop("_schedulers", [])):
            s.load_state_dict(part)
        self.__dict__.update(state)


class SequentialLR(_Composite):
    """One schedule after another: ``schedulers[i]`` runs from ``milestones[i - 1]`` on (each
    starting from its own epoch 0)."""

    def __init__(self, optimizer: Optimizer, schedulers: list[LRScheduler], milestones: list[int],
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_parts("SequentialLR", optimizer, schedulers)
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: {len(schedulers)} schedulers and {len(milestones)} milestones; "
                             "expected one milestone fewer than schedulers")  # fmt: skip
        self._schedulers, self._milestones = schedulers, list(milestones)
        self.last_epoch = last_epoch + 1
        self.optimizer = optimizer
        for group in optimizer.param_groups:  # undo the schedulers' own first epochs
            group["lr"] = group["initial_lr"]
        self._undo(self)
        first = self._schedulers[bisect_right(self._milestones, 0)]
        first._initial_step()
        self._last_lr = first.get_last_lr()

    def _undo(self, sched: Any) -> None:
        for s in getattr(sched, "_schedulers", ()):
            if hasattr(s, "_schedulers"):
                self._undo(s)
            elif hasattr(s, "last_epoch"):
                s.last_epoch -= 1

    def step(self) -> None:  # type: ignore[override]
        self.last_epoch += 1
        i = bisect_right(self._milestones, self.last_epoch)
        sched = self._schedulers[i]
        if i > 0 and self._milestones[i - 1] == self.last_epoch:
            sched._update_lr(0)  # the next schedule starts at its epoch 0
        else:
            sched.step()
        self._last_lr = sched.get_last_lr()



class ChainedScheduler(_Composite):
    """Several schedules at once: each ``step`` steps every one, in order (their factors multiply)."""

    def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer | None = None) -> None:
        if not schedulers:
            raise ValueError("ChainedScheduler: no schedulers; expected at least one")
        optimizer = optimizer or schedulers[0].optimizer
        _check_parts("ChainedScheduler", optimizer, schedulers)
        self._schedulers, self.optimizer = list(schedulers), optimizer
        self._last_lr = _lrs(optimizer)

    def step(self) -> None:  # type: ignore[override]
        for sched in self._schedulers:
            sched.step()
        self._last_lr = _lrs(self.optimizer)



class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by ``factor`` once a metric has not improved for ``patience`` epochs
    (then wait ``cooldown`` epochs); ``step(metric)`` each epoch. Never below ``min_lr``."""

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float | list[float] = 0, eps: float = 1e-8) -> None:  # fmt: skip
        if not (_number(factor) and factor < 1.0):
            raise ValueError(f"ReduceLROnPlateau: factor={factor!r}; expected a number < 1")
        _check_optimizer("ReduceLROnPlateau", optimizer)
        self.factor, self.optimizer = factor, optimizer
        if isinstance(min_lr, (list, tuple)):
            if len(min_lr) != len(optimizer.param_groups):
                raise ValueError(f"ReduceLROnPlateau: {len(min_lr)} min_lrs; expected {len(optimizer.param_groups)}")
            self.default_min_lr, self.min_lrs = None, list(min_lr)
        else:
            self.default_min_lr, self.min_lrs = min_lr, [min_lr] * len(optimizer.param_groups)
        self.patience, self.cooldown, self.eps = patience, cooldown, eps
        self.last_epoch = 0
        self._last_lr = _lrs(optimizer)
        self._init_is_better(mode, threshold, threshold_mode)
        self.best, self.cooldown_counter, self.num_bad_epochs = self.mode_worse, 0, 0

    def step(self, metrics: Any, epoch: int | None = None) -> None:  # type: ignore[override]
        """One epoch's ``metrics`` (a number, or a 0-d Tensor)."""
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else epoch
        if self._is_better(current, self.best):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = _lrs(self.optimizer)

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def _reduce_lr(self) -> None:
        if len(self.optimizer.param_groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(f"ReduceLROnPlateau: the optimizer has {len(self.optimizer.param_groups)} groups "
                                   f"and min_lrs {len(self.min_lrs)}; set min_lrs for the new groups")  # fmt: skip
            self.min_lrs = [self.default_min_lr] * len(self.optimizer.param_groups)
        for group, min_lr in zip(self.optimizer.param_groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:  # changes smaller than eps are ignored
                group["lr"] = new

    def _is_better(self, a: float, best: float) -> bool:
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    def _init_is_better(self, mode: str, threshold: float, threshold_mode: str) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"ReduceLROnPlateau: mode={mode!r}; expected 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: threshold_mode={threshold_mode!r}; expected 'rel' or 'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self.check_state_dict(state_dict)
        probe = ReduceLROnPlateau.__new__(ReduceLROnPlateau)
        probe._init_is_better(state.get("mode", self.mode), state.get("threshold", self.threshold),
                              state.get("threshold_mode", self.threshold_mode))  # fmt: skip
        self.__dict__.update(state)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)


class CyclicLR(LRScheduler):
    """Smith (2017): the rate cycles between ``base_lr`` and ``max_lr`` (up ``step_size_up``
    batches, down ``step_size_down``), the amplitude scaled by ``mode`` (``triangular``,
    ``triangular2``: halved each cycle, ``exp_range``: ``gamma**batch``) or ``scale_fn``; the
    momentum (or Adam's beta1) cycles the other way. Step it after every batch."""

    def __init__(self, optimizer: Optimizer, base_lr: float | list[float], max_lr: float | list[float],
                 step_size_up: int = 2000, step_size_down: int | None = None, mode: str = "triangular",
                 gamma: float = 1.0, scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float = 0.8, max_momentum: float = 0.9,
                 last_epoch: int = -1) -> None:  # fmt: skip
        _check_optimizer("CyclicLR", optimizer)
        base_lrs = _per_group("CyclicLR", optimizer, base_lr, "base_lr")
        if last_epoch == -1:
            for lr, group in zip(base_lrs, optimizer.param_groups):
                group["lr"] = lr
        self.max_lrs = _per_group("CyclicLR", optimizer, max_lr, "max_lr")
        up = float(step_size_up)
        down = float(step_size_down) if step_size_down is not None else up
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if mode not in ("triangular", "triangular2", "exp_range") and scale_fn is None:
            raise ValueError(f"CyclicLR: mode={mode!r}; expected triangular, triangular2 or exp_range, or a scale_fn")
        self.mode, self.gamma, self._scale_fn_custom, self.scale_mode = mode, gamma, scale_fn, scale_mode
        self._init_scale_fn()
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key("CyclicLR", optimizer)
            self.base_momentums = _per_group("CyclicLR", optimizer, base_momentum, "base_momentum")
            self.max_momentums = _per_group("CyclicLR", optimizer, max_momentum, "max_momentum")
            if last_epoch == -1:
                for hi, lo, group in zip(self.max_momentums, self.base_momentums, optimizer.param_groups):
                    _set_momentum(group, hi, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = hi, lo
        super().__init__(optimizer, last_epoch)
        self.base_lrs = base_lrs

    def _init_scale_fn(self) -> None:
        if self._scale_fn_custom is None:  # the modes fix the scale's argument
            self.scale_mode = "iterations" if self.mode == "exp_range" else "cycle"

    def scale_fn(self, x: float) -> float:
        """The amplitude's scale at cycle (or batch) ``x``."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma**x

    def get_lr(self) -> list[float]:
        cycle = math.floor(1 + self.last_epoch / self.total_size)
        x = 1.0 + self.last_epoch / self.total_size - cycle  # the position in the cycle, in [0, 1)
        height = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        scale = self.scale_fn(cycle if self.scale_mode == "cycle" else self.last_epoch)
        lrs = [base_lr + (max_lr - base_lr) * height * scale for base_lr, max_lr in zip(self.base_lrs, self.max_lrs)]
        if self.cycle_momentum:
            for lo, hi, group in zip(self.base_momentums, self.max_momentums, self.optimizer.param_groups):
                _set_momentum(group, hi - (hi - lo) * height * scale, self.use_beta1)
        return lrs

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        fn = state.pop("_scale_fn_custom")
        state["_scale_fn_custom"] = None if fn is None or isinstance(fn, types.FunctionType) else dict(fn.__dict__)
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = self.check_state_dict(state_dict)
        fn = state.pop("_scale_fn_custom", None)
        self.__dict__.update(state)
        if fn is not None and self._scale_fn_custom is not None:
            self._scale_fn_custom.__dict__.update(fn)
        self._init_scale_fn()


class OneCycleLR(LRScheduler):
    """Smith & Topin (2018): the rate rises from ``max_lr / div_factor`` to ``max_lr`` over
    ``pct_start`` of ``total_steps`` and anneals (cosine or linear) to
    ``initial_lr / final_div_factor``; the momentum (or beta1) moves the other way between
    ``max_momentum`` and ``base_momentum``. ``three_phase`` climbs back down before the end.
    Step it after every batch, ``total_steps`` times in all."""

    def __init__(self, optimizer: Optimizer, max_lr: float | list[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", cycle_momentum: bool = True, base_momentum: float | list[float] = 0.85,
                 max_momentum: float | list[float] = 0.95, div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, last_epoch: int = -1) -> None:  # fmt: skip
        _check_optimizer("OneCycleLR", optimizer)
        self.optimizer = optimizer
        if total_steps is not None:
            if type(total_steps) is not int or total_steps <= 0:
                raise ValueError(f"OneCycleLR: total_steps={total_steps!r}; expected an int > 0")
            self.total_steps = total_steps
        elif epochs is not None and steps_per_epoch is not None:
            for k, v in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
                if type(v) is not int or v <= 0:
                    raise ValueError(f"OneCycleLR: {k}={v!r}; expected an int > 0")
            self.total_steps = epochs * steps_per_epoch
        else:
            raise ValueError("OneCycleLR: expected total_steps, or epochs and steps_per_epoch")
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: pct_start={pct_start!r}; expected a float in [0, 1]")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy={anneal_strategy!r}; expected 'cos' or 'linear'")
        up = float(pct_start * self.total_steps) - 1
        phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum")]
        if three_phase:
            phases.append((float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"))
            phases.append((self.total_steps - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"))
        else:
            phases.append((self.total_steps - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"))
        keys = ("end_step", "start_lr", "end_lr", "start_momentum", "end_momentum")
        self._schedule_phases = [dict(zip(keys, phase)) for phase in phases]
        self._anneal_func_type = anneal_strategy
        max_lrs = _per_group("OneCycleLR", optimizer, max_lr, "max_lr")
        if last_epoch == -1:
            for lr, group in zip(max_lrs, optimizer.param_groups):
                group["initial_lr"] = lr / div_factor
                group["max_lr"] = lr
                group["min_lr"] = group["initial_lr"] / final_div_factor
        self.cycle_momentum = cycle_momentum
        if cycle_momentum:
            self.use_beta1 = _momentum_key("OneCycleLR", optimizer)
            hi = _per_group("OneCycleLR", optimizer, max_momentum, "max_momentum")
            lo = _per_group("OneCycleLR", optimizer, base_momentum, "base_momentum")
            if last_epoch == -1:
                for m_hi, m_lo, group in zip(hi, lo, optimizer.param_groups):
                    _set_momentum(group, m_hi, self.use_beta1)
                    group["max_momentum"], group["base_momentum"] = m_hi, m_lo
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self._anneal_func_type == "cos":  # half a cosine from start to end
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times; total_steps is {self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)  # how far into this phase
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        m = self._anneal(group[phase["start_momentum"]], group[phase["end_momentum"]], pct)
                        _set_momentum(group, m, self.use_beta1)
                    break
                start = phase["end_step"]
        return lrs


# -- helpers ---------------------------------------------------------------------------------------


def _lrs(optimizer: Optimizer) -> list[float]:
    return [g["lr"] for g in optimizer.param_groups]


def _copy(v: Any) -> Any:
    if isinstance(v, Counter):
        return Counter(v)
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def _check_optimizer(name: str, optimizer: Any) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"{name}: {type(optimizer).__name__} is not an Optimizer")


def _per_group(name: str, optimizer: Optimizer, value: Any, what: str) -> list[Any]:
    """One value per group: a list as given (its length checked), a single value repeated."""
    groups = len(optimizer.param_groups)
    if isinstance(value, (list, tuple)):
        if len(value) != groups:
            raise ValueError(f"{name}: {len(value)} values of {what}; expected {groups}, one per param group")
        return list(value)
    return [value] * groups


def _momentum_key(name: str, optimizer: Optimizer) -> bool:
    """Whether the cycled momentum is Adam's beta1 (True) or a momentum option (False)."""
    if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
        raise ValueError(f"{name}: cycle_momentum=True, but {type(optimizer).__name__} has neither momentum nor betas")
    return "betas" in optimizer.defaults


def _set_momentum(group: dict[str, Any], value: float, beta1: bool) -> None:
    if beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _check_parts(name: str, optimizer: Optimizer, schedulers: Sequence[Any]) -> None:
    if not schedulers:
        raise ValueError(f"{name}: no schedulers; expected at least one")
    for i, s in enumerate(schedulers):
        if not hasattr(s, "optimizer"):
            raise TypeError(f"{name}: schedulers[{i}] is a {type(s).__name__}, which has no optimizer")
        if isinstance(s, ReduceLROnPlateau):
            raise ValueError(f"{name}: schedulers[{i}] is a ReduceLROnPlateau, whose step needs a metric")
        if s.optimizer is not optimizer:
            raise ValueError(f"{name}: schedulers[{i}] ({type(s).__name__}) belongs to another optimizer")


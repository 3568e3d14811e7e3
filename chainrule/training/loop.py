"""``fit``: the one training loop, for every model and task (a user's own module too).

For each batch: forward to the loss (plus the ``regularizer``'s term, the lecture's
``lambda sum W^2``), backward, optionally clip the gradient norm, one optimizer step. An
epoch is a pass over the data, or ``steps_per_epoch`` batches of an endless stream. Each
epoch ends with a validation pass, a row of the history (a line of ``metrics.csv``), a
checkpoint and the callbacks; so ``resume=True`` continues an interrupted run to exactly the
weights an uninterrupted one reaches. A NaN or Inf loss, gradient norm or weight stops the
run with ``Diverged`` before anything non-finite is written.
"""

from __future__ import annotations

import io
import itertools
import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .. import data as datasets
from .. import nn
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..compiler import compile as compile_step
from ..figures import INSTALL
from ..nn.utils import clip_grad_norm_
from ..optim import Optimizer, ReduceLROnPlateau
from ..serialization import atomic_write, load_checkpoint, load_metadata, save, save_checkpoint, write_csv
from . import plots
from .rundir import held_run

Metric = Callable[[Any, Any], float]


class Diverged(RuntimeError):
    """Training produced a NaN or Inf loss, gradient or weight; the run stopped there."""


class History(list):
    """The rows ``fit`` recorded, one dict per epoch; ``history["train_loss"]`` is one column.

    >>> h = History([{"epoch": 1, "train_loss": 0.5}, {"epoch": 2, "train_loss": 0.25}])
    >>> h["train_loss"], h[-1]["epoch"]
    ([0.5, 0.25], 2)
    """

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return [row.get(key, math.nan) for row in self]
        return super().__getitem__(key)


class Callback:
    """Called by ``fit`` at the points of a run; override what you need.

    ``state`` is the run's ``FitState``: set ``state.stop = True`` to end the run after
    this step or epoch, change ``state.optimizer.lr``, add entries to ``state.summary``
    (written to summary.json) or files to ``state.files``. A callback with ``state_dict``
    and ``load_state_dict`` is saved in the checkpoint and restored on resume.
    """

    def on_train_begin(self, state: FitState) -> None:
        """Before the first step (after a resume's load)."""

    def on_step_end(self, state: FitState) -> None:
        """After each optimizer step; ``state.last`` holds the step's loss and metrics."""

    def on_epoch_end(self, state: FitState) -> None:
        """After the epoch's row was recorded (``state.history[-1]``; entries added to it are
        printed and saved with it), before the epoch's line, the scheduler and the checkpoint."""

    def on_train_end(self, state: FitState) -> None:
        """After the last epoch, before summary.json is written."""


@dataclass
class FitState:
    """What a run's callbacks see and may change."""

    model: nn.Module
    optimizer: Optimizer
    history: History
    log: TextIO
    out: Path | None = None
    epoch: int = 0  # epochs done
    step: int = 0  # optimizer steps done, over the whole run
    examples: int = 0
    seconds: float = 0.0  # training time, over the whole run (a resumed run adds to it)
    last: dict[str, float] = field(default_factory=dict)  # the last step's loss and metrics
    smoothed: dict[str, float] = field(default_factory=dict)  # moving averages, with smoothing
    stop: bool = False
    summary: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def fit(model: nn.Module, data: Any, *, loss: Callable[[Any, Any], Tensor], optimizer: Optimizer, epochs: int | None = 1,
        batch_size: int = 32, val_data: Any = None, scheduler: Any = None, metrics: dict[str, Metric] | None = None,
        callbacks: Sequence[Callback] = (), out: str | Path | None = None, resume: bool = False,
        compile: bool = False, progress: bool | None = None, steps_per_epoch: int | None = None,
        max_steps: int | None = None, max_minutes: float | None = None, max_grad_norm: float | None = None,
        regularizer: Callable[[], Tensor] | None = None, grad_norms: bool = False, smoothing: float | None = None,
        seed: int = 0, distributed: bool = False, config: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None, log: TextIO | None = None) -> History:  # fmt: skip
    """Train ``model`` on ``data``; returns the history, one row per epoch.

    ``data``: a Dataset, a DataLoader, ``(X, y)`` arrays, or an endless iterable of
    ``(x, y)`` batches with ``steps_per_epoch`` (e.g. ``tasks.SequenceStream``). Datasets
    and arrays are batched by ``batch_size``, reshuffled every epoch from ``seed``; an
    ``IterableDataset`` of examples is batched in its own order, an epoch ending with it.
    ``loss(output, y)`` is the data loss; ``regularizer()`` a term added to it for the
    gradient (the history reports the data loss); ``metrics`` maps names to functions
    ``(output, y) -> float``, averaged over each epoch (``train_NAME``, ``val_NAME``).
    ``val_data`` (a Dataset or arrays) is evaluated after each epoch in eval mode.
    ``scheduler.step()`` runs once per epoch (a ``ReduceLROnPlateau``'s with the epoch's
    validation loss, or its training loss without validation data). ``max_grad_norm`` clips the gradient norm
    (the row's ``grad_norm_max`` is the largest norm before clipping); ``grad_norms``
    records each weight's mean gradient norm (``grad_norm/NAME``); ``smoothing`` reports
    the train loss and metrics as moving averages over steps (weight ``1 - smoothing`` for
    the newest) instead of epoch means. ``max_steps`` and ``max_minutes`` end the run early.

    With ``out``, the folder is held for this run (a lock) and gets ``metrics.csv`` and
    ``checkpoint.safetensors`` after each epoch, then ``weights.safetensors`` (with
    ``metadata`` in its header), ``curves.png`` and ``summary.json``. ``resume`` continues
    from the checkpoint (``config``, the run's settings, must match it but for the epoch and
    step bounds). ``compile`` replays a compiled step (``chainrule.compile``);
    ``distributed`` trains on every rank of an MPI job, batch sizes global (rank 0 prints and
    writes). ``progress``: a tqdm bar (None: where stderr is a terminal). ``log``: where the
    epoch lines go (default: stdout).

    >>> import numpy as np, chainrule as cr
    >>> from chainrule.training import fit
    >>> X, y = cr.data.spiral(seed=0)
    >>> cr.manual_seed(0)
    >>> net = cr.nn.Sequential(cr.nn.Linear(2, 100), cr.nn.ReLU(), cr.nn.Linear(100, 3))
    >>> h = fit(net, (X, y), loss=cr.nn.functional.cross_entropy, optimizer=cr.optim.SGD(net.parameters(), lr=1.0),
    ...         epochs=300, batch_size=300, metrics={"acc": cr.tasks.accuracy}, progress=False, log=io.StringIO())
    >>> h[-1]["train_acc"] > 0.9
    True
    """
    world = (0, 1)
    if distributed:
        from .. import distributed as dist

        world = dist.init()
        if compile:
            raise ValueError("fit: compile and distributed do not combine yet; use one of them")
    loop = _Loop(model, data, loss, optimizer, epochs, batch_size, val_data, scheduler, metrics or {}, list(callbacks),
                 compile, progress, steps_per_epoch, max_steps, max_minutes, max_grad_norm, regularizer, grad_norms,
                 smoothing, seed, world, config, metadata)  # fmt: skip
    log = log if log is not None else sys.stdout
    if world[0] != 0:  # the other ranks read a checkpoint to resume, and write nothing
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return loop.run(Path(out) if out is not None else None, resume, io.StringIO(), False, writer=False)
    with held_run(out, log) as folder:
        return loop.run(folder, resume, log, progress)


class _Loop:
    """One ``fit`` call's pieces; ``run`` is the loop."""

    def __init__(self, model: nn.Module, data: Any, loss: Callable, optimizer: Optimizer, epochs: int, batch_size: int,
                 val_data: Any, scheduler: Any, metrics: dict[str, Metric], callbacks: list[Callback], compile: bool,
                 progress: bool | None, steps_per_epoch: int | None, max_steps: int | None, max_minutes: float | None,
                 max_grad_norm: float | None, regularizer: Callable | None, grad_norms: bool, smoothing: float | None,
                 seed: int, world: tuple[int, int], config: dict | None, metadata: dict | None) -> None:  # fmt: skip
        if epochs is None and max_steps is None and max_minutes is None:
            raise ValueError("fit: epochs=None runs until max_steps or max_minutes; expected one of them")
        if epochs is not None and not (isinstance(epochs, int) and epochs > 0):
            raise ValueError(f"fit: epochs={epochs!r}; expected an int > 0 (or None, with max_steps or max_minutes)")
        self.model, self.loss, self.optimizer, self.epochs = model, loss, optimizer, epochs
        self.scheduler, self.metrics, self.callbacks = scheduler, metrics, callbacks
        self.compile, self.max_steps, self.max_minutes = compile, max_steps, max_minutes
        self.max_grad_norm, self.regularizer, self.smoothing = max_grad_norm, regularizer, smoothing
        self.world, self.config, self.metadata = world, config, metadata
        self.loader, self.stream = _batches(data, batch_size, seed, world, steps_per_epoch)
        # None: a loader over an IterableDataset without a length, whose epoch ends with it
        self.steps_per_epoch = steps_per_epoch if self.stream else _length(self.loader)
        self.batch_axis = getattr(self.loader, "batch_axis", 0)
        self.val = _dataset(val_data, "val_data") if val_data is not None else None
        self.val_batch = max(batch_size, 500)
        # one gradient norm per weight (not per bias): vanishing gradients show here
        self.weights = [(n, p) for n, p in model.named_parameters() if p.ndim >= 2] if grad_norms else []

    # -- the loop --------------------------------------------------------------------------
    def run(self, out: Path | None, resume: bool, log: TextIO, progress: bool | None, writer: bool = True) -> History:
        state = FitState(self.model, self.optimizer, History(), log, out if writer else None)
        if out is not None:
            self._resume(state, out, resume)
        trained = self.model
        if self.world[1] > 1:
            from ..distributed import DistributedDataParallel

            trained = DistributedDataParallel(self.model)  # after a resume's load: every rank starts alike
        step_fn, compiled = self._steps(trained)
        for cb in self.callbacks:
            cb.on_train_begin(state)
        start = time.perf_counter() - state.seconds
        while (self.epochs is None or state.epoch < self.epochs) and not state.stop and not self._out_of_time(state, start):
            self._epoch(state, step_fn, compiled, start, progress)
            if out is not None and writer:
                self._save(state, out)
        for cb in self.callbacks:
            cb.on_train_end(state)
        if out is not None and writer:
            self._finish(state, out)
        return state.history

    def _out_of_time(self, state: FitState, start: float) -> bool:
        if self.max_steps is not None and state.step >= self.max_steps:
            return True
        return self.max_minutes is not None and time.perf_counter() - start >= self.max_minutes * 60

    def _steps(self, trained: nn.Module) -> tuple[Callable, bool]:
        """The step: eager (checked before the update) or compiled (checked after it)."""
        params = list(self.model.parameters())  # read at every step: a list, not a one-pass iterator
        penalty = self.regularizer

        def forward(x: Any, y: Any) -> tuple[Any, Tensor, Tensor]:
            output = trained(x if isinstance(x, Tensor) else Tensor(x))
            data_loss = self.loss(output, y)
            return output, data_loss, (data_loss + penalty() if penalty is not None else data_loss)

        def whole_step(x: Any, y: Any) -> tuple[Any, Tensor, Any]:
            output, data_loss, full = forward(x, y)
            self.optimizer.zero_grad()
            full.backward()
            norm = clip_grad_norm_(params, self.max_grad_norm) if self.max_grad_norm is not None else 0.0
            self.optimizer.step()
            return output, data_loss, norm

        if self.compile:  # one trace per input shape: a stream of several sizes keeps one each
            return compile_step(whole_step, max_traces=getattr(self.loader, "distinct_shapes", 8)), True

        def eager(x: Any, y: Any, check: Callable[[str, float], None]) -> tuple[Any, Tensor, float]:
            output, data_loss, full = forward(x, y)
            check("the training loss", full.item())
            self.optimizer.zero_grad()
            full.backward()
            norm = clip_grad_norm_(params, self.max_grad_norm) if self.max_grad_norm is not None else 0.0
            check("the gradient norm", float(norm))
            self._check_weight_grads(check)
            self.optimizer.step()
            return output, data_loss, float(norm)

        return eager, False

    def _check_weight_grads(self, check: Callable[[str, float], None]) -> None:
        for name, p in self.weights:
            norm = float(np.sqrt(np.vdot(p.grad.data, p.grad.data)))
            check(f"the gradient norm of {name}", norm)
            self._norms[name] += norm

    def _epoch(self, state: FitState, step_fn: Callable, compiled: bool, start: float, progress: bool | None) -> None:
        epoch = state.epoch
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        self.model.train()
        t0, seen, loss_sum, norm_max = time.perf_counter(), 0, 0.0, 0.0
        sums = dict.fromkeys(self.metrics, 0.0)
        self._norms = dict.fromkeys((n for n, _ in self.weights), 0.0)
        steps = self.steps_per_epoch
        if self.max_steps is not None:
            left = self.max_steps - state.step
            steps = left if steps is None else min(steps, left)
        bar = _progress(steps, _epoch_name(epoch + 1, self.epochs), progress)
        done = 0

        def check(what: str, value: float) -> None:
            if not np.isfinite(value):
                raise self._diverged(state, done + 1, what, value)

        for x, y in _take(self.loader, steps):
            if compiled:
                output, data_loss, norm = step_fn(x, y)
                norm = float(np.asarray(norm))
                check("the training loss", data_loss.item())
                check("the gradient norm", norm)
                self._check_weight_grads(check)
            else:
                output, data_loss, norm = step_fn(x, y, check)
            done += 1
            n = int(y.shape[self.batch_axis]) if hasattr(y, "shape") else len(y)
            value = data_loss.item()
            last = {"loss": value, **{k: float(f(output, y)) for k, f in self.metrics.items()}}
            seen += n
            loss_sum += value * n
            for k in sums:
                sums[k] += last[k] * n
            norm_max = max(norm_max, norm)
            if self.smoothing is not None:
                a = self.smoothing
                state.smoothed = {k: v if k not in state.smoothed else a * state.smoothed[k] + (1 - a) * v
                                  for k, v in last.items()}  # fmt: skip
            state.step += 1
            state.examples += n * self.world[1]
            state.last = last
            shown = state.smoothed if self.smoothing is not None else {"loss": loss_sum / seen,
                                                                        **{k: s / seen for k, s in sums.items()}}
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()} | {"ex_s": f"{seen / (time.perf_counter() - t0):.0f}"},
                            refresh=False)  # fmt: skip
            for cb in self.callbacks:
                cb.on_step_end(state)
            if state.stop or self._out_of_time(state, start):
                break
        bar.close()
        if self.world[1] > 1:  # the epoch's numbers over every rank's share
            from ..distributed import all_reduce

            totals = all_reduce(np.array([loss_sum, *sums.values(), seen], dtype=np.float64)).tolist()
            loss_sum, seen = totals[0], totals[-1]
            sums = dict(zip(sums, totals[1:-1]))
            self._norms = {k: all_reduce(v, "mean") for k, v in self._norms.items()}
            state.smoothed = {k: all_reduce(v, "mean") for k, v in state.smoothed.items()}
        elapsed = time.perf_counter() - t0
        state.seconds = time.perf_counter() - start
        state.epoch += 1
        if self.smoothing is not None:
            train = {"train_loss": state.smoothed["loss"], **{f"train_{k}": state.smoothed[k] for k in sums}}
        else:
            train = {"train_loss": loss_sum / max(seen, 1), **{f"train_{k}": s / max(seen, 1) for k, s in sums.items()}}
        row: dict[str, Any] = {"epoch": state.epoch, "step": state.step, "examples": state.examples,
                               "seconds": state.seconds, **train}  # fmt: skip
        if self.val is not None:
            val = evaluate(self.model, self.val, self.loss, self.metrics, self.val_batch)
            row.update({f"val_{k}": v for k, v in val.items()})
        row["lr"] = self.optimizer.lr
        row["examples_per_s"] = seen / elapsed if elapsed > 0 else math.nan
        if self.max_grad_norm is not None:
            row["grad_norm_max"] = norm_max  # the largest gradient norm of the epoch, before clipping
        row.update({f"grad_norm/{n}": total / max(done, 1) for n, total in self._norms.items()})
        state.history.append(row)
        bad = next((n for n, p in self.model.named_parameters() if not np.isfinite(p.data).all()), None)
        finite = bad is None and np.isfinite(row.get("val_loss", 0.0))
        if finite:
            for cb in self.callbacks:  # they may add to the row (it is printed and saved after them)
                cb.on_epoch_end(state)
        print(_line(row, self.epochs), file=state.log)
        if not finite:
            what, value = (f"weight {bad}", "non-finite") if bad is not None else ("the validation loss", row["val_loss"])
            state.epoch -= 1
            raise self._diverged(state, done, what, value)
        if isinstance(self.scheduler, ReduceLROnPlateau):  # the one schedule that watches a metric
            self.scheduler.step(row.get("val_loss", row["train_loss"]))
        elif self.scheduler is not None:
            self.scheduler.step()

    def _diverged(self, state: FitState, step: int, what: str, value: Any) -> Diverged:
        kept = (f"; the checkpoint of epoch {state.epoch} in {state.out} is kept" if state.out is not None and state.epoch
                else "; nothing was written")  # fmt: skip
        return Diverged(f"training diverged at epoch {state.epoch + 1}, step {step}: {what} became {value}; the "
                        f"learning rate ({self.optimizer.lr:g}) is likely too large{kept}")  # fmt: skip

    # -- files -----------------------------------------------------------------------------
    def _resume(self, state: FitState, out: Path, resume: bool) -> None:
        ckpt = out / "checkpoint.safetensors"
        if not resume:
            return
        if not ckpt.is_file():
            print(f"no checkpoint in {out}; starting from scratch", file=state.log)
            return
        extra = load_metadata(ckpt).get("extra", {})
        saved, mine = extra.get("config") or {}, self.config or {}
        differ = sorted(k for k in mine if k in saved and k not in _MAY_CHANGE and saved[k] != mine[k])
        if differ:
            raise ValueError(f"{ckpt}: was written by a run with other settings "
                             f"({', '.join(f'{k}={saved[k]!r}' for k in differ)}); resume needs the same ones "
                             f"(only {', '.join(_MAY_CHANGE)} may change)")  # fmt: skip
        loaded = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler)
        extra = loaded["extra"]
        state.epoch = loaded["epoch"]
        state.history = History(extra.get("history", []))
        state.step, state.examples = extra.get("step", 0), extra.get("examples", 0)
        state.seconds, state.smoothed = extra.get("seconds", 0.0), extra.get("smoothed", {})
        if self.stream and "data" in extra:
            self.loader.load_state_dict(extra["data"])
        for cb, cb_state in zip(self.callbacks, extra.get("callbacks", [])):
            if cb_state is not None and hasattr(cb, "load_state_dict"):
                cb.load_state_dict(cb_state)
        print(f"resuming from epoch {state.epoch} ({ckpt})", file=state.log)

    def _save(self, state: FitState, out: Path) -> None:
        _write_csv(out / "metrics.csv", state.history)
        extra = {"config": self.config or {}, "history": list(state.history), "step": state.step,
                 "examples": state.examples, "seconds": state.seconds, "smoothed": state.smoothed,
                 "callbacks": [cb.state_dict() if hasattr(cb, "state_dict") else None for cb in self.callbacks]}  # fmt: skip
        if self.stream and hasattr(self.loader, "state_dict"):
            extra["data"] = self.loader.state_dict()
        save_checkpoint(out / "checkpoint.safetensors", self.model, self.optimizer, state.epoch, self.scheduler, extra)

    def _finish(self, state: FitState, out: Path) -> None:
        if not state.history:
            _write_csv(out / "metrics.csv", state.history)
        save(self.model, out / "weights.safetensors", metadata=self.metadata or {"config": self.config or {}})
        drawn = plots.plot_curves(state.history, out / "curves.png") if state.history else False
        files = ["metrics.csv", "checkpoint.safetensors", "weights.safetensors", *(["curves.png"] if drawn else []),
                 *state.files]  # fmt: skip
        if not (out / "checkpoint.safetensors").exists():
            files.remove("checkpoint.safetensors")
        summary = {"config": self.config or {}, "final": state.history[-1] if state.history else {},
                   "epochs_run": len(state.history), "steps": state.step, "examples": state.examples,
                   "seconds": state.seconds, **state.summary, "files": [*files, "summary.json"]}  # fmt: skip
        atomic_write(out / "summary.json", json.dumps(summary, indent=2, default=float).encode())
        print(f"wrote {', '.join(summary['files'])} to {out}", file=state.log)
        if plots.pyplot() is None:
            print(f"pictures skipped: {INSTALL}", file=state.log)


_MAY_CHANGE = ("epochs", "steps", "minutes")  # settings a resumed run may change: how long it runs


@no_grad()
def evaluate(model: nn.Module, data: Any, loss: Callable | None = None, metrics: dict[str, Metric] | None = None,
             batch_size: int = 500) -> dict[str, float]:  # fmt: skip
    """Mean loss and metrics of ``model`` over ``data`` (a Dataset or ``(X, y)``), in eval mode;
    the model's mode is restored.

    >>> import chainrule as cr
    >>> net = cr.nn.Linear(2, 3)
    >>> sorted(evaluate(net, cr.data.spiral(seed=0), cr.nn.functional.cross_entropy, {"acc": cr.tasks.accuracy}))
    ['acc', 'loss']
    """
    dataset = _dataset(data, "evaluate")
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    seen = 0
    try:
        for x, y in datasets.DataLoader(dataset, batch_size=batch_size, seed=0):
            output = model(x)
            n = int(y.shape[0]) if hasattr(y, "shape") else len(y)
            values = ({"loss": loss(output, y).item()} if loss is not None else {}) | {
                k: float(f(output, y)) for k, f in (metrics or {}).items()}  # fmt: skip
            for k, v in values.items():
                sums[k] = sums.get(k, 0.0) + v * n
            seen += n
    finally:
        model.train(was_training)
    return {k: v / max(seen, 1) for k, v in sums.items()}


def _dataset(data: Any, who: str) -> Any:
    if isinstance(data, tuple) and len(data) == 2:
        return datasets.ArrayDataset(*data)
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
        return data
    raise TypeError(f"{who}: got {type(data).__name__}; expected a Dataset or (inputs, targets) arrays")


def _batches(data: Any, batch_size: int, seed: int, world: tuple[int, int],
             steps_per_epoch: int | None) -> tuple[Any, bool]:  # fmt: skip
    """(what to iterate each epoch, whether it is an endless stream)."""
    if isinstance(data, datasets.DataLoader):
        return data, False
    if isinstance(data, datasets.IterableDataset):  # examples, as a DataLoader batches them: an epoch ends with the stream
        if world[1] > 1:
            raise ValueError(f"fit: distributed training over an IterableDataset ({type(data).__name__}); expected a "
                             "map-style Dataset (each rank takes its share of each batch) or a DataLoader per rank")  # fmt: skip
        return datasets.DataLoader(data, batch_size=batch_size), False
    if isinstance(data, tuple) or (hasattr(data, "__getitem__") and hasattr(data, "__len__")):
        dataset = _dataset(data, "fit")
        sampler = None
        if batch_size % world[1]:
            raise ValueError(f"fit: batch_size {batch_size} is the global batch; expected a multiple of the "
                             f"{world[1]} ranks")  # fmt: skip
        if world[1] > 1:  # this rank's share of each global batch: the same global order as one process
            from ..distributed import DistributedSampler

            sampler = DistributedSampler(dataset, seed=seed, world=world[1], rank=world[0])
        return datasets.DataLoader(dataset, batch_size=batch_size // world[1], shuffle=True, seed=seed,
                                   sampler=sampler), False  # fmt: skip
    if isinstance(data, Iterable):
        if steps_per_epoch is None:
            raise ValueError(f"fit: data is a stream ({type(data).__name__}); expected steps_per_epoch with it")
        if world[1] > 1:
            if not hasattr(data, "shard"):
                raise ValueError(f"fit: distributed training needs a stream with shard(rank, world); "
                                 f"{type(data).__name__} has none")  # fmt: skip
            data = data.shard(world[0], world[1])
        return data, True
    raise TypeError(f"fit: data is {type(data).__name__}; expected a Dataset, a DataLoader, (inputs, targets) arrays "
                    "or an iterable of batches")  # fmt: skip


def _length(loader: Any) -> int | None:
    """How many batches a pass over ``loader`` gives; None when it cannot say (an
    ``IterableDataset`` without ``__len__``: the pass ends when the stream does)."""
    try:
        return len(loader)
    except TypeError:
        return None


def _take(batches: Any, steps: int | None) -> Iterator[Any]:
    """The first ``steps`` batches of this epoch (a stream goes on where it stopped); all of
    them when ``steps`` is None."""
    if steps is not None and steps <= 0:
        return iter(())  # no pass started: a loader's workers are not forked for nothing
    return itertools.islice(batches, steps)


def _progress(total: int | None, desc: str, enabled: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False, disable=None if enabled is None else not enabled, unit="batch")


def _fmt(name: str, value: float) -> str:
    return f"{value:.1%}" if name in ("acc", "accuracy") else f"{value:.4g}"


def _epoch_name(epoch: int, epochs: int | None) -> str:
    return f"epoch {epoch}/{epochs}" if epochs is not None else f"epoch {epoch}"


def _line(row: dict[str, Any], epochs: int | None) -> str:
    """The epoch's line: epoch, step, the row's train and val numbers (loss first), speed."""
    parts = [_epoch_name(row["epoch"], epochs), f"step {row['step']}"]
    for split in ("train", "val"):
        names = [k[len(split) + 1 :] for k in row if k.startswith(f"{split}_") and k != f"{split}_loss"]
        if f"{split}_loss" in row:
            parts.append(" ".join([f"{split} loss {row[f'{split}_loss']:.4f}",
                                   *(f"{k} {_fmt(k, row[f'{split}_{k}'])}" for k in names)]))  # fmt: skip
    parts.append(f"{row['examples_per_s']:,.0f} examples/s")
    return "  ".join(parts)


def _write_csv(path: Path, history: list[dict[str, Any]]) -> None:
    rows = [{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in history]
    write_csv(path, rows, list(history[0]) if history else ["epoch", "step", "train_loss"])

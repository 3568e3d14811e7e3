"""Training: the models and data the ``chainrule train`` command knows, and the loop itself.

The loop is the lecture's, minibatched: for each batch, forward to the full loss
``L = (1/N) sum_i L_i + reg * sum W^2``, backward, one optimizer step. Each epoch ends
with a validation pass, a row in ``metrics.csv`` and a checkpoint, so ``resume`` can
continue an interrupted run to exactly the weights an uninterrupted one reaches. The
validation set is carved from the training data (``val_fraction``, seeded, per class);
the test split is touched once, after the last epoch, and by ``chainrule evaluate``.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import data, nn, optim, rng
from .autograd.grad_mode import no_grad
from .autograd.tensor import Tensor
from .compiler import compile as compile_step
from .figures import INSTALL, pyplot, require_pyplot, save_png
from .nn import functional as F
from .serialization import (
    atomic_write,
    load,
    load_checkpoint,
    load_header,
    load_metadata,
    save,
    save_checkpoint,
    write_csv,
)

MODELS = ("linear-svm", "linear-softmax", "mlp", "cnn", "alexnet-cifar")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def build_model(name: str, input_shape: tuple[int, ...], num_classes: int, hidden: int = 100, depth: int = 1,
                activation: str = "relu") -> nn.Module:  # fmt: skip
    """One of ``MODELS`` for inputs of ``input_shape`` (one example's shape).

    The mlp has ``depth`` hidden layers of ``hidden`` units with ``activation`` (He
    initialization for ReLU, Glorot for sigmoid and tanh).

    >>> build_model("mlp", (2,), 3)
    Sequential(
      (0): Flatten()
      (1): Linear(2, 100)
      (2): ReLU()
      (3): Linear(100, 3)
    )
    """
    d = int(np.prod(input_shape))
    if name in ("linear-svm", "linear-softmax"):
        return nn.Sequential(nn.Flatten(), nn.Linear(d, num_classes))
    if name == "mlp":
        if activation not in ACTIVATIONS:
            raise ValueError(f"mlp: activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        how = "kaiming" if activation == "relu" else "xavier"
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(depth):
            layers += [nn.Linear(d if i == 0 else hidden, hidden, init=how), ACTIVATIONS[activation]()]
        return nn.Sequential(*layers, nn.Linear(hidden, num_classes, init=how))
    if name == "cnn":
        if len(input_shape) != 3 or min(input_shape[1:]) < 4:
            raise ValueError(f"cnn: inputs of shape {tuple(input_shape)}; expected images (C, H, W) of at least 4x4")
        c, h, w = input_shape
        return nn.Sequential(
            nn.Conv2d(c, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(32 * (h // 4) * (w // 4), 128), nn.ReLU(), nn.Linear(128, num_classes),
        )  # fmt: skip
    if name == "alexnet-cifar":
        if len(input_shape) != 3:
            raise ValueError(f"alexnet-cifar: inputs of shape {tuple(input_shape)}; expected images (C, H, W)")
        from .models import AlexNetCifar

        return AlexNetCifar(num_classes, in_channels=input_shape[0])
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def parameter_count(name: str, input_shape: tuple[int, ...], num_classes: int, hidden: int = 100, depth: int = 1) -> int:
    """How many numbers ``build_model`` would allocate, computed without building it.

    >>> parameter_count("mlp", (2,), 3) == sum(p.numel() for p in build_model("mlp", (2,), 3).parameters())
    True
    """
    def linear(i: int, o: int) -> int:
        return i * o + o

    def conv(i: int, o: int) -> int:  # 3x3 kernels
        return 9 * i * o + o

    d = math.prod(input_shape)
    if name in ("linear-svm", "linear-softmax"):
        return linear(d, num_classes)
    if name == "mlp":
        return linear(d, hidden) + (depth - 1) * linear(hidden, hidden) + linear(hidden, num_classes)
    c = input_shape[0]
    if name == "cnn":
        return conv(c, 16) + conv(16, 32) + linear(32 * (input_shape[1] // 4) * (input_shape[2] // 4), 128) + linear(128, num_classes)
    if name == "alexnet-cifar":
        convs = conv(c, 64) + conv(64, 192) + conv(192, 384) + conv(384, 256) + conv(256, 256)
        return convs + linear(1024, 1024) + linear(1024, 1024) + linear(1024, num_classes)
    raise ValueError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")


def model_from_weights(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model ``chainrule train`` saved in ``path`` and the file's metadata.

    The header is checked before anything is built: the settings' types and ranges, and
    the size they imply against the numbers the file actually holds, so a header asking
    for a huge layer is refused in one line instead of allocated.
    """
    meta, shapes = load_header(path)
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: no model description; expected weights written by chainrule train")
    shape, k = meta.get("input_shape"), meta.get("num_classes")
    hidden, depth = cfg.get("hidden", 100), cfg.get("depth", 1)

    def count(v: Any) -> bool:
        return type(v) is int and 0 < v < 2**31

    problems = []
    if cfg.get("model") not in MODELS:
        problems.append(f"model {cfg.get('model')!r} (expected one of {', '.join(MODELS)})")
    if not (isinstance(shape, list) and 1 <= len(shape) <= 3 and all(map(count, shape))):
        problems.append(f"input_shape {shape!r} (expected 1 to 3 sizes > 0)")
    if cfg.get("model") in ("cnn", "alexnet-cifar") and isinstance(shape, list) and len(shape) != 3:
        problems.append(f"input_shape {shape!r} (a {cfg.get('model')} takes images (C, H, W))")
    for name, v in (("num_classes", k), ("hidden", hidden), ("depth", depth)):
        if not count(v):
            problems.append(f"{name} {v!r} (expected an int > 0)")
    if cfg.get("activation", "relu") not in ACTIVATIONS:
        problems.append(f"activation {cfg.get('activation')!r} (expected one of {', '.join(ACTIVATIONS)})")
    if not isinstance(cfg.get("data"), str) or type(cfg.get("seed", 0)) is not int:
        problems.append("data and seed (expected a data name and an int)")
    if problems:
        raise ValueError(f"{path}: bad model description in the header: {'; '.join(problems)}")
    implied = parameter_count(cfg["model"], tuple(shape), k, hidden, depth)
    held = sum(math.prod(s) for s in shapes.values())
    if implied != held:
        raise ValueError(f"{path}: the header describes a {cfg['model']} of {implied:,} parameters, but the file "
                         f"holds {held:,} numbers; refused before building it")  # fmt: skip
    model = build_model(cfg["model"], tuple(shape), k, hidden, depth, cfg.get("activation", "relu"))
    load(path, model)
    return model, meta


def loss_function(model_name: str) -> Callable[[Tensor, Any], Tensor]:
    """The data loss: the multiclass SVM for ``linear-svm``, softmax cross-entropy otherwise."""
    return F.svm_loss if model_name == "linear-svm" else F.cross_entropy


def load_data(spec: str, seed: int = 0) -> data.Splits:
    """``spiral``, ``digits``, ``mnist:DIR``, ``fashion-mnist:DIR`` or ``cifar10:DIR``.

    The spiral's validation set is a second draw of the same spiral (another seed).
    """
    kind, _, folder = spec.partition(":")
    if kind == "spiral" and not folder:
        return data.Splits(data.ArrayDataset(*data.spiral(seed=seed)), data.ArrayDataset(*data.spiral(seed=seed + 1)))
    if kind == "digits" and not folder:
        return data.load_digits(seed=seed)
    if kind in ("mnist", "fashion-mnist") and folder:
        return data.load_mnist(folder)
    if kind == "cifar10" and folder:
        return data.load_cifar10(folder)
    raise ValueError(f"unknown data {spec!r}; expected spiral, digits, mnist:DIR, fashion-mnist:DIR or cifar10:DIR")


def make_optimizer(name: str, params: list, lr: float) -> optim.Optimizer:
    """``sgd`` is the lecture's vanilla update; ``momentum``/``nesterov`` are SGD with 0.9."""
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=name == "nesterov")
    classes = {"adagrad": optim.AdaGrad, "rmsprop": optim.RMSProp, "adam": optim.Adam, "adamw": optim.AdamW}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return classes[name](params, lr=lr)


@no_grad()
def evaluate(model: nn.Module, dataset: data.ArrayDataset, loss_fn: Callable | None = None,
             batch_size: int = 500) -> tuple[float, float, np.ndarray]:  # fmt: skip
    """(mean data loss, accuracy, predicted classes) in eval mode; the model's mode is restored."""
    was_training = model.training
    model.eval()
    losses, preds = [], []
    for x, y in data.DataLoader(dataset, batch_size=batch_size, seed=0):
        scores = model(x)
        if loss_fn is not None:
            losses.append(loss_fn(scores, y).item() * len(y))
        preds.append(np.argmax(scores.numpy(), axis=1))
    model.train(was_training)
    pred = np.concatenate(preds)
    loss = sum(losses) / len(dataset) if loss_fn is not None else float("nan")
    return loss, float(np.mean(pred == dataset.y)), pred


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class.

    >>> confusion_matrix(np.array([0, 1, 1]), np.array([0, 0, 1]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m


@dataclass
class Config:
    """Everything that defines a run (saved with the weights, checked on resume)."""

    model: str = "mlp"
    data: str = "spiral"
    epochs: int = 10
    batch_size: int = 64
    lr: float = 0.1
    reg: float = 1e-3
    optimizer: str = "sgd"
    seed: int = 0
    hidden: int = 100
    depth: int = 1
    activation: str = "relu"
    val_fraction: float = 0.1  # of the training data, held out for the per-epoch validation (0: none)


@dataclass
class Run:
    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    config: Config = field(default_factory=Config)
    test: dict[str, float] = field(default_factory=dict)  # test_loss and test_acc, measured once at the end


_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "examples_per_s")


def _progress(loader: data.DataLoader, desc: str, enabled: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(loader, desc=desc, leave=False, disable=None if enabled is None else not enabled, unit="batch")


class Diverged(RuntimeError):
    """Training produced a NaN or Inf loss, gradient or weight; the run stopped there."""


def _diverged(config: Config, epoch: int, step: int, what: str, value: float, out: Path | None) -> Diverged:
    cause = f"the learning rate (--lr {config.lr:g}) is likely too large"
    if config.reg >= 1:
        cause += f", or the regularization (--reg {config.reg:g}) too strong"
    kept = f"; the last good checkpoint, {out / 'checkpoint.safetensors'}, is kept" if out is not None else ""
    return Diverged(f"training diverged at epoch {epoch + 1}, step {step}: {what} became {value}; {cause}{kept}")


def fit(config: Config, out: str | Path | None = None, resume: bool = False, log: TextIO | None = None,
        progress: bool | None = None, splits: data.Splits | None = None,
        compile: bool = False, distributed: bool = False) -> Run:  # fmt: skip
    """Train as ``config`` says; with ``out``, write metrics, checkpoints, weights and curves there.

    ``compile=True`` runs each training step compiled (``chainrule.compile``): the same
    numbers, up to float rounding, in less time.

    ``distributed=True`` trains on every rank of the MPI job this process is part of
    (``chainrule.distributed``): ``config.batch_size`` is the global batch, each rank takes
    its share of every batch, the gradients are averaged, and rank 0 alone prints and
    writes. On one process it trains exactly as without it.

    ``out`` is held for this run alone (``chainrule.rundir.claim``). A NaN or Inf loss,
    gradient norm or weight stops the run with ``Diverged`` before anything non-finite
    is written.

    >>> run = fit(Config(model="linear-softmax", data="spiral", epochs=2, batch_size=300, lr=1.0), log=io.StringIO())
    >>> [round(h["train_acc"], 2) > 0.3 for h in run.history]
    [True, True]
    """
    world = (0, 1)
    if distributed:
        from . import distributed as dist

        world = dist.init()
        if compile:
            raise ValueError("--compile and --distributed do not combine yet; use one of them")
        if config.batch_size % world[1]:
            raise ValueError(f"--batch-size {config.batch_size} is the global batch; expected a multiple of the "
                             f"{world[1]} ranks")  # fmt: skip
        if world[0] != 0:  # the other ranks read a checkpoint to resume, and write nothing
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return _fit(config, Path(out) if out is not None else None, resume, io.StringIO(), False, splits,
                            world=world, writer=False)  # fmt: skip
    with held_run(out, log) as folder:
        return _fit(config, folder, resume, log, progress, splits, compile, world=world)


@contextmanager
def held_run(out: str | Path | None, log: TextIO | None) -> Iterator[Path | None]:
    """What a training run holds while it runs (both tasks): its folder, if any
    (``chainrule.rundir.claim``), and NumPy's overflow and 0/0 warnings off, since a
    non-finite value is caught as ``Diverged`` in one line instead."""
    from .rundir import claim

    with ExitStack() as held:
        folder = held.enter_context(claim(out, log)) if out is not None else None
        held.enter_context(np.errstate(over="ignore", invalid="ignore", divide="ignore"))
        yield folder


def _fit(config: Config, out: Path | None, resume: bool, log: TextIO | None, progress: bool | None,
         splits: data.Splits | None, compile: bool = False, world: tuple[int, int] = (0, 1),
         writer: bool = True) -> Run:  # fmt: skip
    log = log if log is not None else io.StringIO()
    splits = splits or load_data(config.data, config.seed)
    train_set, test_set = splits
    num_classes = max(train_set.num_classes, test_set.num_classes)
    val_set = None
    if config.val_fraction:  # validation comes out of the training data: the test split stays unseen
        train_set, val_set = data.validation_split(train_set, config.val_fraction, config.seed)
    rng.manual_seed(config.seed)
    model = build_model(config.model, train_set.x.shape[1:], num_classes, config.hidden, config.depth, config.activation)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr)
    loss_fn = loss_function(config.model)
    sampler = None
    if world[1] > 1:  # this rank's share of each global batch: the same global order as one process
        from .distributed import DistributedSampler

        sampler = DistributedSampler(train_set, seed=config.seed, world=world[1], rank=world[0])
    loader = data.DataLoader(train_set, batch_size=config.batch_size // world[1], shuffle=True, seed=config.seed,
                             sampler=sampler)  # fmt: skip
    run = Run(model, [], config)
    start = 0
    if out is not None:
        ckpt = out / "checkpoint.safetensors"
        if resume and ckpt.is_file():
            saved = load_metadata(ckpt).get("extra", {}).get("config", {})
            mine = asdict(config)
            defaults = asdict(Config())  # settings a checkpoint predates take their defaults
            differ = sorted(k for k in mine if k != "epochs" and saved.get(k, defaults[k]) != mine[k])
            if differ:
                raise ValueError(
                    f"{ckpt}: was written by a run with other settings ({', '.join(f'{k}={saved.get(k, defaults[k])!r}' for k in differ)}); "
                    "resume needs the same ones (only --epochs may change)"
                )
            state = load_checkpoint(ckpt, model, opt)
            start, run.history = state["epoch"], state["extra"].get("history", [])
            print(f"resuming from epoch {start} ({ckpt})", file=log)
        elif resume:
            print(f"no checkpoint in {out}; starting from scratch", file=log)

    trained = model
    if world[1] > 1:
        from .distributed import DistributedDataParallel

        trained = DistributedDataParallel(model)  # after a resume's load: every rank starts from the same state
    weights = [(name, p) for name, p in model.named_parameters() if p.ndim >= 2]  # one gradient norm per layer
    penalized = [p for _, p in weights]  # what l2_penalty takes from a model: the weights, not the biases

    def forward(x: Any, y: Any) -> tuple[Tensor, Tensor, Tensor]:
        scores = trained(x)
        loss = loss_fn(scores, y)
        return scores, loss, (loss + config.reg * F.l2_penalty(penalized) if config.reg else loss)

    def whole_step(x: Any, y: Any) -> tuple[Tensor, Tensor, Tensor]:
        scores, loss, full = forward(x, y)
        opt.zero_grad()
        full.backward()
        opt.step()
        return scores, loss, full

    compiled = compile_step(whole_step) if compile else None
    for epoch in range(start, config.epochs):
        loader.set_epoch(epoch)
        model.train()
        t0, seen, loss_sum, correct = time.perf_counter(), 0, 0.0, 0
        norms = dict.fromkeys((name for name, _ in weights), 0.0)
        bar = _progress(loader, f"epoch {epoch + 1}/{config.epochs}", progress)
        for step, (x, y) in enumerate(bar, 1):
            if compiled is not None:  # one replayed step; its numbers are checked after it
                scores, loss, full = compiled(x, y)
            else:
                scores, loss, full = forward(x, y)
            if not np.isfinite(full.item()):
                raise _diverged(config, epoch, step, "the training loss", full.item(), out)
            if compiled is None:
                opt.zero_grad()
                full.backward()
            for name, p in weights:  # |dL/dW| per layer: vanishing gradients show here
                norm = float(np.sqrt(np.vdot(p.grad.data, p.grad.data)))
                if not np.isfinite(norm):
                    raise _diverged(config, epoch, step, f"the gradient norm of {name}", norm, out)
                norms[name] += norm
            if compiled is None:
                opt.step()
            n = len(y)
            seen += n
            loss_sum += loss.item() * n
            correct += int((np.argmax(scores.numpy(), axis=1) == y.numpy()).sum())
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.1%}",
                            ex_s=f"{seen / (time.perf_counter() - t0):.0f}", refresh=False)  # fmt: skip
        bar.close()
        if world[1] > 1:  # the epoch's numbers over every rank's share
            from .distributed import all_reduce

            loss_sum, correct, seen = all_reduce(np.array([loss_sum, correct, seen], dtype=np.float64)).tolist()
            norms = {k: all_reduce(v, "mean") for k, v in norms.items()}
        speed = seen / (time.perf_counter() - t0)
        val_loss, val_acc = evaluate(model, val_set, loss_fn)[:2] if val_set is not None else (math.nan, math.nan)
        row = {"epoch": epoch + 1, "train_loss": loss_sum / seen, "train_acc": correct / seen, "val_loss": val_loss,
               "val_acc": val_acc, "lr": opt.lr, "examples_per_s": speed}  # fmt: skip
        row.update({f"grad_norm/{name}": total / len(loader) for name, total in norms.items()})
        run.history.append(row)
        val_text = f"val loss {val_loss:.4f} acc {val_acc:.1%}  " if val_set is not None else ""
        print(f"epoch {epoch + 1}/{config.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.1%}  "
              f"{val_text}{speed:,.0f} examples/s", file=log)  # fmt: skip
        bad = next((name for name, p in model.named_parameters() if not np.isfinite(p.data).all()), None)
        if bad is not None or (val_set is not None and not np.isfinite(val_loss)):
            what, value = (f"weight {bad}", "non-finite") if bad is not None else ("the validation loss", val_loss)
            raise _diverged(config, epoch, len(loader), what, value, out)
        if out is not None and writer:
            _write_csv(out / "metrics.csv", run.history)
            save_checkpoint(out / "checkpoint.safetensors", model, opt, epoch + 1,
                            extra={"config": asdict(config), "history": run.history})  # fmt: skip
    test_loss, test_acc, _ = evaluate(model, test_set, loss_fn)  # the test split's one use
    run.test = {"test_loss": test_loss, "test_acc": test_acc, "test_examples": len(test_set)}
    print(f"test loss {test_loss:.4f} acc {test_acc:.1%} ({len(test_set)} examples of the test split, "
          "measured once, after training)", file=log)  # fmt: skip
    if out is not None and writer:
        _finish(run, out, train_set, log)
    return run


def _write_csv(path: Path, history: list[dict[str, float]]) -> None:
    rows = [{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in history]
    write_csv(path, rows, list(history[0]) if history else list(_COLUMNS))


def weights_metadata(run: Run, input_shape: tuple[int, ...], num_classes: int) -> dict[str, Any]:
    return {"config": asdict(run.config), "input_shape": list(input_shape), "num_classes": num_classes}


def _finish(run: Run, out: Path, train_set: data.ArrayDataset, log: TextIO) -> None:
    num_classes = run.model.parameters()[-1].shape[0]
    save(run.model, out / "weights.safetensors", metadata=weights_metadata(run, train_set.x.shape[1:], num_classes))
    plotted = plot_curves(run.history, out / "curves.png")
    if plotted:
        plot_grad_norms({run.config.model: run.history}, out / "grad_norms.png")
        files = ["curves.png", "grad_norms.png"]
        if run.config.model.startswith("linear") and len(train_set.x.shape) == 4:
            plot_templates(run.model, train_set.x.shape[1:], out / "templates.png")
            files.append("templates.png")
    else:
        files = []
    last = run.history[-1] if run.history else {}
    summary = {"config": asdict(run.config), "final": last, "test": run.test, "epochs_run": len(run.history),
               "files": ["metrics.csv", "checkpoint.safetensors", "weights.safetensors", *files]}  # fmt: skip
    atomic_write(out / "summary.json", json.dumps(summary, indent=2).encode())
    if last:
        val = f", val acc {last['val_acc']:.1%}" if math.isfinite(last["val_acc"]) else ""
        print(f"done: {run.config.model} on {run.config.data}, {len(run.history)} epochs, train acc "
              f"{last['train_acc']:.1%}{val}, test acc {run.test['test_acc']:.1%}; wrote "
              f"{', '.join([*summary['files'], 'summary.json'])} to {out}", file=log)  # fmt: skip
    if not plotted:
        print(f"curves.png, grad_norms.png and templates.png skipped: {INSTALL}", file=log)


def plot_curves(history: list[dict[str, float]], path: str | Path) -> bool:
    """Loss and accuracy per epoch, train and validation, as a PNG. False without matplotlib."""
    plt = pyplot()
    if plt is None:
        return False
    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    validated = any(math.isfinite(h["val_loss"]) for h in history)  # --val-fraction 0: no validation line
    for ax, kind in ((ax1, "loss"), (ax2, "acc")):
        for key, label in ((f"train_{kind}", "train"), (f"val_{kind}", "validation")):
            if label == "train" or validated:
                ax.plot(epochs, [h[key] for h in history], marker="o", label=label)
    from matplotlib.ticker import MaxNLocator

    for ax in (ax1, ax2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set(title="data loss", xlabel="epoch")
    ax2.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
    ax1.legend()
    ax2.legend()
    fig.tight_layout()
    save_png(fig, path)
    return True


def plot_grad_norms(histories: dict[str, list[dict[str, float]]], path: str | Path) -> None:
    """Per-layer gradient norm |dL/dW| over training, one panel per run, log scale, as a PNG.

    Side by side, a deep sigmoid MLP and a ReLU one show vanishing gradients: the sigmoid
    net's first layers get gradients orders of magnitude smaller than its last.
    """
    save_png(grad_norms_figure(histories), path)


def grad_norms_figure(histories: dict[str, list[dict[str, float]]]) -> Any:
    """The figure ``plot_grad_norms`` saves."""
    from matplotlib.ticker import MaxNLocator

    plt = require_pyplot()
    layers = max((sum(k.startswith("grad_norm/") for k in h[0]) for h in histories.values() if h), default=1)
    width = max(6.0, 4.5 * len(histories))
    ncol = 4 if width >= 9 else 3
    rows = math.ceil(layers / ncol)  # the legend sits under the panels: it covers no line
    fig, axes = plt.subplots(1, len(histories), figsize=(width, 3.2 + 0.25 * rows), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax, (title, history) in zip(axes[0], histories.items()):
        keys = [k for k in history[0] if k.startswith("grad_norm/")] if history else []
        for i, k in enumerate(keys):
            ax.plot([h["epoch"] for h in history], [h[k] for h in history], marker=".",
                    label=f"layer {i + 1} ({k.split('/', 1)[1]})")  # fmt: skip
        ax.set(title=title, xlabel="epoch", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("mean |dL/dW| per batch")
    handles, labels = axes[0][0].get_legend_handles_labels()  # the same layers in every panel: one legend
    height = fig.get_size_inches()[1]
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.3 + 0.22 * rows) / height, 1, 1))
    return fig


def plot_templates(model: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> None:
    """A linear classifier's weights, one row per class, drawn as images: the learned templates."""
    plt = require_pyplot()
    weight = next(p for p in model.parameters() if p.ndim == 2).numpy()  # (K, C*H*W)
    k = weight.shape[0]
    fig, axes = plt.subplots(1, k, figsize=(1.3 * k, 1.6), squeeze=False)
    for j, ax in enumerate(axes[0]):
        img = weight[j].reshape(input_shape)  # (C, H, W)
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)  # each template stretched to [0, 1]
        if input_shape[0] == 1:
            ax.imshow(img[0], cmap="gray")
        else:
            ax.imshow(np.moveaxis(img[:3], 0, -1))
        ax.set_title(str(j), fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path)

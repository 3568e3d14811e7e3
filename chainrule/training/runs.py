"""The runs ``chainrule train`` knows: a built-in model on a built-in task, through ``fit``.

``train_classifier(Config(...))`` trains one of ``models.MODELS`` on a data set of
``tasks.classification`` (the validation set carved from the training data, per class,
seeded; the test split touched once, after the last epoch); ``train_sequence`` trains the
NTM or its LSTM baseline on one of the paper's sequence tasks (Adam, the gradient norm
clipped, the learning rate annealed once near the solution). Both are ``fit`` with a model,
a task's data, loss and metrics, and callbacks that add the task's report: the same loop,
the same files, the same ``--resume``, ``--compile`` and ``--distributed``.
"""

from __future__ import annotations

import io
import math
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .. import data, nn, optim, rng
from ..figures import pyplot
from ..models import GPT, NTM, CharLSTM, GPTConfig, build_model
from ..nn import functional as F
from ..tasks.classification import accuracy, load_data, loss_function
from ..tasks.language import (
    CharVocab,
    WindowStream,
    bits_per_char,
    lm_loss,
    read_text,
    split_text,
    unigram_entropy,
    windows,
)
from ..tasks.sequence import SequenceStream, bit_error, build, task_of
from ..threads import limited
from . import plots
from .loop import Callback, FitState, History, evaluate, fit

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")


def make_optimizer(name: str, params: list, lr: float) -> optim.Optimizer:
    """``sgd`` is the lecture's vanilla update; ``momentum``/``nesterov`` are SGD with 0.9.

    >>> import chainrule as cr
    >>> make_optimizer("nesterov", [cr.Tensor([1.0], requires_grad=True)], 0.1).nesterov
    True
    """
    if name == "sgd":
        return optim.SGD(params, lr=lr)
    if name in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=name == "nesterov")
    classes = {"adagrad": optim.AdaGrad, "rmsprop": optim.RMSProp, "adam": optim.Adam, "adamw": optim.AdamW}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    return classes[name](params, lr=lr)


@dataclass
class Config:
    """Everything that defines a classifier run (saved with the weights, checked on resume)."""

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
    """A finished built-in run: the model, its history, its settings and its test numbers."""

    model: nn.Module
    history: History
    config: Any
    test: dict[str, Any] = field(default_factory=dict)  # classifiers: test_loss, test_acc; sequences: bit errors


class _ClassifierReport(Callback):
    """After training: the test split's one use, and the gradient-norm and template pictures."""

    def __init__(self, config: Config, test_set: data.ArrayDataset, loss: Any, input_shape: tuple[int, ...]) -> None:
        self.config, self.test_set, self.loss, self.input_shape = config, test_set, loss, input_shape
        self.test: dict[str, Any] = {}

    def on_train_end(self, state: FitState) -> None:
        measured = evaluate(state.model, self.test_set, self.loss, {"acc": accuracy})
        self.test = {"test_loss": measured["loss"], "test_acc": measured["acc"], "test_examples": len(self.test_set)}
        state.summary["test"] = self.test
        print(f"test loss {measured['loss']:.4f} acc {measured['acc']:.1%} ({len(self.test_set)} examples of the "
              "test split, measured once, after training)", file=state.log)  # fmt: skip
        if state.out is None or not state.history:  # no folder (or another rank's run: it writes nothing)
            return
        last, cfg = state.history[-1], self.config
        val = f", val acc {last['val_acc']:.1%}" if "val_acc" in last else ""
        print(f"done: {cfg.model} on {cfg.data}, {len(state.history)} epochs, train acc {last['train_acc']:.1%}{val}, "
              f"test acc {measured['acc']:.1%}", file=state.log)  # fmt: skip
        if pyplot() is None:
            return
        plots.plot_grad_norms({self.config.model: list(state.history)}, state.out / "grad_norms.png")
        state.files.append("grad_norms.png")
        if self.config.model.startswith("linear") and len(self.input_shape) == 3:
            plots.plot_templates(state.model, self.input_shape, state.out / "templates.png")
            state.files.append("templates.png")


def train_classifier(config: Config, out: str | Path | None = None, resume: bool = False, log: TextIO | None = None,
                     progress: bool | None = None, splits: data.Splits | None = None, compile: bool = False,
                     distributed: bool = False) -> Run:  # fmt: skip
    """Train ``config.model`` on ``config.data`` (``chainrule train --task classify``).

    The loss is the data loss plus ``config.reg * sum W^2`` over the weights (not the
    biases); each epoch reports train and validation loss and accuracy and each layer's
    mean gradient norm. ``log`` gets the lines (default: nowhere).

    >>> run = train_classifier(Config(model="linear-softmax", data="spiral", epochs=10, batch_size=300, lr=1.0))
    >>> len(run.history), run.history[-1]["train_acc"] > 0.4  # a line through a spiral: chance is 1/3
    (10, True)
    """
    log = log if log is not None else io.StringIO()
    train_set, test_set = splits or load_data(config.data, config.seed)
    num_classes = max(train_set.num_classes, test_set.num_classes)
    val_set = None
    if config.val_fraction:  # validation comes out of the training data: the test split stays unseen
        train_set, val_set = data.validation_split(train_set, config.val_fraction, config.seed)
    rng.manual_seed(config.seed)
    input_shape = tuple(train_set.x.shape[1:])
    model = build_model(config.model, input_shape, num_classes, config.hidden, config.depth, config.activation)
    opt = make_optimizer(config.optimizer, model.parameters(), config.lr)
    loss = loss_function(config.model)
    penalized = [p for p in model.parameters() if p.ndim >= 2]  # the weights, not the biases
    report = _ClassifierReport(config, test_set, loss, input_shape)
    settings = asdict(config)
    history = fit(model, train_set, loss=loss, optimizer=opt, epochs=config.epochs, batch_size=config.batch_size,
                  val_data=val_set, metrics={"acc": accuracy}, callbacks=[report], out=out, resume=resume,
                  compile=compile, progress=progress, grad_norms=True, seed=config.seed, distributed=distributed,
                  regularizer=(lambda: config.reg * F.l2_penalty(penalized)) if config.reg else None, config=settings,
                  metadata={"config": settings, "input_shape": list(input_shape), "num_classes": num_classes},
                  log=log)  # fmt: skip
    return Run(model, history, config, report.test)


class AnnealOnce(Callback):
    """Multiply the learning rate by ``factor`` once, when the moving average of ``metric``
    first drops below ``below`` (from step ``after`` on): near the solution a smaller step.

    Its one bit of state (done or not) is kept in the checkpoint.
    """

    def __init__(self, metric: str, below: float, factor: float, after: int = 100) -> None:
        self.metric, self.below, self.factor, self.after = metric, below, factor, after
        self.done = False

    def on_step_end(self, state: FitState) -> None:
        value = state.smoothed.get(self.metric, math.inf)
        if not self.done and state.step >= self.after and value < self.below:
            before = state.optimizer.lr
            state.optimizer.lr = before * self.factor
            self.done = True
            print(f"step {state.step}: {self.metric.replace('_', ' ')} {value:.2f} < {self.below:g}, learning rate "
                  f"{before:g} -> {state.optimizer.lr:g}", file=state.log)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        return {"done": self.done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.done = bool(state["done"])


class _SequenceReport(Callback):
    """After training: the bit errors at the task's test sizes, and the NTM's memory picture."""

    def __init__(self, task: str, model_name: str) -> None:
        self.task, self.model_name = task_of(task), model_name
        self.bit_errors: dict[str, float] = {}

    def on_train_end(self, state: FitState) -> None:
        t = self.task
        sizes = ["x".join(map(str, n)) if isinstance(n, tuple) else str(n) for n in t.tests]
        self.bit_errors = {k: bit_error(state.model, n, task=t.name) for k, n in zip(sizes, t.tests)}
        state.summary.update({"task": t.name, "model": self.model_name,
                              "parameters": sum(p.numel() for p in state.model.parameters()),
                              "bit_error": self.bit_errors})  # fmt: skip
        print(f"bit error per sequence at {t.size_name} {'/'.join(sizes)}: "
              + " / ".join(f"{v:.2f}" for v in self.bit_errors.values()), file=state.log)  # fmt: skip
        if state.out is not None and isinstance(state.model, NTM) and pyplot() is not None:
            plots.plot_memory(state.model, state.out / "memory.png", t.name)
            state.files.append("memory.png")


def train_sequence(model_name: str = "ntm", task: str = "copy", minutes: float = 30.0, steps: int | None = None,
                   batch: int = 16, lr: float = 1e-3, max_length: int = 20, seed: int = 0, out: Any = None,
                   log: TextIO | None = None, progress: bool | None = None, clip: float = 1.0, compile: bool = False,
                   threads: int | None = 1, anneal: float | None = 0.3, anneal_below: float = 1.0,
                   resume: bool = False, distributed: bool = False) -> Run:  # fmt: skip
    """Train ``ntm`` or ``lstm`` on a task of the paper (``copy`` on lengths 1..max_length,
    ``repeat-copy``, ``recall``) for ``minutes`` or ``steps``, whichever ends first.

    Adam with the gradient norm clipped at ``clip``; each row of the history covers 100
    steps (fewer on a short run: about 25 rows), its loss and bit error moving averages.
    ``max_length`` is the largest training size of any task (its paper value when left at 20
    for a task other than copy). ``anneal``: once the moving-average bit error first drops
    below ``anneal_below`` bits per sequence, the learning rate is multiplied by this (once;
    None keeps it constant). ``threads``: chainrule's threads for this run (``threads.limited``);
    one by default, since these small products gain little from more and parallel runs would
    starve each other (None leaves the count as it is). ``compile`` keeps one trace per sequence size.
    """
    t = task_of(task)
    limit = max_length if task == "copy" or max_length != 20 else t.limit
    model = build(model_name, seed=seed, task=t.name)
    opt = optim.Adam(model.parameters(), lr=lr)
    total = steps if steps is not None else 10**9
    every = max(1, min(100, total // 25))  # a row every 100 steps; a short run's curve still gets ~25 points
    report = _SequenceReport(t.name, model_name)
    callbacks: list[Callback] = [AnnealOnce("bit_error", anneal_below, anneal)] if anneal else []
    settings = {"task": t.name, "model": model_name, "batch": batch, "lr": lr, "max_length": limit, "seed": seed,
                "clip": clip, "anneal": anneal, "anneal_below": anneal_below, "steps": steps, "minutes": minutes}  # fmt: skip
    with limited(threads) if threads else nullcontext():
        history = fit(model, SequenceStream(t, batch, limit, seed), loss=t.loss, optimizer=opt, epochs=None,
                      steps_per_epoch=every, max_steps=steps, max_minutes=minutes, max_grad_norm=clip,
                      metrics={"bit_error": t.bit_error}, smoothing=0.98, callbacks=[*callbacks, report], out=out,
                      resume=resume, compile=compile, progress=progress, seed=seed, distributed=distributed,
                      config=settings, metadata={"config": settings}, log=log if log is not None else io.StringIO())  # fmt: skip
    return Run(model, history, settings, report.bit_errors)


class _LanguageReport(Callback):
    """Each epoch's losses also in bits per character; at the end, the text's unigram entropy."""

    def __init__(self, unigram: float) -> None:
        self.unigram = unigram

    def on_epoch_end(self, state: FitState) -> None:
        row = state.history[-1]
        for split in ("train", "val"):
            if f"{split}_loss" in row:
                row[f"{split}_bpc"] = bits_per_char(row[f"{split}_loss"])

    def on_train_end(self, state: FitState) -> None:
        last = state.history[-1] if state.history else {}
        state.summary["unigram_entropy_bpc"] = self.unigram
        if "val_bpc" in last:
            print(f"validation {last['val_bpc']:.3f} bits per character against the text's unigram entropy "
                  f"{self.unigram:.3f}", file=state.log)  # fmt: skip


def build_language_model(name: str, vocab_size: int, block_size: int = 64, n_layer: int = 4, n_head: int = 4,
                         n_embd: int = 128, dropout: float = 0.0, hidden: int = 256) -> nn.Module:  # fmt: skip
    """``gpt`` (``models.GPT``) or ``lstm`` (``models.CharLSTM`` with ``hidden`` units) for a vocabulary."""
    if name == "gpt":
        return GPT(GPTConfig(block_size=block_size, vocab_size=vocab_size, n_layer=n_layer, n_head=n_head,
                             n_embd=n_embd, dropout=dropout))  # fmt: skip
    if name == "lstm":
        return CharLSTM(vocab_size, hidden_size=hidden)
    raise ValueError(f"language modelling: model {name!r}; expected 'gpt' or 'lstm'")


def train_language(model_name: str = "gpt", data_spec: str = "text:pydoc", steps: int = 400, batch: int = 16,
                   block_size: int = 64, lr: float | None = None, n_layer: int = 4, n_head: int = 4, n_embd: int = 128,
                   dropout: float = 0.0, hidden: int = 256, val_fraction: float = 0.1, seed: int = 0,
                   minutes: float | None = None, out: Any = None, log: TextIO | None = None,
                   progress: bool | None = None, compile: bool = False, resume: bool = False,
                   distributed: bool = False, threads: int | None = None) -> Run:  # fmt: skip
    """Train a character-level ``gpt`` or ``lstm`` on a text (``text:PATH`` or ``text:pydoc``).

    Adam at ``lr`` (default 1e-3 for the gpt, 3e-3 for the lstm: the best of 5e-4, 1e-3, 2e-3,
    3e-3 and 1e-2 for the gpt on text:pydoc, seed 0, 400 steps, gave 3.11, 2.92, 2.87, 3.51 and
    4.06 validation bits per character), the gradient norm clipped at 1; ``steps`` batches of ``batch`` random windows of ``block_size`` characters; a validation
    pass over held-out windows every ``steps // 8`` steps (an epoch). The weights' header keeps
    the vocabulary and the model's settings, so ``chainrule sample`` rebuilds it.
    """
    lr = lr if lr is not None else {"gpt": 1e-3, "lstm": 3e-3}.get(model_name, 1e-3)
    text = read_text(data_spec)
    splits = split_text(text, val_fraction, seed)
    rng.manual_seed(seed)
    model = build_language_model(model_name, len(splits.vocab), block_size, n_layer, n_head, n_embd, dropout, hidden)
    opt = optim.Adam(model.parameters(), lr=lr)
    settings = {"task": "language", "model": model_name, "data": data_spec, "batch": batch, "block_size": block_size,
                "lr": lr, "n_layer": n_layer, "n_head": n_head, "n_embd": n_embd, "dropout": dropout,
                "hidden": hidden, "val_fraction": val_fraction, "seed": seed, "steps": steps, "minutes": minutes}  # fmt: skip
    report = _LanguageReport(unigram_entropy(splits.train))
    every = max(1, steps // 8)
    with limited(threads) if threads else nullcontext():
        history = fit(model, WindowStream(splits.train, block_size, batch, seed), loss=lm_loss, optimizer=opt,
                      epochs=math.ceil(steps / every), steps_per_epoch=every, max_steps=steps, max_minutes=minutes, max_grad_norm=1.0,
                      val_data=windows(splits.val, block_size), callbacks=[report], out=out, resume=resume,
                      compile=compile, progress=progress, seed=seed, distributed=distributed, config=settings,
                      metadata={"config": settings, "vocab": splits.vocab.chars},
                      log=log if log is not None else io.StringIO())  # fmt: skip
    return Run(model, history, settings, {"unigram_entropy_bpc": report.unigram})


def _language_parameters(cfg: dict[str, Any], vocab: int) -> int:
    """How many numbers the model of ``cfg`` holds (the tied head counted once), without building it."""
    if cfg["model"] == "lstm":
        h = cfg["hidden"]
        return vocab * h + 8 * h * h + 8 * h + h * vocab + vocab
    c, layer = cfg["n_embd"], 12 * cfg["n_embd"] ** 2 + 13 * cfg["n_embd"]
    return vocab * c + cfg["block_size"] * c + cfg["n_layer"] * layer + 2 * c


def language_model_from_weights(path: str | Path) -> tuple[nn.Module, CharVocab]:
    """The language model ``chainrule train --data text:...`` saved (a run folder or its
    weights file) and its vocabulary; the header is checked before anything is built."""
    from ..serialization import load, load_header

    path = Path(path)
    if path.is_dir():
        path = path / "weights.safetensors"
    meta, shapes = load_header(path)
    cfg, chars = meta.get("config"), meta.get("vocab")
    if not (isinstance(cfg, dict) and cfg.get("task") == "language" and isinstance(chars, str)):
        raise ValueError(f"{path}: not a language model's weights; expected a run of chainrule train --data text:...")
    problems = [] if cfg.get("model") in ("gpt", "lstm") else [f"model {cfg.get('model')!r}"]
    for k in ("block_size", "n_layer", "n_head", "n_embd", "hidden"):
        if not (type(cfg.get(k)) is int and 0 < cfg[k] < 2**20):
            problems.append(f"{k} {cfg.get(k)!r}")
    if not problems and cfg["n_embd"] % cfg["n_head"]:
        problems.append(f"n_embd {cfg['n_embd']} not a multiple of n_head {cfg['n_head']}")
    if not chars or len(set(chars)) != len(chars):
        problems.append("a vocabulary with repeated characters or none")
    if problems:
        raise ValueError(f"{path}: bad model description in the header: {'; '.join(problems)}")
    # a GPT's head is tied to its embedding: state_dict names that one matrix twice (as PyTorch does)
    held = sum(math.prod(s) for k, s in shapes.items() if not (cfg["model"] == "gpt" and k == "lm_head.weight"))
    implied = _language_parameters(cfg, len(chars))
    if implied != held:
        raise ValueError(f"{path}: the header describes a {cfg['model']} of {implied:,} parameters, but the file "
                         f"holds {held:,} numbers; refused before building it")  # fmt: skip
    model = build_language_model(cfg["model"], len(chars), cfg["block_size"], cfg["n_layer"], cfg["n_head"],
                                 cfg["n_embd"], 0.0, cfg["hidden"])  # fmt: skip
    load(path, model)
    return model, CharVocab(chars)

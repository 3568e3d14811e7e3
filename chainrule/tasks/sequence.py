"""The Neural Turing Machine paper's sequence tasks: copy, repeat copy, associative recall.

Each task makes batches of random bit sequences (time, batch, channels) and scores a
model's logits on the answer steps: the loss is binary cross-entropy, the metric the wrong
bits per sequence. ``SequenceStream`` is a task's training data for ``chainrule.training.fit``:
an endless stream of fresh batches, of random sizes up to a limit, whose random state a
checkpoint keeps, so a resumed run sees the very batches an uninterrupted one would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import nn, rng
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..data.stream import RandomStream
from ..models.lstm import LSTMBaseline
from ..models.ntm import NTM
from ..nn import functional as F


def copy_batch(batch: int, length: int, bits: int = 8, generator: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (2L + 1, B, bits + 1) and targets (L, B, bits) of the copy task.

    L random bit vectors are shown, then a delimiter (the extra channel), then L empty steps
    during which the machine must reproduce the vectors in order.

    >>> x, y = copy_batch(2, 3)
    >>> x.shape, y.shape, x[3, :, -1].tolist()
    ((7, 2, 9), (3, 2, 8), [1.0, 1.0])
    """
    g = generator if generator is not None else rng.generator()
    seq = g.integers(0, 2, (length, batch, bits)).astype(np.float32)
    x = np.zeros((2 * length + 1, batch, bits + 1), dtype=np.float32)
    x[:length, :, :bits] = seq
    x[length, :, bits] = 1.0  # the delimiter
    return x, seq


def repeat_copy_batch(batch: int, length: int, repeats: int, bits: int = 8, max_repeats: int = 10,
                      generator: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Inputs (L + 1 + R L + 1, B, bits + 2) and targets (R L + 1, B, bits + 1) of the repeat copy task.

    L random bit vectors, then one step carrying a delimiter (channel ``bits``) and the
    repeat count R (scaled by ``max_repeats``, as the paper normalizes it) on its own
    channel (``bits + 1``); the answer is the sequence R times over, then an end marker on
    an extra output channel (the machine must count the repeats to know when to stop).

    >>> x, y = repeat_copy_batch(2, 3, 2)
    >>> x.shape, y.shape, [round(float(v), 3) for v in x[3, 0, -2:]], y[-1, 0].tolist()
    ((11, 2, 10), (7, 2, 9), [1.0, 0.2], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    """
    g = generator if generator is not None else rng.generator()
    seq = g.integers(0, 2, (length, batch, bits)).astype(np.float32)
    answer = repeats * length + 1
    x = np.zeros((length + 1 + answer, batch, bits + 2), dtype=np.float32)
    x[:length, :, :bits] = seq
    # the delimiter marks the count's step as strongly for R = 1 as for R = 10 (the count alone,
    # 0.1 for R = 1, left two seeds in five stuck where the LSTM is: bench_ntm.py)
    x[length, :, bits] = 1.0
    x[length, :, bits + 1] = repeats / max_repeats  # the count, on the last channel
    y = np.zeros((answer, batch, bits + 1), dtype=np.float32)
    y[: answer - 1, :, :bits] = np.tile(seq, (repeats, 1, 1))
    y[-1, :, bits] = 1.0  # the end marker
    return x, y


def recall_batch(batch: int, items: int, bits: int = 6, item_length: int = 3,
                 generator: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Inputs and targets (item_length, B, bits) of the associative recall task.

    ``items`` items of ``item_length`` random bit vectors, each after a delimiter step
    (channel ``bits``); then the query: a second kind of delimiter (channel ``bits + 1``),
    one of the items (not the last), the delimiter again; the answer is the item that came
    after the query in the sequence.

    >>> x, y = recall_batch(2, 3)   # 3 items of 4 steps, the query in 5, 3 steps to answer
    >>> x.shape, y.shape
    ((20, 2, 8), (3, 2, 6))
    """
    g = generator if generator is not None else rng.generator()
    if items < 2:
        raise ValueError(f"recall_batch: {items} item(s); expected at least 2 (a query and the item after it)")
    data = g.integers(0, 2, (items, item_length, batch, bits)).astype(np.float32)
    step = item_length + 1
    total = items * step + 1 + item_length + 1 + item_length
    x = np.zeros((total, batch, bits + 2), dtype=np.float32)
    for i in range(items):
        x[i * step, :, bits] = 1.0
        x[i * step + 1 : (i + 1) * step, :, :bits] = data[i]
    q = g.integers(0, items - 1, batch)  # which item each sequence asks about
    start = items * step
    x[start, :, bits + 1] = 1.0
    cols = np.arange(batch)
    x[start + 1 : start + 1 + item_length, :, :bits] = data[q, :, cols].transpose(1, 0, 2)
    x[start + 1 + item_length, :, bits + 1] = 1.0
    y = data[q + 1, :, cols].transpose(1, 0, 2).copy()
    return x, y


@dataclass(frozen=True)
class Task:
    """One of the NTM paper's tasks: its data, the sizes it trains on and the sizes it is tested on.

    ``make(batch, size, generator)`` gives (inputs, targets), the targets being the
    sequence's last steps; ``draw(generator, limit)`` a training size; ``tests`` the sizes
    ``summary.json`` reports the bit error at (larger than any trained on: generalization).
    """

    name: str
    inputs: int
    outputs: int
    make: Any
    draw: Any
    limit: int  # the largest training size (sequence length, repeats, items), as in the paper
    tests: tuple
    size_name: str  # what the test sizes are, for the summary line

    def sizes(self, limit: int) -> int:
        """How many training sizes there are (the compiled step keeps one trace per size)."""
        return limit * limit if self.name == "repeat-copy" else limit

    @staticmethod
    def loss(logits: Tensor, target: Any) -> Tensor:
        """BCE with logits over the answer steps (the last ``len(target)`` of the output)."""
        target = target if isinstance(target, Tensor) else Tensor(target)
        return F.binary_cross_entropy_with_logits(logits[-target.shape[0] :], target)

    @staticmethod
    def bit_error(logits: Tensor, target: Any) -> float:
        """Wrong bits per sequence over the answer steps, averaged over the batch."""
        target = target.numpy() if isinstance(target, Tensor) else np.asarray(target)
        wrong = (logits.numpy()[-target.shape[0] :] > 0) != (target > 0.5)
        return float(wrong.sum(axis=(0, 2)).mean())


TASKS = {
    "copy": Task("copy", 9, 8, lambda b, n, g: copy_batch(b, n, generator=g),
                 lambda g, limit: int(g.integers(1, limit + 1)), 20, (10, 20, 30, 50), "lengths"),
    "repeat-copy": Task("repeat-copy", 10, 9, lambda b, n, g: repeat_copy_batch(b, n[0], n[1], generator=g),
                        lambda g, limit: (int(g.integers(1, limit + 1)), int(g.integers(1, limit + 1))), 10,
                        ((10, 10), (10, 15), (15, 10), (20, 10)), "lengths x repeats"),
    "recall": Task("recall", 8, 6, lambda b, n, g: recall_batch(b, n, generator=g),
                   lambda g, limit: int(g.integers(2, limit + 1)), 6, (6, 10, 15), "items"),
}  # fmt: skip


def task_of(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]


def copy_loss(model: nn.Module, x: np.ndarray, target: np.ndarray, record: list | None = None) -> tuple[Tensor, float]:
    """BCE over the answer steps, and the bit error per sequence (wrong bits, averaged over the batch)."""
    logits = model(Tensor(x), record)
    return Task.loss(logits, target), Task.bit_error(logits, target)


def bit_error(model: nn.Module, length: Any, batch: int = 32, seed: int = 1, task: str = "copy") -> float:
    """Mean wrong bits per sequence at ``length`` (a task's size), on fresh random sequences."""
    with no_grad():
        x, y = task_of(task).make(batch, length, np.random.default_rng(seed))
        return copy_loss(model, x, y)[1]


def build(model: str, bits: int = 8, seed: int = 0, task: str = "copy") -> nn.Module:
    """``ntm`` (LSTM controller of 100, memory 128 x 20, one read and one write head, as in the
    paper) or ``lstm`` (the baseline of about the same size: one layer of 120), sized for ``task``."""
    t = task_of(task)
    inputs, outputs = (bits + 1, bits) if task == "copy" else (t.inputs, t.outputs)
    rng.manual_seed(seed)
    if model == "ntm":
        return NTM(inputs, outputs)
    if model == "lstm":
        return LSTMBaseline(inputs, outputs)
    raise ValueError(f"{task} task: model {model!r}; expected 'ntm' or 'lstm'")


class SequenceStream(RandomStream):
    """Endless training batches of a task: each ``(inputs, targets)`` of ``batch`` sequences
    of a size drawn up to ``limit``, from one generator seeded with ``seed`` (``RandomStream``:
    its state goes into checkpoints, ``shard`` splits each batch over ranks).

    >>> stream = SequenceStream("copy", batch=2, limit=3, seed=0)
    >>> x, y = next(iter(stream))
    >>> x.shape[1:], y.shape[1:]
    ((2, 9), (2, 8))
    """

    batch_axis = 1  # sequences are (time, batch, channels)

    def __init__(self, task: str | Task, batch: int = 16, limit: int | None = None, seed: int = 0) -> None:
        super().__init__(batch, seed)
        self.task = task_of(task) if isinstance(task, str) else task
        self.limit = limit if limit is not None else self.task.limit
        self.distinct_shapes = self.task.sizes(self.limit)  # a compiled step keeps one trace per size

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        g = self.generator
        return self.task.make(self.batch, self.task.draw(g, self.limit), g)

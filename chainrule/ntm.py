"""The Neural Turing Machine (Graves, Wayne and Danihelka, 2014), built from chainrule ops.

A controller (an LSTM, or a feed-forward layer) reads and writes an N x M memory through
heads whose addressing is differentiable end to end, so the whole machine is one big
computational graph and backpropagation trains it:

1. content:        w_c = softmax(beta * cosine(k, M[i]))          (key k, strength beta > 0)
2. interpolation:  w_g = g * w_c + (1 - g) * w_prev               (gate g in (0, 1))
3. shift:          w~[i] = sum_j w_g[j] * s[(i - j) mod N]          (s over offsets -1, 0, +1)
4. sharpening:     w = w~^gamma / sum_i w~[i]^gamma                (gamma >= 1)

A read returns r = sum_i w[i] M[i]; a write erases then adds: M[i] <- M[i] (1 - w[i] e) + w[i] a.
Each step is a function of chainrule ops (no gate of its own), and each is gradchecked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import nn, ops, rng
from .autograd.tensor import Tensor, as_tensor
from .backend import array_module
from .nn import functional as F

EPS = 1e-8


# -- addressing, one function per step of the paper -------------------------------------------


def cosine_similarity(key: Tensor, memory: Tensor) -> Tensor:
    """(B, M) key against (B, N, M) memory rows -> (B, N) cosines.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> m = cr.Tensor(np.array([[[1.0, 0.0], [0.0, 2.0]]]))
    >>> cosine_similarity(cr.Tensor([[3.0, 0.0]]), m).numpy().round(3)
    array([[1., 0.]], dtype=float32)
    """
    dot = (memory @ key.unsqueeze(-1)).squeeze(-1)  # (B, N)
    norms = ops.sqrt((memory * memory).sum(axis=-1) + EPS) * ops.sqrt((key * key).sum(axis=-1, keepdims=True) + EPS)
    return dot / norms


def content_weights(key: Tensor, beta: Tensor, memory: Tensor) -> Tensor:
    """w_c = softmax(beta * cosine(k, M)): beta (B, 1) sharpens the focus on similar rows."""
    return ops.softmax(beta * cosine_similarity(key, memory), axis=-1)


def interpolate(w_content: Tensor, w_prev: Tensor, gate: Tensor) -> Tensor:
    """w_g = g w_c + (1 - g) w_prev: the gate (B, 1) chooses content or the previous location."""
    return gate * w_content + (1 - gate) * w_prev


def roll(w: Tensor, shift: int) -> Tensor:
    """w rolled by ``shift`` places along the last axis (circularly), as a differentiable op."""
    n = w.shape[-1]
    k = shift % n
    if k == 0:
        return w
    return ops.concatenate([w[..., n - k :], w[..., : n - k]], axis=-1)


def shift(w: Tensor, s: Tensor) -> Tensor:
    """Circular convolution of w (B, N) with the shift weighting s (B, 3) over offsets -1, 0, +1.

    >>> import chainrule as cr
    >>> w = cr.Tensor([[0.0, 1.0, 0.0, 0.0]])
    >>> shift(w, cr.Tensor([[0.0, 0.0, 1.0]])).numpy()   # all weight on +1: move right
    array([[0., 0., 1., 0.]], dtype=float32)
    """
    width = s.shape[-1] // 2
    return ops.stack([roll(w, o) * s[:, o + width : o + width + 1] for o in range(-width, width + 1)]).sum(axis=0)


def sharpen(w: Tensor, gamma: Tensor) -> Tensor:
    """w^gamma / sum w^gamma: gamma (B, 1) >= 1 undoes the blur that shifting causes."""
    p = (w + EPS) ** gamma
    return p / p.sum(axis=-1, keepdims=True)


def address(memory: Tensor, w_prev: Tensor, key: Tensor, beta: Tensor, gate: Tensor, s: Tensor, gamma: Tensor) -> Tensor:
    """The four steps in order: content, interpolation, shift, sharpening -> (B, N)."""
    return sharpen(shift(interpolate(content_weights(key, beta, memory), w_prev, gate), s), gamma)


def read(memory: Tensor, w: Tensor) -> Tensor:
    """r = sum_i w[i] M[i]: (B, N) weights over (B, N, M) memory -> (B, M)."""
    return (w.unsqueeze(1) @ memory).squeeze(1)


def write(memory: Tensor, w: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    """M[i] (1 - w[i] e) + w[i] a, with e in (0, 1) and a (B, M): erase, then add."""
    wc = w.unsqueeze(-1)  # (B, N, 1)
    return memory * (1 - wc * erase.unsqueeze(1)) + wc * add.unsqueeze(1)


# -- the machine ------------------------------------------------------------------------------


class Head(nn.Module):
    """Maps the controller's output to one head's addressing parameters (and, for a write
    head, its erase and add vectors)."""

    def __init__(self, controller_size: int, memory_width: int, write: bool, shifts: int = 3) -> None:
        super().__init__()
        self.m, self.is_write, self.shifts = memory_width, write, shifts
        sizes = [memory_width, 1, 1, shifts, 1] + ([memory_width, memory_width] if write else [])
        self.splits = np.cumsum([0, *sizes]).tolist()
        self.fc = nn.Linear(controller_size, sum(sizes), init="xavier")

    def forward(self, h: Tensor) -> dict[str, Tensor]:
        p = self.fc(h)
        part = [p[:, a:b] for a, b in zip(self.splits[:-1], self.splits[1:])]
        out = {
            "key": ops.tanh(part[0]),
            "beta": ops.softplus(part[1]),  # > 0
            "gate": ops.sigmoid(part[2]),  # (0, 1)
            "shift": ops.softmax(part[3], axis=-1),  # a distribution over -1, 0, +1
            "gamma": 1 + ops.softplus(part[4]),  # >= 1
        }
        if self.is_write:
            out["erase"] = ops.sigmoid(part[5])
            out["add"] = ops.tanh(part[6])
        return out


@dataclass
class State:
    memory: Tensor  # (B, N, M)
    read_weights: list[Tensor]  # per read head, (B, N)
    write_weights: list[Tensor]
    reads: list[Tensor]  # per read head, (B, M)
    controller: Any  # (h, c) for an LSTM, None for feed-forward


class NTM(nn.Module):
    """A Neural Turing Machine: controller + memory + read and write heads.

    >>> import chainrule as cr
    >>> import numpy as np
    >>> ntm = NTM(input_size=9, output_size=8, memory_size=16, memory_width=6, controller_size=20)
    >>> ntm(cr.Tensor(np.zeros((5, 2, 9)))).shape     # (time, batch, features) in, logits out
    (5, 2, 8)
    """

    def __init__(self, input_size: int, output_size: int, memory_size: int = 128, memory_width: int = 20,
                 controller_size: int = 100, controller: str = "lstm", read_heads: int = 1,
                 write_heads: int = 1) -> None:  # fmt: skip
        super().__init__()
        if controller not in ("lstm", "feedforward"):
            raise ValueError(f"NTM: controller={controller!r}; expected 'lstm' or 'feedforward'")
        self.n, self.m, self.kind = memory_size, memory_width, controller
        controller_in = input_size + read_heads * memory_width
        if controller == "lstm":
            self.controller = nn.LSTMCell(controller_in, controller_size)
        else:
            self.controller = nn.Linear(controller_in, controller_size, init="xavier")
        self.read_heads = [Head(controller_size, memory_width, write=False) for _ in range(read_heads)]
        self.write_heads = [Head(controller_size, memory_width, write=True) for _ in range(write_heads)]
        self.out = nn.Linear(controller_size + read_heads * memory_width, output_size, init="xavier")
        # small learned starting points (as in common implementations): memory bias and first reads
        self.memory_bias = nn.Parameter(np.full((memory_size, memory_width), 1e-6))
        self.read_bias = nn.Parameter(rng.generator().normal(0, 0.01, (read_heads, memory_width)))

    def initial_state(self, batch: int, dtype: Any = np.float32) -> State:
        xp = array_module(self.memory_bias.data)  # the state starts on the parameters' device
        ones = Tensor._make(xp.ones((batch, 1, 1), dtype=dtype))
        memory = ones * self.memory_bias  # (B, N, M)
        focus = xp.zeros((batch, self.n), dtype=dtype)
        focus[:, 0] = 1.0  # every head starts at row 0
        rows = Tensor._make(xp.ones((batch, 1), dtype=dtype))
        reads = [rows * self.read_bias[i] for i in range(len(self.read_heads))]
        controller = None
        if self.kind == "lstm":
            hs = self.controller.hidden_size
            controller = (Tensor._make(xp.zeros((batch, hs), dtype=dtype)), Tensor._make(xp.zeros((batch, hs), dtype=dtype)))
        return State(memory, [Tensor._make(focus) for _ in self.read_heads], [Tensor._make(focus) for _ in self.write_heads],
                     reads, controller)  # fmt: skip

    def step(self, x: Tensor, state: State) -> tuple[Tensor, State]:
        """One time step: read what the last step addressed, think, write, read again, output."""
        inp = ops.concatenate([x, *state.reads], axis=-1)
        if self.kind == "lstm":
            h, c = self.controller(inp, state.controller)
            ctrl = (h, c)
        else:
            h, ctrl = ops.tanh(self.controller(inp)), None
        memory = state.memory
        write_ws = []
        for head, w_prev in zip(self.write_heads, state.write_weights):
            p = head(h)
            w = address(memory, w_prev, p["key"], p["beta"], p["gate"], p["shift"], p["gamma"])
            memory = write(memory, w, p["erase"], p["add"])
            write_ws.append(w)
        read_ws, reads = [], []
        for head, w_prev in zip(self.read_heads, state.read_weights):
            p = head(h)
            w = address(memory, w_prev, p["key"], p["beta"], p["gate"], p["shift"], p["gamma"])
            read_ws.append(w)
            reads.append(read(memory, w))
        y = self.out(ops.concatenate([h, *reads], axis=-1))
        return y, State(memory, read_ws, write_ws, reads, ctrl)

    def forward(self, x: Any, record: list | None = None) -> Tensor:
        """(T, B, input) -> (T, B, output) logits. ``record`` collects each step's State."""
        x = as_tensor(x)
        if x.ndim != 3:
            raise ValueError(f"NTM: input has shape {x.shape}; expected (time, batch, features)")
        state = self.initial_state(x.shape[1], x.dtype)
        outs = []
        for t in range(x.shape[0]):
            y, state = self.step(x[t], state)
            outs.append(y)
            if record is not None:
                record.append(state)
        return ops.stack(outs)


class LSTMBaseline(nn.Module):
    """The copy task's baseline: an LSTM and a linear read-out.

    The default, one layer of 120 units, has 63,848 parameters for the copy task: about the
    size of the NTM (65,240), so the comparison is between architectures, not sizes.
    """

    def __init__(self, input_size: int, output_size: int, hidden_size: int = 120, num_layers: int = 1) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers=num_layers)
        self.out = nn.Linear(hidden_size, output_size, init="xavier")

    def forward(self, x: Any, record: list | None = None) -> Tensor:
        out, _ = self.lstm(x)
        t, b, h = out.shape
        return self.out(out.reshape(t * b, h)).reshape(t, b, -1)


# -- the copy task -----------------------------------------------------------------------------


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
    length = target.shape[0]
    logits = model(Tensor(x), record)[-length:]  # the answer steps
    loss = F.binary_cross_entropy_with_logits(logits, Tensor(target))
    wrong = ((logits.numpy() > 0) != (target > 0.5)).sum(axis=(0, 2))
    return loss, float(wrong.mean())


def bit_error(model: nn.Module, length: Any, batch: int = 32, seed: int = 1, task: str = "copy") -> float:
    """Mean wrong bits per sequence at ``length`` (a task's size), on fresh random sequences."""
    from .autograd.grad_mode import no_grad

    with no_grad():
        x, y = task_of(task).make(batch, length, np.random.default_rng(seed))
        return copy_loss(model, x, y)[1]


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


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


def train_copy(model_name: str = "ntm", minutes: float = 30.0, steps: int | None = None, batch: int = 16,
               lr: float = 1e-3, max_length: int = 20, seed: int = 0, out: Any = None, log: Any = None,
               progress: bool | None = None, clip: float = 1.0, compile: bool = False, task: str = "copy",
               threads: int | None = 1, anneal: float | None = 0.3,
               anneal_below: float = 1.0) -> tuple[nn.Module, list[dict[str, float]]]:  # fmt: skip
    """Train on a task of the paper (``copy`` on lengths 1..max_length, ``repeat-copy``,
    ``recall``) for ``minutes`` or ``steps``, whichever ends first.

    Adam with gradient-norm clipping. With ``out``, writes metrics.csv, curve.png,
    memory.png (for the NTM), the model (safetensors) and summary.json. ``compile=True``
    runs each step compiled (``chainrule.compile``, one trace per sequence size).
    ``threads``: BLAS threads for this run (threadpoolctl); one by default, since these
    small matrix products gain little from more and parallel runs would starve each other
    (None leaves BLAS as it is). ``max_length`` is the largest training size of any task
    (its paper value when left at 20 for a task other than copy). ``anneal``: once the
    moving-average bit error first drops below ``anneal_below`` bits per sequence, the
    learning rate is multiplied by this (once; None keeps it constant).
    """
    import io
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    from .train import held_run

    t = task_of(task)
    limit = max_length if task == "copy" or max_length != 20 else t.limit
    log = log if log is not None else io.StringIO()
    with held_run(out, log) as folder, (threadpool_limits(threads, "blas") if threads else nullcontext()):
        return _train_copy(model_name, minutes, steps, batch, lr, limit, seed, folder, log, progress, clip,
                           compile, t, anneal, anneal_below)


def _train_copy(model_name: str, minutes: float, steps: int | None, batch: int, lr: float, max_length: int, seed: int,
                out: Any, log: Any, progress: bool | None, clip: float, compile: bool = False,
                task: Task = TASKS["copy"], anneal: float | None = None,
                anneal_below: float = 1.0) -> tuple[nn.Module, list[dict[str, float]]]:  # fmt: skip
    import json
    import time

    from tqdm.auto import tqdm

    from .compiler import compile as compile_step
    from .optim import Adam, clip_grad_norm
    from .serialization import atomic_write, save, write_csv
    from .train import Diverged

    model = build(model_name, seed=seed, task=task.name)
    opt = Adam(model.parameters(), lr=lr)
    g = np.random.default_rng(seed)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    total = steps if steps is not None else 10**9
    every = max(1, min(100, total // 25))  # metrics every 100 steps; a short run's curve still gets ~25 points
    bar = tqdm(total=steps, desc=f"{task.name} task, {model_name}", disable=None if progress is None else not progress, unit="step")
    loss_avg = bits_avg = None
    norm_max = 0.0
    annealed = False
    step = 0
    def whole_step(x: np.ndarray, y: np.ndarray) -> tuple[Tensor, Tensor, Any]:
        logits = model(Tensor(x))[-y.shape[0]:]  # the answer steps
        loss = F.binary_cross_entropy_with_logits(logits, Tensor(y))
        opt.zero_grad()
        loss.backward()
        norm = clip_grad_norm(model.parameters(), clip)
        opt.step()
        return loss, logits, norm

    # one trace per sequence length (they are all kept): after those, every step is a replay
    compiled = compile_step(whole_step, max_traces=task.sizes(max_length)) if compile else None
    while step < total and time.perf_counter() - start < minutes * 60:
        x, y = task.make(batch, task.draw(g, max_length), g)
        if compiled is not None:  # the step ran whole; its numbers are checked after it
            loss, logits, norm = compiled(x, y)
            norm = float(np.asarray(norm))
            bits = float(((logits.numpy() > 0) != (y > 0.5)).sum(axis=(0, 2)).mean())
        else:
            loss, bits = copy_loss(model, x, y)
            opt.zero_grad()
            loss.backward()
            norm = clip_grad_norm(model.parameters(), clip)
        value = loss.item()
        if not (np.isfinite(value) and np.isfinite(norm)):
            what, value = ("the loss", value) if not np.isfinite(value) else ("the gradient norm", norm)
            raise Diverged(f"{task.name} task diverged at step {step + 1}: {what} became {value}; the learning rate "
                           f"(--lr {lr:g}) is likely too large; nothing was written")  # fmt: skip
        if compiled is None:
            opt.step()
        step += 1
        loss_avg = value if loss_avg is None else 0.98 * loss_avg + 0.02 * value
        bits_avg = bits if bits_avg is None else 0.98 * bits_avg + 0.02 * bits
        norm_max = max(norm_max, float(norm))  # the largest gradient norm since the last row (before clipping)
        if anneal and not annealed and bits_avg < anneal_below and step >= 100:
            # near the solution, a smaller step: at lr 1e-3 runs that had learned fell back (bench_ntm.py)
            opt.lr, annealed = lr * anneal, True
            print(f"step {step}: bit error {bits_avg:.2f} < {anneal_below:g}, learning rate {lr:g} -> {opt.lr:g}",
                  file=log)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.4f}", bits=f"{bits_avg:.2f}", refresh=False)
        if step % every == 0 or step == total:
            row = {"step": step, "sequences": step * batch, "seconds": time.perf_counter() - start, "loss": loss_avg,
                   "bit_error": bits_avg, "grad_norm_max": norm_max}  # fmt: skip
            history.append(row)
            norm_max = 0.0
        if step % 100 == 0 or step == total:
            print(f"step {step}  {row['sequences']} sequences  {row['seconds']:.0f} s  loss {loss_avg:.4f}  "
                  f"bit error {bits_avg:.2f} per sequence", file=log)  # fmt: skip
    bar.close()
    if out is not None:
        write_csv(out / "metrics.csv", history, ["step", "sequences", "seconds", "loss", "bit_error", "grad_norm_max"])
        save(model, out / f"{model_name}.safetensors", metadata={"task": task.name, "model": model_name, "steps": step})
        sizes = ["x".join(map(str, n)) if isinstance(n, tuple) else str(n) for n in task.tests]
        summary = {"task": task.name, "model": model_name, "parameters": param_count(model), "steps": step,
                   "sequences": step * batch, "seconds": time.perf_counter() - start,
                   "bit_error": {k: bit_error(model, n, task=task.name) for k, n in zip(sizes, task.tests)}}  # fmt: skip
        atomic_write(out / "summary.json", json.dumps(summary, indent=2).encode())
        print(f"bit error per sequence at {task.size_name} {'/'.join(sizes)}: "
              + " / ".join(f"{v:.2f}" for v in summary["bit_error"].values()), file=log)  # fmt: skip
        drawn = plot_copy(history, model, model_name, out, task.name)
        pictures = (["curve.png"] if history else []) + (["memory.png"] if model_name == "ntm" else []) if drawn else []
        written = ["metrics.csv", f"{model_name}.safetensors", "summary.json", *pictures]
        print(f"wrote {', '.join(written)} to {out}", file=log)
    return model, history


def plot_copy(history: list[dict[str, float]], model: nn.Module, model_name: str, out: Any, task: str = "copy") -> bool:
    """curve.png (bit error over sequences seen) and, for the NTM, memory.png: the write and
    read weightings over time for one length-10 episode, the classic NTM picture."""
    from .autograd.grad_mode import no_grad
    from .figures import pyplot, save_png

    plt = pyplot()
    if plt is None:
        return False

    if history:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        few = len(history) < 30  # a short run's few points are drawn as markers, else a lone point shows nothing
        ax.plot([h["sequences"] for h in history], [h["bit_error"] for h in history], marker="o" if few else None)
        ax.set(xlabel="sequences seen", ylabel="bit error per sequence (moving average)", yscale="log",
               title=f"{task} task, {model_name}")  # fmt: skip
        ax.set_ylim(bottom=1e-3)  # below a thousandth of a bit the average is just decaying
        fig.tight_layout()
        save_png(fig, out / "curve.png")
    if isinstance(model, NTM):
        record: list[State] = []
        with no_grad():
            t = task_of(task)
            x, y = t.make(1, {"copy": 10, "repeat-copy": (5, 3), "recall": 4}[task], np.random.default_rng(3))
            copy_loss(model, x, y, record)
        writes = np.stack([s.write_weights[0].numpy()[0] for s in record], axis=1)  # (N, T)
        reads = np.stack([s.read_weights[0].numpy()[0] for s in record], axis=1)
        rows = max(16, int(max(writes.argmax(axis=0).max(), reads.argmax(axis=0).max())) + 4)
        fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
        for ax, w, title in ((axes[0], writes, "write weighting"), (axes[1], reads, "read weighting")):
            ax.imshow(w[:rows], aspect="auto", cmap="gray_r", interpolation="nearest")
            ax.set(title=title, xlabel="time step")
        axes[0].set_ylabel("memory row")
        fig.tight_layout()
        save_png(fig, out / "memory.png")
    return True

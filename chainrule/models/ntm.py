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

from .. import nn, ops, rng
from ..autograd.tensor import Tensor, as_tensor
from ..backend import array_module

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

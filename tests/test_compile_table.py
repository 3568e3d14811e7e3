"""Compiled training steps never crash: a table of the layers people stack, at batch sizes 1, 8
and 64 and odd spatial sizes, each step compiled and replayed against the same step run eagerly.

Each row is a small model; each run makes two copies of it (the same seed), takes three training
steps with each (the first traces, the second traces again for the optimizer's new state, the
third replays) and compares the losses and every parameter after each step. Then what the table
cannot show: a loop that Numba refuses runs as its NumPy operations, with one warning naming it.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.compiler import fuse
from chainrule.nn import functional as F


def conv_bn_relu_max(c: int) -> nn.Module:  # the block that crashed at batch 64 (issue 28)
    return nn.Sequential(nn.Conv2d(c, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten())  # fmt: skip


def conv_gelu_avg(c: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c, 5, 3), nn.BatchNorm2d(5), nn.GELU(), nn.AvgPool2d(2), nn.Flatten())


def conv_dropout(c: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(c, 4, 3, stride=2, padding=1), nn.ReLU(), nn.Dropout(0.3), nn.MaxPool2d(2),
                         nn.Flatten())  # fmt: skip


IMAGES = {"conv-bn-relu-maxpool": conv_bn_relu_max, "conv-bn-gelu-avgpool": conv_gelu_avg,
          "conv-relu-dropout-maxpool": conv_dropout}  # fmt: skip
SIZES = [(1, 9, 11), (3, 13, 7)]  # channels, height, width: odd sizes, pools that drop an edge


class Head(nn.Module):
    """A body's features to 3 scores (its width found on a first call)."""

    def __init__(self, body: nn.Module, width: int) -> None:
        super().__init__()
        self.body, self.fc = body, nn.Linear(width, 3)

    def forward(self, x):
        return self.fc(self.body(x))


class Tokens(nn.Module):
    """Embedding -> LSTM -> linear, or embedding -> a Transformer encoder layer -> layer norm -> linear."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.emb = nn.Embedding(11, 8)
        if kind == "lstm":
            self.mix = nn.LSTM(8, 8, batch_first=True)
        else:
            self.mix = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.1, activation="gelu",
                                                  batch_first=True)  # fmt: skip
        self.norm = nn.LayerNorm(8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        h = self.emb(x)
        h = self.mix(h)[0] if self.kind == "lstm" else self.mix(h)
        return self.out(self.norm(h).mean(axis=1))


def vectors() -> nn.Module:
    return nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 16),
                         nn.LayerNorm(16), nn.ReLU(), nn.Linear(16, 3))  # fmt: skip


def build(row: str, size: tuple | None) -> tuple[nn.Module, np.ndarray]:
    rng = np.random.default_rng(5)
    if row in IMAGES:
        c, h, w = size
        body = IMAGES[row](c)
        width = body(cr.Tensor(np.zeros((1, c, h, w), np.float32))).shape[1]
        return Head(body, width), rng.standard_normal((1, c, h, w)).astype(np.float32)
    if row == "linear-bn-gelu-dropout-layernorm":
        return vectors(), rng.standard_normal((1, 5)).astype(np.float32)
    return Tokens(row), rng.integers(0, 11, (1, 7))


ROWS = [pytest.param(row, size, id=f"{row}-{size[0]}x{size[1]}x{size[2]}") for row in IMAGES for size in SIZES]
ROWS += [pytest.param(row, None, id=row) for row in ("linear-bn-gelu-dropout-layernorm", "lstm", "attention")]


def steps(row: str, size: tuple | None, batch: int, compiled: bool) -> list:
    cr.manual_seed(0)
    model, one = build(row, size)
    model.train()
    # SGD with momentum (state made at the first step, so the second traces again): Adam would turn
    # the rounding noise of a gradient that is 0 in exact arithmetic (attention's key bias) into
    # steps of the full learning rate, in either direction
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(batch)
    x = np.concatenate([one] * batch) if one.dtype.kind == "f" else rng.integers(0, 11, (batch, one.shape[1]))
    if x.dtype.kind == "f":
        x = x + rng.standard_normal(x.shape).astype(np.float32)
    y = rng.integers(0, 3, batch)

    def step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = cr.compile(step) if compiled else step
    out = []
    cr.manual_seed(1)  # dropout's draws: the same sequence in both runs
    for _ in range(3):
        loss = run(x, y)
        out.append((loss.item(), [p.numpy().copy() for p in model.parameters()]))
    return out


@pytest.mark.parametrize("batch", [1, 8, 64])
@pytest.mark.parametrize("row,size", ROWS)
def test_compiled_steps_replay_the_eager_steps(row, size, batch):
    if batch == 1 and row == "linear-bn-gelu-dropout-layernorm":
        pytest.skip("BatchNorm1d over a batch of one: one value per channel, which PyTorch refuses in training too")
    eager, compiled = steps(row, size, batch, False), steps(row, size, batch, True)
    for i, ((a, pa), (b, pb)) in enumerate(zip(eager, compiled)):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5, err_msg=f"loss of step {i}")
        for j, (u, v) in enumerate(zip(pa, pb)):
            np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5, err_msg=f"parameter {j} after step {i}")


def test_a_loop_numba_refuses_runs_unfused_with_one_warning(monkeypatch, caplog):
    pytest.importorskip("numba")
    from numba.core.errors import TypingError

    def refused(*args):
        raise TypingError("reshape() supports contiguous array only (made up by this test)")

    monkeypatch.setattr(fuse, "build", lambda source, name: refused)
    eager = steps("conv-bn-relu-maxpool", (1, 9, 11), 8, False)
    with caplog.at_level(logging.WARNING, logger="chainrule.compile"):
        compiled = steps("conv-bn-relu-maxpool", (1, 9, 11), 8, True)
    for (a, pa), (b, pb) in zip(eager, compiled):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
        for u, v in zip(pa, pb):
            np.testing.assert_allclose(v, u, rtol=1e-4, atol=1e-5)
    said = [r.getMessage() for r in caplog.records if "Numba could not compile" in r.getMessage()]
    assert said and all("of step" in m and "runs as its NumPy operations" in m for m in said)
    assert len(said) == len(set(said))  # each refused loop said once, not at every replay


def test_an_error_of_the_values_inside_a_loop_is_not_swallowed(monkeypatch):
    pytest.importorskip("numba")

    def broken(*args):
        raise ZeroDivisionError("not Numba's refusal: an error the user must see")

    monkeypatch.setattr(fuse, "build", lambda source, name: broken)
    with pytest.raises(ZeroDivisionError):
        steps("linear-bn-gelu-dropout-layernorm", None, 8, True)

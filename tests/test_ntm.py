"""The Neural Turing Machine: every addressing step gradchecked, a short training run, save and reload."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import ntm
from chainrule.tasks import sequence as seq
from chainrule.training import train_sequence

rng = np.random.default_rng(2)
B, N, M = 2, 6, 3


def dist(*shape):
    return rng.dirichlet(np.ones(shape[-1]), shape[:-1])


MEM, W, KEY = rng.standard_normal((B, N, M)), dist(B, N), rng.standard_normal((B, M))
BETA, GATE, SHIFT, GAMMA = rng.uniform(0.5, 3, (B, 1)), rng.uniform(0.1, 0.9, (B, 1)), dist(B, 3), rng.uniform(1, 3, (B, 1))


@pytest.mark.parametrize(
    "fn,inputs",
    [
        (ntm.cosine_similarity, (KEY, MEM)),
        (ntm.content_weights, (KEY, BETA, MEM)),
        (ntm.interpolate, (W, dist(B, N), GATE)),
        (ntm.shift, (W, SHIFT)),
        (ntm.sharpen, (W, GAMMA)),
        (ntm.address, (MEM, W, KEY, BETA, GATE, SHIFT, GAMMA)),
        (ntm.read, (MEM, W)),
        (ntm.write, (MEM, W, rng.uniform(0, 1, (B, M)), rng.standard_normal((B, M)))),
    ],
    ids=["cosine", "content", "interpolate", "shift", "sharpen", "address", "read", "write"],
)
def test_addressing_is_gradchecked(fn, inputs):
    assert cr.gradcheck(fn, *inputs)


def test_addressing_does_what_the_paper_says():
    memory = cr.Tensor(np.eye(4)[None] * 3)  # row i points along axis i
    w_c = ntm.content_weights(cr.Tensor([[0.0, 0.0, 1.0, 0.0]]), cr.Tensor([[50.0]]), memory).numpy()
    assert w_c.argmax() == 2 and w_c.max() > 0.99  # content: the matching row
    w = cr.Tensor([[0.1, 0.7, 0.2, 0.0]])
    np.testing.assert_allclose(ntm.shift(w, cr.Tensor([[1.0, 0.0, 0.0]])).numpy(), [[0.7, 0.2, 0.0, 0.1]], atol=1e-7)  # -1
    np.testing.assert_allclose(ntm.shift(w, cr.Tensor([[0.0, 0.0, 1.0]])).numpy(), [[0.0, 0.1, 0.7, 0.2]], atol=1e-7)  # +1
    sharp = ntm.sharpen(w, cr.Tensor([[4.0]])).numpy()
    assert sharp.sum() == pytest.approx(1.0) and sharp[0, 1] > 0.95  # gamma focuses
    mem = cr.Tensor(np.ones((1, 4, 2)))
    out = ntm.write(mem, cr.Tensor([[0.0, 1.0, 0.0, 0.0]]), cr.Tensor([[1.0, 0.0]]), cr.Tensor([[5.0, 5.0]])).numpy()
    np.testing.assert_allclose(out[0], [[1, 1], [5, 6], [1, 1], [1, 1]])  # row 1: erase channel 0, then add
    np.testing.assert_allclose(ntm.read(cr.Tensor(out), cr.Tensor([[0.0, 1.0, 0.0, 0.0]])).numpy(), [[5, 6]])


def test_short_training_run_learns(tmp_path):
    cr.manual_seed(0)
    untrained = seq.build("ntm")
    x, y = seq.copy_batch(32, 3, generator=np.random.default_rng(9))
    with cr.no_grad():
        before = seq.copy_loss(untrained, x, y)[0].item()
    run = train_sequence("ntm", steps=300, minutes=30, max_length=3, batch=16, out=tmp_path, progress=False)
    model, history = run.model, run.history
    with cr.no_grad():
        after = seq.copy_loss(model, x, y)[0].item()
    assert before > 0.65 and after < 0.75 * before, (before, after)  # 0.69 -> about 0.48
    assert [h["step"] for h in history] == list(range(12, 300, 12)) + [300]  # about 25 points on a short run
    assert {"metrics.csv", "weights.safetensors", "checkpoint.safetensors", "summary.json"} <= {p.name for p in tmp_path.iterdir()}


def test_saved_ntm_reloads_to_identical_outputs(tmp_path):
    a = seq.build("ntm", seed=1)
    cr.save(a, tmp_path / "ntm.safetensors")
    b = cr.load(tmp_path / "ntm.safetensors", seq.build("ntm", seed=2))
    x, _ = seq.copy_batch(2, 5)
    with cr.no_grad():
        assert np.array_equal(a(cr.Tensor(x)).numpy(), b(cr.Tensor(x)).numpy())


def test_copy_task_data():
    x, y = seq.copy_batch(4, 6, generator=np.random.default_rng(0))
    assert x.shape == (13, 4, 9) and y.shape == (6, 4, 8)
    assert np.array_equal(x[:6, :, :8], y) and (x[6, :, 8] == 1).all() and not x[7:].any()


def test_lstm_baseline_and_errors():
    assert seq.build("lstm")(cr.Tensor(np.zeros((3, 2, 9)))).shape == (3, 2, 8)
    with pytest.raises(ValueError, match="copy task: model 'gru'"):
        seq.build("gru")
    with pytest.raises(ValueError, match="controller='rnn'"):
        ntm.NTM(9, 8, controller="rnn")
    assert ntm.NTM(9, 8, memory_size=8, controller="feedforward")(cr.Tensor(np.zeros((2, 1, 9)))).shape == (2, 1, 8)


def test_train_command_runs_the_copy_task(tmp_path, capsys):
    from chainrule.cli import main

    assert main(["train", "--model", "ntm", "--task", "copy", "--steps", "10", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "step 10 " in out and "bit error per sequence at lengths 10/20/30/50" in out
    names = {p.name for p in tmp_path.iterdir()}
    assert {"metrics.csv", "weights.safetensors", "checkpoint.safetensors", "summary.json"} <= names
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert {"curves.png", "memory.png"} <= names
    wrote = out.split("wrote ")[-1].split(" to ")[0].split(", ")  # the line lists every file written
    assert set(wrote) == {n for n in names if not n.startswith(".")}
    assert main(["train", "--model", "mlp", "--task", "copy"]) == 2
    assert "the sequence tasks train --model ntm or --model lstm" in capsys.readouterr().err


def test_compiled_copy_training_follows_the_eager_run():
    runs = []
    for compiled in (False, True):
        run = train_sequence("ntm", steps=60, minutes=30, max_length=3, batch=8, seed=3, progress=False, compile=compiled)
        runs.append((run.history["train_loss"], {k: v.copy() for k, v in run.model.state_dict().items()}))
    (eager, state), (compiled, c_state) = runs
    np.testing.assert_allclose(compiled, eager, rtol=1e-4)
    for k in state:
        np.testing.assert_allclose(c_state[k], state[k], rtol=1e-3, atol=1e-5, err_msg=k)


# -- the paper's other two tasks ----------------------------------------------------------------


def test_repeat_copy_data():
    g = np.random.default_rng(0)
    x, y = seq.repeat_copy_batch(3, 4, 3, generator=g)
    assert x.shape == (4 + 1 + 13, 3, 10) and y.shape == (13, 3, 9)
    shown = x[:4, :, :8]
    np.testing.assert_array_equal(y[:12, :, :8], np.concatenate([shown] * 3))  # the sequence, three times
    assert (y[12, :, 8] == 1).all() and (y[:12, :, 8] == 0).all() and (y[12, :, :8] == 0).all()  # then the end marker
    np.testing.assert_allclose(x[4, :, 9], 0.3)  # the count, scaled by the 10 repeats of training
    assert (x[4, :, 8] == 1).all() and not x[:4, :, 8:].any()  # the delimiter, on the count's step only
    assert not x[5:].any()  # nothing but blanks while it answers


def test_recall_data_answers_the_item_after_the_query():
    g = np.random.default_rng(1)
    x, y = seq.recall_batch(64, 5, generator=g)
    assert x.shape == (5 * 4 + 1 + 3 + 1 + 3, 64, 8) and y.shape == (3, 64, 6)
    items = np.stack([x[i * 4 + 1 : i * 4 + 4, :, :6] for i in range(5)])  # (items, 3, B, 6)
    query = x[21:24, :, :6]
    assert (x[[0, 4, 8, 12, 16], :, 6] == 1).all() and (x[[20, 24], :, 7] == 1).all()  # the two delimiters
    for b in range(64):
        k = next(i for i in range(4) if np.array_equal(items[i, :, b], query[:, b]))
        np.testing.assert_array_equal(y[:, b], items[k + 1, :, b])
    with pytest.raises(ValueError, match="at least 2"):
        seq.recall_batch(2, 1)


@pytest.mark.parametrize("task,steps,limit,below", [("repeat-copy", 300, 2, 0.55), ("recall", 200, 3, 0.67)])  # from 0.69
def test_short_runs_of_the_other_tasks_learn(task, steps, limit, below, tmp_path):
    history = train_sequence("ntm", steps=steps, minutes=30, max_length=limit, batch=16, seed=0, task=task,
                             out=tmp_path, progress=False).history  # fmt: skip
    assert history[0]["train_loss"] > 0.6 and history[-1]["train_loss"] < below, history["train_loss"]
    summary = __import__("json").loads((tmp_path / "summary.json").read_text())
    assert summary["task"] == task and len(summary["bit_error"]) >= 3
    assert seq.build("lstm", task=task).out.weight.shape[0] == seq.TASKS[task].outputs

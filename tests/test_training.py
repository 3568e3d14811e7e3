"""``chainrule.training.fit``, the one loop: a user's own module, DataLoaders and schedulers,
resume after a kill, divergence, callbacks, and the sequence tasks through the same loop."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.tasks import SequenceStream, accuracy, task_of
from chainrule.training import Callback, Diverged, History, fit

F = nn.functional
ROOT = Path(__file__).resolve().parent.parent


class TwoLayer(nn.Module):
    """A user's own module: nothing chainrule train knows by name."""

    def __init__(self, d: int, hidden: int, k: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, hidden), nn.Linear(hidden, k)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def test_fit_trains_a_users_own_module_on_the_spiral():
    cr.manual_seed(0)
    model = TwoLayer(2, 100, 3)
    opt = cr.optim.SGD(model.parameters(), lr=1.0)
    X, y = cr.data.spiral(seed=0)
    weights = [model.fc1.weight, model.fc2.weight]
    history = fit(model, (X, y), loss=F.cross_entropy, optimizer=opt, epochs=1000, batch_size=300,
                  metrics={"acc": accuracy}, regularizer=lambda: 1e-3 * F.l2_penalty(weights), progress=False,
                  log=io.StringIO())  # fmt: skip
    assert isinstance(history, History) and len(history) == 1000
    assert history[-1]["train_acc"] >= 0.9, history[-1]  # seed 0: 0.99 (the lecture's 2-layer net)
    assert history["train_loss"][0] > 1.0 and history["train_loss"][-1] < 0.2


def test_fit_on_digits_with_a_dataloader_and_a_scheduler():
    pytest.importorskip("sklearn", reason="the digits need scikit-learn (the data extra)")
    cr.manual_seed(0)
    train_set, test_set = cr.data.load_digits(seed=0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = cr.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = cr.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    loader = cr.data.DataLoader(train_set, batch_size=64, shuffle=True, seed=0)
    log = io.StringIO()
    history = fit(model, loader, loss=F.cross_entropy, optimizer=opt, epochs=6, val_data=test_set, scheduler=sched,
                  metrics={"acc": accuracy}, progress=False, log=log)  # fmt: skip
    assert history["lr"] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]  # the rate each epoch trained with
    assert history[-1]["val_acc"] >= 0.95, history[-1]  # seed 0: 0.97
    lines = log.getvalue().splitlines()
    assert len(lines) == 6 and lines[-1].startswith("epoch 6/6  step ") and "val loss" in lines[-1]


def test_fit_takes_datasets_arrays_and_loaders_alike():
    X, y = cr.data.spiral(seed=0)
    runs = []
    for data in ((X, y), cr.data.ArrayDataset(X, y)):
        cr.manual_seed(0)
        model = nn.Linear(2, 3)
        runs.append(fit(model, data, loss=F.cross_entropy, optimizer=cr.optim.SGD(model.parameters(), lr=0.5),
                        epochs=2, batch_size=50, seed=3, progress=False, log=io.StringIO()))  # fmt: skip
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    model = nn.Linear(2, 3)
    opt = cr.optim.SGD(model.parameters(), lr=1)
    with pytest.raises(TypeError, match="expected a Dataset, a DataLoader"):
        fit(model, 42, loss=F.cross_entropy, optimizer=opt)
    with pytest.raises(ValueError, match="expected steps_per_epoch"):
        fit(model, iter([]), loss=F.cross_entropy, optimizer=opt)


def test_fit_batches_an_iterable_dataset_in_its_own_order_with_or_without_a_length():
    """An IterableDataset yields examples: fit batches them as PyTorch's DataLoader would (no
    shuffle), an epoch ending with the stream; a __len__ does not make it map-style."""
    X, y = cr.data.spiral(seed=0)

    class Examples(cr.data.IterableDataset):
        def __iter__(self):
            return iter(zip(X, y))

    class Counted(Examples):
        def __len__(self):
            return len(X)

    runs = []
    for data in (Examples(), Counted(), cr.data.DataLoader(cr.data.ArrayDataset(X, y), batch_size=50)):
        cr.manual_seed(0)
        model = nn.Linear(2, 3)
        seen = []
        model.register_forward_hook(lambda m, args, out: seen.append(len(args[0])))
        runs.append(fit(model, data, loss=F.cross_entropy, optimizer=cr.optim.SGD(model.parameters(), lr=0.5),
                        epochs=2, batch_size=50, progress=False, log=io.StringIO())["train_loss"])  # fmt: skip
        assert sum(seen) == 2 * len(X), type(data).__name__  # every example once an epoch
    assert runs[0] == runs[1] == runs[2]  # the same batches in the same order as the unshuffled loader


def test_a_nan_run_stops_in_one_line_before_anything_is_written(tmp_path):
    cr.manual_seed(0)
    model = TwoLayer(2, 20, 3)
    with pytest.raises(Diverged) as info:
        fit(model, cr.data.spiral(seed=0), loss=F.cross_entropy, optimizer=cr.optim.SGD(model.parameters(), lr=1e30),
            epochs=3, out=tmp_path, progress=False, log=io.StringIO())  # fmt: skip
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("training diverged at epoch 1, step ") and "learning rate (1e+30)" in msg
    assert not (tmp_path / "checkpoint.safetensors").exists() and not (tmp_path / "weights.safetensors").exists()


def test_callbacks_see_each_step_and_epoch_and_can_stop_the_run():
    seen = []

    class Watch(Callback):
        def on_train_begin(self, state):
            seen.append("begin")

        def on_step_end(self, state):
            seen.append(("step", state.step))

        def on_epoch_end(self, state):
            seen.append(("epoch", state.epoch))
            state.stop = state.epoch == 2

        def on_train_end(self, state):
            seen.append("end")
            state.summary["note"] = "stopped"

    model = nn.Linear(2, 3)
    history = fit(model, cr.data.spiral(seed=0), loss=F.cross_entropy, optimizer=cr.optim.SGD(model.parameters(),
                  lr=0.1), epochs=10, batch_size=150, callbacks=[Watch()], progress=False, log=io.StringIO())  # fmt: skip
    assert len(history) == 2
    assert seen == ["begin", ("step", 1), ("step", 2), ("epoch", 1), ("step", 3), ("step", 4), ("epoch", 2), "end"]


KILLED = textwrap.dedent("""
    import io, os, signal, sys
    sys.path.insert(0, {root!r})
    import chainrule as cr
    from chainrule.training import Callback, fit

    class Kill(Callback):
        def on_epoch_end(self, state):
            if state.epoch == 3:  # the checkpoint of epoch 2 is on disk; epoch 3's is not yet
                os.kill(os.getpid(), signal.SIGKILL)

    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(2, 50), cr.nn.ReLU(), cr.nn.Dropout(0.2), cr.nn.Linear(50, 3))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    fit(model, cr.data.spiral(seed=0), loss=cr.nn.functional.cross_entropy, optimizer=opt, epochs=5, batch_size=32,
        callbacks=[Kill()], out={out!r}, progress=False, log=io.StringIO())
""")


def _spiral_run(out: Path | None, resume: bool = False) -> tuple[nn.Module, History]:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 50), nn.ReLU(), nn.Dropout(0.2), nn.Linear(50, 3))
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    history = fit(model, cr.data.spiral(seed=0), loss=F.cross_entropy, optimizer=opt, epochs=5, batch_size=32,
                  out=out, resume=resume, progress=False, log=io.StringIO())  # fmt: skip
    return model, history


def test_a_killed_run_resumes_bit_identically(tmp_path):
    """SIGKILL during epoch 3 (dropout draws random numbers, Adam keeps state): the resumed
    run ends with exactly the weights and history of a run that was never stopped."""
    killed = subprocess.run([sys.executable, "-c", KILLED.format(root=str(ROOT), out=str(tmp_path / "run"))],
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert cr.load_metadata(tmp_path / "run" / "checkpoint.safetensors")["epoch"] == 2
    resumed, history = _spiral_run(tmp_path / "run", resume=True)
    straight, expected = _spiral_run(None)
    for k, v in straight.state_dict().items():
        assert np.array_equal(resumed.state_dict()[k], v), k
    drop = ("seconds", "examples_per_s")  # the clock differs; every number of the training does not
    assert [{k: v for k, v in r.items() if k not in drop} for r in history] == \
        [{k: v for k, v in r.items() if k not in drop} for r in expected]  # fmt: skip
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs_run"] == 5 and "weights.safetensors" in summary["files"]


def _copy_run(epochs: int, out: Path | None = None, resume: bool = False, compile: bool = False):
    task = task_of("copy")
    cr.manual_seed(1)
    model = cr.models.LSTMBaseline(9, 8, hidden_size=16)
    opt = cr.optim.Adam(model.parameters(), lr=3e-3)
    history = fit(model, SequenceStream(task, batch=4, limit=3, seed=5), loss=task.loss, optimizer=opt,
                  epochs=epochs, steps_per_epoch=4, max_grad_norm=1.0, metrics={"bit_error": task.bit_error},
                  smoothing=0.9, out=out, resume=resume, compile=compile, progress=False, log=io.StringIO())  # fmt: skip
    return model, history


def test_the_copy_task_through_fit_resumes_and_compiles(tmp_path):
    straight, expected = _copy_run(4)
    _copy_run(2, tmp_path)
    resumed, history = _copy_run(4, tmp_path, resume=True)  # the stream goes on where it stopped
    for k, v in straight.state_dict().items():
        assert np.array_equal(resumed.state_dict()[k], v), k
    assert history["train_loss"] == expected["train_loss"] and history["step"] == [4, 8, 12, 16]
    assert all(r["grad_norm_max"] > 0 for r in history)  # before clipping
    compiled, c_history = _copy_run(4, compile=True)  # one trace per sequence length (1..3)
    np.testing.assert_allclose(c_history["train_loss"], expected["train_loss"], rtol=1e-4)


def test_max_steps_and_open_ended_epochs():
    task = task_of("copy")
    model = cr.models.LSTMBaseline(9, 8, hidden_size=8)
    history = fit(model, SequenceStream(task, batch=2, limit=2), loss=task.loss, epochs=None, steps_per_epoch=3,
                  max_steps=7, optimizer=cr.optim.Adam(model.parameters()), progress=False, log=io.StringIO())  # fmt: skip
    assert history["step"] == [3, 6, 7]  # the last epoch cut short by max_steps
    with pytest.raises(ValueError, match="runs until max_steps or max_minutes"):
        fit(model, SequenceStream(task), loss=task.loss, epochs=None, steps_per_epoch=3,
            optimizer=cr.optim.Adam(model.parameters()))  # fmt: skip


def test_the_cli_copy_task_resumes_and_writes_what_a_classifier_run_writes(tmp_path, capsys):
    from chainrule.cli import main

    args = ["train", "--model", "lstm", "--task", "copy", "--batch-size", "4"]
    assert main([*args, "--steps", "50", "--out", str(tmp_path / "straight")]) == 0
    assert main([*args, "--steps", "25", "--out", str(tmp_path / "split")]) == 0
    assert main([*args, "--steps", "50", "--out", str(tmp_path / "split"), "--resume"]) == 0
    assert "resuming from epoch 25" in capsys.readouterr().out  # --steps 25: an epoch a step
    a = cr.load(tmp_path / "straight" / "weights.safetensors")
    b = cr.load(tmp_path / "split" / "weights.safetensors")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    names = {p.name for p in (tmp_path / "straight").iterdir() if not p.name.startswith(".")}
    assert {"metrics.csv", "checkpoint.safetensors", "weights.safetensors", "summary.json"} <= names
    summary = json.loads((tmp_path / "split" / "summary.json").read_text())
    assert summary["steps"] == 50 and set(summary["bit_error"]) == {"10", "20", "30", "50"}


@pytest.mark.skipif(sys.platform == "win32", reason="MPI runs on Linux and macOS here")
def test_the_copy_task_on_two_ranks_trains_as_one_process(tmp_path):
    from test_distributed import one_and_two_ranks

    args = ["train", "--model", "lstm", "--task", "copy", "--batch-size", "4", "--steps", "6", "--seed", "2"]
    two, a, b = one_and_two_ranks(tmp_path, args)
    assert two.stdout.count("bit error per sequence at lengths") == 1  # rank 0 alone prints
    for k in a:  # each rank takes half of every global batch; the averaged gradients are the same
        np.testing.assert_allclose(b[k], a[k], rtol=1e-4, atol=1e-6, err_msg=k)

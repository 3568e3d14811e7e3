"""Runs that go wrong: divergence, bad numbers, busy or bad output folders, killed runs."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import training
from chainrule.cli import main
from chainrule.training.rundir import PID, FolderBusy, claim

SPIRAL = ["train", "--model", "mlp", "--data", "spiral", "--batch-size", "100"]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("flag", [["--lr", "inf"], ["--lr", "nan"], ["--reg", "nan"], ["--reg", "inf"], ["--minutes", "inf"]])
def test_non_finite_numbers_are_bad_arguments(flag, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main([*SPIRAL, *flag, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert "is not a finite number" in capsys.readouterr().err


def test_a_diverging_run_stops_in_one_line_with_status_1(tmp_path, capsys):
    code = main([*SPIRAL, "--epochs", "3", "--lr", "1e30", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "training diverged at epoch 1, step" in err and "learning rate (1e+30)" in err
    assert "Warning" not in err and not (tmp_path / "checkpoint.safetensors").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = training.Config(model="mlp", data="spiral", epochs=1, batch_size=100, lr=0.5)
    training.train_classifier(config, out=tmp_path)
    ckpt = tmp_path / "checkpoint.safetensors"
    before = digest(ckpt)
    real = training.runs.loss_function

    def poisoned(name):
        return lambda scores, y: real(name)(scores, y) * float("nan")

    monkeypatch.setattr(training.runs, "loss_function", poisoned)
    config.epochs = 3
    with pytest.raises(training.Diverged, match=r"epoch 2, step 1: the training loss became nan.*is kept"):
        training.train_classifier(config, out=tmp_path, resume=True)
    assert digest(ckpt) == before


def test_the_copy_task_stops_too(tmp_path, capsys):
    code = main(["train", "--model", "lstm", "--task", "copy", "--steps", "30", "--lr", "1e36", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "training diverged at epoch " in err and err.count("\n") == 1


@pytest.mark.parametrize("kind", ["file", "empty", "unwritable", "under a file"])
def test_bad_out_gets_one_line_and_status_2(kind, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    out = {"file": str(a_file), "empty": "", "unwritable": "/proc/chainrule-cannot-be-here",
           "under a file": str(a_file / "sub")}[kind]  # fmt: skip
    assert main([*SPIRAL, "--epochs", "1", "--out", out]) == 2
    err = capsys.readouterr().err
    assert err.startswith("chainrule train: error: --out") and err.count("\n") == 1


def test_every_command_turns_os_errors_into_one_line(tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["graph", "x * y", "--at", "x=1,y=2", "--out", str(a_file)]) == 2
    assert main(["tour", "--report", str(a_file / "tour.html")]) == 2
    assert main(["train", "--model", "lstm", "--task", "copy", "--steps", "1", "--out", str(a_file)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("chainrule ") and "error" in line for line in err)


HOLDER = textwrap.dedent("""
    import sys, time
    from chainrule.training.rundir import claim
    with claim(sys.argv[1]):
        print("holding", flush=True)
        time.sleep(60)
""")


def hold(folder: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "holding"
    return p


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path, capsys):
    holder = hold(tmp_path)
    try:
        assert main([*SPIRAL, "--epochs", "1", "--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert f"another run (pid {holder.pid}) is writing there" in err
        with pytest.raises(FolderBusy):
            with claim(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_runs_lock_and_leftovers_are_taken_over(tmp_path, capsys):
    holder = hold(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    leftover = tmp_path / ".weights.safetensors.k1ll3d.tmp"
    leftover.write_bytes(b"half a file")
    assert (tmp_path / PID).read_text() == str(holder.pid)
    assert main([*SPIRAL, "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert f"taking over {tmp_path} from pid {holder.pid}" in capsys.readouterr().out
    assert not leftover.exists() and not (tmp_path / PID).exists()


def test_two_runs_started_together_one_wins(tmp_path):
    args = [sys.executable, "-m", "chainrule", *SPIRAL, "--epochs", "40", "--out", str(tmp_path)]
    runs = [subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 120
    results = [(p.wait(max(1, deadline - time.monotonic())), p.stderr.read()) for p in runs]
    codes = sorted(code for code, _ in results)
    if codes == [0, 0]:  # the first finished before the second started: nothing to refuse
        pytest.skip("the runs did not overlap on this machine")
    assert codes == [0, 2], results
    assert any("another run (pid" in err for _, err in results)
    assert np.isfinite(cr.load_metadata(tmp_path / "checkpoint.safetensors")["epoch"])

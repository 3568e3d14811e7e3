"""Weights and checkpoints: safetensors only, atomic writes, clear errors, exact resume."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim


def net():
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.3), nn.Linear(4, 2))


def test_save_load_round_trip_is_plain_safetensors(tmp_path):
    cr.manual_seed(0)
    a = net()
    a(cr.Tensor(np.random.default_rng(0).standard_normal((5, 3))))  # moves batch-norm statistics
    path = tmp_path / "w.safetensors"
    cr.save(a, path, metadata={"note": "hi", "shape": [1, 2]})
    from safetensors.numpy import load_file

    raw = load_file(str(path))  # any safetensors reader can open it
    assert sorted(raw) == sorted(a.state_dict())
    b = cr.load(path, net())
    for k, v in a.state_dict().items():
        assert np.array_equal(b.state_dict()[k], v), k
    assert cr.load_metadata(path) == {"note": "hi", "shape": [1, 2]}
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary left behind


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors: no such file"):
        cr.load(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(ValueError, match="bad.safetensors: not a readable safetensors file"):
        cr.load(bad)
    good = tmp_path / "lin.safetensors"
    cr.save(nn.Linear(2, 3), good)
    with pytest.raises(ValueError, match=r"lin.safetensors: .*weight has shape \(3, 2\) in the file, \(3, 5\) in the model"):
        cr.load(good, nn.Linear(5, 3))


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    cr.save({"x": np.ones(3, dtype=np.float32)}, path)
    before = path.read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        cr.save({"x": np.zeros(3, dtype=np.float32)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]


def train_steps(model, opt, steps, seed_offset=0):
    rng = np.random.default_rng(100 + seed_offset)
    for _ in range(steps):
        x = cr.Tensor(rng.standard_normal((8, 3)))
        y = rng.integers(0, 2, 8)
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("opt_cls", [optim.Adam, lambda p: optim.SGD(p, lr=0.1, momentum=0.9)])
def test_checkpoint_resume_matches_an_uninterrupted_run(tmp_path, opt_cls):
    cr.manual_seed(1)
    a = net()
    opt_a = opt_cls(a.parameters())
    train_steps(a, opt_a, 3, 0)
    train_steps(a, opt_a, 3, 1)  # dropout draws from chainrule's generator throughout

    cr.manual_seed(1)
    b = net()
    opt_b = opt_cls(b.parameters())
    train_steps(b, opt_b, 3, 0)
    cr.save_checkpoint(tmp_path / "ck.safetensors", b, opt_b, epoch=1, extra={"k": 1})
    cr.manual_seed(999)  # the interruption: state is lost
    c = net()
    opt_c = opt_cls(c.parameters())
    info = cr.load_checkpoint(tmp_path / "ck.safetensors", c, opt_c)
    assert info == {"epoch": 1, "extra": {"k": 1}}
    train_steps(c, opt_c, 3, 1)
    for k, v in a.state_dict().items():
        assert np.array_equal(c.state_dict()[k], v), k


def test_checkpoint_checks_the_optimizer(tmp_path):
    m = nn.Linear(2, 2)
    cr.save_checkpoint(tmp_path / "ck.safetensors", m, optim.Adam(m.parameters()))
    with pytest.raises(ValueError, match="optimizer is SGD, the checkpoint holds Adam"):
        cr.load_checkpoint(tmp_path / "ck.safetensors", m, optim.SGD(m.parameters()))
    cr.save(m, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not a chainrule checkpoint"):
        cr.load_checkpoint(tmp_path / "w.safetensors", m)


def test_written_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "w.safetensors"
    cr.save({"x": np.ones(1, dtype=np.float32)}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    os.chmod(path, 0o640)
    cr.save({"x": np.zeros(1, dtype=np.float32)}, path)
    assert path.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions

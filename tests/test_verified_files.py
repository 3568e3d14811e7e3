"""Weights and checkpoints: verified before anything is built or changed, reproducible byte for byte."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import models, nn, serialization
from chainrule.cli import main


def small():
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = cr.optim.Adam(net.parameters(), lr=0.01)
    net(cr.Tensor(np.ones((2, 3)))).sum().backward()
    opt.step()
    return net, opt


def rewrite_header(path, change):
    """Edit a safetensors file's JSON header (as a hostile or damaged file would be)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    change(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n :])


def test_the_same_state_saved_twice_is_byte_identical(tmp_path):
    net, opt = small()
    for name in ("a", "b"):
        cr.save(net, tmp_path / f"{name}.safetensors", metadata={"z": 1, "a": {"y": 2, "b": 3}, "m": [1]})
        cr.save_checkpoint(tmp_path / f"{name}.ckpt", net, opt, epoch=3, extra={"k": 1, "c": 2})
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    assert (tmp_path / "a.ckpt").read_bytes() == (tmp_path / "b.ckpt").read_bytes()


def test_a_flipped_bit_is_reported(tmp_path):
    net, _ = small()
    path = tmp_path / "w.safetensors"
    cr.save(net, path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x10  # one bit of the last weight
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="do not match the file's checksum"):
        cr.load(path, small()[0])


def test_unsupported_dtypes_get_a_clear_error(tmp_path):
    path = tmp_path / "bf16.safetensors"
    cr.save({"w": np.zeros(4, np.float16)}, path)
    rewrite_header(path, lambda h: h["w"].update(dtype="BF16"))
    with pytest.raises(ValueError, match="tensor 'w' has dtype BF16, which NumPy cannot hold"):
        cr.load(path)


@pytest.mark.parametrize(("damage", "words"), [
    (lambda m: m.update(epoch=json.dumps(-1)), "epoch -1"),
    (lambda m: m.update(rng=json.dumps({"bit_generator": "Evil"})), "RNG state"),
    (lambda m: m.update(optimizer=json.dumps({"type": "Adam", "hyper": {"lr": float("nan")}, "counts": [{}] * 4})), "hyperparameters"),
    (lambda m: m.update(optimizer=json.dumps({"type": "Adam", "hyper": {"lr": 1e-3, "betas": [0.9, 1.5]}, "counts": [{}] * 4})), "betas"),
    (lambda m: m.update(optimizer=json.dumps({"type": "Adam", "hyper": {"lr": 1e-3}, "counts": [{"step": -3}] * 4})), "expected a count"),
    (lambda m: m.update(optimizer=json.dumps({"type": "SGD", "hyper": {"lr": 1e-3}, "counts": []})), "the checkpoint holds SGD"),
])  # fmt: skip
def test_a_bad_checkpoint_changes_nothing(tmp_path, damage, words):
    net, opt = small()
    path = tmp_path / "c.ckpt"
    cr.save_checkpoint(path, net, opt, epoch=1)
    rewrite_header(path, lambda h: damage(h["__metadata__"]))
    target, target_opt = small()
    target_opt.step()
    before = [p.numpy().copy() for p in target.parameters()], target_opt.state_dict(), cr.rng.get_state()
    with pytest.raises(ValueError, match=words):
        cr.load_checkpoint(path, target, target_opt)
    for a, b in zip(before[0], target.parameters()):
        np.testing.assert_array_equal(a, b.numpy())
    after = target_opt.state_dict()
    assert after["param_groups"] == before[1]["param_groups"] and cr.rng.get_state() == before[2]
    assert after["state"].keys() == before[1]["state"].keys()
    for i, s0 in before[1]["state"].items():
        s1 = after["state"][i]
        assert s0.keys() == s1.keys() and all(np.array_equal(s0[k], s1[k]) for k in s0)


def test_non_finite_tensors_in_a_checkpoint_are_refused(tmp_path):
    net, opt = small()
    net[0].weight.data[0, 0] = np.nan
    path = tmp_path / "nan.ckpt"
    cr.save_checkpoint(path, net, opt)
    target = small()[0]
    with pytest.raises(ValueError, match=r"NaN or Inf in \['0.weight'\]"):
        cr.load_checkpoint(path, target, None)


@pytest.fixture
def trained(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "mlp", "--data", "spiral", "--epochs", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    return out / "weights.safetensors"


@pytest.mark.parametrize(("change", "words"), [
    (lambda c: c.update(hidden=10**6), "describes a mlp of 6,000,003 parameters, but the file holds 603 numbers"),
    (lambda c: c.update(depth=2**40), "depth 1099511627776"),
    (lambda c: c.update(model="os.system"), "model 'os.system'"),
    (lambda c: c.update(hidden="100"), "hidden '100'"),
])  # fmt: skip
def test_evaluate_refuses_a_lying_header_before_building(trained, capsys, change, words):
    def edit(h):
        cfg = json.loads(h["__metadata__"]["config"])
        change(cfg)
        h["__metadata__"]["config"] = json.dumps(cfg)

    rewrite_header(trained, edit)
    assert main(["evaluate", "--weights", str(trained)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(words, err), err


def test_parameter_count_matches_every_model():
    for name, shape in (("linear-svm", (1, 8, 8)), ("mlp", (2,)), ("cnn", (3, 12, 16)), ("alexnet-cifar", (1, 8, 8))):
        model = models.build_model(name, shape, 7, hidden=9, depth=3)
        assert models.parameter_count(name, shape, 7, hidden=9, depth=3) == sum(p.numel() for p in model.parameters())


def test_files_from_elsewhere_without_a_checksum_still_load(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"weight": np.ones((4, 3), np.float32), "bias": np.zeros(4, np.float32)}, str(path))
    net = cr.load(path, nn.Linear(3, 4))
    assert net.weight.numpy().sum() == 12
    assert serialization.load_header(path) == ({}, {"bias": (4,), "weight": (4, 3)})

"""Weights and checkpoints: safetensors only, atomic writes, clear errors, exact resume."""

from __future__ import annotations

import os

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim, serialization


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


# -- objects: checkpoints as dicts, lists and tuples, like torch.save ---------------------


def same(a, b) -> bool:
    """``a`` (loaded) is ``b`` (saved) as ``load`` promises: the same types (tuples as tuples, int
    keys as ints, in order), arrays and Tensors bit for bit (native byte order), NumPy scalars
    as the Python numbers they hold, NaN as NaN and -0.0 as -0.0."""
    if isinstance(b, np.generic):
        return same(a, b.item())
    if isinstance(b, cr.Tensor):
        return type(a) is cr.Tensor and a.requires_grad == b.requires_grad and same(a.numpy(), b.numpy())
    if isinstance(b, np.ndarray):
        native = b.dtype.newbyteorder("=")
        return (type(a) is np.ndarray and a.dtype == native and a.shape == b.shape
                and a.tobytes() == b.astype(native).tobytes())  # fmt: skip
    if isinstance(b, dict):
        return (type(a) is dict and [(type(k), k) for k in a] == [(type(k), k) for k in b]
                and all(same(a[k], b[k]) for k in b))  # fmt: skip
    if isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(b, float):
        return type(a) is float and repr(a) == repr(b)  # one repr per float: NaN is NaN, -0.0 is not 0.0
    return type(a) is type(b) and a == b


def checkpoint():
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    return {
        "model": model.state_dict(),
        "optim": {"state": {0: {"step": cr.Tensor(3.0), "exp_avg": cr.Tensor(np.ones((2, 3)), dtype="float64")},
                            1: {"step": cr.Tensor(3.0), "momentum_buffer": None}},
                  "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0, 1], "foreach": None}]},
        "epoch": 3, "losses": [1.2, 0.9, float("nan"), float("inf"), -float("inf"), -0.0], "name": "run", "best": None,
        "w": cr.Tensor([[1.0, 2.0]], requires_grad=True), "ids": cr.Tensor(np.arange(4)), "flags": np.array([True, False]),
        "scalars": (np.float32(0.1), np.int64(-7), np.bool_(True), np.float64(2.5)), "zero_d": np.array(2.5, np.float32),
        "empty": np.zeros((0, 3), np.float16), "big_endian": np.arange(3, dtype=">i4"), "nested": [(1, [2, {"3": (4,)}])],
        1: "an int key", "1": "a str key", "": {}, "huge": 10**300, "unicode": {"ключ": "värde ✓"},
    }  # fmt: skip


def test_a_checkpoint_dict_round_trips(tmp_path):
    ckpt = checkpoint()
    cr.save(ckpt, tmp_path / "ckpt.safetensors")
    back = cr.load(tmp_path / "ckpt.safetensors")
    assert same(back, ckpt)
    assert back["scalars"] == (np.float32(0.1).item(), -7, True, 2.5)  # NumPy scalars: Python numbers
    assert back["w"].dtype == np.float32 and back["optim"]["state"][0]["exp_avg"].dtype == np.float64
    assert back["zero_d"].shape == () and back["optim"]["state"][0]["step"].shape == ()
    assert not same({"a": (1,)}, {"a": [1]}) and not same({1: 0}, {"1": 0}) and not same(-0.0, 0.0)  # the helper can fail
    back["flags"][0] = False  # arrays come back writable
    back["w"].data[0, 0] = 5.0
    cr.save(ckpt, tmp_path / "again.safetensors")  # the same object gives the same bytes
    assert (tmp_path / "ckpt.safetensors").read_bytes() == (tmp_path / "again.safetensors").read_bytes()


def test_a_checkpoint_file_is_plain_safetensors_with_named_tensors(tmp_path):
    from safetensors.numpy import load_file

    path = tmp_path / "ckpt.safetensors"
    cr.save(checkpoint(), path, metadata={"note": "hi"})
    raw = load_file(str(path))  # any safetensors reader opens it: tensors named by their place
    assert {"model.weight", "model.bias", "optim.state.0.exp_avg", "w", "ids", "flags", "zero_d"} <= set(raw)
    assert raw["chainrule.object"].shape == (0,) and raw["zero_d"].shape == ()
    assert cr.load_metadata(path)["note"] == "hi"


def test_a_flat_dict_of_arrays_keeps_todays_layout(tmp_path):
    from safetensors.numpy import load_file

    arrays = {"b": np.arange(3, dtype=np.int64), "a": np.ones((2, 2), np.float32)}
    cr.save(arrays, tmp_path / "flat.safetensors", metadata={"k": 1})
    # byte for byte what save wrote before objects existed: no marker, no structure
    assert (tmp_path / "flat.safetensors").read_bytes() == serialization._encode(arrays, {"k": 1})
    assert sorted(load_file(str(tmp_path / "flat.safetensors"))) == ["a", "b"]
    back = cr.load(tmp_path / "flat.safetensors")
    assert same(back, dict(sorted(arrays.items())))
    cr.save(nn.Linear(2, 3), tmp_path / "module.safetensors")  # a module: a plain state_dict file
    assert sorted(load_file(str(tmp_path / "module.safetensors"))) == ["bias", "weight"]
    # fixed on the way: big-endian arrays were stored with a checksum the file could never match, 0-d arrays as (1,)
    cr.save({"be": np.arange(3, dtype=">f4"), "s": np.array(1.5)}, tmp_path / "odd.safetensors")
    assert same(cr.load(tmp_path / "odd.safetensors"), {"be": np.arange(3, dtype="<f4"), "s": np.array(1.5)})


def test_a_dict_of_tensors_loads_into_a_module_and_a_checkpoint_does_not(tmp_path):
    src = nn.Linear(3, 2)
    cr.save({k: cr.Tensor(v) for k, v in src.state_dict().items()}, tmp_path / "t.safetensors")
    dst = cr.load(tmp_path / "t.safetensors", nn.Linear(3, 2))
    np.testing.assert_array_equal(dst.weight.numpy(), src.weight.numpy())
    cr.save({"model": src.state_dict(), "epoch": 1}, tmp_path / "ck.safetensors")
    with pytest.raises(ValueError, match=r"ck.safetensors: the file holds a dict that is not a state_dict"):
        cr.load(tmp_path / "ck.safetensors", nn.Linear(3, 2))


def test_torch_optimizer_state_round_trips_as_torch_load_gives_it(tmp_path):
    """torch's own Adam state_dict (int keys, tuples, None, 0-d step tensors) through cr.save/cr.load
    comes back as torch.load gives it back, and a torch optimizer loaded from it steps identically."""
    torch = pytest.importorskip("torch")

    def to_cr(x):
        if isinstance(x, torch.Tensor):
            return cr.Tensor(x.detach().numpy(), requires_grad=x.requires_grad, dtype=x.detach().numpy().dtype)
        if isinstance(x, dict):
            return {k: to_cr(v) for k, v in x.items()}
        return type(x)(to_cr(v) for v in x) if isinstance(x, (list, tuple)) else x

    def to_torch(x):
        if isinstance(x, cr.Tensor):
            return torch.from_numpy(x.numpy()).requires_grad_(x.requires_grad)
        if isinstance(x, dict):
            return {k: to_torch(v) for k, v in x.items()}
        return type(x)(to_torch(v) for v in x) if isinstance(x, (list, tuple)) else x

    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.01, betas=(0.8, 0.9))
    net(torch.ones(4, 3)).sum().backward()
    opt.step()
    sd = opt.state_dict()
    torch.save(sd, tmp_path / "torch.pt")
    theirs = torch.load(tmp_path / "torch.pt", weights_only=True)
    cr.save({"optim": to_cr(sd)}, tmp_path / "ours.safetensors")
    ours = to_torch(cr.load(tmp_path / "ours.safetensors", map_location="cpu", weights_only=True)["optim"])

    def shape_of(x):  # types and keys all the way down; tensors by dtype, shape and values
        if isinstance(x, torch.Tensor):
            return ("tensor", x.dtype, tuple(x.shape), x.tolist(), x.requires_grad)
        if isinstance(x, dict):
            return [(type(k), k, shape_of(v)) for k, v in x.items()]
        return (type(x), [shape_of(v) for v in x]) if isinstance(x, (list, tuple)) else (type(x), x)

    assert shape_of(ours) == shape_of(theirs)
    stepped = []
    for state in (theirs, ours):
        torch.manual_seed(0)
        net2 = torch.nn.Linear(3, 2)
        opt2 = torch.optim.Adam(net2.parameters())
        opt2.load_state_dict(state)
        net2(torch.ones(4, 3)).sum().backward()
        opt2.step()
        stepped.append([p.detach().clone() for p in net2.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*stepped))


def fn():
    pass


class Thing:
    pass


@pytest.mark.parametrize(("value", "words"), [
    (fn, r'obj\["optim"\]\["state"\]\[0\]\["fn"\] is a function, which a file cannot hold without pickle'),
    (Thing(), r'obj\["optim"\]\["state"\]\[0\]\["fn"\] is a Thing'),
    ({1, 2}, r"is a set"),
    (b"raw", r"is a bytes"),
    (nn.Linear(2, 2), r"is a Linear, .*; save its state_dict\(\) instead"),
    (np.array([object()]), r"is an array of dtype object; expected bools, integers or float16/32/64"),
    (np.ones(2, np.complex64), r"is an array of dtype complex64"),
    (np.array(["a"]), r"is an array of dtype <U1"),
    (np.complex128(1j), r"is a NumPy complex128 scalar"),
    (np.ma.masked_array([1.0], mask=[True]), r"is a masked array"),
    ({True: 1}, r'obj\["optim"\]\["state"\]\[0\]\["fn"\] has the key True \(bool\); expected str or int keys'),
    ({1.5: 1}, r"has the key 1.5 \(float\)"),
    ({(1, 2): 1}, r"has the key \(1, 2\) \(tuple\)"),
])  # fmt: skip
def test_what_a_file_cannot_hold_is_refused_by_its_place(tmp_path, value, words):
    path = tmp_path / "c.safetensors"
    with pytest.raises(TypeError, match=words):
        cr.save({"optim": {"state": [{"fn": value}]}, "epoch": 1}, path)
    assert not path.exists() and not os.listdir(tmp_path)  # refused before anything is written


def test_cycles_depth_huge_ints_and_reserved_names_are_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    loop: list = [1]
    loop.append({"again": loop})
    with pytest.raises(ValueError, match=r'obj\[1\]\["again"\] is a list that holds itself'):
        cr.save(loop, path)
    deep: list = []
    for _ in range(63):
        deep = [deep]
    cr.save(deep, path)  # 64 levels: kept
    assert same(cr.load(path), deep)
    with pytest.raises(ValueError, match="nests dicts, lists and tuples more than 64 deep"):
        cr.save([deep], path)
    with pytest.raises(ValueError, match=r'obj\["n"\] is an int of 33220 bits, too long'):
        cr.save({"n": 10**10000}, path)
    with pytest.raises(ValueError, match=r"metadata keys \['chainrule.object', 'checksum'\] are the file's own"):
        cr.save({"x": np.ones(1)}, path, metadata={"checksum": 1, "chainrule.object": 2})
    names = {"chainrule.object": np.ones(1), "__metadata__": np.zeros(1), "a": {"b": np.ones(2)}, "a.b": np.zeros(2),
             "\ud800": np.ones(3)}  # fmt: skip
    cr.save(names, path)  # reserved, repeated and unwritable tensor names get free ones
    assert same(cr.load(path), names)


def test_load_takes_torchs_keywords(tmp_path):
    path = tmp_path / "c.safetensors"
    cr.save({"w": cr.Tensor([1.0], requires_grad=True), "a": np.ones(2)}, path)
    for kwargs in ({}, {"map_location": "cpu"}, {"device": "cpu"}, {"weights_only": True}, {"weights_only": False},
                   {"map_location": cr.device("cpu"), "weights_only": None}):  # fmt: skip
        assert same(cr.load(path, **kwargs), {"w": cr.Tensor([1.0], requires_grad=True), "a": np.ones(2)}), kwargs
    for kwargs, words in [({"map_location": {"cuda:0": "cpu"}}, "map_location is a dict; expected a device name"),
                          ({"map_location": lambda s, loc: s}, "map_location is a function"),
                          ({"map_location": "cpu", "device": "cpu"}, "got both device= and map_location="),
                          ({"weights_only": "yes"}, "weights_only='yes'; expected True, False or None"),
                          ({"module": "cpu"}, r"the second argument is the module to fill, got 'cpu'.*map_location='cpu'"),
                          ({"module": {"w": 1}}, "module is a dict; expected a chainrule Module")]:  # fmt: skip
        with pytest.raises(TypeError, match=words):
            cr.load(path, **kwargs)
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        cr.load(path, map_location="gpu")


def test_a_torch_style_checkpoint_resumes_exactly(tmp_path):
    """cr.save of {"model", "optim", "epoch"} and load_state_dict of each part continue a run as if unbroken."""
    cr.manual_seed(1)
    a = net()
    opt_a = optim.Adam(a.parameters(), lr=0.01, betas=(0.8, 0.99))
    train_steps(a, opt_a, 3, 0)
    train_steps(a, opt_a, 3, 1)  # dropout draws from chainrule's generator throughout

    cr.manual_seed(1)
    b = net()
    opt_b = optim.Adam(b.parameters(), lr=0.01, betas=(0.8, 0.99))
    train_steps(b, opt_b, 3, 0)
    cr.save({"model": b.state_dict(), "optim": opt_b.state_dict(), "epoch": 1, "rng": cr.rng.get_state()}, tmp_path / "c")
    cr.manual_seed(999)  # the interruption: state is lost
    ckpt = cr.load(tmp_path / "c")
    c = net()
    opt_c = optim.Adam(c.parameters())
    c.load_state_dict(ckpt["model"])
    opt_c.load_state_dict(ckpt["optim"])
    cr.rng.set_state(ckpt["rng"])
    assert ckpt["epoch"] == 1  # the betas (0.8, not the default 0.9) came back too, or the runs would differ
    train_steps(c, opt_c, 3, 1)
    for k, v in a.state_dict().items():
        assert np.array_equal(c.state_dict()[k], v), k


@pytest.mark.skipif(not cr.cuda_available(), reason="needs a GPU (CuPy)")
def test_map_location_puts_arrays_and_tensors_on_the_gpu(tmp_path):
    cr.save({"w": cr.Tensor([1.0, 2.0], requires_grad=True), "a": [np.arange(3)], "n": 1}, tmp_path / "c")
    back = cr.load(tmp_path / "c", map_location="cuda:0")
    assert back["w"].device == cr.device("cuda:0") and back["w"].requires_grad and back["n"] == 1
    assert cr.devices.device_of(back["a"][0]) == cr.device("cuda:0")
    np.testing.assert_array_equal(back["w"].numpy(), [1.0, 2.0])


def test_a_safetensors_file_from_torch_with_plain_string_metadata_loads(tmp_path):
    # PyTorch's and Hugging Face's safetensors files carry {"format": "pt"}: a plain string, not JSON
    from safetensors.numpy import save_file

    path = tmp_path / "hf.safetensors"
    net = cr.nn.Linear(3, 2)
    save_file({k: np.asarray(v) for k, v in net.state_dict().items()}, str(path), metadata={"format": "pt"})
    other = cr.load(path, cr.nn.Linear(3, 2))
    np.testing.assert_array_equal(other.weight.numpy(), net.weight.numpy())
    assert cr.load_metadata(path) == {"format": "pt"}
    save_file({"w": np.zeros(2, np.float32)}, str(path), metadata={"checksum": "not json"})
    with pytest.raises(ValueError, match="'checksum' is not JSON"):
        cr.load(path)

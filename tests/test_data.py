"""Data sets, the loader, and the file readers on small files written here in the real formats."""

from __future__ import annotations

import gzip
import pickle
import struct

import numpy as np
import pytest

import chainrule as cr
from chainrule import data


def test_spiral_is_the_course_recipe():
    x, y = data.spiral(50, 4, seed=1)
    assert x.shape == (200, 2) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [50] * 4
    radius = np.hypot(x[:, 0], x[:, 1])
    np.testing.assert_allclose(radius[:50], np.linspace(0, 1, 50), atol=1e-6)  # r goes 0 -> 1 along an arm
    assert np.array_equal(x, data.spiral(50, 4, seed=1)[0]) and not np.array_equal(x, data.spiral(50, 4, seed=2)[0])


def test_loader_batches_shuffles_by_seed_and_epoch():
    ds = data.ArrayDataset(np.arange(10.0)[:, None], np.arange(10))
    seen = [y.numpy().tolist() for _, y in data.DataLoader(ds, batch_size=4)]
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    loader = data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True, seed=3)
    e0 = [y.numpy().tolist() for _, y in loader]
    e1 = [y.numpy().tolist() for _, y in loader]
    assert len(e0) == 2 and all(len(b) == 4 for b in e0)
    assert e0 != e1  # a new order each epoch
    again = data.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True, seed=3)
    again.set_epoch(1)
    assert [y.numpy().tolist() for _, y in again] == e1  # ... that depends only on (seed, epoch)
    x, y = next(iter(data.DataLoader(ds, batch_size=3)))
    assert isinstance(x, cr.Tensor) and x.dtype == np.float32 and y.dtype == np.int64


def test_loader_takes_any_dataset():
    class Squares(data.Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.array([i, i * i], dtype=np.float32), i % 2

    batches = list(data.DataLoader(Squares(), batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 2), (2, 2), (1, 2)]
    assert batches[1][0].numpy().tolist() == [[2, 4], [3, 9]]


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError, match=r"DataLoader: batch_size=0; expected an int >= 1"):
        data.DataLoader(data.ArrayDataset([[1.0]], [0]), batch_size=0)


def test_digits_split():
    pytest.importorskip("sklearn", reason="scikit-learn (the data extra) provides the digits")
    train, test = data.load_digits()
    assert train.x.shape == (1438, 1, 8, 8) and test.x.shape == (359, 1, 8, 8)
    assert 0 <= train.x.min() and train.x.max() <= 1 and train.num_classes == 10


# -- MNIST IDX -------------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.astype(">u1").tobytes()


def write_mnist(folder, n_train=6, n_test=3, gz=True):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28))), ("labels-idx1-ubyte", rng.integers(0, 10, n))):
            raw = idx_bytes(arr)
            name = f"{prefix}-{kind}"
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
            else:
                (folder / name).write_bytes(raw)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reader(tmp_path, gz):
    write_mnist(tmp_path, gz=gz)
    train, test = data.load_mnist(tmp_path)
    assert train.x.shape == (6, 1, 28, 28) and test.x.shape == (3, 1, 28, 28)
    assert train.x.dtype == np.float32 and 0 <= train.x.min() and train.x.max() <= 1
    raw = data.read_idx(tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else "")))
    np.testing.assert_allclose(train.x[:, 0], raw / 255.0, rtol=1e-6)
    assert raw.dtype == np.uint8


def test_mnist_errors_name_the_file(tmp_path):
    write_mnist(tmp_path, gz=False)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="missing t10k-labels-idx1-ubyte"):
        data.load_mnist(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte"
    good = bad.read_bytes()
    bad.write_bytes(good[:-10])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: truncated"):
        data.read_idx(bad)
    bad.write_bytes(b"\x12\x34" + good[2:])
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(bad)
    gz = tmp_path / "x.gz"
    gz.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"x.gz: not a valid gzip file"):
        data.read_idx(gz)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        data.load_mnist(tmp_path / "nope")


# -- CIFAR-10 ----------------------------------------------------------------------------------

BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def write_cifar_python(folder, n=4, protocol=2):
    rng = np.random.default_rng(1)
    folder.mkdir(exist_ok=True)
    for name in BATCHES:
        batch = {b"batch_label": name.encode(), b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"filenames": [b"x.png"] * n}  # fmt: skip
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f, protocol=protocol)


def write_cifar_binary(folder, n=4):
    rng = np.random.default_rng(2)
    folder.mkdir(exist_ok=True)
    for name in BATCHES:
        rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1).astype(np.uint8)
        (folder / (name + ".bin")).write_bytes(rec.tobytes())


@pytest.mark.parametrize("protocol", [2, 4])
def test_cifar_python_batches(tmp_path, protocol):
    write_cifar_python(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train, test = data.load_cifar10(tmp_path)
    assert train.x.shape == (20, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "rb") as f:
        raw = pickle.load(f)
    np.testing.assert_allclose(test.x.reshape(4, -1), raw[b"data"] / 255.0, rtol=1e-6)
    assert test.y.tolist() == raw[b"labels"]


def test_cifar_binary_batches(tmp_path):
    write_cifar_binary(tmp_path)
    train, test = data.load_cifar10(tmp_path)
    assert train.x.shape == (20, 3, 32, 32) and train.y.max() <= 9
    raw = np.fromfile(tmp_path / "test_batch.bin", dtype=np.uint8).reshape(4, 3073)
    assert test.y.tolist() == raw[:, 0].tolist()
    (tmp_path / "data_batch_3.bin").write_bytes(raw.tobytes()[:-5])
    with pytest.raises(ValueError, match=r"data_batch_3.bin: .* 3073-byte"):
        data.load_cifar10(tmp_path)


class Rot13:
    def __reduce__(self):
        import _codecs

        return (_codecs.encode, ("hello", "rot13"))


class Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch /tmp/chainrule-pwned",))


def test_cifar_pickle_that_calls_code_is_refused(tmp_path):
    write_cifar_python(tmp_path)
    with open(tmp_path / "data_batch_2", "wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match=r"data_batch_2: refused to load (posix|os|nt)\.system"):
        data.load_cifar10(tmp_path)


def test_cifar_pickle_may_only_decode_latin1(tmp_path):
    write_cifar_python(tmp_path)
    with open(tmp_path / "data_batch_4", "wb") as f:
        pickle.dump({b"data": Rot13(), b"labels": []}, f, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="data_batch_4: refused _codecs.encode with encoding 'rot13'"):
        data.load_cifar10(tmp_path)


def test_cifar_corrupt_and_missing(tmp_path):
    write_cifar_python(tmp_path)
    good = (tmp_path / "data_batch_1").read_bytes()
    (tmp_path / "data_batch_1").write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="data_batch_1: not a readable CIFAR-10 python batch"):
        data.load_cifar10(tmp_path)
    (tmp_path / "data_batch_1").write_bytes(good)
    (tmp_path / "test_batch").unlink()
    with pytest.raises(FileNotFoundError, match="test_batch: missing"):
        data.load_cifar10(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no CIFAR-10 batches"):
        data.load_cifar10(tmp_path / "empty")

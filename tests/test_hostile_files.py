"""Readers bounded by what a file declares, and what its bytes can hold: bombs, lying headers, bad labels."""

from __future__ import annotations

import gzip
import pickle
import struct
import tracemalloc

import numpy as np
import pytest
from test_data import BATCHES, idx_bytes, write_cifar_binary, write_cifar_python, write_mnist

from chainrule import data


def traced(fn) -> tuple[float, Exception | None]:
    """Run ``fn``: its peak allocation in MiB and the refusal it raised (ValueError or a
    refused pickle), if any; anything else propagates."""
    tracemalloc.start()
    try:
        fn()
        error = None
    except (ValueError, data.RefusedPickle) as e:
        error = e
    finally:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return peak, error


def peak_mib(fn) -> tuple[float, str]:
    """Peak MiB and message of ``fn``, which must refuse its file."""
    peak, error = traced(fn)
    assert error is not None, "the file was accepted"
    return peak, str(error)


def test_a_gzip_bomb_is_refused_without_inflating_it(tmp_path):
    # the header declares 10 bytes; the stream inflates to 200 MiB of zeros
    bomb = tmp_path / "bomb-idx1-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write(bytes([0, 0, 0x08, 1]) + struct.pack(">i", 10))
        zeros = bytes(1 << 20)
        for _ in range(200):
            f.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    peak, msg = peak_mib(lambda: data.read_idx(bomb))
    assert "more data than the IDX header declares" in msg and str(bomb) in msg
    assert peak < 8


@pytest.mark.parametrize("gz", [True, False])
def test_a_header_that_lies_about_its_size_is_refused_before_allocating(tmp_path, gz):
    path = tmp_path / ("liar-idx3-ubyte" + (".gz" if gz else ""))
    raw = bytes([0, 0, 0x0E, 3]) + struct.pack(">3i", 2**31 - 1, 2**31 - 1, 2**31 - 1) + bytes(64)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    peak, msg = peak_mib(lambda: data.read_idx(path))
    assert "oversized IDX data" in msg and "(2147483647, 2147483647, 2147483647)" in msg and peak < 1


@pytest.mark.parametrize(("header", "words"), [
    (bytes([0, 0, 0x08, 1]) + struct.pack(">i", -5), "negative size"),
    (bytes([0, 0, 0x08, 0]), "declares 0 axes"),
    (bytes([0, 0, 0x08, 200]) + bytes(800), "declares 200 axes"),
    (bytes([0, 0, 0x08, 3]) + b"\x00\x00", "truncated IDX header"),
])  # fmt: skip
def test_bad_headers_are_named(tmp_path, header, words):
    path = tmp_path / "bad-idx"
    path.write_bytes(header)
    with pytest.raises(ValueError, match=words):
        data.read_idx(path)


def test_mnist_labels_must_be_class_integers_and_splits_alike(tmp_path):
    write_mnist(tmp_path, gz=False)
    labels = tmp_path / "train-labels-idx1-ubyte"
    good = labels.read_bytes()
    labels.write_bytes(idx_bytes(np.array([0, 1, 2, 3, 4, 200])))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte: labels outside 0..9 \(found 0..200\)"):
        data.load_mnist(tmp_path)
    labels.write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">i", 6) + np.zeros(6, ">f4").tobytes())
    with pytest.raises(ValueError, match="labels are float32; expected integers"):
        data.load_mnist(tmp_path)
    labels.write_bytes(good)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 14, 14))))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: images of \(14, 14\) pixels.*\(28, 28\)"):
        data.load_mnist(tmp_path)


class HugeArray:
    """Pickles as numpy's rebuilder asked for a 10^12-element array: what a hostile batch would hold."""

    def __reduce__(self):
        return np.ndarray((0,)).__reduce__()[0], (np.ndarray, (10**12,), b"B")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("data", HugeArray(), r"refused an array rebuilt as ndarray of shape \(1000000000000,\)"),
    ("data", np.array([object()] * 3, dtype=object), "refused dtype 'O8'"),
    ("labels", [0.5, 1, 2, 3], "holds something other than integers"),
    ("labels", [0, 1, 2, 10], r"labels outside 0..9"),
    ("labels", ["a", "b", "c", "d"], "holds something other than integers"),
    ("labels", [0, 1], "not one per image"),
])  # fmt: skip
def test_hostile_cifar_batches_are_refused_by_name(tmp_path, field, value, words):
    write_cifar_python(tmp_path)
    path = tmp_path / BATCHES[0]
    batch = {b"labels": [0, 1, 2, 3], b"data": np.zeros((4, 3072), np.uint8)}
    batch[field.encode()] = value
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)
    peak, msg = peak_mib(lambda: data.load_cifar10(tmp_path))
    assert str(path) in msg and peak < 64
    assert pytest.raises((ValueError, data.RefusedPickle), data.load_cifar10, tmp_path).match(words)


def test_binary_cifar_labels_are_checked(tmp_path):
    write_cifar_binary(tmp_path)
    path = tmp_path / "data_batch_2.bin"
    raw = bytearray(path.read_bytes())
    raw[0] = 11
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"data_batch_2.bin: labels outside 0..9"):
        data.load_cifar10(tmp_path)

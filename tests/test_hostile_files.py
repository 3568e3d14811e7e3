"""Readers bounded by what a file declares, and what its bytes can hold: bombs, lying headers, bad labels."""

from __future__ import annotations

import gzip
import json
import pickle
import struct
import tracemalloc

import numpy as np
import pytest
from test_data import BATCHES, idx_bytes, write_cifar_binary, write_cifar_python, write_mnist

import chainrule as cr
from chainrule import data, serialization


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


# -- objects saved by cr.save: a hostile structure is refused naming the file, and nothing runs --


def write_object(path, root, arrays=None, **body) -> None:
    """A file as ``cr.save`` writes an object, with any structure ``root`` and a valid sha256
    (anyone can compute one: it catches damage, not forgery), so each refusal below is the
    structure's own check."""
    arrays = {serialization.OBJECT: np.zeros(0, np.uint8), **(arrays or {})}
    meta = {"version": 1, "root": root, "sha256": serialization._digest(root, arrays), **body}
    path.write_bytes(serialization._encode(arrays, {serialization.OBJECT: meta}))


def nested(depth: int):
    node: dict = {"list": []}
    for _ in range(depth - 1):
        node = {"list": [node]}
    return node


W = {"w": np.ones(2, np.float32), "i": np.arange(2)}


@pytest.mark.parametrize(("root", "arrays", "words"), [
    ([1, 2], None, "a node of the stored structure is a JSON list; expected a value or a tagged object"),
    ({"evil": "os.system"}, None, r"a JSON object with keys \['evil'\]; expected one of dict, list, tuple"),
    ({"list": "abc"}, None, r"a JSON object with keys \['list'\]"),
    ({"dict": [[1.5, 2]]}, None, "not a \\[key, value\\] pair with a str or int key"),
    ({"dict": [[True, 2]]}, None, "not a \\[key, value\\] pair with a str or int key"),
    ({"dict": [["a", 1, 2]]}, None, "not a \\[key, value\\] pair"),
    ({"dict": [["a", 1], ["a", 2]]}, None, "the key 'a' appears twice in one stored dict"),
    ({"float": "1e999"}, None, r"keys \['float'\]"),
    ({"array": "nope"}, W, "refers to tensor 'nope', which the file does not hold"),
    ({"array": "chainrule.object"}, W, "refers to tensor 'chainrule.object', which the file does not hold"),
    ({"array": ["w"]}, W, r"refers to tensor \['w'\], which the file does not hold"),
    ({"list": [{"array": "w"}, {"array": "w"}, {"array": "i"}]}, W, "refers to tensor 'w' a second time"),
    ({"array": "w"}, W, r"tensors \['i'\] belong to nothing in the stored structure"),
    ({"list": [{"tensor": "w", "requires_grad": "yes"}, {"array": "i"}]}, W, r"keys \['requires_grad', 'tensor'\]"),
    ({"list": [{"tensor": "i", "requires_grad": True}, {"array": "w"}]}, W,
     "tensor 'i': Tensor: requires_grad=True needs floating-point data, got dtype int64"),
    (nested(65), None, "nests dicts, lists and tuples more than 64 deep"),
])  # fmt: skip
def test_hostile_object_structures_are_refused_by_name(tmp_path, root, arrays, words):
    path = tmp_path / "hostile.safetensors"
    write_object(path, root, arrays)
    peak, msg = peak_mib(lambda: cr.load(path))
    assert msg.startswith(f"{path}: ") and peak < 8, msg
    assert pytest.raises(ValueError, cr.load, path).match(words)


def test_hostile_object_headers_are_refused_by_name(tmp_path):
    from safetensors.numpy import save_file

    path = tmp_path / "bomb.safetensors"
    marker = {"chainrule.object": np.zeros(0, np.uint8)}
    for meta, words in [
        ("[" * 100_000 + "]" * 100_000, "the metadata nests too deeply to read as JSON"),  # a nesting bomb
        ('{"version": 1, "root": ' + "9" * 100_000 + ', "sha256": ""}', "Exceeds the limit"),  # a huge number
        ('{"version": 1, "root": NaN, "sha256": "sha256:0"}', "do not match the object's sha256"),
        ('{"version": 1, "root": 1e999, "sha256": "sha256:0"}', "do not match the object's sha256"),
        ('{"version": 2, "root": 1, "sha256": ""}', "stored in format version 2; this chainrule reads version 1"),
        ('{"version": true, "root": 1, "sha256": ""}', "is not a saved object's structure"),
        ('{"root": 1}', "is not a saved object's structure"),
        ("[]", "is not a saved object's structure"),
        (None, "is not a saved object's structure"),  # the marker without a structure
    ]:
        save_file(marker, str(path), metadata=None if meta is None else {"chainrule.object": meta})
        peak, msg = peak_mib(lambda: cr.load(path))
        assert msg.startswith(f"{path}: ") and words in msg and peak < 16, (meta[:30] if meta else meta, msg)
    save_file({"w": np.ones(1)}, str(path), metadata={"note": "[" * 100_000})  # a plain file's metadata too
    with pytest.raises(ValueError, match=f"{path}: the metadata nests too deeply"):
        cr.load(path)


def test_an_edited_or_damaged_object_file_is_refused(tmp_path):
    from test_verified_files import rewrite_header

    path = tmp_path / "ckpt.safetensors"
    cr.save({"epoch": 3, "w": cr.Tensor([1.0, 2.0])}, path)
    good = path.read_bytes()

    def edit_epoch(h):
        body = json.loads(h["__metadata__"]["chainrule.object"])
        body["root"]["dict"][0][1] = 4
        h["__metadata__"]["chainrule.object"] = json.dumps(body)

    rewrite_header(path, edit_epoch)  # the structure changed, the tensors not: the sha256 over both sees it
    with pytest.raises(ValueError, match=f"{path}: the structure and tensors do not match the object's sha256"):
        cr.load(path)
    path.write_bytes(good)
    rewrite_header(path, lambda h: h["__metadata__"].pop("checksum"))  # no file checksum, and a flipped bit:
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x40
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="do not match the object's sha256"):  # the object's own sha256 still sees it
        cr.load(path)
    path.write_bytes(good)
    rewrite_header(path, lambda h: h.update({"chainrule.objecT": h.pop("chainrule.object")}))  # the marker renamed
    with pytest.raises(ValueError, match="do not match the file's checksum"):  # cannot pass as a plain dict of arrays
        cr.load(path)

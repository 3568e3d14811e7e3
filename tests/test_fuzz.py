"""Fuzz tests: hostile bytes for every reader and hostile text for the expression parser.

Each gets an error of the documented kind (ValueError and its subclasses) or a valid
result, never another exception, a hang or a huge allocation. A few seconds each in
``make test``; ``make fuzz`` runs the same tests with many more examples.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hostile_files import traced

import chainrule as cr
from chainrule import data, nn
from chainrule.viz.expr import ExpressionError, build, parse_values

# 60 examples each in make test; the "fuzz" profile (make fuzz, tests/conftest.py) asks for thousands
_MANY = settings.default.max_examples >= 1000
QUICK = settings(max_examples=settings.default.max_examples if _MANY else 60, deadline=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


def bounded(fn, limit_mib: float = 64) -> None:
    """Run ``fn``; it may refuse its input; it may not allocate more than ``limit_mib``."""
    assert traced(fn)[0] < limit_mib


def mutate(raw: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    b = bytearray(raw)
    for pos, value in edits:
        if b:
            b[pos % len(b)] = value
    return bytes(b[:cut] if cut is not None else b)


EDITS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8)
CUT = st.none() | st.integers(0, 4000)
GOOD_IDX = bytes([0, 0, 0x08, 3]) + struct.pack(">3i", 4, 5, 6) + bytes(range(120))


@QUICK
@given(edits=EDITS, cut=CUT, gz=st.booleans())
def test_idx_reader(tmp_path_factory, edits, cut, gz):
    raw = mutate(GOOD_IDX, edits, cut)
    path = tmp_path_factory.mktemp("idx") / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    bounded(lambda: data.read_idx(path))


@QUICK
@given(header=st.binary(min_size=4, max_size=40), tail=st.binary(max_size=64), gz=st.booleans())
def test_idx_reader_on_random_headers(tmp_path_factory, header, tail, gz):
    raw = bytes([0, 0, 0x08]) + header + tail
    path = tmp_path_factory.mktemp("idx") / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    bounded(lambda: data.read_idx(path))


GOOD_PICKLE = pickle.dumps({b"labels": [1, 2], b"data": np.zeros((2, 3072), np.uint8)}, protocol=2)


@QUICK
@given(edits=EDITS, cut=CUT)
def test_cifar_unpickler(tmp_path_factory, edits, cut):
    path = tmp_path_factory.mktemp("cifar") / "data_batch_1"
    path.write_bytes(mutate(GOOD_PICKLE, edits, cut))

    bounded(lambda: data.readers._cifar_python_batch(path))


def _file_bytes(tmp: str) -> tuple[bytes, bytes]:
    """A weights file and a checkpoint of a small trained layer, as bytes to damage."""
    cr.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    net(cr.Tensor(np.ones((1, 3)))).sum().backward()
    opt.step()
    cr.save(net, f"{tmp}/w", metadata={"model": "linear"})
    cr.save_checkpoint(f"{tmp}/c", net, opt, epoch=1)
    return open(f"{tmp}/w", "rb").read(), open(f"{tmp}/c", "rb").read()


WEIGHTS, CHECKPOINT = _file_bytes(tempfile.mkdtemp())


@QUICK
@given(edits=EDITS, cut=CUT, which=st.sampled_from(["weights", "checkpoint"]))
def test_safetensors_loaders(tmp_path_factory, edits, cut, which):
    path = tmp_path_factory.mktemp("st") / "f.safetensors"
    path.write_bytes(mutate(WEIGHTS if which == "weights" else CHECKPOINT, edits, cut))
    net = nn.Linear(3, 2)
    opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    before = [p.numpy().copy() for p in net.parameters()]

    def load():
        try:
            if which == "weights":
                cr.load(path, net)
            else:
                cr.load_checkpoint(path, net, opt)
        except FileNotFoundError:
            raise AssertionError("the file is there") from None
        except ValueError:
            for a, p in zip(before, net.parameters()):  # a refused file changed nothing
                np.testing.assert_array_equal(a, p.numpy())
            raise

    bounded(load)


NAMES = st.sampled_from(["x", "y", "exp", "log", "sigmoid", "__import__", "os", "(", ")", "+", "*", "**", "/", "@",
                         ".", ",", "[", "]", "lambda", "1e999", "9", "-", "'s'", " ", "max", "=", ":"])  # fmt: skip


@QUICK
@given(tokens=st.lists(NAMES, max_size=30) | st.lists(st.text(max_size=5), max_size=10))
def test_expression_parser(tokens):
    text = "".join(tokens)
    try:
        f, _ = build(text, parse_values("x=0.5,y=-2"))
    except ExpressionError:
        return
    assert isinstance(f, cr.Tensor)


@QUICK
@given(text=st.text(max_size=40))
def test_value_parser(text):
    try:
        parse_values(text)
    except ExpressionError:
        pass


# -- objects saved by cr.save: random nested structures round-trip; damaged files load the same or are refused --

from hypothesis.extra import numpy as hnp  # noqa: E402
from test_serialization import same  # noqa: E402

DTYPES = st.sampled_from(["bool", "uint8", "int8", "uint16", "int16", "uint32", ">i4", "int64", "uint64", "float16",
                          "float32", ">f8", "float64"])  # fmt: skip
ARRAYS = hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3))
FLOAT_ARRAYS = hnp.arrays(st.sampled_from(["float32", "float64"]), hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
TENSORS = st.builds(lambda a, rg: cr.Tensor(a, requires_grad=rg, dtype=a.dtype), FLOAT_ARRAYS, st.booleans()) | st.builds(
    lambda a: cr.Tensor(a, dtype=a.dtype), hnp.arrays(st.sampled_from(["int64", "bool"]), hnp.array_shapes(min_dims=0))
)  # fmt: skip
SCALARS = hnp.arrays(DTYPES, ()).map(lambda a: a[()])  # NumPy scalars: they come back as Python numbers
LEAVES = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | ARRAYS | TENSORS | SCALARS)
KEYS = st.text(max_size=6) | st.integers(-3, 2**70)
OBJECTS = st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
                       | st.dictionaries(KEYS, inner, max_size=4), max_leaves=24)  # fmt: skip


@QUICK
@given(obj=OBJECTS)
def test_saved_objects_round_trip(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("obj") / "o.safetensors"
    cr.save(obj, path)
    assert same(cr.load(path), obj)


def _object_bytes(tmp: str) -> tuple[bytes, dict]:
    """A small checkpoint object and its file, as bytes to damage."""
    obj = {"model": nn.Linear(2, 2).state_dict(), "state": {0: {"step": cr.Tensor(3.0), "buf": None}}, "epoch": 3,
           "betas": (0.9, 0.999), "losses": [1.5, float("nan")], "name": "run", "w": cr.Tensor([1.0], requires_grad=True)}  # fmt: skip
    cr.save(obj, f"{tmp}/o", metadata={"note": "hi"})
    return open(f"{tmp}/o", "rb").read(), obj


OBJECT_FILE, OBJECT = _object_bytes(tempfile.mkdtemp())


@QUICK
@given(edits=EDITS, cut=CUT)
def test_damaged_object_files_load_the_same_object_or_are_refused(tmp_path_factory, edits, cut):
    path = tmp_path_factory.mktemp("obj") / "o.safetensors"
    raw = mutate(OBJECT_FILE, edits, cut)
    path.write_bytes(raw)
    loaded = []

    def load():
        try:
            loaded.append(cr.load(path))
        except FileNotFoundError:
            raise AssertionError("the file is there") from None

    bounded(load)  # a ValueError, or a result; nothing else
    if loaded and not same(loaded[0], OBJECT):
        # only a file whose checksum entry is itself gone *and* whose marker tensor is renamed reads as a
        # plain file from elsewhere (unchecked, as such files load): a dict of arrays, never a wrong object
        assert b'"checksum"' not in raw and b'"chainrule.object":{"dtype"' not in raw
        assert all(isinstance(v, np.ndarray) for v in loaded[0].values())

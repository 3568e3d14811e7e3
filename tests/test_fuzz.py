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

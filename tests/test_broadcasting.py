"""Hypothesis: random mutually broadcastable shapes for the binary ops and reductions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from oracle import check_op, torch

import chainrule as cr

BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "maximum": (cr.maximum, lambda a, b: torch.maximum(a, b)),
    "where": (lambda a, b: cr.where(a > b, a * b, b), lambda a, b: torch.where(a > b, a * b, b)),
}

shapes = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, min_side=1, max_side=3)


@pytest.mark.parametrize("name", sorted(BINARY))
@settings(max_examples=15, deadline=None)
@given(shapes=shapes, seed=st.integers(0, 2**16))
def test_binary_ops_broadcast_like_numpy(name, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal(s) for s in shapes.input_shapes)
    ours, theirs = BINARY[name]
    # double=False keeps the run short; second order is covered by the op table
    check_op(ours, theirs, np.asarray(a), np.asarray(b), double=False, kink=name == "maximum")


@st.composite
def shape_and_axis(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple))
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), unique_by=lambda a: a % len(shape), max_size=len(shape)))
    return shape, tuple(axes) if axes else None


@pytest.mark.parametrize("name", ["sum", "mean", "max"])
@settings(max_examples=15, deadline=None)
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=st.integers(0, 2**16))
def test_reductions_over_random_axes(name, case, keepdims, seed):
    shape, axis = case
    x = np.random.default_rng(seed).standard_normal(shape)
    dim = tuple(range(len(shape))) if axis is None else axis
    theirs = {
        "sum": lambda t: t.sum(dim=dim, keepdim=keepdims),
        "mean": lambda t: t.mean(dim=dim, keepdim=keepdims),
        "max": lambda t: torch.amax(t, dim=dim, keepdim=keepdims),
    }[name]
    check_op(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), theirs, x, double=False)

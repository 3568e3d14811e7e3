"""detect_anomaly: the first NaN/Inf names the gate, the direction, the shapes and the user's line."""

from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import chainrule as cr

HERE = __file__


def line_of(text: str) -> int:
    with open(HERE) as f:
        return next(i for i, line in enumerate(f, 1) if text in line and "line_of" not in line)


def test_forward_nan_names_the_gate_and_the_users_line():
    x = cr.Tensor([1.0, 0.0, 2.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy's own RuntimeWarning would fail the test
        with cr.detect_anomaly(), pytest.raises(cr.AnomalyError) as info:
            y = x.log()  # noqa: F841 - the culprit: log(0)
    msg = str(info.value)
    assert "Log (forward) produced -inf from inputs of shape (3,)" in msg
    assert f"{HERE}:{line_of('the culprit: log(0)')}" in msg and "y = x.log()" in msg


def test_backward_inf_names_the_gate_where_it_was_created():
    x = cr.Tensor([0.0, 4.0], requires_grad=True)
    with cr.detect_anomaly():
        y = x.sqrt()  # finite forward, infinite local gradient at 0
        loss = (y * 3.0).sum()
        with pytest.raises(cr.AnomalyError) as info:
            loss.backward()
    msg = str(info.value)
    assert msg.startswith("Sqrt (backward) produced inf in the gradient for input 0 (inputs of shape (2,))")
    assert f"{HERE}:{line_of('finite forward, infinite local')}" in msg
    assert x.grad is None


def test_nan_from_outside_the_graph_is_said_so():
    x = cr.Tensor([1.0, np.nan], requires_grad=True)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError, match="input 0 already held nan"):
        x * 2


def test_off_by_default_and_per_thread():
    x = cr.Tensor([0.0], requires_grad=True)
    with np.errstate(divide="ignore"):
        assert np.isinf(x.log().item())  # no error outside the block
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def other():
        assert inside.wait(10)
        with np.errstate(divide="ignore"):
            seen["log"] = x.log().item()  # anomaly mode of the main thread does not reach here
        done.set()

    th = threading.Thread(target=other)
    th.start()
    with cr.detect_anomaly():
        inside.set()
        assert done.wait(10)
    th.join(10)
    assert np.isinf(seen["log"])


def test_clean_graphs_run_unchanged_in_anomaly_mode():
    w = cr.Tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = cr.Tensor([-1.0, -2.0, 1.0])
    with cr.detect_anomaly():
        f = cr.sigmoid((w * x).sum())
        f.backward()
    np.testing.assert_allclose(w.grad.numpy(), [-0.196612, -0.393224, 0.196612], rtol=1e-5)

"""The same math on a GPU through CuPy: skipped where CuPy or a GPU is absent (CI has neither)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

cupy = pytest.importorskip("cupy", reason="CuPy is not installed (GPU only; the gpu extra brings it)")
try:
    cupy.cuda.runtime.getDeviceCount()
except Exception as e:  # CuPy without a usable GPU
    pytest.skip(f"CuPy finds no GPU: {e}", allow_module_level=True)


def test_forward_backward_on_the_gpu_matches_numpy():
    rng = np.random.default_rng(0)
    W, X = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    y = np.array([0, 2, 1, 1, 0])

    def loss(W, X):
        scores = X @ W.T
        return -cr.log_softmax(scores)[np.arange(5), y].mean() + (cr.relu(W) ** 2).sum()

    Wc = cr.Tensor(cupy.asarray(W), requires_grad=True, dtype="float64")
    Wn = cr.Tensor(W, requires_grad=True, dtype="float64")
    lc, ln = loss(Wc, cr.Tensor(cupy.asarray(X), dtype="float64")), loss(Wn, cr.Tensor(X, dtype="float64"))
    lc.backward()
    ln.backward()
    assert cr.backend.array_module(Wc.grad.data) is cupy
    np.testing.assert_allclose(lc.item(), ln.item(), rtol=1e-10)
    np.testing.assert_allclose(Wc.grad.numpy(), Wn.grad.numpy(), rtol=1e-10)

"""The one oracle helper: check a chainrule op against PyTorch and against finite differences.

``check_op(ours, theirs, *inputs)`` first runs chainrule's own ``gradcheck`` (no torch
needed), then runs the op in both libraries in float64 on the same values and compares
the forward output, the gradient of every float input for a random upstream gradient,
and (unless ``double=False``) the gradient of those gradients. Integer and boolean
inputs are passed through unchanged (indices, conditions). Inputs that sit on a kink
(0 for relu/abs, ties for max) pass ``kink=True``: there the finite difference is
undefined, so only the comparison with PyTorch runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import strict

import chainrule as cr

try:
    import torch
except ImportError:  # pragma: no cover - the dev extra installs it
    torch = None

RTOL, ATOL = 1e-7, 1e-9


def _is_float(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype.kind == "f"


def _ours(inputs: tuple) -> list:
    return [cr.Tensor(x, requires_grad=True, dtype=np.float64) if _is_float(x) else x for x in inputs]


def _theirs(inputs: tuple) -> list:
    out = []
    for x in inputs:
        if _is_float(x):
            out.append(torch.tensor(x, dtype=torch.float64, requires_grad=True))
        elif isinstance(x, np.ndarray):
            out.append(torch.from_numpy(x.copy()))
        else:
            out.append(x)
    return out


def _close(what: str, ours: Any, theirs: Any) -> None:
    a = ours.numpy() if isinstance(ours, cr.Tensor) else np.asarray(ours)
    b = theirs.detach().numpy(force=True) if torch is not None and isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs torch {b.shape}"
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL, err_msg=what)


def check_op(
    ours: Callable[..., cr.Tensor],
    theirs: Callable[..., Any],
    *inputs: Any,
    kink: bool = False,
    double: bool = True,
    seed: int = 0,
) -> None:
    """Gradcheck in float64; then forward, gradients and second-order gradients against torch."""
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    if not kink and float_idx:
        cr.gradcheck(ours, *inputs)  # runs without torch too
    if torch is None:
        pytest.skip("torch is not installed (the dev extra brings it): only gradcheck ran")
    rng = np.random.default_rng(seed)
    xs, ts = _ours(inputs), _theirs(inputs)

    out, tout = ours(*xs), theirs(*ts)
    _close("forward", out, tout)

    v = rng.standard_normal(out.shape)
    gs = cr.grad(out, [xs[i] for i in float_idx], grad_outputs=cr.Tensor(v, dtype=np.float64), create_graph=double, allow_unused=True)
    tgs = torch.autograd.grad(tout, [ts[i] for i in float_idx], grad_outputs=torch.tensor(v), create_graph=double, allow_unused=True)
    for i, g, tg in zip(float_idx, gs, tgs):
        if tg is None:
            assert g is None or not np.any(g.numpy()), f"input {i}: torch has no gradient, ours is nonzero"
            continue
        assert g is not None, f"input {i}: torch has a gradient, ours is None"
        _close(f"gradient of input {i}", g, tg)

    if double:
        # second order: d/dx <grad(x), w> for a random w, as a gradient of a gradient
        pairs = [(g, tg) for g, tg in zip(gs, tgs) if tg is not None and tg.requires_grad]
        if pairs:
            ws = [rng.standard_normal(g.shape) for g, _ in pairs]
            s = cr.sum(cr.stack([(g * cr.Tensor(w, dtype=np.float64)).sum() for (g, _), w in zip(pairs, ws)]))
            ts_ = sum((tg * torch.tensor(w)).sum() for (_, tg), w in zip(pairs, ws))
            targets = [xs[i] for i in float_idx]
            if s.requires_grad:
                g2 = cr.grad(s, targets, allow_unused=True)
            else:
                g2 = [None] * len(targets)
            tg2 = torch.autograd.grad(ts_, [ts[i] for i in float_idx], allow_unused=True)
            for i, a, b in zip(float_idx, g2, tg2):
                if b is None:
                    assert a is None or not np.any(a.numpy()), f"second order, input {i}: torch has none"
                    continue
                if a is None:
                    assert not np.any(b.detach().numpy(force=True)), f"second order, input {i}: ours is None"
                    continue
                _close(f"second-order gradient of input {i}", a, b)


def _moved(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Other values of the same shape and sign (so domains such as log's hold), kinks kept."""
    return np.asarray(x * (1 + 0.25 * rng.uniform(0, 1, size=x.shape)))


def check_compiled(ours: Callable[..., cr.Tensor], *inputs: Any, seed: int = 0, device: str = "cpu",
                   syncs: int = 0, module: Any = None) -> None:  # fmt: skip
    """The op compiled: traced on ``inputs``, replayed on other values of the same shapes,
    its output and the gradient of every float input equal eager chainrule's there. On
    ``device="strict"`` (the GPU's stand-in) the compiled step takes and gives device arrays,
    traced on host copies and replayed there, reading at most ``syncs`` values per replay."""
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    rng = np.random.default_rng(seed)
    place = (lambda xs: [on_device(x, device) for x in xs]) if device != "cpu" else _ours

    def forward_backward(v, *xs):
        out = ours(*xs)
        grads = cr.grad(out, [xs[i] for i in float_idx], grad_outputs=v, allow_unused=True) if float_idx else ()
        return out, [g if g is not None else cr.zeros_like(xs[i]) if hasattr(cr, "zeros_like") else None
                     for i, g in zip(float_idx, grads)]  # fmt: skip

    compiled = cr.compile(forward_backward)
    out_shape = ours(*_ours(inputs)).shape
    for trial in range(3):  # the trace, then two replays on other values
        values = inputs if trial == 0 else tuple(_moved(x, rng) if _is_float(x) else x for x in inputs)
        v = rng.standard_normal(out_shape)
        if module is not None:  # its buffers where the inputs are, for the compiled call
            move_module(module, device)
        with _gpu_like(device):
            before = strict.syncs()
            got_out, got_grads = compiled(on_device(v, device, grad=False), *place(values))
            waits = strict.syncs() - before
        if module is not None:
            move_module(module, "cpu")
        if trial and device == "strict":
            assert waits <= syncs, f"replay {trial}: {waits} reads of device values (at most {syncs} expected)"
            assert type(got_out.data) is strict.StrictArray, f"replay {trial}: the output left the device"
        if device == "cuda":
            assert got_out.device.type == "cuda", f"{'trace' if trial == 0 else f'replay {trial}'}: the output left the GPU"
        want_out, want_grads = forward_backward(cr.Tensor(v, dtype=np.float64), *_ours(values))
        what = "trace" if trial == 0 else f"replay {trial}"
        np.testing.assert_allclose(got_out.numpy(), want_out.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{what}: forward")
        for i, g, w in zip(float_idx, got_grads, want_grads):
            if w is None:
                assert g is None, f"{what}: input {i} has a gradient compiled, none eager"
                continue
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-12, atol=1e-12, err_msg=f"{what}: gradient of input {i}")
    assert compiled.traces_made == 1, f"traced {compiled.traces_made} times for one signature"


def _gpu_reason() -> str:
    """Why the CuPy half of the device tests cannot run here ("" when it can)."""
    if cr.backend._cupy_module() is None:
        return "CuPy is not installed (the gpu extra brings it): the CuPy half runs on a machine with a GPU"
    if not cr.cuda_available():
        return "CuPy finds no GPU (or no driver): the CuPy half runs on a machine with a GPU"
    return ""


# The backends every device-parametrized test runs on: NumPy always, CuPy where a GPU is, and
# "strict", NumPy arrays that keep CuPy's rules (tests/strict.py), so the GPU path runs in CI too.
# REAL_DEVICES: the ones a tensor can be moved to (``.to(device)``).
REAL_DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(bool(_gpu_reason()), reason=_gpu_reason() or "-"))]
DEVICES = [REAL_DEVICES[0], "strict", REAL_DEVICES[1]]


def on_device(x: Any, device: str, grad: bool = True) -> Any:
    """A test input on ``device``: float arrays as float64 leaves requiring grad, other arrays
    (indices, labels, masks) moved as they are, anything else unchanged. ``"strict"`` is the
    CPU's stand-in for a GPU (``tests/strict.py``)."""
    if device == "strict" and isinstance(x, np.ndarray):
        return cr.Tensor(strict.device_array(x), requires_grad=grad and _is_float(x), dtype=np.float64 if _is_float(x) else x.dtype)
    if _is_float(x):
        return cr.tensor(x, dtype=np.float64, requires_grad=grad, device=device)
    if isinstance(x, np.ndarray):
        return cr.tensor(x, dtype=x.dtype, device=device)
    return x


def _same(what: str, got: Any, want: Any, device: str) -> None:
    if device == "strict":
        assert type(got.data) is strict.StrictArray, f"{what}: a {type(got.data).__name__}, expected a device array"
    else:
        assert got.device.type == device, f"{what}: on {got.device}, expected {device}"
    a, b = got.numpy(), want.numpy()
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} on {device}, {b.shape} {b.dtype} on NumPy"
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11, err_msg=f"{what} on {device}")


@contextlib.contextmanager
def _gpu_like(device: str) -> Any:
    """On "strict", the CPU's compiled loops (Numba) are off: a GPU never runs them."""
    if device != "strict":
        yield
        return
    from chainrule.ops import kernels

    token = kernels.off.set(True)
    try:
        yield
    finally:
        kernels.off.reset(token)


def move_module(module: Any, device: str) -> None:
    """``module.to(device)``; on "strict", its buffers become stand-in device arrays (its
    parameters are the test's inputs); ``move_module(m, "cpu")`` brings everything back."""
    if device != "strict":
        module.to(device)
        return
    for m in module.modules():
        for name in getattr(m, "_buffer_names", ()):
            setattr(m, name, strict.device_array(getattr(m, name)))


def _forward_backward(ours: Callable[..., cr.Tensor], where: str, device: str, inputs: tuple, float_idx: list,
                      double: bool, seed: int, syncs: int) -> tuple:  # fmt: skip
    rng = np.random.default_rng(seed)
    xs = [on_device(x, where) for x in inputs] if where == device else _ours(inputs)
    before = strict.syncs()
    out = ours(*xs)
    v = on_device(rng.standard_normal(out.shape), where, grad=False)
    gs = cr.grad(out, [xs[i] for i in float_idx], grad_outputs=v, create_graph=double, allow_unused=True) if float_idx else []
    second = []
    pairs = [(i, g) for i, g in zip(float_idx, gs) if g is not None and g.requires_grad]
    if double and pairs:
        ws = [on_device(rng.standard_normal(g.shape), where, grad=False) for _, g in pairs]
        s = cr.stack([(g * w).sum() for (_, g), w in zip(pairs, ws)]).sum()
        second = cr.grad(s, [xs[i] for i in float_idx], allow_unused=True)
    waits = strict.syncs() - before
    assert waits <= syncs, f"{waits} reads of device values into Python during the op (at most {syncs} expected)"
    return out, gs, second


def check_on_device(ours: Callable[..., cr.Tensor], device: str, *inputs: Any, double: bool = True, seed: int = 0,
                    syncs: int = 0, module: Any = None) -> None:  # fmt: skip
    """The op on ``device``: its output, the gradient of every float input and (unless
    ``double=False``) the gradients of those gradients are computed there, stay there, and
    equal the NumPy path's float64 numbers (which ``check_op`` holds to PyTorch). On
    ``"strict"`` the op may also read at most ``syncs`` values back to the host (a label check).
    A ``module`` (a layer's buffers) is moved along for each pass, and left on the CPU."""
    float_idx = [i for i, x in enumerate(inputs) if _is_float(x)]
    results = []
    try:
        with _gpu_like(device):
            for where in ("cpu", device):  # the NumPy path first, then the same draws on the device
                if module is not None:
                    move_module(module, where)
                results.append(_forward_backward(ours, where, device, inputs, float_idx, double, seed, syncs))
    finally:
        if module is not None:
            move_module(module, "cpu")
    (out0, gs0, sec0), (out1, gs1, sec1) = results
    _same("forward", out1, out0, device)
    for name, got, want in [("gradient", gs1, gs0), ("second-order gradient", sec1, sec0)]:
        assert len(got) == len(want)
        for i, a, b in zip(float_idx, got, want):
            assert (a is None) == (b is None), f"{name} of input {i}: None on one device only"
            if a is not None:
                _same(f"{name} of input {i}", a, b, device)


def op_table(cases: list) -> tuple:
    """The three tests every op table runs on its rows (``pytest.param(ours, theirs, inputs, kink,
    double)``): against PyTorch and gradcheck, compiled and replayed, and on each device. A test
    file binds them to module names so pytest collects them:
    ``test_against_torch, test_compiled, test_on_device = op_table(CASES)``."""
    rows = pytest.mark.parametrize("ours,theirs,inputs,kink,double", cases)
    on_devices = pytest.mark.parametrize("device", DEVICES)  # strict, cuda: traced on host copies, replayed there

    @rows
    def test_against_torch(ours: Any, theirs: Any, inputs: tuple, kink: bool, double: bool) -> None:
        check_op(ours, theirs, *inputs, kink=kink, double=double)

    @on_devices
    @rows
    def test_compiled(ours: Any, theirs: Any, inputs: tuple, kink: bool, double: bool, device: str) -> None:
        check_compiled(ours, *inputs, device=device)

    @on_devices
    @rows
    def test_on_device(ours: Any, theirs: Any, inputs: tuple, kink: bool, double: bool, device: str) -> None:
        check_on_device(ours, device, *inputs, double=double)

    return test_against_torch, test_compiled, test_on_device


def table_rows(cases: list) -> Callable[..., None]:
    """``case(name, ours, theirs, *inputs, kink=False, double=True)``, which adds one row to the op
    table ``cases`` (a list or a 0-d NumPy scalar becomes an array, as the oracle takes arrays)."""

    def case(name: str, ours: Any, theirs: Any, *inputs: Any, kink: bool = False, double: bool = True) -> None:
        inputs = tuple(np.asarray(x) if isinstance(x, (np.generic, list)) else x for x in inputs)
        cases.append(pytest.param(ours, theirs, inputs, kink, double, id=name))

    return case

"""Special functions without SciPy: erf, the normal distribution's Phi and phi, and the GELU gate.

``erf`` works on arrays (NumPy's; CuPy's go to ``cupyx.scipy.special.erf``):

- float64: W. J. Cody's rational Chebyshev approximations, "Rational Chebyshev approximations
  for the error function", Math. Comp. 23 (1969) 631-638, as in his SPECFUN routine CALERF
  (netlib.org/specfun/erf): three pieces over |x|, each good to about 1e-18 in exact
  arithmetic, so a few units in the last place in float64.
- float32: the rational polynomial that Eigen (``generic_fast_erf_float``) and XLA
  (``ErfImpl32``) use for float erf, x P(x^2) / Q(x^2) on x clamped to [-4, 4] (erf(4) is 1 in
  float32), computed in float32: within 4.2e-7 of erf (7 units in the last place near 1; PyTorch's
  Sleef erf is within 1), its result clamped to [-1, 1], which it overshoots by 2 units.

Each is a chain of in-place NumPy passes run on blocks of ``_BLOCK`` elements, so a block's
buffers stay in cache between passes (a float32 erf over 512K elements: 3.0 ms in one go,
1.4 ms by blocks). Where Numba is installed (``chainrule.ops.kernels``), float32 runs the same
operations as one loop, with fused multiply-adds: 0.25 ms (equal to the passes within a few
units in the last place).

``Gelu`` is x Phi(x) as one gate, fused for speed: the composite through ``Erf`` took 11x
PyTorch's time in float32 (see bench/bench_engine.py for today's numbers).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np

from .. import threads
from ..autograd.function import Context, Function, call
from ..autograd.tensor import Tensor
from ..backend import array_module
from . import kernels

_BLOCK = 1 << 16  # elements a pass: 64K float32 are 256 KB, so a block's few buffers stay in the L2 cache
_SPAN = 1 << 17  # elements a thread's part holds at least (``threads.parallel``): fewer run on one thread
_INV_SQRT2 = 1 / math.sqrt(2)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _horner(t: Any, coeffs: tuple) -> Any:
    """sum_k coeffs[k] t^(n-k) (highest degree first) in a new array: two passes a degree."""
    if coeffs[0] == 1:
        p = t + coeffs[1]
    else:
        p = t * coeffs[0]
        p += coeffs[1]
    for c in coeffs[2:]:
        p *= t
        p += c
    return p


def _blockwise(kernel: Any, *arrays: Any) -> None:
    """``kernel(*arrays)``, which writes its last arguments in place, run on blocks of NumPy arrays
    of one shape (the outputs fresh and contiguous, so their flat views are themselves). Other
    arrays (a compiled step's traced ones, a device's) go in one call: one operation each on the tape."""
    n = arrays[0].size
    if n <= _BLOCK or any(type(a) is not np.ndarray for a in arrays):
        kernel(*arrays)
        return
    flat = [a.reshape(-1) for a in arrays]
    for s in range(0, n, _BLOCK):
        kernel(*[f[s : s + _BLOCK] for f in flat])


# -- erf in float64: Cody's three pieces --------------------------------------------------
# Each piece's coefficients as CALERF lists them, highest degree first for _horner; y = |x|.
_NEAR0 = ((0.185777706184603153, 3.16112374387056560, 113.864154151050156, 377.485237685302021,
           3209.37758913846947),
          (1.0, 23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062))  # fmt: skip
_MIDDLE = ((2.15311535474403846e-8, 0.564188496988670089, 8.88314979438837594, 66.1191906371416295,
            298.635138197400131, 881.952221241769090, 1712.04761263407058, 2051.07837782607147,
            1230.33935479799725),
           (1.0, 15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
            3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942))  # fmt: skip
_TAIL = ((0.0163153871373020978, 0.305326634961232344, 0.360344899949804439, 0.125781726111229246,
          0.0160837851487422766, 6.58749161529837803e-4),
         (1.0, 2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191,
          0.00233520497626869185))  # fmt: skip
_THRESH = 0.46875  # CALERF's first break point


def _erf_near0(y: Any) -> Any:
    """erf(y) for 0 <= y <= 0.46875: y P(y^2) / Q(y^2)."""
    y2 = y * y
    return y * _horner(y2, _NEAR0[0]) / _horner(y2, _NEAR0[1])


# In the two erfc pieces CALERF splits exp(-y^2) into exp(-ysq^2) exp(-del) to keep erfc's
# relative error small far out; erf = 1 - erfc needs only erfc's absolute error, which the
# single exp keeps below 1e-17 (the rounding of y^2 costs y^2 * 1.1e-16 of erfc(y) relative,
# and erfc(y) y^2 < 0.2): one exp instead of two.


def _erfc_middle(y: Any) -> Any:
    """erfc(y) for 0.46875 <= y <= 4: exp(-y^2) P(y) / Q(y)."""
    return array_module(y).exp(-(y * y)) * _horner(y, _MIDDLE[0]) / _horner(y, _MIDDLE[1])


def _erfc_tail(y: Any) -> Any:
    """erfc(y) for y >= 4: exp(-y^2) / y (1/sqrt(pi) - z P(z) / Q(z)), z = 1 / y^2."""
    z = 1 / (y * y)
    r = z * _horner(z, _TAIL[0]) / _horner(z, _TAIL[1])
    return array_module(y).exp(-(y * y)) * (0.56418958354775628695 - r) / y


def _erf64(x: Any) -> Any:
    xp = array_module(x)
    if type(x) is np.ndarray:
        out = np.empty_like(x)
        _blockwise(_erf64_block, x, out)
        return out
    # a device's or a traced array: a mask's size is a value, which would be read back (a GPU
    # waits) or frozen into the trace; so every piece runs on all of y, clamped to its range
    y = xp.abs(x)
    out = xp.where(y <= _THRESH, _erf_near0(xp.minimum(y, _THRESH)),
                   1 - xp.where(y > 4.0, _erfc_tail(xp.clip(y, 4.0, 27.0)), _erfc_middle(xp.clip(y, _THRESH, 4.0))))  # fmt: skip
    return xp.copysign(out, x)  # odd; erf(-0.0) = -0.0, NaN stays NaN


def _erf64_block(x: Any, out: Any) -> None:
    """Each element through its own piece only."""
    y = np.abs(x)
    near0, far = y <= _THRESH, y > 4.0
    middle = ~(near0 | far)  # NaN lands here and stays NaN
    out[near0] = _erf_near0(y[near0])
    out[middle] = 1 - _erfc_middle(y[middle])
    out[far] = 1 - _erfc_tail(np.minimum(y[far], 27.0))  # erfc(27) underflows; inf would give inf/inf
    np.copysign(out, x, out=out)


# -- erf and Phi in float32: Eigen's and XLA's rational polynomial ------------------------
_ALPHA = (-2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
          -7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)  # x^13, x^11, ..., x
_BETA = (-1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03,
         -1.42647390514189e-02)  # x^8, x^6, ..., 1  # fmt: skip


def _f32(*values: float) -> tuple:
    return tuple(np.float32(v) for v in values)


# (numerator, denominator, lim, half, shift): f(x) = shift + t P(t^2) / Q(t^2) clamped to
# [-half, half], t = x clamped to [-lim, lim]. Phi(x) = 1/2 + erf(x / sqrt(2)) / 2: the 1/sqrt(2)
# and the 1/2 folded into the coefficients (x^k's by 2^(-k/2)), which saves three passes.
_ERF32 = (_f32(*_ALPHA), _f32(*_BETA), np.float32(4.0), np.float32(1.0), np.float32(0.0))
_PHI32 = (_f32(*(0.5 * a * 2 ** -((13 - 2 * i) / 2) for i, a in enumerate(_ALPHA))),
          _f32(*(b * 2 ** -((8 - 2 * i) / 2) for i, b in enumerate(_BETA))),
          np.float32(4.0 * math.sqrt(2)), np.float32(0.5), np.float32(0.5))  # fmt: skip


def _rational32(coeffs: tuple, x: Any, out: Any) -> None:
    """out = shift + t P(t^2) / Q(t^2), t = x clamped, in float32 passes (``_rational32_loop`` in one)."""
    alpha, beta, lim, half, shift = coeffs
    t = np.clip(x, -lim, lim, out=out)  # NaN stays NaN
    t2 = t * t
    p = _horner(t2, alpha)
    p *= t
    np.divide(p, _horner(t2, beta), out=out)
    np.clip(out, -half, half, out=out)
    if shift:
        out += shift


def _gelu32(x: Any, out: Any, cdf: Any) -> None:
    _rational32(_PHI32, x, cdf)
    np.multiply(x, cdf, out=out)


# -- the same as one Numba loop (``chainrule.ops.kernels``: used where Numba is installed) ----------
# The operations of the passes above in the same order, except that each Horner step is one
# fused multiply-add (as Eigen's pmadd): 350 -> 256 us for GELU's forward over 512K elements.
# So the two paths differ by a few units in the last place (the NumPy passes round each product).


def _rational32_at(t, alpha, beta, lim, half, shift):  # noqa: ANN001, ANN202 - for Numba
    """shift + t P(t^2) / Q(t^2) clamped, t clamped first (one element of ``_rational32``)."""
    if t > lim:  # comparisons leave NaN alone, as np.clip does
        t = lim
    elif t < -lim:
        t = -lim
    t2 = t * t
    p = t2 * alpha[0]
    for k in range(1, len(alpha) - 1):
        p = (p + alpha[k]) * t2
    p = (p + alpha[len(alpha) - 1]) * t
    q = t2 * beta[0]
    for k in range(1, len(beta) - 1):
        q = (q + beta[k]) * t2
    v = p / (q + beta[len(beta) - 1])
    if v > half:
        v = half
    elif v < -half:
        v = -half
    if shift != 0:  # as the passes: erf(-0.0) stays -0.0
        v = v + shift
    return v


def _rational32_loop(x, cdf, out, alpha, beta, lim, half, shift, times_x):  # noqa: ANN001, ANN202 - for Numba
    """cdf = shift + t P(t^2) / Q(t^2) clamped, t = x clamped; and out = x * cdf if ``times_x``."""
    for i in range(x.size):
        v = _rational32_at(x[i], alpha, beta, lim, half, shift)
        cdf[i] = v
        if times_x:
            out[i] = x[i] * v


def _gelu_grad_loop(x, g, out, alpha, beta, lim, half, shift, scale):  # noqa: ANN001, ANN202 - for Numba
    """out = g (Phi(x) + x phi(x)), Phi the rational, phi(x) = scale exp(-x^2 / 2) (``kernels``'
    vectorized float32 exp): the backward in one pass."""
    for i in range(x.size):
        t = x[i]
        phi = scale * kernels._exp32(np.float32(-0.5) * t * t)
        out[i] = g[i] * (_rational32_at(t, alpha, beta, lim, half, shift) + t * phi)


_compiled: dict[str, Any] = {}
_lock = threading.Lock()


def _loop(name: str) -> Any:
    """The compiled loop ``name`` of this module, compiled once (two threads' first calls too)."""
    with _lock:
        if not _compiled:
            import numba

            # error_model="numpy": a division gives inf or NaN as NumPy's does, with no check per
            # element; "contract": multiply-adds fused, and nothing else of fast-math (NaN, inf kept)
            global _rational32_at
            kernels._compiled()  # kernels._exp32, compiled inline into the backward's loop
            _rational32_at = numba.njit(inline="always", error_model="numpy")(_rational32_at)
            jit = numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"contract"})
            _compiled.update(rational=jit(_rational32_loop), grad=jit(_gelu_grad_loop))
    return _compiled[name]


def _rational32_compiled(coeffs: tuple, x: Any, times_x: bool) -> tuple:
    """(x f(x), f(x)) if ``times_x``, else (f(x), f(x)), through the compiled loop."""
    flat = np.ascontiguousarray(x).reshape(-1)
    cdf = np.empty_like(flat)
    out = np.empty_like(flat) if times_x else cdf
    rational = _loop("rational")
    if flat.size < 2 * _SPAN:  # one thread's work
        rational(flat, cdf, out, *coeffs, times_x)
        return out.reshape(x.shape), cdf.reshape(x.shape)

    def span(start: int, stop: int) -> None:  # one thread's elements
        rational(flat[start:stop], cdf[start:stop], out[start:stop], *coeffs, times_x)

    threads.parallel(span, flat.size, threads.parts(flat.size, _SPAN))
    return out.reshape(x.shape), cdf.reshape(x.shape)


def _gelu_grad_compiled(x: Any, g: Any) -> Any:
    """g (Phi(x) + x phi(x)) in one compiled pass: Phi the forward's rational, again (the gate
    keeps x, not Phi, so its memory is PyTorch's), phi through ``kernels``' vectorized float32
    exp. Four passes a block (the rational, the exponent, NumPy's exp, the rest) took 0.65 ms
    over 512K floats."""
    shape = x.shape
    x, g = (np.ascontiguousarray(a, dtype=np.float32).reshape(-1) for a in (x, g))
    out = np.empty_like(x)
    grad = _loop("grad")
    if x.size < 2 * _SPAN:  # one thread's work
        grad(x, g, out, *_PHI32, _SCALE32)
        return out.reshape(shape)

    def span(start: int, stop: int) -> None:  # one thread's elements
        grad(x[start:stop], g[start:stop], out[start:stop], *_PHI32, _SCALE32)

    threads.parallel(span, x.size, threads.parts(x.size, _SPAN))
    return out.reshape(shape)


_SCALE32 = np.float32(_INV_SQRT_2PI)


def _loop_usable(x: Any) -> bool:
    return x.dtype == np.float32 and kernels.usable(x)


# -- on arrays ----------------------------------------------------------------------------------


def _floating(x: Any) -> tuple[Any, Any]:
    """(x in the dtype the math runs in, the dtype to answer in): float16 runs in float32;
    integers and booleans in float64, as NumPy's exp does."""
    if x.dtype == np.float16:
        return x.astype(np.float32), x.dtype
    if x.dtype.kind != "f":
        return x.astype(np.float64), np.dtype(np.float64)
    return x, x.dtype


def erf(x: Any) -> Any:
    """The error function of an array: 2/sqrt(pi) times the integral of exp(-t^2) from 0 to x.

    float64 to a few units in the last place (Cody), float32 to about 1e-7 (Eigen's and XLA's
    rational polynomial); see the module's docstring. CuPy arrays use cupyx.

    >>> import numpy as np
    >>> erf(np.array([0.0, 0.5, -3.0]))
    array([ 0.        ,  0.52049988, -0.99997791])
    """
    xp = array_module(x)
    if xp.__name__ != "numpy":  # pragma: no cover - GPU only
        from cupyx.scipy.special import erf as cupy_erf

        return cupy_erf(x)
    x = xp.asarray(x)
    x, dtype = _floating(x)
    if x.dtype != np.float32:
        return _erf64(x.astype(np.float64, copy=False)).astype(dtype, copy=False)
    if _loop_usable(x):
        return kernels.run(_rational32_compiled, _ERF32, x, False)[0].astype(dtype, copy=False)
    out = xp.empty_like(x)
    _blockwise(functools.partial(_rational32, _ERF32), x, out)
    return out.astype(dtype, copy=False)


def ndtr(x: Any) -> Any:
    """Phi(x), the standard normal distribution function (SciPy's name): (1 + erf(x / sqrt(2))) / 2.

    >>> import numpy as np
    >>> ndtr(np.array([0.0, 1.0]))
    array([0.5       , 0.84134475])
    """
    xp = array_module(x)
    x = xp.asarray(x)
    x, dtype = _floating(x)
    if xp.__name__ != "numpy" or x.dtype != np.float32:
        return (0.5 + 0.5 * erf(x * _INV_SQRT2)).astype(dtype, copy=False)  # PyTorch's formula
    if _loop_usable(x):
        return kernels.run(_rational32_compiled, _PHI32, x, False)[0].astype(dtype, copy=False)
    out = xp.empty_like(x)
    _blockwise(functools.partial(_rational32, _PHI32), x, out)
    return out.astype(dtype, copy=False)


def _gelu_forward(x: Any) -> tuple[Any, Any]:
    """(x Phi(x), Phi(x)) for a float array."""
    xp = array_module(x)
    if xp.__name__ == "numpy" and x.dtype == np.float32:
        if _loop_usable(x):
            return kernels.run(_rational32_compiled, _PHI32, x, True)
        out, cdf = xp.empty_like(x), xp.empty_like(x)
        _blockwise(_gelu32, x, out, cdf)
        return out, cdf
    cdf = ndtr(x)
    return x * cdf, cdf


def _gelu_grad(x: Any, cdf: Any = None, g: Any = None) -> Any:
    """g (Phi(x) + x phi(x)) (without g: the local gradient), in place passes, by blocks; Phi(x)
    computed here unless given."""
    if g is not None and cdf is None and _loop_usable(x) and g.shape == x.shape and g.dtype == np.float32:
        return kernels.run(_gelu_grad_compiled, x, g)
    if cdf is None:
        cdf = _gelu_forward(x)[1]
    out = array_module(x).empty_like(x)

    def kernel(x: Any, cdf: Any, *rest: Any) -> None:
        out = rest[-1]
        np.multiply(x, x, out=out)
        out *= -0.5
        np.exp(out, out=out)
        out *= x
        out *= _INV_SQRT_2PI  # x phi(x)
        out += cdf
        if len(rest) == 2:
            out *= rest[0]

    _blockwise(kernel, x, cdf, out) if g is None else _blockwise(kernel, x, cdf, g, out)
    return out


# -- the gates ----------------------------------------------------------------------------------


class NormalPdf(Function):
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi); phi'(x) = -x phi(x), so it is its own backward."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        ctx.save_for_backward(x)
        return array_module(x).exp(-0.5 * (x * x)) * _INV_SQRT_2PI

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (x,) = ctx.saved_tensors
        return grad_out * -x * call(NormalPdf, x)


class GeluGrad(Function):
    """GELU's local gradient Phi(x) + x phi(x) as a gate, for gradients of gradients;
    its own derivative is 2 phi(x) - x^2 phi(x) = (2 - x^2) phi(x)."""

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        ctx.save_for_backward(x)
        x, dtype = _floating(x)
        return _gelu_grad(x, ndtr(x)).astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (x,) = ctx.saved_tensors
        return grad_out * (2 - x * x) * call(NormalPdf, x)


class Gelu(Function):
    """Exact GELU, x Phi(x) with Phi the standard normal CDF; local gradient Phi(x) + x phi(x).

    Fused for speed: Phi comes from one rational polynomial (no erf, no exp, in float32). The gate
    keeps only x, as PyTorch's does (keeping Phi too cost the GPT step 16 MiB of its 121); the
    backward makes Phi again in its first pass, then a few more (or, building a graph, ``GeluGrad``).
    """

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        x32, dtype = _floating(x)
        out, _ = _gelu_forward(x32)
        ctx.save_for_backward(x)  # Phi(x) is made again in the backward: one pass, not an array kept
        return out.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx: Context, grad_out: Any) -> Any:
        (x,) = ctx.saved_tensors
        if isinstance(grad_out, Tensor):  # create_graph: as gates, so this is differentiable too
            return grad_out * call(GeluGrad, x)
        x, dtype = _floating(x)
        return _gelu_grad(x, None, grad_out).astype(dtype, copy=False)

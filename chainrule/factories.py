"""PyTorch's module-level factories: ``tensor``, ``zeros``, ``arange``, ``rand``, ``multinomial``...

Each takes PyTorch's keywords ``dtype=None, device=None, requires_grad=False`` and returns a
leaf Tensor. dtypes follow PyTorch: Python floats and float factories give float32, Python
ints and integer draws (``randint``, ``randperm``, ``multinomial``) int64, bools bool;
``dtype`` takes chainrule's names (``cr.float64`` is ``numpy.dtype("float64")``), NumPy
dtypes and strings. Sizes come both ways: ``zeros(2, 3)`` and ``zeros((2, 3))``.

Randomness: every random factory draws from ONE stream, ``chainrule.rng``'s generator, on
the host, and then moves the result to ``device``. So ``cr.manual_seed(n)`` makes every
draw repeat, and a seeded run gives the same numbers on the CPU and on a GPU. The
deterministic factories (``zeros``, ``arange``...) build their array where it will live.

>>> import chainrule as cr
>>> cr.manual_seed(0); a = cr.factories.rand(2, 3)
>>> cr.manual_seed(0); a.tolist() == cr.factories.rand((2, 3)).tolist(), a.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from . import backend, devices, rng
from .autograd.tensor import Tensor

__all__ = ["arange", "as_tensor", "bernoulli", "empty", "empty_like", "eye", "from_numpy", "full", "full_like",
           "linspace", "logspace", "multinomial", "normal", "ones", "ones_like", "rand", "rand_like", "randint",
           "randint_like", "randn", "randn_like", "randperm", "tensor", "zeros", "zeros_like"]  # fmt: skip

Size = int | Sequence[int]
FLOAT32, INT64 = np.dtype("float32"), np.dtype("int64")


# -- arguments ---------------------------------------------------------------------------

def _size(who: str, size: tuple) -> tuple[int, ...]:
    """``(2, 3)`` from ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros([2, 3])``, checked."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{who}: size {size!r} has a {type(s).__name__} entry; expected ints, "
                            f"as {who}(2, 3) or {who}((2, 3))")
        if s < 0:
            raise ValueError(f"{who}: size {tuple(size)} has a negative entry; expected sizes >= 0")
    return tuple(int(s) for s in size)


def _dtype(who: str, dtype: Any, default: Any, kinds: str = "biufc") -> np.dtype:
    """``dtype`` (or ``default``) as a NumPy dtype of one of ``kinds``."""
    if dtype is None:
        return np.dtype(default)
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: {dtype!r} is not a dtype; expected e.g. cr.float32, 'float64' or numpy.int64") from None
    if dt.kind not in kinds:
        wanted = "a floating-point dtype (float16/float32/float64)" if kinds == "f" else "a numeric or bool dtype"
        raise TypeError(f"{who}: dtype {dt} is not allowed here; expected {wanted}")
    return dt


def _check_grad(who: str, dt: np.dtype, requires_grad: bool) -> None:
    # PyTorch's rule: only floating-point (and complex) tensors can require gradients
    if requires_grad and dt.kind not in "fc":
        raise TypeError(f"{who}: requires_grad=True needs floating-point data, got dtype {dt}; "
                        "expected e.g. dtype=cr.float32 (only floating-point tensors can require gradients)")


def _target(who: str, device: Any) -> devices.Device:
    """Where a new tensor goes: ``device``, checked to exist, or the CPU (PyTorch's default)."""
    return devices.CPU if device is None else devices.resolve(device, who)


def _input(who: str, x: Any) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor._make(x)
    raise TypeError(f"{who}: input is {type(x).__name__}; expected a Tensor")


def _leaf(arr: Any, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    t.requires_grad = bool(requires_grad)
    return t


def _build(dev: devices.Device, make: Callable[[Any], Any]) -> Any:
    """``make(xp)`` run with the array module of ``dev`` (on that GPU for a CUDA device)."""
    if dev.type == "cpu":
        return make(np)
    cupy = backend._cupy_module()
    with cupy.cuda.Device(dev.index):  # type: ignore[union-attr] - resolve() found CuPy and the GPU
        return make(cupy)


def _build_like(x: Tensor, make: Callable[[Any], Any]) -> Any:
    """``make(xp)`` run with the array module of ``x``'s array, on its GPU for CuPy data."""
    xp = backend.array_module(x._data)
    if xp is backend._cupy and xp is not None:
        with xp.cuda.Device(x._data.device.id):
            return make(xp)
    return make(xp)


def _place(host: np.ndarray, dev: devices.Device | None, ref: Any = None) -> Any:
    """A host draw on ``dev``, or where ``ref``'s array is when ``dev`` is None."""
    if dev is None:
        return devices.like(host, ref)
    return host if dev.type == "cpu" else devices.move(host, dev)


# -- from data ---------------------------------------------------------------------------

def _array_of(who: str, data: Any) -> Any:
    """``data`` as an array with PyTorch's dtype inference: arrays (and NumPy scalars, and
    Tensors) keep their dtype; Python floats become float32, ints int64, complex complex64."""
    if isinstance(data, Tensor):
        return data._data
    if backend.is_array(data) or isinstance(data, np.generic):
        return backend.asarray(data)
    try:
        arr = np.asarray(data)
    except (ValueError, OverflowError) as e:  # NumPy's words for a ragged list are about "inhomogeneous" shapes
        raise ValueError(f"{who}: cannot make an array of {type(data).__name__} data ({e}); expected a number, "
                         "a nested list of numbers with one length per level, or an array") from None
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"{who}: got {type(data).__name__} data (NumPy dtype {arr.dtype}); expected numbers: "
                        "a number, a nested list of numbers or a numeric array")
    if arr.dtype.kind == "u":  # only a Python int beyond int64 makes NumPy pick uint64
        raise ValueError(f"{who}: an integer in the data does not fit int64; expected ints in [-2**63, 2**63)")
    default = {"f": FLOAT32, "i": INT64, "c": np.dtype("complex64")}.get(arr.dtype.kind)
    return arr if default is None else arr.astype(default, copy=False)


def tensor(data: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False,
           name: str | None = None) -> Tensor:
    """A new leaf Tensor holding a copy of ``data`` (PyTorch's ``torch.tensor``).

    Python floats give float32, ints int64, bools bool; NumPy arrays keep their dtype
    (float64 stays float64, unlike ``cr.Tensor(...)``, which like ``torch.Tensor`` makes
    float32). ``device`` defaults to where ``data`` is (the CPU for lists). ``name`` (chainrule's
    own, not PyTorch's) labels the tensor in graphs.

    >>> import chainrule as cr, numpy as np
    >>> cr.factories.tensor([1, 2]).dtype, cr.factories.tensor(2.5).dtype, cr.factories.tensor(np.ones(2)).dtype
    (dtype('int64'), dtype('float32'), dtype('float64'))
    """
    dt = None if dtype is None else _dtype("tensor", dtype, None)
    arr = _array_of("tensor", data)
    dt = arr.dtype if dt is None else dt
    _check_grad("tensor", dt, requires_grad)
    dev = None if device is None else _target("tensor", device)
    arr = arr.astype(dt, copy=True)  # always a copy, as PyTorch's
    t = _leaf(arr if dev is None else devices.move(arr, dev, "tensor"), requires_grad)
    t.name = name
    return t


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a Tensor, sharing memory when no conversion is needed (PyTorch's
    ``torch.as_tensor``): a Tensor of that dtype and device is returned as is, a NumPy array
    of that dtype on the CPU is wrapped (writes through either show in both), anything
    else is converted as ``tensor`` does.

    >>> import chainrule as cr, numpy as np
    >>> a = np.zeros(2); t = cr.factories.as_tensor(a); a[0] = 5.0
    >>> t.tolist(), t.dtype
    ([5.0, 0.0], dtype('float64'))
    """
    dt = None if dtype is None else _dtype("as_tensor", dtype, None)
    dev = None if device is None else _target("as_tensor", device)
    if isinstance(data, Tensor):
        return data.to(dev, dt)  # the same Tensor when nothing changes; else a copy the gradient flows through
    if backend.is_array(data):
        if (dt is None or data.dtype == dt) and (dev is None or devices.device_of(data) == dev):
            return Tensor._make(data)
        arr = data if dt is None else data.astype(dt)
        return Tensor._make(arr if dev is None else devices.move(arr, dev, "as_tensor"))
    return tensor(data, dtype=dt, device=dev)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A Tensor sharing ``ndarray``'s memory and dtype (PyTorch's ``torch.from_numpy``).

    >>> import chainrule as cr, numpy as np
    >>> a = np.arange(3); t = cr.factories.from_numpy(a); a[0] = 7
    >>> t.tolist(), t.dtype
    ([7, 1, 2], dtype('int64'))
    """
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: got {type(ndarray).__name__}; expected a numpy.ndarray "
                        "(use cr.factories.tensor for lists and numbers)")
    if ndarray.dtype.kind not in "biufc":
        raise TypeError(f"from_numpy: the array has dtype {ndarray.dtype}; expected a numeric or bool dtype")
    return Tensor._make(ndarray)


# -- filled ------------------------------------------------------------------------------

def _filled(who: str, size: tuple, value: Any, dtype: Any, device: Any, requires_grad: bool,
            default: Any = FLOAT32) -> Tensor:  # fmt: skip
    shape = _size(who, size)
    dt = _dtype(who, dtype, default)
    _check_grad(who, dt, requires_grad)
    dev = _target(who, device)
    if value is None:
        return _leaf(_build(dev, lambda xp: xp.empty(shape, dtype=dt)), requires_grad)
    return _leaf(_build(dev, lambda xp: xp.full(shape, value, dtype=dt)), requires_grad)


def zeros(*size: Size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of zeros, float32 unless ``dtype`` says otherwise.

    >>> import chainrule as cr
    >>> cr.factories.zeros(2, 3).shape, cr.factories.zeros([2], dtype=cr.int64).tolist()
    ((2, 3), [0, 0])
    """
    return _filled("zeros", size, 0, dtype, device, requires_grad)


def ones(*size: Size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of ones, float32 unless ``dtype`` says otherwise.

    >>> import chainrule as cr
    >>> cr.factories.ones((2,), requires_grad=True).requires_grad
    True
    """
    return _filled("ones", size, 1, dtype, device, requires_grad)


def empty(*size: Size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor whose values are whatever the memory held (fill it before reading).

    >>> import chainrule as cr
    >>> cr.factories.empty(3, 0).shape
    (3, 0)
    """
    return _filled("empty", size, None, dtype, device, requires_grad)


def _fill_dtype(value: Any) -> np.dtype:
    """PyTorch's dtype for a fill value: bool, int64, complex64, else float32."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(bool)
    if isinstance(value, (int, np.integer)):
        return INT64
    if isinstance(value, (complex, np.complexfloating)):
        return np.dtype("complex64")
    return FLOAT32


def _fill_value(who: str, value: Any) -> Any:
    if isinstance(value, Tensor):
        value = value.item()
    if not isinstance(value, (bool, int, float, complex, np.generic)):
        raise TypeError(f"{who}: fill_value is {type(value).__name__}; expected a number")
    return value


def full(size: Size, fill_value: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A Tensor of ``size`` filled with ``fill_value``; the dtype follows the value as in PyTorch
    (a bool: bool, an int: int64, a float: float32).

    >>> import chainrule as cr
    >>> t = cr.factories.full((2,), 7)
    >>> t.tolist(), t.dtype, cr.factories.full((1,), 0.5).dtype
    ([7, 7], dtype('int64'), dtype('float32'))
    """
    fill_value = _fill_value("full", fill_value)
    size = (size,) if isinstance(size, (int, np.integer)) else size
    return _filled("full", (size,), fill_value, dtype, device, requires_grad, _fill_dtype(fill_value))


def eye(n: int, m: int | None = None, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """The ``n`` x ``m`` identity matrix (square when ``m`` is None).

    >>> import chainrule as cr
    >>> cr.factories.eye(2, 3).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    n, m = _size("eye", (n, n if m is None else m))
    dt = _dtype("eye", dtype, FLOAT32)
    _check_grad("eye", dt, requires_grad)
    return _leaf(_build(_target("eye", device), lambda xp: xp.eye(n, m, dtype=dt)), requires_grad)


# -- ranges ------------------------------------------------------------------------------

def _number(who: str, name: str, x: Any) -> Any:
    if isinstance(x, Tensor):
        x = x.item()
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: {name} is {type(x).__name__}; expected a real number")
    if not math.isfinite(x):
        raise ValueError(f"{who}: {name}={x} is not finite; expected a finite number")
    return x


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``start, start + step, ...`` up to but excluding ``end`` (``arange(5)``: 0 to 4).
    All-int arguments give int64, any float float32 (PyTorch's rule).

    >>> import chainrule as cr
    >>> cr.factories.arange(5).tolist(), cr.factories.arange(1, 0, -0.25).tolist()
    ([0, 1, 2, 3, 4], [1.0, 0.75, 0.5, 0.25])
    """
    if end is None:
        start, end = 0, start
    start, end, step = (_number("arange", k, v) for k, v in (("start", start), ("end", end), ("step", step)))
    ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
    dt = _dtype("arange", dtype, INT64 if ints else FLOAT32)
    _check_grad("arange", dt, requires_grad)
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if (step > 0 and end < start) or (step < 0 and end > start):
        raise ValueError(f"arange: start={start}, end={end} and step={step} are inconsistent (the step goes away from "
                         "end); expected end >= start for a positive step, end <= start for a negative one")
    dev = _target("arange", device)
    if ints:  # exact in integers: ceil((end - start) / step)
        n = -((start - end) // step)
        return _leaf(_build(dev, lambda xp: (start + xp.arange(n, dtype=INT64) * step).astype(dt)), requires_grad)
    n = math.ceil((end - start) / step)
    # each value start + i * step computed in float64, then rounded once to the dtype
    return _leaf(_build(dev, lambda xp: (start + xp.arange(n, dtype=np.float64) * step).astype(dt)), requires_grad)


def _steps(who: str, steps: Any) -> int:
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, np.integer)):
        raise TypeError(f"{who}: steps is {type(steps).__name__}; expected an int")
    if steps < 0:
        raise ValueError(f"{who}: steps={steps}; expected a number of steps >= 0")
    return int(steps)


def _linspace(xp: Any, start: float, end: float, steps: int) -> Any:
    """``steps`` evenly spaced float64 values, symmetric as PyTorch's: the first half counted
    from ``start``, the second from ``end``, so both ends are exact."""
    i = xp.arange(steps, dtype=np.float64)
    if steps < 2:
        return start + i
    step = (end - start) / (steps - 1)
    return xp.where(i < steps // 2, start + step * i, end - step * (steps - 1 - i))


def linspace(start: float, end: float, steps: int, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``steps`` evenly spaced values from ``start`` to ``end``, both included (float32 by default).

    >>> import chainrule as cr
    >>> cr.factories.linspace(0, 1, 5).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    start, end = _number("linspace", "start", start), _number("linspace", "end", end)
    steps = _steps("linspace", steps)
    dt = _dtype("linspace", dtype, FLOAT32)
    _check_grad("linspace", dt, requires_grad)
    dev = _target("linspace", device)
    return _leaf(_build(dev, lambda xp: _linspace(xp, start, end, steps).astype(dt)), requires_grad)


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None, device: Any = None,
             requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``base ** linspace(start, end, steps)``: ``steps`` values from ``base**start`` to ``base**end``.

    >>> import chainrule as cr
    >>> cr.factories.logspace(0, 2, 3).tolist(), cr.factories.logspace(0, 3, 4, base=2).tolist()
    ([1.0, 10.0, 100.0], [1.0, 2.0, 4.0, 8.0])
    """
    start, end = _number("logspace", "start", start), _number("logspace", "end", end)
    base = _number("logspace", "base", base)
    steps = _steps("logspace", steps)
    dt = _dtype("logspace", dtype, FLOAT32)
    _check_grad("logspace", dt, requires_grad)
    dev = _target("logspace", device)
    return _leaf(_build(dev, lambda xp: (float(base) ** _linspace(xp, start, end, steps)).astype(dt)), requires_grad)


# -- like another tensor -----------------------------------------------------------------

def _like(who: str, input: Any, dtype: Any, device: Any, requires_grad: bool, kinds: str = "biufc") -> tuple:
    """The input, the dtype (the input's unless given) and the device (None: the input's)."""
    x = _input(who, input)
    dt = _dtype(who, dtype, None, kinds) if dtype is not None else x.dtype
    if dt.kind not in kinds:
        raise TypeError(f"{who}: the input has dtype {dt}; expected a floating-point tensor (or pass dtype=)")
    _check_grad(who, dt, requires_grad)
    return x, dt, None if device is None else _target(who, device)


def _filled_like(who: str, input: Any, value: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    x, dt, dev = _like(who, input, dtype, device, requires_grad)

    def make(xp: Any) -> Any:
        return xp.empty(x.shape, dtype=dt) if value is None else xp.full(x.shape, value, dtype=dt)

    return _leaf(_build_like(x, make) if dev is None else _build(dev, make), requires_grad)


def zeros_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.zeros_like(cr.factories.arange(3)).tolist()
    [0, 0, 0]
    """
    return _filled_like("zeros_like", input, 0, dtype, device, requires_grad)


def ones_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.ones_like(cr.factories.zeros(2), dtype="float64").tolist()
    [1.0, 1.0]
    """
    return _filled_like("ones_like", input, 1, dtype, device, requires_grad)


def empty_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """An uninitialized Tensor of ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.empty_like(cr.factories.zeros(2, 2)).shape
    (2, 2)
    """
    return _filled_like("empty_like", input, None, dtype, device, requires_grad)


def full_like(input: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``fill_value`` in ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.full_like(cr.factories.arange(2), 2.7).tolist()  # int64 input: the value is cast
    [2, 2]
    """
    fill_value = _fill_value("full_like", fill_value)
    return _filled_like("full_like", input, fill_value, dtype, device, requires_grad)


# -- random ------------------------------------------------------------------------------
# All draws come from rng.generator() on the host (one seeded stream), then move to the device.

def _uniform(shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    """U[0, 1) in ``dt``: drawn in float32 or float64, so that rounding never reaches 1.0."""
    u = rng.generator().random(shape, dtype=np.float32 if dt == FLOAT32 else np.float64).astype(dt, copy=False)
    if dt.itemsize < 4:  # float16: a float64 just below 1 rounds up to 1.0
        np.minimum(u, np.nextafter(dt.type(1), dt.type(0)), out=u)
    return u


def _normal(shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
    return rng.generator().standard_normal(shape, dtype=np.float32 if dt == FLOAT32 else np.float64).astype(dt)


def rand(*size: Size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from chainrule's seeded stream (``cr.manual_seed``), drawn on
    the host and moved to ``device``, so a seed gives the same numbers on every device.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); t = cr.factories.rand(2, 3)
    >>> t.shape, t.dtype, bool(((t.numpy() >= 0) & (t.numpy() < 1)).all())
    ((2, 3), dtype('float32'), True)
    """
    shape, dt = _size("rand", size), _dtype("rand", dtype, FLOAT32, "f")
    dev = _target("rand", device)
    return _leaf(_place(_uniform(shape, dt), dev), requires_grad)


def randn(*size: Size, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from chainrule's seeded stream, drawn on the host and moved
    to ``device`` (the same numbers on every device).

    >>> import chainrule as cr
    >>> cr.manual_seed(0); a = cr.factories.randn(3); cr.manual_seed(0)
    >>> a.tolist() == cr.factories.randn(3).tolist()
    True
    """
    shape, dt = _size("randn", size), _dtype("randn", dtype, FLOAT32, "f")
    dev = _target("randn", device)
    return _leaf(_place(_normal(shape, dt), dev), requires_grad)


def _int_range(who: str, low: Any, high: Any) -> tuple[int, int]:
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{who}: {name} is {type(v).__name__}; expected an int")
    if low >= high:
        raise ValueError(f"{who}: low={low} >= high={high}; expected low < high (high is excluded)")
    return int(low), int(high)


def randint(low: int = 0, high: Any = None, size: Size | None = None, *, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Integers drawn uniformly from [low, high), int64 by default: ``randint(high, size)`` or
    ``randint(low, high, size)`` as PyTorch's; drawn on the host from the seeded stream, then
    moved to ``device``.

    >>> import chainrule as cr
    >>> cr.manual_seed(0); t = cr.factories.randint(3, 7, (100,))
    >>> t.dtype, 3 <= min(t.tolist()), max(t.tolist()) < 7, cr.factories.randint(5, (2, 2)).shape
    (dtype('int64'), True, True, (2, 2))
    """
    if size is None and isinstance(high, (tuple, list)):  # randint(high, size)
        low, high, size = 0, low, high
    elif high is None:  # randint(high, size=...)
        low, high = 0, low
    if size is None:
        raise TypeError("randint: no size given; expected randint(high, size) or randint(low, high, size)")
    low, high = _int_range("randint", low, high)
    shape = _size("randint", (size,) if isinstance(size, (int, np.integer)) else tuple(size))
    dt = _dtype("randint", dtype, INT64)
    _check_grad("randint", dt, requires_grad)
    dev = _target("randint", device)
    return _leaf(_place(rng.generator().integers(low, high, shape, dtype=np.int64).astype(dt), dev), requires_grad)


def randperm(n: int, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64), drawn on the host from the seeded stream,
    then moved to ``device``.

    >>> import chainrule as cr
    >>> sorted(cr.factories.randperm(5).tolist())
    [0, 1, 2, 3, 4]
    """
    (n,) = _size("randperm", (n,))
    dt = _dtype("randperm", dtype, INT64)
    _check_grad("randperm", dt, requires_grad)
    dev = _target("randperm", device)
    return _leaf(_place(rng.generator().permutation(n).astype(dt), dev), requires_grad)


def _random_like(who: str, input: Any, dtype: Any, device: Any, requires_grad: bool, draw: Callable,
                 kinds: str) -> Tensor:  # fmt: skip
    x, dt, dev = _like(who, input, dtype, device, requires_grad, kinds)
    return _leaf(_place(draw(x.shape, dt), dev, x._data), requires_grad)


def rand_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``rand`` in ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.rand_like(cr.factories.zeros(2, dtype="float64")).dtype
    dtype('float64')
    """
    return _random_like("rand_like", input, dtype, device, requires_grad, _uniform, "f")


def randn_like(input: Any, *, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """``randn`` in ``input``'s shape, dtype and device (unless given).

    >>> import chainrule as cr
    >>> cr.factories.randn_like(cr.factories.zeros(2, 3)).shape
    (2, 3)
    """
    return _random_like("randn_like", input, dtype, device, requires_grad, _normal, "f")


def randint_like(input: Any, low: int = 0, high: int | None = None, *, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:  # fmt: skip
    """``randint`` in ``input``'s shape, dtype and device: ``randint_like(x, high)`` or
    ``randint_like(x, low, high)``.

    >>> import chainrule as cr
    >>> t = cr.factories.randint_like(cr.factories.zeros(4), 10)
    >>> t.dtype, all(0 <= v < 10 for v in t.tolist())
    (dtype('float32'), True)
    """
    low, high = _int_range("randint_like", *((0, low) if high is None else (low, high)))

    def draw(shape: tuple[int, ...], dt: np.dtype) -> np.ndarray:
        return rng.generator().integers(low, high, shape, dtype=np.int64).astype(dt)

    return _random_like("randint_like", input, dtype, device, requires_grad, draw, "biufc")


def normal(mean: Any, std: Any = 1.0, size: Size | None = None, *, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:  # fmt: skip
    """Samples of N(mean, std^2): numbers with a ``size`` (float32), or Tensors of means and/or
    standard deviations (the broadcast shape, their dtype and device), as PyTorch's forms.
    Drawn on the host from the seeded stream, then moved.

    The result is a leaf: unlike PyTorch's (whose gradient to mean and std is zero), it is not
    connected to Tensor arguments.

    >>> import chainrule as cr
    >>> cr.factories.normal(2.0, 0.0, (3,)).tolist(), cr.factories.normal(cr.factories.zeros(2, 2), 1.0).shape
    ([2.0, 2.0, 2.0], (2, 2))
    """
    tensors = [v for v in (mean, std) if isinstance(v, Tensor)]
    if not tensors:
        return _normal_of_numbers(mean, std, size, dtype, device, requires_grad)
    if size is not None:
        raise TypeError("normal: size is only for float mean and std; with a Tensor the shape is its shape")
    for name, v in (("mean", mean), ("std", std)):
        if isinstance(v, Tensor) and v.dtype.kind != "f":
            raise TypeError(f"normal: {name} has dtype {v.dtype}; expected a floating-point tensor")
        if not isinstance(v, Tensor):
            _number("normal", name, v)
    if isinstance(std, Tensor) and bool((std._data < 0).any()):
        raise ValueError("normal: std has negative entries; expected std >= 0")
    if not isinstance(std, Tensor) and std < 0:
        raise ValueError(f"normal: std={std}; expected std >= 0")
    try:
        shape = np.broadcast_shapes(*(t.shape for t in tensors))
    except ValueError:
        raise ValueError(f"normal: mean of shape {getattr(mean, 'shape', ())} and std of shape "
                         f"{getattr(std, 'shape', ())} do not broadcast; expected broadcastable shapes") from None
    dt = _dtype("normal", dtype, np.result_type(*(t.dtype for t in tensors)), "f")
    _check_grad("normal", dt, requires_grad)
    dev = None if device is None else _target("normal", device)
    m, s = (v._data if isinstance(v, Tensor) else v for v in (mean, std))
    z = devices.like(rng.generator().standard_normal(shape), tensors[0]._data)  # drawn on the host, moved
    out = (m + s * z).astype(dt)
    return _leaf(out if dev is None else devices.move(out, dev, "normal"), requires_grad)


def _normal_of_numbers(mean: Any, std: Any, size: Any, dtype: Any, device: Any, requires_grad: bool) -> Tensor:
    mean, std = _number("normal", "mean", mean), _number("normal", "std", std)
    if std < 0:
        raise ValueError(f"normal: std={std}; expected std >= 0")
    if size is None:
        raise TypeError("normal: float mean and std need a size; expected normal(mean, std, size) "
                        "or a Tensor of means or stds")
    shape = _size("normal", (size,) if isinstance(size, (int, np.integer)) else tuple(size))
    dt = _dtype("normal", dtype, FLOAT32, "f")
    dev = _target("normal", device)
    return _leaf(_place((mean + std * _normal(shape, np.dtype(np.float64))).astype(dt), dev), requires_grad)


def bernoulli(input: Any, p: float | None = None) -> Tensor:
    """0/1 samples, 1 with probability ``input`` (or ``p`` for every entry), in ``input``'s
    shape, dtype and device; drawn on the host from the seeded stream.

    >>> import chainrule as cr
    >>> cr.factories.bernoulli(cr.factories.tensor([0.0, 1.0, 1.0])).tolist()
    [0.0, 1.0, 1.0]
    """
    x = _input("bernoulli", input)
    if x.dtype.kind != "f":
        raise TypeError(f"bernoulli: input has dtype {x.dtype}; expected floating-point probabilities")
    probs = np.asarray(_number("bernoulli", "p", p)) if p is not None else backend.to_numpy(x._data)
    if not bool(((probs >= 0) & (probs <= 1)).all()):  # NaN fails too
        bad = probs[~((probs >= 0) & (probs <= 1))].ravel()[0]
        raise ValueError(f"bernoulli: probability {bad} is outside [0, 1]; expected probabilities in [0, 1]")
    draw = (rng.generator().random(x.shape) < probs).astype(x.dtype)  # u < 1 always, u < 0 never
    return _leaf(devices.like(draw, x._data), False)


def multinomial(input: Any, num_samples: int, replacement: bool = False) -> Tensor:
    """Indices (int64) drawn from the categorical distribution of each row of weights
    ``input`` (1-D: one distribution; 2-D: one per row; weights need not sum to 1).
    Without replacement the indices of a row are distinct (categories of weight 0 come
    last, as PyTorch's); with it, each draw is independent. Drawn on the host from the
    seeded stream, then moved to ``input``'s device.

    >>> import chainrule as cr
    >>> cr.factories.multinomial(cr.factories.tensor([0.0, 3.0, 0.0]), 2, replacement=True).tolist()
    [1, 1]
    >>> sorted(cr.factories.multinomial(cr.factories.tensor([1.0, 1.0, 1.0]), 3).tolist())
    [0, 1, 2]
    """
    x = _input("multinomial", input)
    if x.ndim not in (1, 2):
        raise ValueError(f"multinomial: input has shape {x.shape}; expected 1 or 2 dimensions (weights, or rows of them)")
    if x.dtype.kind != "f":
        raise TypeError(f"multinomial: input has dtype {x.dtype}; expected floating-point weights")
    if isinstance(num_samples, (bool, np.bool_)) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ValueError(f"multinomial: num_samples={num_samples!r}; expected an int > 0")
    w = backend.to_numpy(x._data).astype(np.float64).reshape(-1, x.shape[-1])  # (R, K)
    k = w.shape[1]
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("multinomial: the weights contain inf, nan or an entry < 0; expected finite weights >= 0")
    totals = w.sum(axis=1)
    if (totals <= 0).any():
        raise ValueError(f"multinomial: row {int(np.argmax(totals <= 0))} of the weights sums to 0; "
                         "expected a positive sum in every row")
    if not replacement and num_samples > k:
        raise ValueError(f"multinomial: cannot draw {num_samples} samples from {k} categories without replacement; "
                         "expected num_samples <= categories, or replacement=True")
    gen = rng.generator()
    if replacement:
        cdf = np.cumsum(w, axis=1)  # (R, K)
        u = gen.random((len(w), num_samples)) * totals[:, None]  # (R, n), in [0, total)
        last = k - 1 - np.argmax(w[:, ::-1] > 0, axis=1)  # the last category of positive weight
        # first index whose cdf exceeds u: a weight-0 category (cdf unchanged) is never picked
        idx = np.stack([np.minimum(np.searchsorted(c, r, side="right"), m) for c, r, m in zip(cdf, u, last)])
    else:
        # exponential races: category i finishes at E_i / w_i; the first n to finish are a draw
        # without replacement (the first with probability w_i / total, and so on)
        with np.errstate(divide="ignore"):
            keys = gen.exponential(size=w.shape) / w  # (R, K); weight 0: inf, last
        idx = np.argsort(keys, axis=1, kind="stable")[:, :num_samples]
    idx = idx.astype(np.int64).reshape(x.shape[:-1] + (num_samples,))
    return _leaf(devices.like(idx, x._data), False)

"""The one place that knows which array library holds the data.

Ops never import NumPy or CuPy by name for array math: they ask ``array_module(x)``
for the module of their input (Chainer's ``xp`` idiom) and call it. NumPy is the
default; CuPy is imported lazily, only when a CuPy array shows up, so importing
chainrule never touches a GPU.

>>> import numpy as np
>>> array_module(np.zeros(3)) is np
True
"""

from __future__ import annotations

import contextlib
from types import ModuleType
from typing import Any

import numpy as np

_cupy: ModuleType | None = None


def _cupy_module() -> ModuleType | None:
    """CuPy if it is installed and importable, else None (imported once, on demand)."""
    global _cupy
    if _cupy is None:
        try:
            import cupy  # noqa: PLC0415 - lazy on purpose: no GPU work at import time
        except Exception:  # ImportError, or a CUDA runtime that fails to load
            return None
        _cupy = cupy
    return _cupy


def array_module(x: Any) -> ModuleType:
    """The array module (``numpy`` or ``cupy``) that owns ``x``.

    Python scalars and NumPy arrays/scalars answer ``numpy``.

    >>> array_module(1.5).__name__
    'numpy'
    """
    kind = type(x)
    if kind is np.ndarray or kind is float or kind is int:
        return np
    # an array type may name its own namespace (the compiler's traced arrays do)
    namespace = getattr(kind, "_array_namespace", None)
    if namespace is not None:
        return namespace
    if isinstance(x, (np.ndarray, np.generic, bool)):
        return np
    mod = type(x).__module__
    if mod.startswith("cupy"):
        return _cupy_module()  # type: ignore[return-value]
    return np


def is_array(x: Any) -> bool:
    """True for an ndarray of any supported array library (not for Python scalars)."""
    if isinstance(x, np.ndarray):
        return True
    return type(x).__module__.startswith("cupy") and hasattr(x, "shape")


def asarray(x: Any, dtype: Any = None) -> Any:
    """``x`` as an array of its own library (NumPy unless it is already a CuPy array).

    NumPy 0-d results come back from arithmetic as NumPy scalars (``np.float32``);
    this turns them back into 0-d arrays so a Tensor's ``.data`` is always an array.
    """
    if type(x) is np.ndarray and (dtype is None or x.dtype == dtype):
        return x
    return array_module(x).asarray(x, dtype=dtype)


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy array with the values of ``x`` (copies from the GPU for CuPy)."""
    if type(x) is np.ndarray:
        return x
    if is_array(x) and callable(getattr(x, "get", None)):  # a device array: CuPy's name for the copy
        return x.get()
    if isinstance(x, np.ndarray):
        return x
    return np.asarray(x)


def errstate(xp: ModuleType, **kwargs: Any) -> Any:
    """``xp.errstate(**kwargs)`` where the module has it (NumPy); a no-op context where it does
    not (CuPy computes on the GPU, which has no floating-point warnings to silence).

    >>> with errstate(np, over="ignore"):
    ...     float(np.exp(np.float32(100)))
    inf
    """
    maker = getattr(xp, "errstate", None)
    return maker(**kwargs) if maker is not None else contextlib.nullcontext()

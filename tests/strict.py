"""A NumPy array that acts as if it lived in another device's memory: the GPU path's rules, on the CPU.

CI has no GPU, and a GPU session has minutes. ``StrictArray`` lets the op and layer tables
run the code paths a CuPy array takes, here: it is not a ``numpy.ndarray`` by type, so every
NumPy fast path of the engine falls through to its generic branch (as for CuPy); its array
module is a namespace whose constructors make StrictArrays (as ``cupy.zeros`` makes GPU arrays);
a ufunc or NumPy function that meets a host array beside it raises, as CuPy does; and every
read of a value into Python (``bool``, ``float``, ``.item()``, ``.get()``) is counted, as a
wait for the GPU would be. The numbers are NumPy's, so the results must equal the NumPy path's
exactly - what the emulation checks is where arrays are made and when values are read.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np

_counts = threading.local()


def syncs() -> int:
    """How many values this thread has read back to the host from StrictArrays."""
    return getattr(_counts, "n", 0)


def _synced() -> None:
    _counts.n = syncs() + 1


class HostArrayMixedIn(TypeError):
    """A host (NumPy) array met a device array in one operation: CuPy refuses it."""


def _unwrap(x: Any, who: str) -> Any:
    if type(x) is StrictArray:
        return x.view(np.ndarray)
    if type(x) is np.ndarray:
        raise HostArrayMixedIn(f"{who}: a host array of shape {x.shape} ({x.dtype}) beside a device array")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, who) for v in x)
    return x


def _wrap(x: Any) -> Any:
    if type(x) is np.ndarray:
        return x.view(StrictArray)
    if isinstance(x, np.generic):  # NumPy's 0-d results come as scalars; CuPy's as 0-d arrays
        return np.asarray(x).view(StrictArray)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, list):
        return [_wrap(v) for v in x]
    return x


class StrictArray(np.ndarray):
    """An array "on the device": NumPy's numbers, CuPy's rules (see the module's docstring)."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, out: Any = None, **kwargs: Any) -> Any:
        who = f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__
        args = [_unwrap(a, who) for a in inputs]
        if method == "at" and type(inputs[1]) is np.ndarray:  # np.add.at(out, index, g): an index may
            args[1] = inputs[1]  # be a host array, as in indexing (CuPy copies it over)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, who) for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        who = func.__name__
        args = tuple(_unwrap(a, who) for a in args)
        kwargs = {k: _unwrap(v, who) for k, v in kwargs.items()}
        return _wrap(func(*args, **kwargs))

    # -- reads into Python: each one a wait for the device -----------------------------------
    def get(self) -> np.ndarray:
        """A host copy (CuPy's name for it)."""
        _synced()
        return self.view(np.ndarray).copy()

    def item(self, *args: Any) -> Any:
        _synced()
        return self.view(np.ndarray).item(*args)

    def tolist(self) -> Any:
        _synced()
        return self.view(np.ndarray).tolist()

    def __bool__(self) -> bool:
        _synced()
        return bool(self.view(np.ndarray))

    def __float__(self) -> float:
        _synced()
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        _synced()
        return int(self.view(np.ndarray))

    def __index__(self) -> int:
        _synced()
        return self.view(np.ndarray).__index__()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        # np.asarray(device_array): CuPy refuses ("implicit conversion to a NumPy array")
        raise HostArrayMixedIn("np.asarray of a device array: copy it with .get() instead")

    def __repr__(self) -> str:
        return f"StrictArray({self.view(np.ndarray)!r})"


def _made(fn: Any) -> Any:
    """A NumPy constructor whose result is on the device (a host argument is copied over, as by
    ``cupy.asarray``)."""

    def make(*args: Any, **kwargs: Any) -> Any:
        args = tuple(a.view(np.ndarray) if type(a) is StrictArray else a for a in args)
        return _wrap(np.asarray(fn(*args, **kwargs)))

    return make


_CONSTRUCTORS = ("array", "asarray", "ascontiguousarray", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
                 "empty_like", "full_like", "arange", "eye", "linspace")  # fmt: skip


def _as_strided(x: Any, shape: Any = None, strides: Any = None, **kwargs: Any) -> Any:
    return np.lib.stride_tricks.as_strided(x.view(np.ndarray), shape, strides).view(StrictArray)


class _Namespace(SimpleNamespace):
    """``array_module`` of a StrictArray: NumPy, but constructors make StrictArrays."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


# named "numpy": its math is NumPy's (erf from SciPy, where CuPy's comes from cupyx)
namespace = _Namespace(__name__="numpy", **{n: _made(getattr(np, n)) for n in _CONSTRUCTORS},
                       lib=SimpleNamespace(stride_tricks=SimpleNamespace(as_strided=_as_strided)))  # fmt: skip
StrictArray._array_namespace = namespace  # what chainrule.backend.array_module answers for it


def device_array(x: Any) -> StrictArray:
    """``x`` copied "to the device"."""
    return np.array(x).view(StrictArray)

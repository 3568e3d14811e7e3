"""PyTorch's dtype names, as the NumPy dtypes chainrule's arrays have.

``cr.float32`` *is* ``numpy.dtype("float32")``, so ``t.dtype == cr.float32`` holds and
NumPy spellings (``"float64"``, ``np.float64``) keep working wherever a dtype is taken.
PyTorch's short names are there too: ``float`` (float32), ``double``, ``half``, ``long``
(int64), ``int`` (int32), ``short``, ``bool``.

>>> import chainrule as cr
>>> cr.tensor([1, 2]).dtype == cr.int64, cr.long is cr.int64
(True, True)
"""

from __future__ import annotations

import numpy as np

float16 = half = np.dtype("float16")
float32 = np.dtype("float32")
float64 = double = np.dtype("float64")
int8 = np.dtype("int8")
uint8 = np.dtype("uint8")
int16 = short = np.dtype("int16")
int32 = np.dtype("int32")
int64 = long = np.dtype("int64")
bool_ = np.dtype("bool")
complex64 = np.dtype("complex64")
complex128 = np.dtype("complex128")

# PyTorch's float, int and bool would hide Python's own here: chainrule/__init__ defines them, last
__all__ = ["bool_", "complex64", "complex128", "double", "float16", "float32", "float64", "half", "int8", "int16",
           "int32", "int64", "long", "short", "uint8"]  # fmt: skip

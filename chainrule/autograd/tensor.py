"""The ``Tensor``: an array, its gradient, and the graph node that made it.

Operators and math methods are attached by ``chainrule.ops``; ``backward`` by the
backward walk (``chainrule.autograd.engine``); the hook methods by
``chainrule.autograd.hooks``. This module knows no op and no walk: it is the data.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backend, devices
from . import inplace
from .grad_mode import _watch

_FLOAT_KINDS = "fc"


class Tensor:
    """An array that remembers how it was computed, so gradients can flow back to it.

    Float data defaults to float32; pass ``dtype`` (e.g. ``"float64"``) to keep
    another precision. Integer and boolean data are allowed but cannot require grad.
    Operators, math methods and reductions are attached by ``chainrule.ops``.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True)
    >>> y = cr.Tensor(5.0, requires_grad=True)
    >>> z = cr.Tensor(-4.0, requires_grad=True)
    >>> f = (x + y) * z
    >>> f.backward()
    >>> f.item(), x.grad.item(), y.grad.item(), z.grad.item()
    (-12.0, -4.0, -4.0, 3.0)
    """

    # _written_at, _writer: the write clock at the last in-place write and who made it (``chainrule.autograd.inplace``);
    # set only by a write
    # _hooks: a leaf's gradient hooks (``chainrule.autograd.hooks``), None until one is registered; set on every
    # Tensor, since reading an unset slot with a default costs an exception per leaf of a backward
    __slots__ = ("_data", "grad", "requires_grad", "_ctx", "name", "_written_at", "_writer", "_hooks", "__weakref__")
    # Make ``ndarray * Tensor`` defer to ``Tensor.__rmul__`` instead of NumPy
    # broadcasting the Tensor as an object.
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data._data
        try:
            if dtype is not None:
                arr = backend.asarray(data, dtype=np.dtype(dtype))
            else:
                arr = backend.asarray(data)
                if arr.dtype.kind == "f" and arr.dtype != np.float32:
                    arr = arr.astype(np.float32)
        except ValueError as e:  # NumPy's words for a ragged list are about "inhomogeneous" shapes
            raise ValueError(f"Tensor: cannot make an array of {type(data).__name__} data ({e}); expected a number, "
                             "a nested list of numbers with one length per level, or an array") from None
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"Tensor: got {type(data).__name__} data (NumPy dtype {arr.dtype}); expected numbers: a "
                            "number, a nested list of numbers or a numeric array")
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(
                f"Tensor: requires_grad=True needs floating-point data, got dtype {arr.dtype}; "
                "expected float32/float64 (pass dtype='float32' to convert)"
            )
        self._data = arr
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self._ctx: Any = None  # the Context (function.py) of the gate that made it
        self.name = name
        self._hooks: Any = None  # a hooks.Hooks once a hook is registered

    @classmethod
    def _make(cls, data: Any) -> Tensor:
        """Wrap an array as a constant, without the checks and conversions of ``__init__``."""
        t = object.__new__(cls)
        if type(data) is not np.ndarray:
            data = backend.asarray(data)  # NumPy returns 0-d results as scalars
        t._data = data
        t.grad = None
        t.requires_grad = False
        t._ctx = None
        t.name = None
        t._hooks = None
        return t

    # -- plain properties ---------------------------------------------------------
    @property
    def data(self) -> Any:
        """The values: a NumPy (or CuPy) array.

        Writing into it between a forward and its backward would make the gradient wrong,
        so such writes are caught (``chainrule.autograd.inplace`` lists which): a leaf's array is
        read-only while a recorded gate holds it, and ``t.data op= ...`` counts as an
        in-place change that the backward refuses.
        """
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        if value is self._data:  # ``t.data += d`` and friends: the array was changed in place
            inplace.record_write(self, "an in-place operation on .data (t.data op= ...)")
        elif isinstance(value, Tensor):  # ``t.data = other``: PyTorch's way to swap the values
            value = value._data
        self._data = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    def size(self, dim: int | None = None) -> Any:
        """The shape (PyTorch's ``t.size()``), or the length of one dim (``t.size(0)``).
        ``numel()`` counts the entries.

        >>> import chainrule as cr
        >>> t = cr.Tensor([[1.0, 2.0, 3.0]])
        >>> t.size(), t.size(-1), t.numel()
        ((1, 3), 3, 3)
        """
        shape = self._data.shape
        if dim is None:
            return shape
        n = max(len(shape), 1)
        if isinstance(dim, bool) or not isinstance(dim, int) or not -n <= dim < n:
            raise IndexError(f"size: dim {dim!r} is out of range for a tensor with {len(shape)} dimension(s); "
                             f"expected an int in [{-n}, {n - 1}]")
        return shape[dim] if shape else 1

    @property
    def device(self) -> devices.Device:
        """Where the values live: ``device('cpu')`` for NumPy data, ``device('cuda:K')`` for CuPy
        data on GPU K (read off the array, so it cannot go stale). ``.to(device)`` moves."""
        return devices.device_of(self._data)

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user created (no gate produced them)."""
        return self._ctx is None

    @property
    def op(self) -> str | None:
        """Name of the gate that produced this tensor, or None for a leaf."""
        return None if self._ctx is None else self._ctx.fn.__name__

    @property
    def grad_fn(self) -> Any:
        """PyTorch's name for the graph node that produced this tensor (its ``Context``: ``.fn`` is
        the gate, ``.inputs`` what it was given), or None for a leaf and outside a graph.

        >>> import chainrule as cr
        >>> x = cr.Tensor([1.0], requires_grad=True)
        >>> x.grad_fn is None, (x * 2).grad_fn.fn.__name__
        (True, 'Mul')
        """
        return self._ctx

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise ValueError(f"item: tensor has shape {self.shape}; expected exactly one element")
        return self._data.item()

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy from the GPU for CuPy data)."""
        return backend.to_numpy(self._data)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory, requires no grad)."""
        return Tensor._make(self._data)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (same as ``t.grad = None``)."""
        watch = _watch.get()
        if watch is not None:
            watch.resets_grads([self])
        self.grad = None

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Switch gradient tracking of a leaf on (or off) in place; returns the tensor.

        >>> import chainrule as cr
        >>> cr.Tensor([1.0]).requires_grad_().requires_grad
        True
        """
        if self._ctx is not None and not requires_grad:
            raise RuntimeError("requires_grad_: this tensor was computed by a gate, so its requires_grad follows "
                               "its inputs; expected a leaf (use .detach() for a copy cut from the graph)")
        if requires_grad and self._data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"requires_grad_: needs floating-point data, got dtype {self._data.dtype}; "
                            "expected float32/float64 (convert with .float() or .double() first)")
        if self._ctx is None:
            self.requires_grad = bool(requires_grad)
        return self

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers.

        >>> import chainrule as cr
        >>> cr.Tensor([[1.0, 2.0]]).tolist()
        [[1.0, 2.0]]
        """
        return backend.to_numpy(self._data).tolist()

    def dim(self) -> int:
        """The number of dims (``t.ndim``), PyTorch's ``t.dim()``."""
        return self._data.ndim

    def numel(self) -> int:
        """The number of entries."""
        return int(self._data.size)

    def __len__(self) -> int:
        return len(self._data)

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise ValueError(
                f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; "
                "expected one element (use .numpy().any() or .all())"
            )
        return bool(self._data)

    def __float__(self) -> float:
        return float(self.item())

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), precision=4, separator=", ", threshold=20)
        extra = ", requires_grad=True" if self.requires_grad else ""
        if self._ctx is not None:
            extra += f", op={self._ctx.fn.__name__}"
        if self.name:
            extra += f", name={self.name!r}"
        if type(self._data) is not np.ndarray and self.device.type != "cpu":
            extra += f", device='{self.device}'"
        return f"Tensor({body}, dtype={self.dtype}{extra})"

    __hash__ = object.__hash__  # ``==`` is elementwise (an op), identity stays hashable

    # -- backpropagation ----------------------------------------------------------
def as_tensor(x: Any) -> Tensor:
    """``x`` as an operand of an op: Tensors as they are, arrays wrapped *keeping their
    dtype* (so float64 NumPy data mixed into float64 math stays float64, as NumPy's
    promotion would have it), anything else through ``Tensor()`` and its float32 default.

    >>> as_tensor([1.0]).dtype, as_tensor(np.ones(1)).dtype
    (dtype('float32'), dtype('float64'))
    """
    if isinstance(x, Tensor):
        return x
    if backend.is_array(x):
        return Tensor._make(x)
    return Tensor(x)

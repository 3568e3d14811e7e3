"""``default_collate`` and ``default_convert``, as ``torch.utils.data._utils.collate``: a list of
examples becomes one batch, structure kept and leaves stacked.

Leaves, by type (``default_collate_fn_map``, looked up by exact type, then by ``isinstance`` in
order): chainrule Tensors and NumPy arrays are stacked along a new first axis, dtype kept;
NumPy scalars become a 1-d Tensor of their dtype; Python floats a float64 Tensor; Python ints an
int64 Tensor (bools a bool one; a float among the ints makes it float32, as ``torch.tensor``
does); strings and bytes stay a list. Containers: a dict collates per key, a namedtuple per
field (kept a namedtuple), any other sequence per position (a tuple becomes a list, as in torch).
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import backend
from ..autograd.tensor import Tensor

_STRING_OR_OBJECT = re.compile(r"[SaUO]")  # dtype kinds NumPy cannot turn into numbers
_ERROR = "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"


def _as_tensor(x: Any) -> Tensor:
    arr = backend.asarray(x)
    return Tensor(arr, dtype=arr.dtype)  # keep the dtype: Tensor alone would make float64 float32


def _stack(arrays: list[Any]) -> Tensor:
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) > 1:
        raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, but got shapes "
                           f"{sorted(shapes)} in one batch (pad them in a collate_fn)")  # fmt: skip
    return _as_tensor(backend.array_module(arrays[0]).stack(arrays))


def collate_tensor_fn(batch: list[Tensor], *, collate_fn_map: dict | None = None) -> Tensor:
    return _stack([t.data for t in batch])  # a new leaf: a batch does not carry its items' graphs


def collate_numpy_array_fn(batch: list[np.ndarray], *, collate_fn_map: dict | None = None) -> Tensor:
    if _STRING_OR_OBJECT.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERROR.format(batch[0].dtype))
    return _stack(batch)


def collate_numpy_scalar_fn(batch: list[Any], *, collate_fn_map: dict | None = None) -> Tensor:
    return _as_tensor(np.asarray(batch))


def collate_float_fn(batch: list[float], *, collate_fn_map: dict | None = None) -> Tensor:
    return Tensor(batch, dtype=np.float64)


def collate_int_fn(batch: list[int], *, collate_fn_map: dict | None = None) -> Tensor:
    arr = np.asarray(batch)
    return Tensor(arr, dtype=np.int64 if arr.dtype.kind in "iu" else None)  # None: float32, or bool


def collate_str_fn(batch: list[Any], *, collate_fn_map: dict | None = None) -> list[Any]:
    return batch


default_collate_fn_map: dict[type | tuple[type, ...], Callable] = {
    Tensor: collate_tensor_fn,
    np.ndarray: collate_numpy_array_fn,
    (np.bool_, np.number, np.object_): collate_numpy_scalar_fn,
    float: collate_float_fn,
    int: collate_int_fn,
    str: collate_str_fn,
    bytes: collate_str_fn,
}


def collate(batch: Sequence[Any], *, collate_fn_map: dict[type | tuple[type, ...], Callable] | None = None) -> Any:
    """Collate ``batch`` (a list of examples), leaves by ``collate_fn_map``, containers by their kind.

    >>> collate([(1, "a"), (2, "b")], collate_fn_map=default_collate_fn_map)
    [Tensor([1, 2], dtype=int64), ('a', 'b')]
    """
    elem = batch[0]
    if collate_fn_map is not None:
        if type(elem) in collate_fn_map:
            return collate_fn_map[type(elem)](batch, collate_fn_map=collate_fn_map)
        for kind, fn in collate_fn_map.items():
            if isinstance(elem, kind):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        fields = {key: collate([d[key] for d in batch], collate_fn_map=collate_fn_map) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                out = copy.copy(elem)  # keeps the mapping's own type (an OrderedDict, a defaultdict)
                out.update(fields)
                return out
            return type(elem)(fields)
        except TypeError:  # a mapping that cannot be rebuilt this way: a plain dict
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple stays one
        return type(elem)(*(collate(field, collate_fn_map=collate_fn_map) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError(f"default_collate: each element in list of batch should be of equal size; got "
                               f"lengths {sorted({len(e) for e in batch})}")  # fmt: skip
        fields = [collate(field, collate_fn_map=collate_fn_map) for field in zip(*batch)]  # each a tuple, as in torch
        if isinstance(elem, tuple):
            return fields  # a list, as torch returns (its backward compatibility)
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                out = copy.copy(elem)
                for i, f in enumerate(fields):
                    out[i] = f
                return out
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(_ERROR.format(type(elem)))


def default_collate(batch: list[Any]) -> Any:
    """One batch from a list of examples, as ``torch.utils.data.default_collate``.

    >>> default_collate([0, 1, 2])
    Tensor([0, 1, 2], dtype=int64)
    >>> default_collate([{"x": np.zeros(2), "y": 1.5}, {"x": np.ones(2), "y": 2.5}])["x"].shape
    (2, 2)
    >>> default_collate([(0.5, "a"), (1.5, "b")])
    [Tensor([0.5, 1.5], dtype=float64), ('a', 'b')]
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data: Any) -> Any:
    """Each NumPy array (or scalar) in ``data`` as a Tensor, structure kept: the collate function of a
    loader with ``batch_size=None``, which gives one example at a time.

    >>> default_convert((np.arange(2), "a"))
    [Tensor([0, 1], dtype=int64), 'a']
    """
    kind = type(data)
    if isinstance(data, Tensor):
        return data
    if kind.__module__ == "numpy" and kind.__name__ not in ("str_", "bytes_"):
        if isinstance(data, np.ndarray) and _STRING_OR_OBJECT.search(data.dtype.str) is not None:
            return data
        return _as_tensor(data)
    if isinstance(data, collections.abc.Mapping):
        fields = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                out = copy.copy(data)
                out.update(fields)
                return out
            return kind(fields)
        except TypeError:
            return fields
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return kind(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        fields = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                out = copy.copy(data)
                for i, f in enumerate(fields):
                    out[i] = f
                return out
            return kind(fields)
        except TypeError:
            return fields
    return data

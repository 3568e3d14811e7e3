"""Datasets, as ``torch.utils.data.dataset``: ``Dataset`` (map-style: ``ds[i]``), ``IterableDataset``
(a stream), ``TensorDataset``, ``ConcatDataset``, ``ChainDataset``, ``Subset`` and ``random_split``;
and chainrule's ``ArrayDataset`` (examples and labels as two arrays) with its ``Splits``.

``ArrayDataset`` and ``TensorDataset`` define ``_collated(indices)``: the batch ``default_collate``
would make of those items (``ArrayDataset``: its own, older batch), made with one fancy index per
array instead of one ``ds[i]`` per item; a ``Subset`` of one passes it on. ``DataLoader`` takes it
when the collate function is the default.
"""

from __future__ import annotations

import bisect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from .. import backend, rng
from ..autograd.tensor import Tensor
from .sampler import check_generator


class Dataset:
    """A map from keys (usually ``0 .. len - 1``) to examples: ``ds[i]``, and ``len(ds)`` for the
    default samplers. ``ds + other`` concatenates (``ConcatDataset``).

    >>> class Squares(Dataset):
    ...     def __getitem__(self, i):
    ...         return i * i
    ...     def __len__(self):
    ...         return 4
    >>> both = Squares() + Squares()
    >>> len(both), [both[i] for i in range(3, 6)]
    (8, [9, 0, 1])
    """

    def __getitem__(self, index: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Dataset should implement __getitem__")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A stream of examples: ``__iter__``. In a loader with workers each worker iterates its own
    copy, so a dataset that should not repeat itself splits its items by ``get_worker_info()``.
    ``ds + other`` chains (``ChainDataset``).

    >>> class Count(IterableDataset):
    ...     def __init__(self, n):
    ...         self.n = n
    ...     def __iter__(self):
    ...         return iter(range(self.n))
    >>> list(Count(2) + Count(3))
    [0, 1, 0, 1, 2]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__}: subclasses of IterableDataset should implement __iter__")

    def __add__(self, other: Dataset) -> ChainDataset:  # type: ignore[override]
        return ChainDataset([self, other])


def _rows(x: Any) -> int:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) == 0:
        raise ValueError(f"TensorDataset: got a {type(x).__name__} of shape {shape}; expected tensors or arrays "
                         "with a first axis to index")  # fmt: skip
    return int(shape[0])


class TensorDataset(Dataset):
    """Example i is ``tuple(t[i] for t in tensors)``: chainrule Tensors or arrays, all as long.

    >>> ds = TensorDataset(np.arange(6.0).reshape(3, 2), np.array([0, 1, 0]))
    >>> len(ds), [v.tolist() for v in ds[1]]
    (3, [[2.0, 3.0], 1])
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset: got no tensors; expected at least one")
        sizes = [_rows(t) for t in tensors]
        if len(set(sizes)) > 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors: first axes of {sizes}; expected one length")
        self.tensors = tensors

    def __getitem__(self, index: Any) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return _rows(self.tensors[0])

    def _collated(self, indices: list[int]) -> list[Tensor]:
        arrays = (t.data if isinstance(t, Tensor) else backend.asarray(t) for t in self.tensors)
        return [Tensor(a, dtype=a.dtype) for a in (arr[indices] for arr in arrays)]


class ConcatDataset(Dataset):
    """Several map-style datasets one after another.

    >>> ds = ConcatDataset([[1, 2], [3]])
    >>> len(ds), ds[2], ds[-1], ds.cumulative_sizes
    (3, 3, 3, [2, 3])
    """

    def __init__(self, datasets: Iterable[Any]) -> None:
        datasets = list(datasets)
        if not datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in datasets:
            if isinstance(d, IterableDataset):
                raise TypeError(f"ConcatDataset: got the IterableDataset {type(d).__name__}; expected map-style "
                                "datasets (chain streams with ChainDataset)")  # fmt: skip
        self.datasets = datasets
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f"ConcatDataset: index {idx} for {len(self)} examples; absolute value of index "
                                 "should not exceed dataset length")  # fmt: skip
            idx += len(self)
        which = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[which][idx - (self.cumulative_sizes[which - 1] if which else 0)]


class ChainDataset(IterableDataset):
    """Several iterable datasets one after another, chained as they are read."""

    def __init__(self, datasets: Iterable[Any]) -> None:
        self.datasets = datasets

    def __iter__(self) -> Iterator[Any]:
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError(f"ChainDataset: got {type(d).__name__}; expected IterableDatasets only")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)  # type: ignore[arg-type]


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in that order.

    >>> s = Subset([10, 11, 12, 13], [3, 0])
    >>> len(s), s[0], s.__getitems__([0, 1])
    (2, 13, [13, 10])
    """

    def __init__(self, dataset: Any, indices: Sequence[int]) -> None:
        if type(self).__getitem__ is not Subset.__getitem__ and type(self).__getitems__ is Subset.__getitems__:
            raise NotImplementedError(f"{type(self).__name__}: overrides __getitem__ but not __getitems__; "
                                      "a Subset subclass must override both (DataLoader calls __getitems__)")  # fmt: skip
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list[int]) -> list[Any]:
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def _collated(self) -> Any:
        """The wrapped dataset's whole-batch read, when it has one (and ``__getitems__`` is Subset's own)."""
        inner = getattr(self.dataset, "_collated", None)
        if inner is None or type(self).__getitems__ is not Subset.__getitems__:
            return None
        return lambda indices: inner([self.indices[i] for i in indices])


def random_split(dataset: Any, lengths: Sequence[int | float],
                 generator: np.random.Generator | None = None) -> list[Subset]:  # fmt: skip
    """``dataset`` cut at random into non-overlapping ``Subset`` s of the given ``lengths``, or of
    fractions summing to 1 (each ``floor(frac * n)``, the remainder dealt one at a time from the
    first split on, as torch does).

    The split is seeded and reproducible: the same NumPy ``generator`` state (or, without one,
    the same ``chainrule.manual_seed``) gives the same split. It is not the split PyTorch's
    ``torch.Generator`` would give for the same seed.

    >>> a, b = random_split(range(10), [0.7, 0.3], generator=np.random.default_rng(0))
    >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
    (7, 3, True)
    """
    generator = check_generator("random_split", generator)
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction {frac} at index {i}; expected fractions between 0 and 1")
        sizes = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; it is an empty dataset", stacklevel=2)
    else:
        sizes = list(lengths)
        if any(not isinstance(s, (int, np.integer)) or s < 0 for s in sizes):
            raise ValueError(f"random_split: lengths {list(lengths)}; expected lengths >= 0 or fractions summing to 1")
    if sum(sizes) != n:
        raise ValueError(f"random_split: lengths {list(lengths)} sum to {sum(sizes)}, but the dataset holds {n}; "
                         "expected the sum of input lengths to equal the length of the input dataset")  # fmt: skip
    order = (generator if generator is not None else rng.generator()).permutation(n).tolist()
    return [Subset(dataset, order[end - size : end]) for end, size in zip(itertools.accumulate(sizes), sizes)]


class ArrayDataset(Dataset):
    """Examples ``x[i]`` with labels ``y[i]``, held as two arrays.

    A ``DataLoader`` with the default collate function reads a batch of it with one fancy index
    per array and yields ``(Tensor(x[idx]), Tensor(y[idx]))``, a tuple, float data as float32
    (as chainrule's ``Tensor`` makes them), as it always has.

    >>> ds = ArrayDataset(np.zeros((5, 2)), np.arange(5))
    >>> len(ds), int(ds[3][1])
    (5, 3)
    """

    def __init__(self, x: Any, y: Any) -> None:
        x, y = np.asarray(x), np.asarray(y)
        if len(x) != len(y):
            raise ValueError(f"ArrayDataset: {len(x)} examples but {len(y)} labels; expected as many of each")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: Any) -> tuple[Any, Any]:
        return self.x[i], self.y[i]

    def _collated(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        return Tensor(self.x[indices]), Tensor(self.y[indices])  # one fancy index per batch

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0


class Splits(NamedTuple):
    train: ArrayDataset
    test: ArrayDataset

"""Samplers, as ``torch.utils.data.sampler``: which indices a loader reads, and in which order.

``Sampler`` (the base), ``SequentialSampler``, ``RandomSampler``, ``SubsetRandomSampler``,
``WeightedRandomSampler`` and ``BatchSampler``; and ``epoch_order``, the seeded order of one
epoch that ``DataLoader`` and ``distributed.DistributedSampler`` share.

A ``generator`` here is a NumPy ``Generator`` (``numpy.random.default_rng(seed)``), chainrule's
counterpart of a seeded ``torch.Generator``: the same seed gives the same indices, but not the
indices PyTorch's generator would give. Without one, a sampler draws from chainrule's own
stream (``chainrule.rng.generator()``), which ``chainrule.manual_seed`` makes repeatable.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any

import numpy as np

from .. import rng


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``n`` examples in ``epoch``: a permutation that depends only on (seed, epoch).

    ``DataLoader`` and ``distributed.DistributedSampler`` both take it, so the ranks of a
    distributed run split exactly the order one process would see.

    >>> epoch_order(5, seed=0, epoch=1).tolist() == epoch_order(5, seed=0, epoch=1).tolist()
    True
    """
    return np.random.default_rng((seed, epoch)).permutation(n) if shuffle else np.arange(n)


def check_generator(who: str, generator: Any) -> np.random.Generator | None:
    """``generator`` if it is a NumPy ``Generator`` or None; a ``TypeError`` naming ``who`` otherwise."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(f"{who}: generator is {type(generator).__name__}; expected a numpy.random.Generator "
                        "(numpy.random.default_rng(seed)) or None")  # fmt: skip
    return generator


def _positive_int(who: str, name: str, value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{who}: {name} should be a positive integer value, but got {name}={value!r}")


def _bool(who: str, name: str, value: Any, error: type[Exception] = ValueError) -> None:
    if not isinstance(value, bool):
        raise error(f"{who}: {name} should be a boolean value, but got {name}={value!r}")


class Sampler:
    """The base of every sampler: ``__iter__`` yields indices (or lists of them, for a batch
    sampler); ``__len__``, when defined, says how many.

    >>> class Evens(Sampler):
    ...     def __iter__(self):
    ...         return iter(range(0, 6, 2))
    >>> list(Evens())
    [0, 2, 4]
    """

    def __iter__(self) -> Iterator[Any]:
        raise NotImplementedError(f"{type(self).__name__}: a Sampler subclass must define __iter__")


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, always in that order.

    >>> list(SequentialSampler(range(4)))
    [0, 1, 2, 3]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """Indices of ``data_source`` in random order: a permutation (repeated, then cut, when
    ``num_samples`` exceeds the data), or ``num_samples`` draws with ``replacement``.

    >>> sorted(RandomSampler(range(5), generator=np.random.default_rng(0)))
    [0, 1, 2, 3, 4]
    >>> len(list(RandomSampler(range(3), replacement=True, num_samples=7)))
    7
    """

    def __init__(self, data_source: Sized, replacement: bool = False, num_samples: int | None = None,
                 generator: np.random.Generator | None = None) -> None:  # fmt: skip
        _bool("RandomSampler", "replacement", replacement, TypeError)
        if num_samples is not None:
            _positive_int("RandomSampler", "num_samples", num_samples)
        self.data_source, self.replacement, self._num_samples = data_source, replacement, num_samples
        self.generator = check_generator("RandomSampler", generator)

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n, g = len(self.data_source), self.generator if self.generator is not None else rng.generator()
        if n == 0:
            return
        if self.replacement:
            yield from g.integers(0, n, self.num_samples).tolist()
            return
        for _ in range(self.num_samples // n):  # whole permutations first, as torch does
            yield from g.permutation(n).tolist()
        if self.num_samples % n:
            yield from g.permutation(n)[: self.num_samples % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices``, in a new random order at every pass.

    >>> sorted(SubsetRandomSampler([7, 3, 5]))
    [3, 5, 7]
    """

    def __init__(self, indices: Sequence[int], generator: np.random.Generator | None = None) -> None:
        self.indices = indices
        self.generator = check_generator("SubsetRandomSampler", generator)

    def __iter__(self) -> Iterator[int]:
        g = self.generator if self.generator is not None else rng.generator()
        for i in g.permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices of ``range(len(weights))``, index i drawn with probability
    proportional to ``weights[i]`` (as ``torch.multinomial``); without ``replacement`` an
    index is drawn at most once.

    >>> s = WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=np.random.default_rng(0))
    >>> list(s)
    [1, 1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: np.random.Generator | None = None) -> None:  # fmt: skip
        who = "WeightedRandomSampler"
        _positive_int(who, "num_samples", num_samples)
        _bool(who, "replacement", replacement)
        w = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"{who}: weights should be a 1d sequence but given weights have shape {w.shape}")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"{who}: weights must be finite, >= 0 and not all 0; got {w.tolist()[:8]}")
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"{who}: {num_samples} samples without replacement, but only {np.count_nonzero(w)} "
                             "weights are nonzero; expected num_samples <= that")  # fmt: skip
        self.weights, self.num_samples, self.replacement = w, num_samples, replacement
        self.generator = check_generator(who, generator)

    def __iter__(self) -> Iterator[int]:
        g = self.generator if self.generator is not None else rng.generator()
        p = self.weights / self.weights.sum()
        yield from g.choice(len(p), size=self.num_samples, replace=self.replacement, p=p).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last one shorter, or dropped with ``drop_last``.

    >>> list(BatchSampler(SequentialSampler(range(7)), batch_size=3, drop_last=False))
    [[0, 1, 2], [3, 4, 5], [6]]
    >>> list(BatchSampler(range(7), batch_size=3, drop_last=True))
    [[0, 1, 2], [3, 4, 5]]
    """

    def __init__(self, sampler: Sampler | Iterable[int], batch_size: int, drop_last: bool) -> None:
        _positive_int("BatchSampler", "batch_size", batch_size)
        _bool("BatchSampler", "drop_last", drop_last)
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class _InfiniteConstantSampler(Sampler):
    """None forever: the placeholder "indices" of an ``IterableDataset``, which picks its own items."""

    def __iter__(self) -> Iterator[None]:
        return itertools.repeat(None)


class EpochSampler(Sampler):
    """chainrule's older sampler protocol, ``indices(epoch)`` and ``len`` (``distributed.DistributedSampler``),
    as an iterable sampler: ``DataLoader`` sets ``epoch`` before each pass.

    >>> class Reversed:
    ...     def indices(self, epoch):
    ...         return np.arange(3)[::-1]
    ...     def __len__(self):
    ...         return 3
    >>> list(EpochSampler(Reversed()))
    [2, 1, 0]
    """

    def __init__(self, sampler: Any) -> None:
        self.sampler, self.epoch = sampler, 0

    def __iter__(self) -> Iterator[int]:
        return iter(np.asarray(self.sampler.indices(self.epoch)).tolist())

    def __len__(self) -> int:
        return len(self.sampler)

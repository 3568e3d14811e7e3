"""Datasets and the loader: ``Dataset``, ``ArrayDataset``, ``DataLoader`` and the seeded epoch order
(``epoch_order``) that a resumed or distributed run shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from .. import rng
from ..autograd.tensor import Tensor


class Dataset:
    """Anything with ``len(ds)`` and ``ds[i] -> (x, y)``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        raise NotImplementedError


class ArrayDataset(Dataset):
    """Examples ``x[i]`` with labels ``y[i]``, held as two arrays.

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

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0


class Splits(NamedTuple):
    train: ArrayDataset
    test: ArrayDataset


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> np.ndarray:
    """The order of ``n`` examples in ``epoch``: a permutation that depends only on (seed, epoch).

    ``DataLoader`` and ``distributed.DistributedSampler`` both take it, so the ranks of a
    distributed run split exactly the order one process would see.

    >>> epoch_order(5, seed=0, epoch=1).tolist() == epoch_order(5, seed=0, epoch=1).tolist()
    True
    """
    return np.random.default_rng((seed, epoch)).permutation(n) if shuffle else np.arange(n)


class DataLoader:
    """Batches of (x, y) Tensors, reshuffled every epoch from a seed.

    The order of epoch e depends only on (seed, e), so a resumed run that calls
    ``set_epoch(e)`` sees exactly the batches an uninterrupted one would.

    >>> ds = ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    >>> [y.numpy().tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> len(DataLoader(ds, batch_size=2, drop_last=True))
    2
    """

    def __init__(self, dataset: Dataset, batch_size: int = 32, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, sampler: Any = None) -> None:  # fmt: skip
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size={batch_size!r}; expected an int >= 1")
        self.dataset, self.batch_size, self.shuffle, self.drop_last = dataset, batch_size, shuffle, drop_last
        self.sampler = sampler  # ``indices(epoch)`` and ``len``: which examples, in which order (distributed shards)
        self.seed = int(rng.generator().integers(2**31)) if seed is None else seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.dataset) if self.sampler is None else len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self.dataset)
        if self.sampler is not None:
            order = self.sampler.indices(self.epoch)
        else:
            order = epoch_order(n, self.seed, self.epoch, self.shuffle)
        self.epoch += 1
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            idx = order[start : start + self.batch_size]
            if isinstance(self.dataset, ArrayDataset):
                x, y = self.dataset.x[idx], self.dataset.y[idx]  # one fancy index per batch
            else:
                items = [self.dataset[int(i)] for i in idx]
                x, y = np.stack([np.asarray(a) for a, _ in items]), np.asarray([b for _, b in items])
            yield Tensor(x), Tensor(y)

"""``DistributedSampler``: each rank's disjoint shard of every epoch's order."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import epoch_order
from .comm import rank as current_rank
from .comm import world_size


class DistributedSampler:
    """Which examples this rank trains on in each epoch: a disjoint shard of the epoch's order.

    The order of epoch e depends only on (seed, e), as ``DataLoader``'s does; rank r takes
    every world_size-th index starting at r, so the t-th batches of all ranks (local batch
    B / world_size each) together hold exactly the t-th global batch of size B that one
    process would take. The order is padded (by repeating its start) to a multiple of the
    world size so every rank runs the same number of steps, or cut with ``drop_last``.

    >>> s = DistributedSampler(10, seed=0, shuffle=False, world=4, rank=1)
    >>> s.indices(0).tolist(), len(s)
    ([1, 5, 9], 3)
    """

    def __init__(self, dataset: Any, seed: int = 0, shuffle: bool = True, drop_last: bool = False,
                 world: int | None = None, rank: int | None = None) -> None:  # fmt: skip
        self.n = dataset if isinstance(dataset, int) else len(dataset)
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.world = world_size() if world is None else world
        self.rank = current_rank() if rank is None else rank
        if not 0 <= self.rank < self.world:
            raise ValueError(f"DistributedSampler: rank {self.rank} for a world of {self.world}")

    def __len__(self) -> int:
        return self.n // self.world if self.drop_last else -(-self.n // self.world)

    def indices(self, epoch: int) -> np.ndarray:
        order = epoch_order(self.n, self.seed, epoch, self.shuffle)  # the order one process would take
        total = len(self) * self.world
        if total > self.n:
            order = np.concatenate([order, order[: total - self.n]])
        return order[: total][self.rank :: self.world]

"""An endless stream of random batches, for training where there is no fixed data set.

``RandomStream`` holds what such a stream shares: one seeded generator (its state is plain
data: ``state_dict`` goes into a checkpoint, so a resumed run draws the very batches an
uninterrupted one would) and, in a distributed run, this rank's share of every global batch
(``shard``: every rank draws the same batch and keeps rows ``rank``, ``rank + world``, ...).
A subclass draws a global batch in ``draw()`` and names its batch axis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class RandomStream:
    """Endless ``(inputs, targets)`` batches of ``batch`` rows from a generator seeded with ``seed``.

    >>> class Noise(RandomStream):
    ...     def draw(self):
    ...         x = self.generator.standard_normal((self.batch, 2))
    ...         return x, x.sum(axis=1)
    >>> x, y = next(iter(Noise(batch=4, seed=0).shard(1, 2)))   # rank 1 of 2: rows 1 and 3
    >>> x.shape, y.shape
    ((2, 2), (2,))
    """

    batch_axis = 0  # which axis of an array counts the batch's rows

    def __init__(self, batch: int, seed: int = 0) -> None:
        self.batch = batch
        self.generator = np.random.default_rng(seed)
        self.rank, self.world = 0, 1

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        """One global batch."""
        raise NotImplementedError(f"{type(self).__name__}: a RandomStream subclass must define draw()")

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rows = (slice(None),) * self.batch_axis + (slice(self.rank, None, self.world),)
        while True:
            x, y = self.draw()
            yield (x[rows], y[rows]) if self.world > 1 else (x, y)

    def shard(self, rank: int, world: int) -> RandomStream:
        """This stream for rank ``rank`` of ``world`` (the batch is global: a multiple of ``world``)."""
        if self.batch % world:
            raise ValueError(f"{type(self).__name__}: batch {self.batch} is the global batch; expected a multiple "
                             f"of the {world} ranks")  # fmt: skip
        self.rank, self.world = rank, world
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.bit_generator.state = state["generator"]

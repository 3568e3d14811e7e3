"""The loader, as ``torch.utils.data.dataloader``: ``DataLoader`` and its two iterators, one that
reads in the main process and one that spreads batches over worker processes.

How a pass goes: a sampler orders the indices, ``BatchSampler`` groups them, a fetcher reads
each group and collates it (``default_collate`` unless told otherwise). With
``num_workers > 0`` the main process deals index batches round-robin to workers through one
queue each, at most ``prefetch_factor`` per worker ahead, and yields the batches in order.

chainrule's own guarantee on top: without a ``generator``, the order of epoch e depends only on
(``seed``, e) (``epoch_order``), and so do the workers' seeds, so a resumed run that calls
``set_epoch(e)`` sees exactly the batches, and the random draws, an uninterrupted one would.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import warnings
import weakref
from collections.abc import Callable, Iterator
from multiprocessing.connection import wait
from typing import Any

import numpy as np

from .. import rng
from ._collate import default_collate, default_convert
from ._worker import Ended, Resume, WorkerError, WorkerSpec, fetcher, find_thread_pools, worker_loop
from .dataset import IterableDataset
from .sampler import (
    BatchSampler,
    EpochSampler,
    RandomSampler,
    SequentialSampler,
    _InfiniteConstantSampler,
    check_generator,
)

JOIN_S = 5.0  # how long shutting down waits for a worker before terminating it
_FIXED_AFTER_INIT = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


def _context(ctx: Any, num_workers: int) -> Any:
    """The multiprocessing context workers start in (None: Python's default)."""
    if ctx is None:
        return None
    if num_workers == 0:
        raise ValueError(f"DataLoader: multiprocessing_context={ctx!r} can only be used with multi-process "
                         "loading (num_workers > 0), but got num_workers=0")  # fmt: skip
    if isinstance(ctx, str):
        methods = multiprocessing.get_all_start_methods()
        if ctx not in methods:
            raise ValueError(f"DataLoader: multiprocessing_context={ctx!r}; expected a start method in {methods}")
        return multiprocessing.get_context(ctx)
    if not isinstance(ctx, multiprocessing.context.BaseContext):
        raise TypeError(f"DataLoader: multiprocessing_context is {type(ctx).__name__}; expected a context object "
                        "or the name of a start method")  # fmt: skip
    return ctx


def _check_arguments(dataset: Any, batch_size: Any, shuffle: Any, sampler: Any, batch_sampler: Any, num_workers: Any,
                     collate_fn: Any, pin_memory: Any, drop_last: Any, timeout: Any, worker_init_fn: Any,
                     multiprocessing_context: Any, generator: Any, prefetch_factor: Any, persistent_workers: Any,
                     seed: Any) -> tuple[bool, Any, Any]:  # fmt: skip
    """torch's checks of ``DataLoader``'s arguments, and chainrule's, before anything is set; returns
    (shuffle, sampler, the multiprocessing context), the sampler of the older protocol wrapped."""
    if not isinstance(num_workers, int) or isinstance(num_workers, bool) or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers={num_workers!r}; num_workers option should be a non-negative "
                         "int; use num_workers=0 to disable multiprocessing")  # fmt: skip
    if timeout < 0:
        raise ValueError(f"DataLoader: timeout={timeout!r}; timeout option should be non-negative")
    if timeout > 0 and num_workers == 0:
        raise ValueError(f"DataLoader: timeout={timeout!r} needs num_workers > 0 (it bounds the wait for a worker)")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError(f"DataLoader: prefetch_factor={prefetch_factor!r} could only be specified in "
                         "multiprocessing; let num_workers > 0, or leave prefetch_factor None")  # fmt: skip
    if prefetch_factor is not None and (not isinstance(prefetch_factor, int) or prefetch_factor < 1):
        raise ValueError(f"DataLoader: prefetch_factor={prefetch_factor!r}; expected an int >= 1")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
    if batch_size is not None and (not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1):
        raise ValueError(f"DataLoader: batch_size={batch_size!r}; expected an int >= 1, or None for no batching")
    if not isinstance(drop_last, bool):
        raise ValueError(f"DataLoader: drop_last={drop_last!r}; drop_last should be a boolean value")
    iterable = isinstance(dataset, IterableDataset)
    if iterable:
        if shuffle not in (False, None):
            raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got "
                             f"shuffle={shuffle}")  # fmt: skip
        for name, given in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if given is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified {name} option, but got "
                                 f"{name}={given!r}")  # fmt: skip
    shuffle = bool(shuffle)
    older = sampler is not None and not hasattr(sampler, "__iter__") and callable(getattr(sampler, "indices", None))
    if older:  # the older protocol, indices(epoch): it orders the examples itself; shuffle was always ignored
        sampler, shuffle = EpochSampler(sampler), False
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None or drop_last):
        raise ValueError("DataLoader: batch_sampler option is mutually exclusive with batch_size, shuffle, "
                         "sampler, and drop_last")  # fmt: skip
    if batch_size is None and drop_last:
        raise ValueError("DataLoader: batch_size=None option disables auto-batching and is mutually exclusive "
                         "with drop_last")  # fmt: skip
    if seed is not None and generator is not None:
        raise ValueError("DataLoader: got both seed and generator; expected one (seed: chainrule's per-epoch "
                         "order; generator: torch's way)")  # fmt: skip
    for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
        if fn is not None and not callable(fn):
            raise TypeError(f"DataLoader: {name} is {type(fn).__name__}; expected a callable or None")
    check_generator("DataLoader", generator)
    context = _context(multiprocessing_context, num_workers)
    if pin_memory:
        warnings.warn("DataLoader: pin_memory=True has no effect: chainrule has no pinned host memory", stacklevel=3)
    return shuffle, sampler, context


class DataLoader:
    """Batches from ``dataset``, as ``torch.utils.data.DataLoader``, with the same arguments and checks.

    ``sampler`` / ``batch_sampler`` choose the indices (``shuffle=True``: a ``RandomSampler``);
    ``batch_size=None`` turns batching off (one example at a time, through ``default_convert``);
    ``collate_fn`` makes a batch from a list of examples; ``num_workers > 0`` reads in that many
    worker processes (``worker_init_fn(worker_id)`` runs first in each; ``get_worker_info()``
    tells a worker who it is; ``persistent_workers`` keeps them from one epoch to the next).
    A worker's exception is raised here, of its type, naming the worker and the index.

    chainrule's additions: ``seed=`` (keyword), and ``set_epoch(e)``. Without a ``generator``,
    shuffling takes the order of epoch e from ``epoch_order(n, seed, e)`` (the seed is drawn from
    chainrule's stream when not given), and worker seeds come from (seed, e) too. A ``generator``
    (a NumPy ``Generator``, chainrule's stand-in for a ``torch.Generator``) is drawn from as torch
    draws from its own: seeded and repeatable, but not torch's numbers. A sampler of the older
    protocol, ``indices(epoch)`` and ``len`` (``distributed.DistributedSampler``), is asked for
    each epoch's indices (it orders them itself: ``shuffle`` is ignored beside it, as it always
    was). An ``ArrayDataset`` under the default collate function is read with one fancy index
    per batch and gives ``(x, y)`` tuples of Tensors, float data as float32.
    ``pin_memory`` is accepted and does nothing (there is no pinned host memory here).

    >>> from chainrule.data import ArrayDataset, TensorDataset
    >>> ds = ArrayDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    >>> [y.numpy().tolist() for _, y in DataLoader(ds, batch_size=2)]
    [[0, 1], [2, 3], [4]]
    >>> len(DataLoader(ds, batch_size=2, drop_last=True))
    2
    >>> [b[1].tolist() for b in DataLoader(TensorDataset(np.zeros((3, 1)), np.arange(3)), batch_size=2)]
    [[0, 1], [2]]
    """

    def __init__(self, dataset: Any, batch_size: int | None = 1, shuffle: bool | None = None, sampler: Any = None,
                 batch_sampler: Any = None, num_workers: int = 0, collate_fn: Callable | None = None,
                 pin_memory: bool = False, drop_last: bool = False, timeout: float = 0,
                 worker_init_fn: Callable[[int], None] | None = None, multiprocessing_context: Any = None,
                 generator: np.random.Generator | None = None, *, prefetch_factor: int | None = None,
                 persistent_workers: bool = False, pin_memory_device: str = "", in_order: bool = True,
                 seed: int | None = None) -> None:  # fmt: skip
        shuffle, sampler, context = _check_arguments(
            dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, collate_fn, pin_memory, drop_last,
            timeout, worker_init_fn, multiprocessing_context, generator, prefetch_factor, persistent_workers, seed)
        iterable = isinstance(dataset, IterableDataset)
        self._initialized = False
        self.dataset, self.num_workers, self.timeout, self.worker_init_fn = dataset, num_workers, timeout, worker_init_fn
        self.prefetch_factor = 2 if num_workers > 0 and prefetch_factor is None else prefetch_factor
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        self.multiprocessing_context, self.persistent_workers, self.generator = context, persistent_workers, generator
        self.seed = int(rng.generator().integers(2**31)) if seed is None and generator is None else seed
        self.epoch = 0
        self._iterable = iterable
        self._seeded_shuffle = shuffle and sampler is None and generator is None  # epoch_order(n, seed, epoch)
        if sampler is None:
            if iterable:
                sampler = _InfiniteConstantSampler()
            else:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
        if batch_sampler is not None:
            batch_size, drop_last = None, False
        elif batch_size is not None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last, self.sampler, self.batch_sampler = batch_size, drop_last, sampler, batch_sampler
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator: _MultiProcessIter | None = None  # persistent workers, kept from one epoch to the next
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_initialized", False) and name in _FIXED_AFTER_INIT:
            raise ValueError(f"DataLoader: {name} attribute should not be set after DataLoader is initialized")
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def set_epoch(self, epoch: int) -> None:
        """The next pass is epoch ``epoch`` (each pass counts one up from there)."""
        self.epoch = epoch

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    def _base_seed(self, epoch: int) -> int:
        """The workers' seeds this epoch are this plus their ids."""
        if self.generator is not None:
            return int(self.generator.integers(2**62))  # drawn as torch draws its base seed, even with no workers
        return int(np.random.default_rng((self.seed, epoch, 1)).integers(2**62))

    def __iter__(self) -> Iterator[Any]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self._seeded_shuffle:
            self.sampler.generator = np.random.default_rng((self.seed, epoch))  # permutation = epoch_order(n, seed, epoch)
        if isinstance(self.sampler, EpochSampler):
            self.sampler.epoch = epoch
        base_seed = self._base_seed(epoch)
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        if not self.persistent_workers:
            return _MultiProcessIter(self, base_seed)
        if self._iterator is None:
            self._iterator = _MultiProcessIter(self, base_seed)
        else:
            self._iterator.reset(self, base_seed)
        return self._iterator


class _SingleProcessIter:
    """One pass, read in the main process."""

    def __init__(self, loader: DataLoader) -> None:
        self._index_sampler = loader._index_sampler
        self._indices = iter(loader._index_sampler)
        self._fetch = fetcher(loader._iterable, loader.dataset, loader._auto_collation, loader.collate_fn,
                              loader.drop_last)  # fmt: skip

    def __iter__(self) -> _SingleProcessIter:
        return self

    def __next__(self) -> Any:
        return self._fetch.fetch(next(self._indices))  # either may raise StopIteration: the pass is over

    def __len__(self) -> int:
        return len(self._index_sampler)


class _WorkerPool:
    """The worker processes of one iterator, with their index queues and result pipes.

    ``shutdown`` runs once, from ``weakref.finalize``: when the iterator is dropped (a ``break``,
    an exception), at interpreter exit, or when a pass ends. The finalizer holds the pool, so
    the queues are still alive when it runs (a queue's own finalizer stops its feeder thread,
    and a ``None`` put after that would never arrive); a forked child that inherits the pool
    does nothing with it.
    """

    def __init__(self, loader: DataLoader, base_seed: int) -> None:
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        n = loader.num_workers
        find_thread_pools()
        self.queues: list[Any] = []
        self.readers: list[Any] = []
        self.workers: list[Any] = []
        self.owner, self.closed, self.done = os.getpid(), False, ctx.Event()
        try:
            for wid in range(n):
                spec = WorkerSpec(loader.dataset, loader._iterable, loader._auto_collation, loader.collate_fn,
                                  loader.drop_last, base_seed, loader.worker_init_fn, wid, n)  # fmt: skip
                tasks = ctx.Queue()
                tasks.cancel_join_thread()  # never block our exit on tasks a dead worker will not read
                reader, writer = ctx.Pipe(duplex=False)
                w = ctx.Process(target=worker_loop, args=(spec, tasks, writer, self.done), daemon=True,
                                name=f"DataLoader worker {wid}")  # fmt: skip
                w.start()
                writer.close()  # the worker now holds the only writing end: its exit reads as EOF here
                self.queues.append(tasks)
                self.readers.append(reader)
                self.workers.append(w)
        except BaseException:
            self.shutdown()
            raise

    def shutdown(self) -> None:
        """Tell every worker to leave, close our ends (a worker blocked sending a batch gets a
        broken pipe), wait a little, and terminate any that is still there."""
        if self.closed or os.getpid() != self.owner:
            return
        self.closed = True
        try:
            self.done.set()
            for q, w in zip(self.queues, self.workers):
                if w.is_alive():
                    q.put(None)
            for r in self.readers:
                r.close()
            for w in self.workers:
                w.join(timeout=JOIN_S)
            for q in self.queues:
                q.close()
        finally:
            for w in self.workers:
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=JOIN_S)


class _MultiProcessIter:
    """One pass (or, with persistent workers, every pass) read by worker processes.

    Task n goes to worker n mod W (skipping workers whose stream has ended); results come back
    through each worker's pipe in any order and are held until their turn. A worker's exit
    reads as end-of-file on its pipe, so a crash is noticed at once.
    """

    def __init__(self, loader: DataLoader, base_seed: int) -> None:
        self._num_workers, self._prefetch, self._timeout = loader.num_workers, loader.prefetch_factor, loader.timeout
        self._persistent, self._in_order = loader.persistent_workers, loader.in_order
        self._pool = _WorkerPool(loader, base_seed)
        self._shutdown = weakref.finalize(self, self._pool.shutdown)  # on drop, on exit, or when called
        self._listening = [True] * self._num_workers  # whose pipe we wait on (a worker told to leave closes it)
        self.reset(loader, base_seed, first=True)

    def reset(self, loader: DataLoader, base_seed: int, first: bool = False) -> None:
        """Start a pass. Persistent workers are reseeded with ``base_seed`` and restart their
        streams; whatever the last pass left unread is dropped on the way."""
        self._index_sampler = loader._index_sampler
        self._indices = iter(loader._index_sampler)
        self._sent = self._received = 0
        self._tasks: dict[int, list[Any]] = {}  # task number -> [worker] or [worker, result]
        self._active = [True] * self._num_workers  # whose stream has not ended
        self._next_worker = itertools.cycle(range(self._num_workers))
        if not first:
            for q in self._pool.queues:
                q.put(Resume(base_seed))
            waiting = self._num_workers
            while waiting:  # each worker answers after the tasks it had: those answers are dropped
                _, number, _ = self._get()
                waiting -= isinstance(number, Resume)
        for _ in range(self._prefetch * self._num_workers):
            self._put_index()

    def _put_index(self) -> None:
        try:
            index = next(self._indices)
        except StopIteration:
            return
        for _ in range(self._num_workers):
            wid = next(self._next_worker)
            if self._active[wid]:
                break
        else:
            return  # every stream has ended
        self._pool.queues[wid].put((self._sent, index))
        self._tasks[self._sent] = [wid]
        self._sent += 1

    def _get(self) -> tuple[int, Any, Any]:
        """(worker, task number, result): the next message from any worker."""
        readers = self._pool.readers
        ready = wait([r for r, on in zip(readers, self._listening) if on], timeout=self._timeout or None)
        if not ready:
            raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
        wid = readers.index(ready[0])
        try:
            number, data = ready[0].recv()
        except EOFError:
            w = self._pool.workers[wid]
            w.join(timeout=JOIN_S)
            self._shutdown()
            raise RuntimeError(f"DataLoader worker {wid} (pid {w.pid}) exited unexpectedly with exit code "
                               f"{w.exitcode}") from None  # fmt: skip
        return wid, number, data

    def __iter__(self) -> _MultiProcessIter:
        return self

    def __next__(self) -> Any:
        while True:
            while self._received < self._sent:  # skip tasks no worker will answer (their stream ended)
                task = self._tasks.get(self._received)
                if task is not None and (len(task) == 2 or self._active[task[0]]):
                    break
                self._tasks.pop(self._received, None)
                self._received += 1
            else:
                if not self._persistent:
                    self._shutdown()
                raise StopIteration
            task = self._tasks[self._received]
            if len(task) == 2:  # arrived earlier, out of turn
                del self._tasks[self._received]
                self._received += 1
                return self._process(task[1])
            wid, number, data = self._get()
            if isinstance(data, Ended):
                self._active[wid] = False
                if not self._persistent:
                    self._pool.queues[wid].put(None)  # it leaves; stop listening before its pipe closes
                    self._listening[wid] = False
                self._put_index()
                continue
            if number != self._received and self._in_order:
                self._tasks[number].append(data)
                continue
            del self._tasks[number]
            if number == self._received:
                self._received += 1
            return self._process(data)

    def _process(self, data: Any) -> Any:
        self._put_index()
        if isinstance(data, WorkerError):
            data.reraise()
        return data

    def __len__(self) -> int:
        return len(self._index_sampler)

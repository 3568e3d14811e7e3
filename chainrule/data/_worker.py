"""What a loader's worker process runs (``torch.utils.data._utils.worker`` and ``fetch``): the
fetchers that read one batch, ``get_worker_info``, and the worker loop.

A worker takes ``(task number, batch indices)`` from its own index queue, fetches and collates
that batch, and sends ``(task number, batch)`` back through its own pipe. Sending pickles
in the worker, so a batch or an exception that cannot be pickled is reported, not lost.
A failure while fetching travels back as a ``WorkerError``, which the main process raises,
naming the worker and the index. Each worker seeds Python's ``random``, NumPy's global generator
and chainrule's stream with its seed (the epoch's base seed + its id) and runs BLAS on one thread.
"""

from __future__ import annotations

import os
import pickle
import queue
import random
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import rng, threads
from ._collate import default_collate

CHECK_S = 1.0  # how often a waiting worker checks that the main process is still there


@dataclass(frozen=True)
class WorkerInfo:
    """In a worker: its ``id`` (0 .. ``num_workers`` - 1), ``num_workers``, the ``seed`` it was
    seeded with this epoch, and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: Any


_worker_info: WorkerInfo | None = None


def get_worker_info() -> WorkerInfo | None:
    """This worker's ``WorkerInfo`` inside a loader's worker process; None in the main process.

    >>> get_worker_info() is None
    True
    """
    return _worker_info


# -- fetching one batch ------------------------------------------------------------------------


class MapFetcher:
    """Reads a batch of a map-style dataset: ``dataset[i]`` for each index (or ``__getitems__``,
    or the dataset's own ``_collated`` under the default collate function), then collates.
    ``where()`` names what it was doing when something failed."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.fast = getattr(dataset, "_collated", None) if collate_fn is default_collate else None
        self.batch: Any = None
        self.item: Any = None  # the index being read (None: the whole batch at once)
        self.collating = False

    def fetch(self, index: Any) -> Any:
        self.batch, self.item, self.collating = index, None, False
        if not self.auto_collation:
            self.item = index
            return self.collate_fn(self.dataset[index])
        if self.fast is not None:
            return self.fast(index)
        getitems = getattr(self.dataset, "__getitems__", None)
        if callable(getitems):
            items = getitems(index)
        else:
            items = []
            for i in index:
                self.item = i  # only the number: the message is written if something fails
                items.append(self.dataset[i])
        self.collating = True
        return self.collate_fn(items)

    def where(self) -> str:
        if self.collating:
            return f"collating the batch {self.batch}"
        if not self.auto_collation:
            return f"index {self.item!r}"
        return f"indices {self.batch}" if self.item is None else f"index {self.item!r} (of the batch {self.batch})"


class IterableFetcher:
    """Reads the next batch of an iterable dataset's stream; ``StopIteration`` once it has ended."""

    def __init__(self, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> None:
        self.dataset, self.auto_collation, self.collate_fn, self.drop_last = dataset, auto_collation, collate_fn, drop_last
        self.stream, self.ended, self.count = iter(dataset), False, 0
        self.collating = 0  # how many items are being collated (0: reading)

    def _next(self) -> Any:
        item = next(self.stream)
        self.count += 1
        return item

    def fetch(self, index: Any) -> Any:
        self.collating = 0
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            item = self._next()
            self.collating = 1
            return self.collate_fn(item)
        items = []
        for _ in index:
            try:
                items.append(self._next())
            except StopIteration:
                self.ended = True
                break
        if not items or (self.drop_last and len(items) < len(index)):
            raise StopIteration
        self.collating = len(items)
        return self.collate_fn(items)

    def where(self) -> str:
        if self.collating:
            return f"collating items {self.count - self.collating} to {self.count - 1} of the dataset's stream"
        return f"item {self.count} of the dataset's stream"


def fetcher(iterable: bool, dataset: Any, auto_collation: bool, collate_fn: Callable, drop_last: bool) -> Any:
    return (IterableFetcher if iterable else MapFetcher)(dataset, auto_collation, collate_fn, drop_last)


# -- messages between the main process and a worker ------------------------------------------


class WorkerError:
    """An exception raised in a worker, carried back as text (with its type, when that pickles)."""

    def __init__(self, worker_id: int, where: str) -> None:
        kind, exc, _ = sys.exc_info()
        self.kind: type[BaseException] | None = kind
        try:
            pickle.dumps(kind)
        except Exception:  # a class defined in a function: only its name comes back
            self.kind = None
        name = kind.__name__ if kind is not None else "an exception"
        self.message = (f"Caught {name} in DataLoader worker {worker_id} on {where}.\nOriginal "
                        + "".join(traceback.format_exception(kind, exc, exc.__traceback__ if exc else None)))  # fmt: skip

    def reraise(self) -> None:
        if self.kind is KeyError:  # KeyError shows its argument's repr: a plain message keeps the newlines
            raise KeyError(_KeyErrorMessage(self.message))
        try:
            exc = self.kind(self.message) if self.kind is not None else None
        except Exception:  # a type that wants other arguments
            exc = None
        raise exc if isinstance(exc, BaseException) else RuntimeError(self.message)


class _KeyErrorMessage(str):
    def __repr__(self) -> str:
        return str(self)


@dataclass(frozen=True)
class Resume:
    """The start of a new epoch for a persistent worker: reseed with ``seed``, restart the stream."""

    seed: int


@dataclass(frozen=True)
class Ended:
    """Worker ``worker_id``'s copy of an iterable dataset has run out."""

    worker_id: int


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker needs to start (passed once, when it starts)."""

    dataset: Any
    iterable: bool
    auto_collation: bool
    collate_fn: Callable
    drop_last: bool
    base_seed: int
    init_fn: Callable[[int], None] | None
    worker_id: int
    num_workers: int


def _seed(seed: int) -> None:
    """Seed everything a dataset may draw from: Python's ``random``, NumPy's legacy global
    generator and chainrule's stream, so workers draw differently and a seeded run repeats."""
    random.seed(seed)
    np.random.seed(np.random.SeedSequence(seed).generate_state(4))
    rng.manual_seed(seed)


_thread_pools: Any = None  # threadpoolctl's view of the loaded BLAS / OpenMP pools


def find_thread_pools() -> None:
    """Find the thread pools once, in the main process: a forked worker inherits what was found
    (finding them costs a worker some 20 ms of CPU; limiting them, well under one)."""
    global _thread_pools
    if _thread_pools is None:
        _thread_pools = threads.controller()  # the process's one (None without threadpoolctl)


def _limit_threads() -> Any:
    """One BLAS thread per spawned worker, as torch sets one thread: workers are the parallelism.

    A forked worker (its pools found by the main process) is left as it is, as PyTorch leaves
    NumPy's BLAS in its workers: setting OpenBLAS's count in a fork restarts OpenBLAS's pool,
    whose threads then spin for a while - 12% more CPU per worker on a dataset of 1 ms items,
    and 2 workers 1.62-1.72x faster than none instead of 1.9x."""
    if _thread_pools is not None:  # inherited: this worker was forked
        return None
    find_thread_pools()
    return None if _thread_pools is None else _thread_pools.limit(limits=1)


def _start(spec: WorkerSpec, init: bool) -> tuple[Any, WorkerError | None]:
    """(a fetcher, None), or (None, the error) when ``worker_init_fn`` or the dataset's ``iter`` failed."""
    stage = "worker_init_fn"
    try:
        if init and spec.init_fn is not None:
            spec.init_fn(spec.worker_id)
        stage = "starting to read the dataset"
        return fetcher(spec.iterable, spec.dataset, spec.auto_collation, spec.collate_fn, spec.drop_last), None
    except Exception:
        return None, WorkerError(spec.worker_id, stage)


def worker_loop(spec: WorkerSpec, index_queue: Any, conn: Any, done_event: Any) -> None:
    """The body of worker ``spec.worker_id``; returns when told to (None), or when the main
    process has gone (its parent changed, or the pipe broke)."""
    global _worker_info
    try:
        limits = _limit_threads()  # noqa: F841 - held for the worker's life
        threads._set_own(1)  # chainrule's ops in a worker run on its one thread, as torch's do
        wid, parent = spec.worker_id, os.getppid()
        _seed(spec.base_seed + wid)
        _worker_info = WorkerInfo(wid, spec.num_workers, spec.base_seed + wid, spec.dataset)
        fetch, failed = _start(spec, init=True)
        ended = False
        while True:
            try:
                task = index_queue.get(timeout=CHECK_S)
            except queue.Empty:
                if os.getppid() != parent:
                    return
                continue
            if task is None:
                return
            if isinstance(task, Resume):
                _seed(task.seed + wid)
                _worker_info = WorkerInfo(wid, spec.num_workers, task.seed + wid, spec.dataset)
                if failed is None:
                    fetch, failed = _start(spec, init=False)
                ended = False
                conn.send((task, None))
                continue
            if done_event.is_set() or ended:
                continue
            number, index = task
            if failed is not None:
                data = failed  # every batch reports it: nothing can be read
            else:
                try:
                    data = fetch.fetch(index)
                except StopIteration:
                    data, ended = Ended(wid), True
                except Exception:
                    data = WorkerError(wid, fetch.where())
            try:
                conn.send((number, data))  # pickles here: a failure is ours to report
            except (BrokenPipeError, ConnectionResetError):
                return  # the main process closed its end: shutting down
            except Exception:
                conn.send((number, WorkerError(wid, f"sending back the batch of indices {index} (it must pickle)")))
            del data, task, index
    except (KeyboardInterrupt, BrokenPipeError, ConnectionResetError):  # Ctrl-C is the main process's to
        pass  # handle, and a closed pipe means it is shutting down: a worker just leaves

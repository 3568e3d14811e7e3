"""Threads: PyTorch's ``set_num_threads`` and ``get_num_threads``, and the one pool that runs
an operation's parts at once.

chainrule decides how many threads an operation may use, as PyTorch's intra-op pool does; the
count starts at what the environment gives BLAS (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``,
else the cores), and ``set_num_threads(n)`` changes it. With more than one thread, the heavy
gates cut their work into contiguous pieces (a matrix product's rows, columns or stacked
matrices, attention's chunks of rows, GELU's spans, layer norm's rows) and ``parallel`` runs
them at once on the calling thread and a few long-lived Python threads, a free thread taking
the next piece: the NumPy products and compiled loops in a piece release the GIL. A thread
wakes some 20-40 us after its turn is given (after a few idle milliseconds on this VM: up to
one), so work under about 100 us stays on the caller. BLAS then runs each piece on one thread,
so there is one pool and not two: BLAS's own threads, which spin for a while after each
product, took the second core from any thread of ours (a step with both got 3-8% slower than
with BLAS's alone), and two callers of a threaded OpenBLAS at once wait for each other. So once
chainrule's count is above one, the process's BLAS runs on one thread (a NumPy product of your
own in it too): ``threads.controller()`` is threadpoolctl's view of it, to raise it again around
such code. The pool is made on first use and again in a forked child; a piece that is itself
running on the pool, a second caller while the pool is busy, and anything inside a compiled
step's trace or anomaly mode run serially (a compiled step's replays use the pool: it records
a cut product, or attention's chunks, as one call).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
_controller: Any = None  # threadpoolctl's view of the loaded BLAS and OpenMP pools, found once
_count: int | None = None  # chainrule's thread count; None: not decided yet (BLAS's, on first use)
_blas_handed: int = 0  # the pid whose BLAS was set to one thread for the pool
_pool: _Pool | None = None
_inside = threading.local()  # .on in the pool's threads


def controller() -> Any:
    """threadpoolctl's ``ThreadpoolController`` of this process's loaded thread pools (BLAS's,
    OpenMP's), found once (it costs some 20 ms) and shared: DataLoader workers limit theirs
    through it; None without threadpoolctl.

    >>> controller() is controller()
    True
    """
    with _lock:
        return _find_controller()


def _find_controller() -> Any:
    global _controller
    if _controller is None:
        import numpy  # noqa: F401 - its BLAS is the one to find

        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - a dependency
            return None
        _controller = ThreadpoolController()
    return _controller


def _blas() -> list:
    """threadpoolctl's controllers of the BLAS libraries this process has loaded (NumPy's)."""
    found = _find_controller()
    return [] if found is None else list(found.select(user_api="blas").lib_controllers)


def get_num_threads() -> int:
    """The threads one operation may use (PyTorch's name): what ``set_num_threads`` set, else
    the count the environment gave BLAS when chainrule first asked.

    >>> get_num_threads() >= 1
    True
    """
    global _count
    if _count is None:
        with _lock:
            if _count is None:
                _count = max((lib.num_threads for lib in _blas()), default=1)
    return _count


def set_num_threads(n: int) -> None:
    """Let each operation use ``n`` threads (PyTorch's name; process-wide, as PyTorch's). BLAS
    then runs on one thread: with ``n`` above one, chainrule's pool splits the products itself.
    A count that is not a positive int is refused before anything changes.

    >>> before = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    global _count, _controller
    with _lock:
        _controller = None  # found again: a library loaded since (torch's BLAS) is set too
        _blas_to_one()
        _count = n


@contextlib.contextmanager
def limited(n: int) -> Iterator[None]:
    """``set_num_threads(n)`` for the block, and the count before it back at its end (process-wide,
    as the count is: a run's ``threads`` setting).

    >>> before = get_num_threads()
    >>> with limited(1):
    ...     get_num_threads()
    1
    >>> get_num_threads() == before
    True
    """
    before = get_num_threads()
    set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(before)


def _set_own(n: int) -> None:
    """Set chainrule's count alone, leaving BLAS as it is (a DataLoader worker takes one: the
    workers are the parallelism, and it has limited BLAS itself)."""
    global _count
    with _lock:
        _count = n


class _Pool:
    """``size`` long-lived threads, each waiting on a lock of its own for its turn."""

    def __init__(self, size: int) -> None:
        self.busy = threading.Lock()  # one caller's parts at a time
        self.workers = [_Worker() for _ in range(size)]

    def run(self, count: int, piece: Callable[[int], None], helpers: int) -> None:
        """``piece(i)`` for i in range(count), taken in turn by the caller and ``helpers`` of
        the workers: a thread that woke late (an idle core can take a millisecond) takes fewer."""
        turns = iter(range(count))  # next() on it is atomic: each piece is taken once

        def take() -> None:
            for i in turns:
                piece(i)

        for worker in self.workers[:helpers]:
            worker.give(take)
        error: BaseException | None = None
        try:
            take()
        except BaseException as e:  # the others take the rest; the first error is raised once all end
            error = e
        for worker in self.workers[:helpers]:
            failed = worker.wait()
            error = error or failed
        if error is not None:
            raise error


class _Worker:
    def __init__(self) -> None:
        # two raw locks as binary semaphores: some 10 us a turn quicker than Events
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.part: Callable[[], None] | None = None
        self.error: BaseException | None = None
        threading.Thread(target=self._loop, name="chainrule-pool", daemon=True).start()

    def give(self, part: Callable[[], None]) -> None:
        self.part, self.error = part, None
        self.go.release()

    def wait(self) -> BaseException | None:
        self.done.acquire()
        return self.error

    def _loop(self) -> None:
        _inside.on = True
        while True:
            self.go.acquire()
            try:
                self.part()  # type: ignore[misc]
            except BaseException as e:  # handed to the caller
                self.error = e
            self.part = None
            self.done.release()


def _blas_to_one() -> None:
    """BLAS on one thread in this process (``_lock`` held): one pool, not two."""
    global _blas_handed
    for lib in _blas():
        lib.set_num_threads(1)
    _blas_handed = os.getpid()


def _pool_for(n: int) -> _Pool:
    global _pool
    with _lock:
        if _blas_handed != os.getpid():  # a count from the environment, or a forked child
            _blas_to_one()
        if _pool is None or len(_pool.workers) < n - 1:
            _pool = _Pool(n - 1)
        return _pool


def _after_fork() -> None:
    global _lock, _pool
    _lock = threading.Lock()  # it may have been held by a thread the child does not have
    _pool = None  # the child's copy has no threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def parts(total: int, least: int) -> int:
    """How many pieces to cut ``total`` units of work into: one per thread (more pieces cost the
    products more than a late thread loses), fewer so each holds at least ``least`` units; 1 on
    one thread and inside the pool.

    >>> parts(10, 100)
    1
    """
    count = get_num_threads()
    if count <= 1 or getattr(_inside, "on", False):
        return 1
    return max(1, min(count, total // max(least, 1)))


def bounds(total: int, n: int) -> list[int]:
    """Where ``parallel``'s ``n`` pieces of ``range(total)`` start, and the end.

    >>> bounds(10, 3)
    [0, 3, 6, 10]
    """
    n = max(1, min(n, total))
    return [total * i // n for i in range(n + 1)]


def parallel(work: Callable[[int, int], None], total: int, n: int) -> None:
    """``work(start, stop)`` over ``n`` contiguous pieces that cover ``range(total)`` (at
    ``bounds(total, n)``), on up to ``get_num_threads()`` threads at once (the caller's among
    them), each taking the next piece when it is free; every piece done before it returns, the
    first error raised then. One call over everything when ``n`` is 1, inside the pool, or
    while another caller's pieces hold it. ``work`` must write only where its range says.

    >>> out = [0] * 6
    >>> def square(start, stop):
    ...     for i in range(start, stop):
    ...         out[i] = i * i
    >>> parallel(square, 6, 2); out
    [0, 1, 4, 9, 16, 25]
    """
    n = min(n, total)
    helpers = min(n, get_num_threads()) - 1
    if helpers < 1 or getattr(_inside, "on", False):
        work(0, total)
        return
    pool = _pool_for(helpers + 1)
    if not pool.busy.acquire(blocking=False):  # another thread's pieces have it
        work(0, total)
        return
    try:
        edges = bounds(total, n)
        pool.run(n, lambda i: work(edges[i], edges[i + 1]), helpers)
    finally:
        pool.busy.release()

"""Intra-op threads: how many cores one operation may use (PyTorch's ``set_num_threads``).

A matrix product uses BLAS's own threads; NumPy's element-wise passes and chainrule's compiled
loops run on the calling thread. The gates whose work falls into independent blocks (attention's
chunks of rows, forward and backward) hand their blocks to a small pool of Python threads: the
products and loops in a block release the GIL, so the blocks run at once, each group of blocks
with its own scratch memory, into disjoint parts of the outputs, the same bits as one thread.
``get_num_threads()`` says how many threads (``OMP_NUM_THREADS`` where it is set, else the CPUs
this process may run on, as PyTorch decides); ``set_num_threads(n)`` sets it, and BLAS's count
too (through threadpoolctl), as ``torch.set_num_threads`` does. The pool is made on first use,
made again in a forked child (whose copy has no threads), and a block that is itself running
on the pool runs its own work serially; callers keep a compiled step's trace serial, since its
tape belongs to the thread that traces.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

_lock = threading.Lock()
_count: int | None = None  # None: not decided yet (the environment's, on first use)
_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_pid = 0
_inside = threading.local()  # .on in the pool's threads
_MOST = 64  # threads one split uses at most (the pool starts its threads as they are first needed)


def _default() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def get_num_threads() -> int:
    """The threads one operation may use (PyTorch's name).

    >>> get_num_threads() >= 1
    True
    """
    global _count
    if _count is None:
        with _lock:
            if _count is None:
                _count = _default()
    return _count


def set_num_threads(n: int) -> None:
    """Let each operation use ``n`` threads: chainrule's blocks and BLAS's products (PyTorch's
    name; process-wide, as in PyTorch).

    >>> before = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    global _count
    from threadpoolctl import threadpool_limits

    with _lock:
        _count = n
        threadpool_limits(limits=n, user_api="blas")


def set_own_threads(n: int) -> None:
    """Set chainrule's own count alone, leaving BLAS's as it is (a DataLoader worker takes one:
    the workers are the parallelism).

    >>> before = get_num_threads()
    >>> set_own_threads(1); get_num_threads()
    1
    >>> set_own_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_own_threads: expected a positive int, got {n!r}")
    global _count
    with _lock:
        _count = n


def _executor() -> concurrent.futures.ThreadPoolExecutor:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():  # a forked child's copy has no threads
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=_MOST - 1, thread_name_prefix="chainrule",
                initializer=setattr, initargs=(_inside, "on", True))  # fmt: skip
            _pool_pid = os.getpid()
        return _pool


def _after_fork() -> None:
    global _lock, _pool
    _lock = threading.Lock()  # it may have been held by a thread the child does not have
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def split(work: Callable[[Sequence[Any]], None], items: Sequence[Any], parallel: bool = True) -> None:
    """``work(group)`` for groups of ``items`` that together hold each once, on up to
    ``get_num_threads()`` threads (the caller's among them; every group done before it returns,
    the first error raised then). Serial (one group, all of them) with ``parallel=False``, one
    thread, one item, or inside the pool. Items are dealt round-robin, so groups of costly
    and cheap items even out; ``work`` must write only where its own items say.

    >>> seen = []
    >>> split(seen.extend, range(5), parallel=False); seen
    [0, 1, 2, 3, 4]
    >>> out = [0] * 6
    >>> def square(group):
    ...     for i in group:
    ...         out[i] = i * i
    >>> split(square, range(6)); out
    [0, 1, 4, 9, 16, 25]
    """
    n = min(get_num_threads(), len(items), _MOST)
    if not parallel or n <= 1 or getattr(_inside, "on", False):
        work(items)
        return
    groups = [items[i::n] for i in range(n)]
    pool = _executor()
    futures = [pool.submit(work, g) for g in groups[1:]]
    error = None
    try:
        work(groups[0])
    except BaseException as e:  # the others still write into the outputs: wait for them first
        error = e
    concurrent.futures.wait(futures)
    if error is not None:
        raise error
    for f in futures:
        f.result()

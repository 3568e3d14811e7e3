"""Threads: PyTorch's ``set_num_threads`` and ``get_num_threads``, on BLAS's pool.

chainrule's matrix products run on BLAS's threads (OpenBLAS, under NumPy); NumPy's element-wise
passes and chainrule's compiled loops run on the calling thread. ``set_num_threads(n)`` sets
BLAS's count through threadpoolctl, as ``torch.set_num_threads`` sets the count of PyTorch's
OpenMP and MKL, and ``get_num_threads()`` reads it back; the environment's
``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS`` set it before import, as for NumPy. Running our
own loops' independent blocks (attention's chunks of rows, GELU's spans) on a pool of Python
threads was built and measured, and left out: alone, attention's layer took 8.9 -> 6.8 ms at
two threads, but in a training step on two cores the pool's thread competed with OpenBLAS's,
which spins for a while after each product, and the GPT and tiny-GPT steps got 3-8% slower
(with OpenBLAS told to spin less, the products got slower by more than the pool gained).
"""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_controller: Any = None  # threadpoolctl's view of the loaded BLAS and OpenMP pools, found once


def controller() -> Any:
    """threadpoolctl's ``ThreadpoolController`` of this process's loaded thread pools (BLAS's,
    OpenMP's), found once (it costs some 20 ms) and shared: DataLoader workers limit theirs
    through it; None without threadpoolctl.

    >>> controller() is controller()
    True
    """
    global _controller
    with _lock:
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
    found = controller()
    return [] if found is None else list(found.select(user_api="blas").lib_controllers)


def get_num_threads() -> int:
    """The threads a matrix product may use: BLAS's count (PyTorch's name); 1 where no BLAS
    with a thread pool is loaded.

    >>> get_num_threads() >= 1
    True
    """
    return max((lib.num_threads for lib in _blas()), default=1)


def set_num_threads(n: int) -> None:
    """Let each matrix product use ``n`` threads (PyTorch's name; process-wide, as PyTorch's).
    A count that is not a positive int is refused before anything changes.

    >>> before = get_num_threads()
    >>> set_num_threads(1); get_num_threads()
    1
    >>> set_num_threads(before)
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: expected a positive int, got {n!r}")
    for lib in _blas():
        lib.set_num_threads(n)

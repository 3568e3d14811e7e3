"""Host memory for NumPy's arrays: glibc's malloc told to keep what a training step frees.

An eager step frees most of what it made (activations, gradients, the products' outputs) and
makes the same again at the next step. glibc's malloc hands such memory back to the kernel: it
trims the heap's top once more than its trim threshold lies free there, and serves blocks over
its mmap threshold with fresh mappings that it unmaps when they are freed. The next step then
takes every page back with a fault and the kernel zeroes it: 18,700 faults a step (73 MiB) in
the GPT bench's step, about 50 ms of system time a step on the 2-core VM of the guides, and
6,800 in the tiny GPT's. PyTorch's steps showed 100-700. glibc raises both thresholds itself as
it sees large blocks freed, up to an mmap threshold of 32 MiB and a trim threshold of 64 MiB,
but a step's many blocks of a few MiB never take it there. So importing chainrule sets the
mmap threshold to that 32 MiB and the trim threshold to 256 MiB (``tune``): the same steps
then fault 0-1 times, the GPT bench's took 214 ms instead of 294 and the tiny GPT's 36-42
instead of 51-60 (one process each, one thread). Up to 256 MiB of freed heap stays with the
process (its RSS does not fall back after a step), which is the trade.
Nothing is changed on other C libraries (macOS, musl), where the environment sets any of
glibc's own ``MALLOC_*_`` variables (the user's choice stands), or with
``CHAINRULE_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import threading

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 << 20  # the largest glibc takes (HEAP_MAX_SIZE / 2 on 64-bit), and its own dynamic ceiling
TRIM_THRESHOLD = 256 << 20
_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_")

_lock = threading.Lock()
_done: bool | None = None  # None: not tried yet; then whether the thresholds were set


def tune() -> bool:
    """Set glibc malloc's mmap and trim thresholds for steps that free and remake their arrays
    (once a process; chainrule's import calls it). True when they are set, False when left as
    they were: not glibc, a ``MALLOC_*_`` variable or ``CHAINRULE_MALLOC=default`` set, or
    mallopt refused.

    >>> tune() == tune()  # the first call decides; later ones answer the same
    True
    """
    global _done
    with _lock:
        if _done is None:
            _done = _apply()
        return _done


def _apply() -> bool:
    if os.environ.get("CHAINRULE_MALLOC", "").lower() == "default" or any(v in os.environ for v in _ENV):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # the mmap threshold first: setting either turns glibc's dynamic adjustment of both off
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))

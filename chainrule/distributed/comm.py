"""The MPI job: joining it (``init``), who this process is (``rank``, ``world_size``), the
collective operations the library uses (``all_reduce``, ``broadcast_object``, ``barrier``) and
ending every rank at once (``abort``; an uncaught exception on any rank does it too).
Without ``mpiexec`` or without mpi4py this process is a world of one, where all of it is a no-op.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor

_state: dict[str, Any] = {"comm": None, "tried": False}  # the communicator, set once by init()
_lock = threading.Lock()


def _comm() -> Any:
    """MPI.COMM_WORLD when this process runs under MPI, else None (joins on first use)."""
    if not _state["tried"]:
        init()
    return _state["comm"]


def init(abort_on_exception: bool = True) -> tuple[int, int]:
    """Join the MPI job this process was started in; returns (rank, world size).

    Without ``mpiexec`` (or without mpi4py) this is a world of one: (0, 1). With
    ``abort_on_exception``, an exception that would end this rank ends every rank
    (``MPI.COMM_WORLD.Abort``) instead of leaving them waiting for it.

    >>> import chainrule.distributed as dist
    >>> dist.init()   # a plain process: a world of one
    (0, 1)
    """
    with _lock:
        if not _state["tried"]:
            _state["tried"] = True
            try:
                from mpi4py import MPI
            except ImportError:
                MPI = None  # noqa: N806 - the module's own name
            comm = MPI.COMM_WORLD if MPI is not None else None
            if comm is not None and comm.Get_size() > 1:
                _state["comm"] = comm
                if abort_on_exception:
                    _install_abort_hook(comm)
    comm = _state["comm"]
    return (comm.Get_rank(), comm.Get_size()) if comm is not None else (0, 1)


def _abort_job(comm: Any, code: int) -> None:
    """``comm.Abort(code)``, once what this rank printed has had a moment to reach ``mpiexec``:
    the launcher forwards a rank's output asynchronously, and Abort kills the forwarders too,
    so without the pause the one line that says why the job ended is sometimes lost."""
    sys.stdout.flush()
    sys.stderr.flush()
    time.sleep(0.2)
    comm.Abort(code)


def _install_abort_hook(comm: Any) -> None:
    previous = sys.excepthook

    def hook(kind: type, value: BaseException, tb: Any) -> None:
        previous(kind, value, tb)
        print(f"chainrule.distributed: rank {comm.Get_rank()} failed ({kind.__name__}); aborting all "
              f"{comm.Get_size()} ranks", file=sys.stderr, flush=True)  # fmt: skip
        _abort_job(comm, 1)

    sys.excepthook = hook


def rank() -> int:
    """This process's rank (0 in a world of one)."""
    comm = _comm()
    return comm.Get_rank() if comm is not None else 0


def world_size() -> int:
    """How many processes train together (1 without MPI)."""
    comm = _comm()
    return comm.Get_size() if comm is not None else 1


def is_main() -> bool:
    """True on rank 0, the rank that prints and writes files."""
    return rank() == 0


def barrier() -> None:
    """Wait until every rank gets here."""
    comm = _comm()
    if comm is not None:
        comm.Barrier()


def abort(code: int = 1, message: str = "") -> None:
    """End every rank of the job now (after printing ``message``); in a world of one, exit."""
    if message:
        print(message, file=sys.stderr, flush=True)
    comm = _comm()
    if comm is not None:
        _abort_job(comm, code)
    sys.exit(code)


_OPS = ("sum", "mean", "max", "min")


def all_reduce(value: Any, op: str = "sum") -> Any:
    """``value`` (a number or array) combined over all ranks: ``sum``, ``mean``, ``max`` or ``min``.

    Every rank gets the result. For metrics (losses, counts); gradients go through
    ``DistributedDataParallel``.

    >>> import chainrule.distributed as dist
    >>> dist.all_reduce(3.0, "mean"), dist.all_reduce(np.array([1, 2]), "sum").tolist()
    (3.0, [1, 2])
    """
    if op not in _OPS:
        raise ValueError(f"all_reduce: op {op!r}; expected one of {', '.join(_OPS)}")
    scalar = np.ndim(value) == 0 and not isinstance(value, np.ndarray)
    arr = np.array(value.numpy() if isinstance(value, Tensor) else value, dtype=None)
    comm = _comm()
    if comm is not None:
        from mpi4py import MPI

        out = np.empty_like(arr)
        comm.Allreduce(arr, out, op={"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op])
        arr = out / comm.Get_size() if op == "mean" else out
    return arr.item() if scalar else arr


def broadcast_object(obj: Any, root: int = 0) -> Any:
    """Rank ``root``'s ``obj`` (picklable: settings, small metadata), on every rank."""
    comm = _comm()
    return comm.bcast(obj, root=root) if comm is not None else obj


def launched_with_mpi() -> bool:
    """Whether this process was started by an MPI launcher (mpiexec sets one of these)."""
    return any(k in os.environ for k in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "PMI_SIZE"))


def time_allreduce(nbytes: int, repeats: int = 10) -> float:
    """Seconds one blocking allreduce of ``nbytes`` takes here (0 in a world of one): for benchmarks."""
    comm = _comm()
    if comm is None:
        return 0.0
    from mpi4py import MPI

    buf = np.ones(max(1, nbytes // 4), dtype=np.float32)
    comm.Barrier()
    start = time.perf_counter()
    for _ in range(repeats):
        comm.Allreduce(MPI.IN_PLACE, buf)
    return (time.perf_counter() - start) / repeats

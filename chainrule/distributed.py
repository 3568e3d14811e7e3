"""Data-parallel training on several processes and machines, through MPI (``mpi4py``).

Run the same script on N processes (``mpiexec -n N python train.py``); each process (a
*rank*) trains the same model on its own shard of every batch, and the ranks average their
gradients so every rank takes the same step: the model N processes train is the one one
process would train on the whole batch. ``init()`` joins the job (a process started without
``mpiexec``, or without mpi4py installed, is a world of one, where everything here is a
no-op). ``DistributedDataParallel(model)`` broadcasts rank 0's weights and buffers, checks
that every rank built the same model, and averages gradients with non-blocking allreduces
in buckets, each sent as soon as its last gradient is final during the backward pass
(``Tensor.register_post_accumulate_grad_hook``), so communication overlaps the rest of the
backward, as PyTorch's DDP and Horovod do. ``DistributedSampler`` gives each rank a disjoint
shard of every epoch's order. Failures never hang: an uncaught exception on any rank aborts
the whole job (``MPI.COMM_WORLD.Abort``), and a rank that waits on its peers longer than
``timeout`` seconds says so and aborts.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from .autograd.inplace import write_in_place
from .autograd.tensor import Tensor
from .data import epoch_order
from .nn.modules.module import Module

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


class _Bucket:
    """Parameters whose gradients travel in one allreduce: a flat buffer of one dtype."""

    def __init__(self, params: list[tuple[str, Tensor]], dtype: np.dtype) -> None:
        self.params = params
        self.offsets: list[tuple[int, int]] = []
        n = 0
        for _, p in params:
            self.offsets.append((n, n + p.numel()))
            n += p.numel()
        self.buffer = np.zeros(n, dtype=dtype)
        self.ready = 0
        self.request: Any = None

    def __len__(self) -> int:
        return len(self.params)


class DistributedDataParallel(Module):
    """Wrap a model so that its gradients are averaged over all ranks during ``backward()``.

    At wrap time rank 0's parameters and buffers (batch norm's statistics) are broadcast
    to every rank, after a check that every rank holds the same parameters (names, shapes,
    dtypes; the first difference is named). Call the wrapper as the model; every rank
    must then run one ``backward()`` per forward. Gradients are averaged in buckets of
    about ``bucket_mb`` megabytes, in the reverse order of the parameters (the order the
    backward pass finishes them); each bucket's allreduce starts (non-blocking) as soon as
    its last gradient is final, and the pass waits for them all at its end, at most
    ``timeout`` seconds, then aborts the job with a message naming what it waited for.
    Parameters the forward did not use contribute zeros. Batch norm keeps per-rank batch
    statistics (each rank normalizes its own shard; running statistics stay rank 0's
    until broadcast again), as PyTorch's DDP without SyncBatchNorm does.

    In a world of one it is a thin pass-through.

    >>> import chainrule as cr
    >>> net = cr.distributed.DistributedDataParallel(cr.nn.Linear(3, 2))
    >>> net(cr.Tensor([[1.0, 2.0, 3.0]])).sum().backward()
    >>> net.module.weight.grad.shape
    (2, 3)
    """

    def __init__(self, module: Module, bucket_mb: float = 1.0, timeout: float = 300.0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected a Module, got {type(module).__name__}")
        if not bucket_mb > 0 or not timeout > 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb={bucket_mb} and timeout={timeout}; expected both > 0")
        elsewhere = next(((n, p.device) for n, p in module.named_parameters() if p.device.type != "cpu"), None)
        if elsewhere is not None:  # the buckets are host arrays, sent by host MPI
            raise ValueError(f"DistributedDataParallel: parameter {elsewhere[0]} is on {elsewhere[1]}; expected the "
                             "model on the CPU (training across processes runs on CPU parameters)")
        self.module = module
        self.timeout = float(timeout)
        self.comm = _comm()
        self.buckets: list[_Bucket] = []
        self.bytes_per_step = 0
        self.wait_seconds = 0.0  # time the last backward spent waiting for allreduces (not hidden by it)
        if self.comm is None:
            return
        named = list(module.named_parameters())
        self._check_same_model(named)
        self._broadcast_state()
        self._build_buckets(named, int(bucket_mb * 2**20))
        self._where = {id(p): (b, i) for b in self.buckets for i, (_, p) in enumerate(b.params)}
        for _, p in named:
            p.register_post_accumulate_grad_hook(self._ready)
        self._launched = 0

    # -- wrap time ----------------------------------------------------------------------
    def _check_same_model(self, named: list[tuple[str, Tensor]]) -> None:
        mine = [(n, tuple(p.shape), str(p.dtype)) for n, p in named]
        everyone = self.comm.allgather(mine)
        for r, theirs in enumerate(everyone):
            if theirs == everyone[0]:
                continue
            if len(theirs) != len(everyone[0]):
                problem = f"rank 0 has {len(everyone[0])} parameters, rank {r} has {len(theirs)}"
            else:
                a, b = next((a, b) for a, b in zip(everyone[0], theirs) if a != b)
                problem = (f"parameter {a[0]!r} is {a[1]} {a[2]} on rank 0 but rank {r} has {b[0]!r} {b[1]} {b[2]}")
            raise ValueError(f"DistributedDataParallel: the ranks built different models: {problem}; every rank "
                             "must build the same model")  # fmt: skip

    def _broadcast_state(self) -> None:
        for _, p in self.module.named_parameters():
            self.comm.Bcast(write_in_place(p, "DistributedDataParallel"), root=0)  # rank 0's weights everywhere
        for m in self.module.modules():
            for name in getattr(m, "_buffer_names", ()):
                self.comm.Bcast(getattr(m, name), root=0)

    def _build_buckets(self, named: list[tuple[str, Tensor]], limit: int) -> None:
        current: list[tuple[str, Tensor]] = []
        size = 0
        for name, p in reversed(named):  # the backward finishes the last layers first
            if current and (size + p.data.nbytes > limit or p.dtype != current[0][1].dtype):
                self.buckets.append(_Bucket(current, current[0][1].dtype))
                current, size = [], 0
            current.append((name, p))
            size += p.data.nbytes
        if current:
            self.buckets.append(_Bucket(current, current[0][1].dtype))
        self.bytes_per_step = sum(b.buffer.nbytes for b in self.buckets)

    # -- each step ----------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        out = self.module(*args, **kwargs)
        if self.comm is not None and self.buckets:
            self._start_step(out)
        return out

    def _start_step(self, out: Any) -> None:
        """A new forward: every bucket starts empty; parameters the forward did not use
        are ready now, with a zero gradient (every rank must send every bucket)."""
        if any(b.request is not None for b in self.buckets):
            self._fail("a forward ran before the previous backward finished averaging the gradients (every rank "
                       "must run one backward() per forward of the wrapped model)")
        for b in self.buckets:
            b.ready = 0
        self._launched = 0
        used = _reachable_leaves(out)
        for b in self.buckets:
            for i, (_, p) in enumerate(b.params):
                if id(p) not in used:
                    lo, hi = b.offsets[i]
                    b.buffer[lo:hi] = 0
                    self._mark(b)

    def _ready(self, p: Tensor) -> None:
        """p.grad is final for this backward: copy it into its bucket (and let the allreduces
        already on their way move on: MPICH advances them only inside MPI calls)."""
        from mpi4py import MPI

        b, i = self._where[id(p)]
        lo, hi = b.offsets[i]
        b.buffer[lo:hi] = p.grad.data.reshape(-1)
        if self._launched:
            MPI.Request.Testall([q.request for q in self.buckets if q.request is not None])
        self._mark(b)

    def _mark(self, b: _Bucket) -> None:
        from mpi4py import MPI

        b.ready += 1
        if b.ready == len(b):
            b.request = self.comm.Iallreduce(MPI.IN_PLACE, b.buffer, op=MPI.SUM)
            self._launched += 1
            if self._launched == len(self.buckets):
                self._finish()

    def _finish(self) -> None:
        """Every bucket is on its way: wait for them (bounded), average, write back."""
        from mpi4py import MPI

        start = time.perf_counter()
        requests = [b.request for b in self.buckets]
        polls = 0
        # MPICH moves a non-blocking collective on only inside MPI calls, so the wait spins on
        # Testall (as a blocking wait would: a nap per poll slows every chunk of the transfer);
        # past a second it naps between polls, and past the timeout it gives up
        while not MPI.Request.Testall(requests):
            polls += 1
            if polls % 256 == 0:
                waited = time.perf_counter() - start
                if waited > self.timeout:
                    self._fail(f"waited {self.timeout:g} s for the other ranks' gradients; a rank has stopped or "
                               "runs another step")  # fmt: skip
                if waited > 1.0:
                    time.sleep(0.001)
        self.wait_seconds = time.perf_counter() - start
        scale = 1.0 / self.comm.Get_size()
        for b in self.buckets:
            b.request = None
            b.buffer *= scale
            for (_, p), (lo, hi) in zip(b.params, b.offsets):
                avg = b.buffer[lo:hi].reshape(p.shape)
                if p.grad is None:
                    p.grad = Tensor._make(avg.copy())
                else:
                    p.grad.data[...] = avg

    def _fail(self, why: str) -> None:
        abort(1, f"chainrule.distributed: rank {self.comm.Get_rank()}: {why}; aborting all ranks")

    # -- the wrapped model's face --------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The wrapped model's state (names without a prefix, so files load into a plain model)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        self.module.load_state_dict(state, strict)

    def check_state_dict(self, state: dict[str, Any], strict: bool = True) -> Any:
        return self.module.check_state_dict(state, strict)

    def named_parameters(self) -> Iterator[tuple[str, Any]]:
        return self.module.named_parameters()

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        return self.module.named_buffers()

    def extra_repr(self) -> str:
        return f"world_size={world_size()}, buckets={len(self.buckets)}"


def _reachable_leaves(out: Any) -> set[int]:
    """ids of the leaves the graph behind ``out`` (a Tensor or a list/tuple of them) reaches."""
    roots = [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)] \
        if isinstance(out, (list, tuple)) else []  # fmt: skip
    found: set[int] = set()
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        t = stack.pop()
        if t._ctx is None:
            found.add(id(t))
            continue
        if id(t._ctx) in seen:
            continue
        seen.add(id(t._ctx))
        stack.extend(a for a in t._ctx.inputs if isinstance(a, Tensor))
    return found


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
        self.rank = globals()["rank"]() if rank is None else rank
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

"""``DistributedDataParallel``: a model whose gradients are averaged over every rank during
``backward()``, bucket by bucket, as each bucket's last gradient is final (a post-accumulate
hook per parameter), so communication overlaps the rest of the backward pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..autograd.inplace import write_in_place
from ..autograd.tensor import Tensor
from ..nn.modules.module import Module
from .comm import _comm, abort, world_size


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
        for _, b in self.module.named_buffers():  # (None buffers are left out; a Tensor's array is sent)
            self.comm.Bcast(write_in_place(b, "DistributedDataParallel") if isinstance(b, Tensor) else b, root=0)

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

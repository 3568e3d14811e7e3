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

``comm`` holds the job and its collectives, ``ddp`` the wrapper, ``sampler`` the shards.
"""

from __future__ import annotations

from .comm import (
    abort,
    all_reduce,
    barrier,
    broadcast_object,
    init,
    is_main,
    launched_with_mpi,
    rank,
    time_allreduce,
    world_size,
)
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler

__all__ = ["DistributedDataParallel", "DistributedSampler", "abort", "all_reduce", "barrier", "broadcast_object",
           "init", "is_main", "launched_with_mpi", "rank", "time_allreduce", "world_size"]  # fmt: skip

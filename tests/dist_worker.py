"""A rank of the distributed tests: ``mpiexec -n N python tests/dist_worker.py MODE OUT``.

Modes: ``mlp``/``cnn`` train a few SGD steps with DistributedDataParallel on each rank's
shard of every global batch and write rank 0's weights to OUT (an .npz); ``raise``,
``kill``, ``mismatch`` and ``stall`` make one rank fail in one way, to show the others stop.
``steps()`` is also what the tests run in one process, for the comparison.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import numpy as np

import chainrule as cr
from chainrule import distributed as dist
from chainrule import nn
from chainrule.nn import functional as F

GLOBAL_BATCH, STEPS, LR = 16, 3, 0.1


def model(kind: str) -> nn.Module:
    cr.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))


def data(kind: str) -> cr.data.ArrayDataset:
    g = np.random.default_rng(7)
    n = GLOBAL_BATCH * STEPS
    x = g.standard_normal((n, 64) if kind == "mlp" else (n, 1, 8, 8)).astype(np.float32)
    return cr.data.ArrayDataset(x, g.integers(0, 10, n))


def steps(kind: str, world: int = 1, rank: int = 0, wrap: bool = False) -> nn.Module:
    """STEPS SGD steps on global batches of GLOBAL_BATCH: this rank's share of each."""
    net = model(kind)
    trained = dist.DistributedDataParallel(net, bucket_mb=0.002) if wrap else net  # small buckets: several per step
    ds = data(kind)
    sampler = dist.DistributedSampler(ds, seed=5, world=world, rank=rank)
    loader = cr.data.DataLoader(ds, batch_size=GLOBAL_BATCH // world, sampler=sampler)
    opt = cr.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    for x, y in loader:
        loss = F.cross_entropy(trained(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    rank, world = dist.init()
    if mode in ("mlp", "cnn"):
        net = steps(mode, world, rank, wrap=True)
        if rank == 0:
            np.savez(out, **net.state_dict())
    elif mode == "raise":
        if rank == 1:
            raise RuntimeError("rank 1 fails on purpose")
        dist.barrier()  # never reached by rank 1: the abort must end this wait
    elif mode == "kill":
        if rank == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        dist.barrier()
    elif mode == "mismatch":
        cr.manual_seed(0)
        net = nn.Linear(4, 3 if rank == 0 else 5)
        dist.DistributedDataParallel(net)
    elif mode == "stall":  # rank 1 runs a forward but never the backward: rank 0 must not wait forever
        net = dist.DistributedDataParallel(model("mlp"), timeout=2.0)
        x = cr.Tensor(np.ones((2, 64), dtype=np.float32))
        loss = net(x).sum()
        if rank == 1:
            time.sleep(120)
        loss.backward()
    dist.barrier()


if __name__ == "__main__":
    main()

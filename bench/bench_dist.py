"""Data-parallel training on MPI: steps per second at 1, 2 and 4 ranks, against one process.

The MLP and the CNN of ``bench_train.py`` (global batch 128 and 64), SGD, float32. Each rank
runs one BLAS thread and takes its share of every global batch (``DistributedDataParallel``);
the references are one process with one and with two BLAS threads on the whole batch. Per
configuration: steps per second (global batches), the scaling efficiency against one process
on one thread (steps/s over ranks x the one-thread steps/s), the bytes each rank allreduces per
step, and the overlap: the share of a blocking allreduce of those bytes (timed alone) that the
backward pass hid (1 - the time a step waited for its allreduces / the allreduce alone). Four
ranks on this 2-core machine are oversubscribed, and reported as such. Goal: 2 ranks on 2 cores
>= 1.7x one process on one thread on the CNN, and faster than one process on two threads.

Run: ``python bench/bench_dist.py`` (needs the ``dist`` extra: mpi4py and the mpich wheel).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parent))

from bench_train import data  # noqa: E402 - the same batches as the single-process benchmark


def model(kind: str):
    import chainrule as cr
    from chainrule import nn

    cr.manual_seed(0)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10),
    )  # fmt: skip


def worker(kind: str, steps: int) -> None:
    """One rank (or the single process): time ``steps`` steps after warm-up; rank 0 prints JSON."""
    import chainrule as cr
    from chainrule import distributed as dist
    from chainrule.nn import functional as F

    rank, world = dist.init()
    net = model(kind)
    trained = dist.DistributedDataParallel(net) if world > 1 else net
    opt = cr.optim.SGD(net.parameters(), lr=0.01)
    xs, ys = data(kind)
    share = len(xs) // world
    x, y = cr.Tensor(xs[rank * share : (rank + 1) * share]), cr.Tensor(ys[rank * share : (rank + 1) * share])
    def step() -> None:
        loss = F.cross_entropy(trained(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    times, waits = [], []
    for _ in range(3):  # rounds of steps run back to back, as training runs them (the allreduce is the only meeting)
        dist.barrier()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
            waits.append(getattr(trained, "wait_seconds", 0.0))
        times.append((time.perf_counter() - t0) / steps)
    nbytes = getattr(trained, "bytes_per_step", 0)
    alone = dist.time_allreduce(nbytes) if world > 1 else 0.0
    if rank == 0:
        wait = statistics.median(waits)
        print(json.dumps({"ms": statistics.median(times) * 1e3, "bytes": nbytes, "wait_ms": wait * 1e3,
                          "allreduce_ms": alone * 1e3, "overlap": max(0.0, 1 - wait / alone) if alone else None}))


def launch(kind: str, ranks: int, threads: int, steps: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads)}
    cmd = [sys.executable, str(HERE), "--worker", kind, str(steps)]
    if ranks > 1:
        mpiexec = Path(sys.executable).with_name("mpiexec")
        cmd = [str(mpiexec), "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=900)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], int(sys.argv[3]))
        return
    cores = os.cpu_count() or 1
    print(f"Data-parallel training on MPI (mpi4py, MPICH). {platform.processor() or platform.machine()}, {cores} "
          f"cores, Python {platform.python_version()}, NumPy {np.__version__}")
    print("Each configuration's best of 3 interleaved runs (each the median of 3 rounds of steps run back to back); steps are global batches.")
    print()
    print("| model | processes x BLAS threads | ms per step | steps/s | vs 1 x 1 | efficiency | MiB allreduced per "
          "step (each rank) | allreduce alone | waited for it | overlap |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    configs = [(1, 1), (1, 2), (2, 1), (4, 1)]
    for kind, label, steps in (("mlp", "MLP 784-512-512-10, batch 128", 40), ("cnn", "CNN 3x32x32, batch 64", 12)):
        best: dict[tuple[int, int], dict] = {}
        for _ in range(3):
            for ranks, threads in configs:
                r = launch(kind, ranks, threads, steps)
                if (ranks, threads) not in best or r["ms"] < best[(ranks, threads)]["ms"]:
                    best[(ranks, threads)] = r
        base = 1000 / best[(1, 1)]["ms"]
        for ranks, threads in configs:
            r = best[(ranks, threads)]
            rate = 1000 / r["ms"]
            over = " (oversubscribed)" if ranks * threads > cores else ""
            eff = f"{rate / (ranks * threads * base):.0%}" if ranks > 1 else ("" if threads == 1 else f"{rate / (2 * base):.0%}")
            comm = (f"{r['bytes'] / 2**20:.2f} | {r['allreduce_ms']:.2f} ms | {r['wait_ms']:.2f} ms | {r['overlap']:.0%}"
                    if ranks > 1 else "- | - | - | -")  # fmt: skip
            print(f"| {label} | {ranks} x {threads}{over} | {r['ms']:.2f} | {rate:.1f} | {rate / base:.2f}x | {eff} | {comm} |")


if __name__ == "__main__":
    main()

"""The DataLoader's worker processes: a dataset whose ``__getitem__`` costs 1 ms, loaded with 0
and 2 workers (issue 26's goal: >= 1.7x faster with 2 workers on two cores).

"busy": a fixed amount of pure-Python arithmetic (calibrated to 1 ms on this machine, idle);
"sleep": time.sleep(0.001), as waiting on a disk or network would be. Reports wall time and
the CPU time every process spent (main + workers), and the load average around the run (the
machine must be otherwise idle: the workers need both cores). Run: ``python bench/bench_data.py [N]``.
"""

from __future__ import annotations

import os
import resource
import sys
import time

import numpy as np

from chainrule.data import DataLoader, Dataset

N, BATCH = int(sys.argv[1]) if len(sys.argv) > 1 else 1000, 16


def work(k):
    x = 0
    for i in range(k):
        x += i * i
    return x


def calibrate():
    k = 10000
    best = min(_time(k) for _ in range(20))
    return int(k * 0.001 / best)


def _time(k):
    t = time.perf_counter()
    work(k)
    return time.perf_counter() - t


K = calibrate()


class Costly(Dataset):
    def __init__(self, kind):
        self.kind = kind

    def __len__(self):
        return N

    def __getitem__(self, i):
        if self.kind == "sleep":
            time.sleep(0.001)
        else:
            work(K)
        return np.full(8, i, np.float32), i


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run(kind, workers, repeats=3):
    best, best_cpu = float("inf"), 0.0
    for _ in range(repeats):
        loader = DataLoader(Costly(kind), batch_size=BATCH, num_workers=workers, seed=0)
        c, t = cpu(), time.perf_counter()
        seen = sum(int(y.shape[0]) for _, y in loader)
        wall = time.perf_counter() - t
        del loader
        if wall < best:
            best, best_cpu = wall, cpu() - c
        assert seen == N
    return best, best_cpu


print(
    f"cores: {len(os.sched_getaffinity(0))}; load average before: {os.getloadavg()[0]:.2f}; "
    f"{N} items of 1 ms ({K} loop steps), batch {BATCH}; best of 3 (worker start-up included)"
)
for kind in ("busy", "sleep"):
    (t0, c0), (t2, c2) = run(kind, 0), run(kind, 2)
    print(
        f"{kind:5s}: 0 workers {t0:.3f} s wall ({c0:.2f} s CPU), 2 workers {t2:.3f} s wall ({c2:.2f} s CPU, "
        f"main + workers): {t0 / t2:.2f}x"
    )
print(f"load average after: {os.getloadavg()[0]:.2f}")

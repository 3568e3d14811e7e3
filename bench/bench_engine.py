"""Small-graph speed: chainrule against PyTorch (CPU) and hand-written NumPy, in one run.

(1) forward + backward of f = (x + y) * z on scalars (the lecture's first example);
(2) forward + backward of a chain of 100 ``y = y * 1.0001 + 0.0001`` on a 10-element
    tensor, summed.

Small graphs are where a lean Python engine can beat a big one: the goal is
chainrule <= 0.5x PyTorch's time on (1) and <= 0.8x on (2). Run: ``make bench``.
"""

from __future__ import annotations

import platform
import timeit

import numpy as np

import chainrule as cr

try:
    import torch
except ImportError:  # the bench still runs, without the PyTorch column
    torch = None


def best_us(fn, number: int, repeat: int = 7) -> float:
    """Best-of-``repeat`` time per call in microseconds (the least disturbed run)."""
    fn()  # warm up
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


# -- (1) (x + y) * z on scalars -----------------------------------------------------------
# The chainrule and PyTorch steps are the same code on each library's leaves.


def scalar_step(tensor):
    x, y, z = (tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))

    def step():
        f = (x + y) * z
        f.backward()
        x.grad = y.grad = z.grad = None

    return step


def scalar_numpy():
    x, y, z = (np.asarray(v, dtype=np.float32) for v in (-2.0, 5.0, -4.0))

    def step():
        q = x + y
        f = q * z  # noqa: F841 - the forward value, as the others compute it
        df = np.ones((), dtype=np.float32)
        dz, dq = q * df, z * df
        dx, dy = dq.copy(), dq.copy()  # noqa: F841
        return dx, dy, dz

    return step


# -- (2) chain of 100 mul-add on a 10-element tensor ---------------------------------------

CHAIN = 100


def chain_step(a):
    def step():
        y = a
        for _ in range(CHAIN):
            y = y * 1.0001 + 0.0001
        y.sum().backward()
        a.grad = None

    return step


def chain_numpy():
    a = np.linspace(-1, 1, 10).astype(np.float32)

    def step():
        y = a
        for _ in range(CHAIN):
            y = y * np.float32(1.0001) + np.float32(0.0001)
        y.sum()
        g = np.ones_like(a)
        for _ in range(CHAIN):
            g = g * np.float32(1.0001)
        return g

    return step


CASES = [
    ("(x+y)*z, scalars", lambda: scalar_step(cr.Tensor), lambda: scalar_step(torch.tensor), scalar_numpy,
     20000, 0.5),
    (f"chain of {CHAIN} mul-add, 10 elements",
     lambda: chain_step(cr.Tensor(np.linspace(-1, 1, 10), requires_grad=True)),
     lambda: chain_step(torch.linspace(-1, 1, 10, requires_grad=True)), chain_numpy, 300, 0.8),
]


def main() -> list[dict]:
    if torch is not None:
        torch.set_num_threads(1)  # tiny tensors: threads only add overhead, for both
    rows = []
    for name, ours, theirs, numpy_ref, number, goal in CASES:
        t_ours = best_us(ours(), number)
        t_torch = best_us(theirs(), number) if torch is not None else float("nan")
        t_np = best_us(numpy_ref(), number)
        rows.append(dict(name=name, ours=t_ours, torch=t_torch, numpy=t_np, goal=goal))
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if torch is not None else ""))
    print("forward + backward, microseconds per call (best of 7)")
    head = f"| {'case':<34} | {'chainrule':>9} | {'PyTorch':>8} | {'NumPy by hand':>13} | {'vs PyTorch':>10} | {'goal':>6} | {'vs NumPy':>8} |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in rows:
        ratio = r["ours"] / r["torch"]
        met = "met" if ratio <= r["goal"] else "missed"
        print(f"| {r['name']:<34} | {r['ours']:>9.1f} | {r['torch']:>8.1f} | {r['numpy']:>13.1f} | "
              f"{ratio:>9.2f}x | {'<=' + str(r['goal']) + 'x':>6} | {r['ours'] / r['numpy']:>7.1f}x |  {met}")
    return rows


if __name__ == "__main__":
    main()

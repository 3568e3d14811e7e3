"""Big graphs: an LSTM, AlexNet, the NTM, and memory over backpropagation through time.

(a) LSTM and GRU forward + backward, input 128, hidden 256, sequence 32, batch 32 (float32),
    against PyTorch's ``nn.LSTM`` and ``nn.GRU`` on the same sizes. Goal: <= 1.0x PyTorch.
(b) AlexNet (224x224, batch 2) forward + backward, gradients set to None before each step
    (as a training step has them): time and peak memory, against PyTorch. Goal: memory
    <= 1.2x PyTorch's.
(c) The NTM (memory 128 x 20, LSTM controller 100) on one length-20 copy episode: forward +
    backward, ours alone (PyTorch has no NTM), per time step.
(d) BPTT memory: peak memory of an LSTM's forward + backward at sequence lengths 50, 100,
    200, 400: it should grow linearly.
(e) Graph size: a chain of n scalar multiplications, n = 1e3 ... 1e6: forward and backward
    time per node, the share of the forward spent in Python's garbage collector (which walks
    every live graph object now and then), and memory per node, against PyTorch. Goal: the
    cost per node within 1.5x from 1e3 to 1e6.

Each case runs in its own process (peak memory = VmHWM growth over the RSS before the
first step, with glibc's mmap threshold fixed, as in bench_train.py). Run: ``make bench``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
from bench_train import (  # this folder: the same measuring and the same models' API
    apply_coretype,
    kernels_line,
    library,
    measure,
    warm_loops,
)

F32 = np.float32


def lstm_case(lib: str, seq: int = 32, kind: str = "LSTM"):
    nn, _, tensor, seed = library(lib)
    seed(0)
    layer, x = getattr(nn, kind)(128, 256), tensor(np.random.default_rng(0).standard_normal((seq, 32, 128)).astype(F32))

    def step():
        out, _ = layer(x)
        out.sum().backward()

    return step


def gru_case(lib: str, seq: int = 32):
    return lstm_case(lib, seq, "GRU")


def alexnet_case(lib: str):
    x = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(F32)
    if lib == "torch":
        import torch

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
        from test_models import torch_alexnet

        torch.manual_seed(0)
        net, xt = torch_alexnet().eval(), torch.from_numpy(x)

        def step():
            net.zero_grad()  # each step's gradients anew, as a training step has them (set to None)
            net(xt).sum().backward()

        return step
    import chainrule as cr
    from chainrule.models import alexnet

    cr.manual_seed(0)
    net, xc = alexnet().eval(), cr.Tensor(x)

    def step():
        net.zero_grad()
        net(xc).sum().backward()

    return step


def ntm_case(lib: str):
    import chainrule as cr
    from chainrule.tasks import sequence

    model = sequence.build("ntm")
    x, y = sequence.copy_batch(1, 20, generator=np.random.default_rng(0))

    def step(x, y):
        logits = model(cr.Tensor(x))[-y.shape[0]:]  # the answer steps
        loss = cr.nn.functional.binary_cross_entropy_with_logits(logits, cr.Tensor(y))
        loss.backward()
        return loss

    run = cr.compile(step) if lib == "compiled" else step  # the same step, traced once and replayed
    return lambda: run(x, y)


CASES = {"lstm": lstm_case, "gru": gru_case, "alexnet": alexnet_case, "ntm": ntm_case}


def graph_size(lib: str, n: int) -> dict:
    """A chain of ``n`` multiplications on a scalar: forward and backward microseconds per node,
    the garbage collector's share of the forward, and the peak RSS growth per node (bytes)."""
    import gc
    import time

    from bench_train import status_mib

    in_gc, started = [0.0], [0.0]

    def clock(phase: str, info: dict) -> None:  # gc.callbacks: the time of every collection
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            in_gc[0] += time.perf_counter() - started[0]

    if lib == "torch":
        import torch

        x = torch.tensor(1.0, requires_grad=True)
    else:
        import chainrule as cr

        x = cr.Tensor(np.float32(1.0), requires_grad=True)
    gc.collect()
    before = status_mib("VmRSS")
    gc.callbacks.append(clock)
    t0 = time.perf_counter()
    y = x
    for _ in range(n):
        y = y * 1.0000001
    t1 = time.perf_counter()
    y.backward()
    t2 = time.perf_counter()
    gc.callbacks.remove(clock)
    return {"forward_us": (t1 - t0) / n * 1e6, "backward_us": (t2 - t1) / n * 1e6, "gc_us": in_gc[0] / n * 1e6,
            "bytes": (status_mib("VmHWM") - before) * 2**20 / n}  # fmt: skip


def nodes_run(lib: str, n: int) -> dict:
    """``graph_size`` in a fresh process (its own peak memory), best of three for the times."""
    runs = [json.loads(subprocess.run([sys.executable, __file__, "--nodes", lib, str(n)], capture_output=True,
                                      text=True, check=True).stdout.strip().splitlines()[-1])
            for _ in range(3 if n <= 100_000 else 2)]  # fmt: skip
    best = min(runs, key=lambda r: r["forward_us"] + r["backward_us"])
    return {**best, "bytes": min(r["bytes"] for r in runs)}


def one(case: str, lib: str, arg: int, repeats: int) -> dict:
    if lib == "torch":
        import torch  # noqa: F401 - before the baseline
    elif case == "alexnet":
        warm_loops()  # Numba's compiler before the baseline, too
    step = CASES[case](lib, arg) if case in ("lstm", "gru") else CASES[case](lib)
    return measure(step, repeats, warmup=1)


def run(case: str, lib: str, arg: int = 32, repeats: int = 5, memory: bool = False) -> dict:
    env = {**os.environ, **({"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)} if memory else {})}
    out = subprocess.run([sys.executable, __file__, "--one", case, lib, str(arg), str(repeats)], capture_output=True,
                         text=True, check=True, env=env)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def best(case: str, lib: str, arg: int = 32, repeats: int = 5, rounds: int = 3) -> dict:
    times = [run(case, lib, arg, repeats)["ms"] for _ in range(rounds)]
    return {"ms": min(times), "peak_mib": run(case, lib, arg, 2, memory=True)["peak_mib"]}


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--nodes":
        print(json.dumps(graph_size(sys.argv[2], int(sys.argv[3]))))
        return
    if len(sys.argv) == 6 and sys.argv[1] == "--one":
        print(json.dumps(one(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
        return
    apply_coretype(sys.argv)  # --coretype auto / NAME, as bench_train.py
    try:
        import torch

        have_torch = True
        threads = torch.get_num_threads()
    except ImportError:
        have_torch, threads = False, None
    print(f"Big graphs. {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, NumPy "
          f"{np.__version__}" + (f", PyTorch {torch.__version__} ({threads} threads)" if have_torch else ""))  # fmt: skip
    print(kernels_line())
    print()
    print("| case | chainrule | PyTorch | vs PyTorch | peak MiB (ours / torch) |")
    print("|---|---|---|---|---|")
    for case, label, repeats in (("lstm", "LSTM 128->256, seq 32, batch 32, fwd+bwd", 10),
                                 ("gru", "GRU 128->256, seq 32, batch 32, fwd+bwd", 10),
                                 ("alexnet", "AlexNet 224x224, batch 2, fwd+bwd", 3)):  # fmt: skip
        ours = best(case, "chainrule", repeats=repeats)
        theirs = best(case, "torch", repeats=repeats) if have_torch else {"ms": float("nan"), "peak_mib": float("nan")}
        print(f"| {label} | {ours['ms']:.1f} ms | {theirs['ms']:.1f} ms | {ours['ms'] / theirs['ms']:.2f}x | "
              f"{ours['peak_mib']:.0f} / {theirs['peak_mib']:.0f} |")  # fmt: skip
    for lib, label in (("chainrule", "NTM copy episode, length 20 (41 steps), fwd+bwd"), ("compiled", "the same, compiled")):
        n = best("ntm", lib, repeats=5)
        print(f"| {label} | {n['ms']:.0f} ms ({n['ms'] / 41:.1f} ms per step) | - | - | {n['peak_mib']:.0f} / - |")
    print()
    print("BPTT memory, LSTM 128->256, batch 32, forward + backward (peak MiB over the steps):")
    print("| sequence length | 50 | 100 | 200 | 400 |")
    print("|---|---|---|---|---|")
    peaks = [run("lstm", "chainrule", t, 1, memory=True)["peak_mib"] for t in (50, 100, 200, 400)]
    print("| chainrule | " + " | ".join(f"{p:.0f}" for p in peaks) + " |")
    if have_torch:
        peaks = [run("lstm", "torch", t, 1, memory=True)["peak_mib"] for t in (50, 100, 200, 400)]
        print("| PyTorch | " + " | ".join(f"{p:.0f}" for p in peaks) + " |")
    print()
    print("Graph size: a chain of n multiplications on a scalar; microseconds per node (best of 2-3 processes), of")
    print("the forward the part in Python's garbage collector, and peak memory per node:")
    print("| nodes | forward | of it in the GC | backward | bytes per node | PyTorch forward | PyTorch backward | "
          "PyTorch bytes per node |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for n in (1_000, 10_000, 100_000, 1_000_000):
        ours = nodes_run("chainrule", n)
        theirs = nodes_run("torch", n) if have_torch else {k: float("nan") for k in ours}
        print(f"| {n:.0e} | {ours['forward_us']:.2f} | {ours['gc_us']:.2f} | {ours['backward_us']:.2f} | "
              f"{ours['bytes']:.0f} | {theirs['forward_us']:.2f} | {theirs['backward_us']:.2f} | {theirs['bytes']:.0f} |")


if __name__ == "__main__":
    main()

"""How much of each training step is matrix products: chainrule's (OpenBLAS) and PyTorch's (MKL,
oneDNN), sampled with Linux ``perf`` over the steps alone.

For each row of bench_models.py and the GPT bench's step, each library in a process of its own
pinned to one core: the median step time, and the share of perf's samples in BLAS's GEMM code
(OpenBLAS's ``sgemm_*`` under NumPy; under PyTorch MKL's ``sgemm``/``blas`` symbols and every
sample in generated code, which is oneDNN's: its LSTM's element-wise kernels too, so PyTorch's
share is an upper bound; chainrule's generated code is Numba's loops, not counted). share x step = the products' milliseconds. The floor this gives: with our products
as fast as they are, a step can be no faster than them, so ``products / PyTorch's step`` is
the least ratio any change elsewhere can reach. Needs ``perf`` (linux-perf) and the rights to
sample a process you started (``kernel.perf_event_paranoid`` <= 2); prints why not otherwise.
Run: ``python bench/gemm_share.py`` (unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE first, as the
other benches).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROWS = ("cnn", "char-lstm", "tiny-gpt", "lstm-layer", "gpt")
LIBS = ("chainrule", "compiled", "torch")
STEPS = int(os.environ.get("GEMM_SHARE_STEPS", "60"))  # steps sampled (fewer for a call-graph run)
OURS = re.compile(r"^sgemm_|^dgemm_")  # OpenBLAS's kernels and packing copies
THEIRS = re.compile(r"mkl_blas|sgemm|gemm_driver|brgemm|jit_")  # MKL, and oneDNN's named kernels


def step_of(lib: str, row: str):
    """One training step (or forward and backward) of ``row`` in ``lib``, built by the benches."""
    sys.path.insert(0, HERE)
    if row == "gpt":
        import bench_gpt

        if lib != "torch":
            bench_gpt.warm_loops()
        return bench_gpt.train_case(lib)
    import bench_models

    if lib != "torch":
        bench_models.warm_loops()
    return bench_models.case(lib, row)


def child(lib: str, row: str, ctl: str, ack: str) -> None:
    """In the sampled process: warm up, then step with perf's sampling on (its control fifo)."""
    if lib == "torch":
        import torch

        torch.set_num_threads(1)
    step = step_of(lib, row)
    for _ in range(5):
        step()
    times = []
    with open(ctl, "w") as c, open(ack) as a:
        c.write("enable\n")
        c.flush()
        a.readline()
        for _ in range(STEPS):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        c.write("disable\n")
        c.flush()
        a.readline()
    times.sort()
    print(json.dumps({"ms": times[len(times) // 2] * 1e3}))


def sampled(lib: str, row: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        ctl, ack, data = (os.path.join(tmp, n) for n in ("ctl", "ack", "perf.data"))
        os.mkfifo(ctl)
        os.mkfifo(ack)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        run = subprocess.run(["taskset", "-c", "0", "perf", "record", "-q", "-D", "-1", f"--control=fifo:{ctl},{ack}",
                              "-o", data, sys.executable, __file__, "--child", lib, row, ctl, ack],
                             env=env, capture_output=True, text=True, check=True)  # fmt: skip
        ms = json.loads(run.stdout.strip().splitlines()[-1])["ms"]
        report = subprocess.run(["perf", "report", "-i", data, "--sort", "sym", "--stdio", "-q"],
                                capture_output=True, text=True, check=True).stdout  # fmt: skip
    pattern = THEIRS if lib == "torch" else OURS
    share = 0.0
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*)$", line)
        if m and pattern.search(m.group(2).strip()):
            share += float(m.group(1)) / 100
        elif m and lib == "torch" and m.group(2).startswith("0x"):  # oneDNN's generated kernels (no Numba here)
            share += float(m.group(1)) / 100
    return {"ms": ms, "share": share}


def main() -> None:
    if shutil.which("perf") is None:
        print("perf is not installed (Debian: linux-perf): nothing measured")
        return
    print(f"{os.uname().machine}, {os.cpu_count()} cores, one thread; products = perf's share x the median step")
    print()
    print("| row | chainrule step | its products | compiled step | PyTorch step | its products | floor: our products / PyTorch's step |")
    print("|---|---|---|---|---|---|---|")
    for row in [r for r in ROWS if r in sys.argv[1:]] or ROWS:
        r = {lib: sampled(lib, row) for lib in LIBS if lib != "compiled" or row != "lstm-layer"}
        ours, theirs = r["chainrule"], r["torch"]
        comp = f"{r['compiled']['ms']:.1f} ms" if "compiled" in r else "-"
        print(f"| {row} | {ours['ms']:.1f} ms | {ours['ms'] * ours['share']:.1f} ms ({ours['share']:.0%}) | "
              f"{comp} | {theirs['ms']:.1f} ms | {theirs['ms'] * theirs['share']:.1f} ms "
              f"({theirs['share']:.0%}) | {ours['ms'] * ours['share'] / theirs['ms']:.2f}x |", flush=True)  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
    else:
        main()

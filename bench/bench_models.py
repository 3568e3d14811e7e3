"""The models people write (issue 28's table): chainrule eager and compiled against PyTorch eager.

Rows, float32, one training step each (forward, loss, backward, optimizer step) unless said:

- cnn: 1x28x28, conv16-bn-relu-pool, conv32-bn-relu-pool, linear; batch 64, Adam
- char-lstm: Embedding 65x32, LSTM 128, linear; batch 32 x 64 steps, Adam
- tiny-gpt: 2 pre-norm blocks, C 64, 4 heads, T 64, batch 32, AdamW (chainrule.models.GPT and
  bench_gpt.py's PyTorch twin)
- gelu: exact GELU alone on (32, 64, 256), forward and backward
- lstm-layer: LSTM 128 -> 256, T 32, batch 32, forward and backward

Each (library, row) runs in a fresh subprocess pinned to 1 or 2 cores; the best of three
interleaved rounds, each the median of its steps; peak memory is the growth of peak RSS during
the steps over the RSS once the library is loaded (chainrule's Numba loops compiled on a small
input first, as torch is imported first), glibc's mmap threshold fixed so freed arrays go back.
Goals (issue 28): each model row eager <= 1.0x PyTorch, compiled <= 0.8x; GELU <= 1.5x; the
LSTM layer <= 1.0x; peak memory <= 1.2x. Run: ``python bench/bench_models.py`` (unset
OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE first, as a user's machine has neither).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
from bench_train import kernels_line, measure, thread_env

ROWS = ("cnn", "char-lstm", "tiny-gpt", "gelu", "lstm-layer")
MODELS = ("cnn", "char-lstm", "tiny-gpt")  # the rows that are training steps (compiled too)


def data(row: str) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    if row == "cnn":
        return g.standard_normal((64, 1, 28, 28)).astype(np.float32), g.integers(0, 10, 64)
    if row == "char-lstm":
        w = g.integers(0, 65, (32, 65))
        return w[:, :-1], w[:, 1:]
    if row == "tiny-gpt":
        w = g.integers(0, 65, (32, 65))
        return w[:, :-1], w[:, 1:]
    if row == "gelu":
        return g.standard_normal((32, 64, 256)).astype(np.float32), np.ones((32, 64, 256), np.float32)
    return g.standard_normal((32, 32, 128)).astype(np.float32), np.ones((32, 32, 256), np.float32)


def build(nn, row: str, gpt=None):
    """The row's model from ``nn`` (``torch.nn`` or ``chainrule.nn``: the same source)."""
    if row == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(32 * 7 * 7, 10))  # fmt: skip
    if row == "char-lstm":

        class CharLSTM(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb, self.lstm, self.head = nn.Embedding(65, 32), nn.LSTM(32, 128, batch_first=True), nn.Linear(128, 65)

            def forward(self, x):
                return self.head(self.lstm(self.emb(x))[0])

        return CharLSTM()
    if row == "tiny-gpt":
        return gpt()
    if row == "lstm-layer":
        return nn.LSTM(128, 256, batch_first=True)
    return nn.GELU()


def case(lib: str, row: str):
    """One step of ``row`` in ``lib`` ("torch", "chainrule", "compiled"), as a function of nothing."""
    x, y = data(row)
    if lib == "torch":
        import torch

        torch.manual_seed(0)
        gpt = None
        if row == "tiny-gpt":
            import bench_gpt

            gpt = lambda: bench_gpt.torch_gpt(layers=2, heads=4, embd=64, block=64)[1]  # noqa: E731
        model = build(torch.nn, row, gpt)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if row in ("gelu", "lstm-layer"):
            xt.requires_grad_(True)
            out = (lambda: model(xt)) if row == "gelu" else (lambda: model(xt)[0])
            return lambda: out().backward(yt)
        opt = (torch.optim.AdamW if row == "tiny-gpt" else torch.optim.Adam)(model.parameters(), lr=1e-3)

        def step():
            out = model(xt)
            loss = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), yt.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step
    import chainrule as cr

    cr.manual_seed(0)
    gpt = None
    if row == "tiny-gpt":
        from chainrule.models import GPT, GPTConfig

        gpt = lambda: GPT(GPTConfig(block_size=64, vocab_size=65, n_layer=2, n_head=4, n_embd=64))  # noqa: E731
    model = build(cr.nn, row, gpt)
    if row in ("gelu", "lstm-layer"):
        xc, g = cr.Tensor(x, requires_grad=True), cr.Tensor(y)
        out = (lambda: model(xc)) if row == "gelu" else (lambda: model(xc)[0])
        return lambda: out().backward(g)
    opt = (cr.optim.AdamW if row == "tiny-gpt" else cr.optim.Adam)(model.parameters(), lr=1e-3)

    def whole(x, y):
        out = model(x)
        loss = cr.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = cr.compile(whole) if lib == "compiled" else whole
    return lambda: run(x, y)


def warm_loops() -> None:
    """chainrule's Numba loops (GELU, pooling, the fused kernels a compiled step builds), compiled
    on small inputs before the baseline, as torch is imported before it."""
    import chainrule as cr

    for row in MODELS:
        model = build(cr.nn, row, lambda: __import__("chainrule.models", fromlist=["GPT"]).GPT(
            __import__("chainrule.models", fromlist=["GPTConfig"]).GPTConfig(block_size=8, vocab_size=65, n_layer=1,
                                                                               n_head=4, n_embd=16)))  # fmt: skip
        x, y = data(row)
        x, y = x[:2], y[:2]
        if row != "cnn":
            x, y = x[:, :8], y[:, :8]
        opt = cr.optim.Adam(model.parameters(), lr=1e-3)

        def whole(x, y, model=model, opt=opt):
            out = model(x)
            loss = cr.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

        step = cr.compile(whole)
        for _ in range(3):
            step(x, y)


def one(lib: str, row: str) -> dict:
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    else:
        warm_loops()
    return measure(case(lib, row), 10, warmup=3)


def run_one(lib: str, row: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", lib, row], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        if os.environ.get("BENCH_CPUS"):
            os.sched_setaffinity(0, set(range(int(os.environ["BENCH_CPUS"]))))
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
        return
    rows = [r for r in ROWS if r in sys.argv[1:]] or list(ROWS)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}")  # fmt: skip
    print(kernels_line())
    print()
    print("| row | threads | chainrule | compiled | PyTorch | eager vs PyTorch | compiled vs PyTorch | peak MiB (ours, compiled / torch) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        libs = ("chainrule", "compiled", "torch") if row in MODELS else ("chainrule", "torch")
        for threads in (1, 2):
            env = thread_env(threads)
            r: dict[str, float] = {}
            for _ in range(3):
                for lib in libs:
                    r[lib] = min(r.get(lib, float("inf")), run_one(lib, row, env)["ms"])
            mem = ""
            if threads == 1:
                peak = {lib: run_one(lib, row, {**env, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)})["peak_mib"]
                        for lib in libs}  # fmt: skip
                comp = f", compiled {peak['compiled']:.0f}" if "compiled" in peak else ""
                mem = f"{peak['chainrule']:.0f}{comp} / {peak['torch']:.0f}"
            c = r.get("compiled", float("nan"))
            print(f"| {row} | {threads} | {r['chainrule']:.1f} ms | {c:.1f} ms | {r['torch']:.1f} ms | "
                  f"{r['chainrule'] / r['torch']:.2f}x | {c / r['torch']:.2f}x | {mem} |", flush=True)


if __name__ == "__main__":
    main()

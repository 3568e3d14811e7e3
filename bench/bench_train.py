"""One training step (forward, backward, SGD update, float32): chainrule vs PyTorch vs hand-written NumPy.

(a) MLP 784-512-512-10 on a batch of 128;
(b) CNN on 3x32x32 inputs, batch 64: conv3x3(32)-relu-maxpool2-conv3x3(64)-relu-maxpool2-
    linear(256)-relu-linear(10), convolutions padded to keep the size.

Each (library, model) pair runs in a fresh subprocess, so its peak memory can be read
from the OS: the growth of peak RSS over the RSS just before the first step (weights and
data are already allocated then, so this is what the steps themselves take, gradients and
BLAS buffers included). Times are the median of the timed steps after warm-up; three
interleaved rounds, each library keeping its best, damp this machine's noise. Goals: MLP <= 0.9x PyTorch and <= 1.05x NumPy;
CNN <= 1.0x PyTorch; peak memory <= 1.2x PyTorch's. Run: ``make bench``.

NumPy's matrix products are OpenBLAS's, whose kernels depend on the processor: the header
names the ones that ran. ``--coretype auto`` unsets ``OPENBLAS_CORETYPE`` for the run (OpenBLAS
picks for itself), ``--coretype Haswell`` forces the AVX2 kernels. PyTorch and JAX bring
their own products and do not read it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

LR = 0.01
F32 = np.float32


def data(kind: str):
    g = np.random.default_rng(0)
    if kind == "mlp":
        return g.standard_normal((128, 784)).astype(F32), g.integers(0, 10, 128)
    return g.standard_normal((64, 3, 32, 32)).astype(F32), g.integers(0, 10, 64)


def he(g, shape, fan_in):
    return (g.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(F32)


# -- chainrule and PyTorch: the same code on each library --------------------------------


def library(lib: str):
    """(nn, optim, array -> tensor, seed) of chainrule or PyTorch: their APIs match for these models."""
    if lib == "torch":
        import torch

        return torch.nn, torch.optim, torch.from_numpy, torch.manual_seed
    import chainrule as cr

    return cr.nn, cr.optim, cr.Tensor, cr.manual_seed


def framework_step(lib: str, kind: str):
    compiled = lib == "compiled"
    lib = "chainrule" if compiled else lib
    nn, optim, tensor, seed = library(lib)
    seed(0)
    if kind == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Linear(256, 10),
        )  # fmt: skip
    opt = optim.SGD(model.parameters(), lr=LR)
    xs, ys = data(kind)
    x, y = tensor(xs), tensor(ys)

    def step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    if compiled:  # the same step, traced once and replayed (chainrule.compile)
        import chainrule as cr

        step = cr.compile(step)
    return lambda: step(x, y)


# -- JAX with jit: the same models as pure functions ----------------------------------------


def jax_step(kind: str):
    import jax
    import jax.numpy as jnp

    g = np.random.default_rng(0)
    if kind == "mlp":
        sizes = [(784, 512), (512, 512), (512, 10)]
        params = [(jnp.asarray(he(g, s, s[0])), jnp.zeros(s[1], F32)) for s in sizes]

        def scores(params, x):
            for i, (w, b) in enumerate(params):
                x = x @ w + b
                if i < len(params) - 1:
                    x = jax.nn.relu(x)
            return x
    else:
        convs = [(he(g, (3, 3, 3, 32), 27), np.zeros(32, F32)), (he(g, (3, 3, 32, 64), 288), np.zeros(64, F32))]
        fcs = [(he(g, (4096, 256), 4096), np.zeros(256, F32)), (he(g, (256, 10), 256), np.zeros(10, F32))]
        params = [(jnp.asarray(w), jnp.asarray(b)) for w, b in convs + fcs]

        def scores(params, x):
            x = jnp.transpose(x, (0, 2, 3, 1))  # NHWC, as XLA's CPU convolutions prefer
            for w, b in params[:2]:
                x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + b
                x = jax.nn.relu(x)
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            x = x.reshape(x.shape[0], -1)
            x = jax.nn.relu(x @ params[2][0] + params[2][1])
            return x @ params[3][0] + params[3][1]

    def loss(params, x, y):
        s = scores(params, x)
        return -jnp.mean(jax.nn.log_softmax(s)[jnp.arange(s.shape[0]), y])

    @jax.jit
    def step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return value, jax.tree_util.tree_map(lambda w, dw: w - LR * dw, params, grads)

    xs, ys = data(kind)
    x, y = jnp.asarray(xs), jnp.asarray(ys)
    state = [params]

    def run():
        value, state[0] = step(state[0], x, y)
        jax.block_until_ready(value)

    return run


def step_flops(kind: str) -> float:
    """Multiply-adds x 2 of the step's matrix products (convolutions as im2col products):
    forward, input gradients (none for the first layer) and weight gradients."""
    if kind == "mlp":
        n, layers = 128, [(784, 512, 1), (512, 512, 1), (512, 10, 1)]
    else:
        n, layers = 64, [(27, 32, 32 * 32), (288, 64, 16 * 16), (4096, 256, 1), (256, 10, 1)]
    total = 0.0
    for i, (k, o, positions) in enumerate(layers):
        one = 2.0 * n * positions * k * o
        total += one * (2 if i == 0 else 3)
    return total


def blas_core() -> str:
    """The kernels NumPy's OpenBLAS runs on this processor (``OPENBLAS_CORETYPE`` forces
    another's): read from the library NumPy loaded, or "unknown"."""
    import ctypes

    np.ones(2) @ np.ones(2)  # the library is loaded by now
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "openblas" in line.lower() and line.rstrip().endswith(".so")}
    for path in paths:
        lib = ctypes.CDLL(path)
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename", "openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


def apply_coretype(argv: list[str]) -> None:
    """``--coretype NAME``: every library's process runs under OPENBLAS_CORETYPE=NAME; ``auto``
    unsets it, so OpenBLAS picks its kernels for this processor (a machine's environment may
    force older ones)."""
    if "--coretype" in argv:
        core = argv[argv.index("--coretype") + 1]
        if core == "auto":
            os.environ.pop("OPENBLAS_CORETYPE", None)
        else:
            os.environ["OPENBLAS_CORETYPE"] = core


def kernels_line() -> str:
    """The header line naming the OpenBLAS kernels the measured processes get (asked of a fresh one)."""
    forced = os.environ.get("OPENBLAS_CORETYPE")
    code = "import bench_train, json; print(json.dumps(bench_train.blas_core()))"
    core = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                     cwd=os.path.dirname(os.path.abspath(__file__))).stdout)  # fmt: skip
    return f"NumPy's OpenBLAS kernels: {core}" + (f" (OPENBLAS_CORETYPE={forced})" if forced else " (its own choice)")


def gemm_rate() -> float:
    """FLOP/s of NumPy's float32 matrix product at 512 x 512 x 512 (BLAS at its best shape),
    timed as the steps are: the median of single calls after warm-up (the best of many would
    set the floor by the machine's quietest moment, and the steps by a typical one)."""
    a = np.random.default_rng(0).standard_normal((512, 512)).astype(F32)
    t = measure(lambda: a @ a, 60, warmup=5)["ms"] / 1e3
    return 2 * 512**3 / t


# -- NumPy by hand -------------------------------------------------------------------------


def softmax_grad(s, y):
    """d(mean cross-entropy)/d(scores)."""
    p = np.exp(s - s.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p / len(y)


def numpy_mlp():
    g = np.random.default_rng(0)
    W1, W2, W3 = he(g, (784, 512), 784), he(g, (512, 512), 512), he(g, (512, 10), 512)
    b1, b2, b3 = np.zeros(512, F32), np.zeros(512, F32), np.zeros(10, F32)
    x, y = data("mlp")

    def step():
        h1 = x @ W1 + b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ W2 + b2
        a2 = np.maximum(h2, 0)
        s = a2 @ W3 + b3
        ds = softmax_grad(s, y)
        dW3, db3 = a2.T @ ds, ds.sum(0)
        dh2 = (ds @ W3.T) * (h2 > 0)
        dW2, db2 = a1.T @ dh2, dh2.sum(0)
        dh1 = (dh2 @ W2.T) * (h1 > 0)
        dW1, db1 = x.T @ dh1, dh1.sum(0)
        for w, dw in ((W1, dW1), (W2, dW2), (W3, dW3), (b1, db1), (b2, db2), (b3, db3)):
            w -= LR * dw

    return step


def windows(x, k):
    """(N, H, W, C) -> (N, H-k+1, W-k+1, k, k, C) view."""
    n, h, w, c = x.shape
    s = x.strides
    return np.lib.stride_tricks.as_strided(x, (n, h - k + 1, w - k + 1, k, k, c), (s[0], s[1], s[2], s[1], s[2], s[3]))


def conv_fwd(x, w, b):
    """Same-padded 3x3 conv on NHWC: im2col, then one matmul. w is (9*C, O)."""
    n, h, wd, c = x.shape
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    cols = np.ascontiguousarray(windows(xp, 3)).reshape(n * h * wd, 9 * c)
    return (cols @ w + b).reshape(n, h, wd, -1), cols


def conv_bwd(dout, cols, w, x_shape):
    n, h, wd, c = x_shape
    d2 = dout.reshape(n * h * wd, -1)
    dw, db = cols.T @ d2, d2.sum(0)
    dcols = (d2 @ w.T).reshape(n, h, wd, 3, 3, c)
    dxp = np.zeros((n, h + 2, wd + 2, c), F32)
    for i in range(3):
        for j in range(3):
            dxp[:, i : i + h, j : j + wd] += dcols[:, :, :, i, j]
    return dxp[:, 1:-1, 1:-1], dw, db


def pool_fwd(a):
    n, h, w, c = a.shape
    blocks = a.reshape(n, h // 2, 2, w // 2, 2, c)
    out = blocks.max(axis=(2, 4))
    return out, blocks == out[:, :, None, :, None]


def pool_bwd(dout, mask):
    n, h2, _, w2, _, c = mask.shape
    return (mask * dout[:, :, None, :, None]).reshape(n, h2 * 2, w2 * 2, c)


def numpy_cnn():
    g = np.random.default_rng(0)
    K1, K2 = he(g, (27, 32), 27), he(g, (288, 64), 288)
    W3, W4 = he(g, (4096, 256), 4096), he(g, (256, 10), 256)
    c1, c2, b3, b4 = np.zeros(32, F32), np.zeros(64, F32), np.zeros(256, F32), np.zeros(10, F32)
    xs, y = data("cnn")

    def step():
        x = np.ascontiguousarray(xs.transpose(0, 2, 3, 1))  # NHWC once
        h1, cols1 = conv_fwd(x, K1, c1)
        a1 = np.maximum(h1, 0)
        p1, m1 = pool_fwd(a1)
        h2, cols2 = conv_fwd(p1, K2, c2)
        a2 = np.maximum(h2, 0)
        p2, m2 = pool_fwd(a2)
        f = p2.reshape(64, -1)
        h3 = f @ W3 + b3
        a3 = np.maximum(h3, 0)
        s = a3 @ W4 + b4
        ds = softmax_grad(s, y)
        dW4, db4 = a3.T @ ds, ds.sum(0)
        dh3 = (ds @ W4.T) * (h3 > 0)
        dW3, db3 = f.T @ dh3, dh3.sum(0)
        dp2 = (dh3 @ W3.T).reshape(p2.shape)
        dh2 = pool_bwd(dp2, m2) * (h2 > 0)
        dp1, dK2, dc2 = conv_bwd(dh2, cols2, K2, p1.shape)
        dh1 = pool_bwd(dp1, m1) * (h1 > 0)
        _, dK1, dc1 = conv_bwd(dh1, cols1, K1, x.shape)
        for w, dw in ((K1, dK1), (K2, dK2), (W3, dW3), (W4, dW4), (c1, dc1), (c2, dc2), (b3, db3), (b4, db4)):
            w -= LR * dw

    return step


# -- driver --------------------------------------------------------------------------------

STEPS = {"chainrule": lambda k: framework_step("chainrule", k), "compiled": lambda k: framework_step("compiled", k),
         "torch": lambda k: framework_step("torch", k), "jax": jax_step,
         "numpy": lambda k: numpy_mlp() if k == "mlp" else numpy_cnn()}  # fmt: skip


def status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def one(lib: str, kind: str, steps: int) -> dict:
    """Run in a subprocess: time ``steps`` steps after warm-up and measure the peak RSS growth.

    Baseline: the RSS once the model, optimizer and data exist, before the first step.
    Peak: the high-water mark over the timed steps (reset after warm-up, so one-time
    allocations in the first steps do not count twice). The driver fixes glibc's mmap
    threshold for these runs, so freed arrays go back to the OS and the RSS follows live memory.
    """
    if lib == "torch":
        import torch  # imported before the baseline, like numpy

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    if lib == "jax":
        import jax  # noqa: F401
    if lib in ("chainrule", "compiled") and kind == "cnn":
        warm_loops()
    if lib == "floor":
        return {"ms": step_flops(kind) / gemm_rate() * 1e3, "peak_mib": float("nan")}
    return measure(STEPS[lib](kind), steps, warmup=3)


def warm_loops() -> None:
    """Compile chainrule's Numba loops (pooling, col2im) before the baseline, as torch is imported
    before it: Numba's compiler takes ~100 MiB of RSS once per process, not per step."""
    import chainrule as cr
    from chainrule.nn import functional as F

    x = cr.Tensor(np.ones((1, 1, 4, 4), F32), requires_grad=True)
    F.conv2d(F.max_pool2d(x, 2), cr.Tensor(np.ones((1, 1, 2, 2), F32), requires_grad=True)).sum().backward()


def measure(step, steps: int, warmup: int) -> dict:
    """Median time of ``steps`` calls after ``warmup``, and the peak RSS growth over the RSS before the first."""
    before = status_mib("VmRSS")
    for _ in range(warmup):
        step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"ms": statistics.median(times) * 1e3, "peak_mib": status_mib("VmHWM") - before}


ROUNDS = 3


def thread_env(threads: int) -> dict[str, str]:
    """Every library's thread count: BLAS (NumPy, chainrule), PyTorch (via OMP_NUM_THREADS, read
    in ``one``) and XLA; and the process pinned to as many cores, which is what holds XLA to it."""
    env = {v: str(threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BENCH_CPUS")}
    if threads == 1:
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def run_one(lib: str, kind: str, env: dict[str, str] | None = None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", lib, kind], capture_output=True, text=True, check=True,
                         env={**os.environ, **(env or {})})  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        if os.environ.get("BENCH_CPUS"):  # pinned to that many cores: XLA ignores its thread flags
            os.sched_setaffinity(0, set(range(int(os.environ["BENCH_CPUS"]))))
        print(json.dumps(one(sys.argv[2], sys.argv[3], 30 if sys.argv[3] == "mlp" else 12)))
        return
    apply_coretype(sys.argv)
    libs = ["chainrule", "compiled", "numpy"]
    for name in ("torch", "jax"):
        try:
            __import__(name)
            libs.append(name)
        except ImportError:
            pass
    print(f"One training step, float32. {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, NumPy {np.__version__}, libraries: {', '.join(libs)}")
    print(kernels_line())
    print("floor = the step's matrix-product FLOPs / NumPy's float32 GEMM rate at 512^3 (same threads)")
    print()
    print("| step | threads | chainrule | compiled | PyTorch | JAX jit | NumPy by hand | floor | eager vs PyTorch | "
          "compiled vs JAX | compiled vs floor | peak MiB (ours / torch) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    nan = {"ms": float("nan"), "peak_mib": float("nan")}
    for kind, label in (("mlp", "MLP 784-512-512-10, batch 128"), ("cnn", "CNN 3x32x32, batch 64")):
        for threads in (1, 2):
            env = thread_env(threads)
            r: dict[str, dict] = {}
            for _ in range(ROUNDS):  # interleaved rounds; each library keeps its best median
                for lib in [*libs, "floor"]:
                    r.setdefault(lib, {"ms": float("inf")})
                    r[lib]["ms"] = min(r[lib]["ms"], run_one(lib, kind, env)["ms"])
            if threads == 1:  # memory in runs of its own: a fixed mmap threshold makes RSS follow live
                # memory, but page faults on every large array would distort the times
                for lib in ("chainrule", "torch"):
                    if lib in libs:
                        r[lib]["peak_mib"] = run_one(lib, kind, {**env, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)})["peak_mib"]
            ours, comp, t, j, f = (r.get(k, nan)["ms"] for k in ("chainrule", "compiled", "torch", "jax", "floor"))
            mem = (f"{r['chainrule']['peak_mib']:.0f} / {r.get('torch', nan)['peak_mib']:.0f}"
                   if "peak_mib" in r["chainrule"] else "")  # fmt: skip
            print(f"| {label} | {threads} | {ours:.2f} ms | {comp:.2f} ms | {t:.2f} ms | {j:.2f} ms | "
                  f"{r['numpy']['ms']:.2f} ms | {f:.2f} ms | {ours / t:.2f}x | {comp / j:.2f}x | {comp / f:.2f}x | {mem} |")


if __name__ == "__main__":
    main()

"""One training step on a GPU (CuPy): chainrule (eager and compiled) vs PyTorch (CUDA), JAX jit, CuPy by hand.

(a) MLP 4096-4096-4096-4096-1000 (three hidden layers of 4096, ReLU), batch 4096;
(b) CNN on 3x32x32 inputs, batch 256: conv3x3(64)-relu-maxpool2-conv3x3(128)-relu-maxpool2-
    linear(512)-relu-linear(10), convolutions padded to keep the size;
(c) the small-graph chain: 100 multiply-adds on a 10-element vector, its sum and backward
    (bench_engine's chain): here what counts is each op's launch cost, not the arithmetic.

Every step is forward, cross-entropy (the chain: a sum), backward and an SGD update, float32,
and ends with a synchronisation of the device so its time is the GPU's work and not only
the launches. Times are the median of the timed steps after warm-up; three interleaved
rounds, each library keeping its best. Goals (issue 13, on an H100/H200-class GPU): MLP <=
1.1x PyTorch, CNN <= 2x PyTorch, chain <= 1.2x PyTorch eager. The same script runs on the CPU
(``--device cpu``, against PyTorch's CPU path) and smaller (``--quick``): that is how its code
is tested where there is no GPU.

Run: ``make gpu-check`` (with the CuPy half of the tests), or ``python bench/bench_gpu.py``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time

import numpy as np

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # JAX would take 75% of the GPU's memory up front

LR = 0.01
F32 = np.float32
FULL = {"mlp": (4096, 4096, 3, 1000, 4096), "cnn": (64, 128, 512, 256), "chain": (100, 10)}
QUICK = {"mlp": (256, 256, 3, 100, 128), "cnn": (8, 16, 32, 8), "chain": (100, 10)}


def describe(kind: str, size: tuple) -> str:
    if kind == "mlp":
        i, h, n, o, b = size
        return f"MLP {i}-" + "-".join([str(h)] * n) + f"-{o}, batch {b}"
    if kind == "cnn":
        c1, c2, f, b = size
        return f"CNN 3x32x32 c{c1}-c{c2}-fc{f}, batch {b}"
    return f"chain of {size[0]} multiply-adds on {size[1]} numbers"


def data(kind: str, size: tuple) -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    if kind == "mlp":
        i, _, _, o, b = size
        return g.standard_normal((b, i)).astype(F32), g.integers(0, o, b)
    if kind == "cnn":
        return g.standard_normal((size[3], 3, 32, 32)).astype(F32), g.integers(0, 10, size[3])
    return np.linspace(-1, 1, size[1]).astype(F32), np.zeros(0, np.int64)


# -- the libraries ------------------------------------------------------------------------


class Device:
    """Where the step runs, and how to wait for it: the GPU (CuPy) or the CPU (NumPy)."""

    def __init__(self, name: str) -> None:
        self.name = name
        if name == "cuda":
            import cupy

            self.xp, self.sync = cupy, lambda: cupy.cuda.get_current_stream().synchronize()
            props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.runtime.getDevice())
            self.label = f"{props['name'].decode()}, CuPy {cupy.__version__}"
        else:
            self.xp, self.sync = np, lambda: None
            self.label = f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def library(lib: str, dev: Device):
    """(nn, optim, NumPy array -> tensor on the device, seed) of chainrule or PyTorch: their
    APIs match for these models, so one step function serves both."""
    if lib == "torch":
        import torch

        where = "cuda" if dev.name == "cuda" else "cpu"
        return torch.nn, torch.optim, lambda a: torch.from_numpy(a).to(where), torch.manual_seed
    import chainrule as cr

    return cr.nn, cr.optim, lambda a: cr.tensor(a, dtype=a.dtype, device=dev.name), cr.manual_seed


def chain(x, n: int):
    """n multiply-adds, their sum and its backward; the gradient handed back (any library)."""
    out = x
    for _ in range(n):
        out = out * 1.0001 + 0.0001
    loss = out.sum()
    loss.backward()
    g = x.grad
    x.grad = None
    return loss, g


def framework_step(lib: str, kind: str, size: tuple, dev: Device, compiled: bool = False):
    """One step of ``kind`` in chainrule (``compiled``: through ``chainrule.compile``) or PyTorch."""
    nn, optim, tensor, seed = library(lib, dev)
    seed(0)
    xs, ys = data(kind, size)
    x, y = tensor(xs), tensor(ys)
    if kind == "chain":
        x.requires_grad_()

        def step(x, y):
            return chain(x, size[0])
    else:
        model = models(nn, kind, size).to(dev.name)
        opt = optim.SGD(model.parameters(), lr=LR)

        def step(x, y):
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss

    if compiled:  # the same step, traced once and replayed as generated code
        import chainrule as cr

        step = cr.compile(step)
    return lambda: step(x, y)


def models(nn, kind: str, size: tuple):
    """The same model in chainrule and PyTorch: their nn APIs match for these layers."""
    if kind == "mlp":
        i, h, n, o, _ = size
        layers = []
        for k in range(n):
            layers += [nn.Linear(i if k == 0 else h, h), nn.ReLU()]
        return nn.Sequential(*layers, nn.Linear(h, o))
    c1, c2, f, _ = size
    return nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * 8 * 8, f), nn.ReLU(), nn.Linear(f, 10),
    )  # fmt: skip


def jax_step(kind: str, size: tuple, dev: Device):
    import jax
    import jax.numpy as jnp

    platform_name = "gpu" if dev.name == "cuda" else "cpu"
    where = jax.devices(platform_name)[0]
    xs, ys = data(kind, size)
    x, y = jax.device_put(xs, where), jax.device_put(ys, where)
    g = np.random.default_rng(0)

    def he(shape, fan_in):
        return jax.device_put((g.standard_normal(shape) * np.sqrt(2 / fan_in)).astype(F32), where)

    if kind == "chain":

        @jax.jit
        def chain(a):
            def f(a):
                out = a
                for _ in range(size[0]):
                    out = out * 1.0001 + 0.0001
                return out.sum()

            return jax.value_and_grad(f)(a)

        return lambda: chain(x)[1].block_until_ready()
    if kind == "mlp":
        i, h, n, o, _ = size
        dims = [i] + [h] * n + [o]
        params = [(he((a, b), a), jnp.zeros(b, F32)) for a, b in zip(dims[:-1], dims[1:])]

        def forward(params, x):
            for k, (w, b) in enumerate(params):
                x = x @ w + b
                if k < len(params) - 1:
                    x = jax.nn.relu(x)
            return x
    else:
        c1, c2, f, _ = size
        params = [(he((c1, 3, 3, 3), 27), jnp.zeros(c1, F32)), (he((c2, c1, 3, 3), 9 * c1), jnp.zeros(c2, F32)),
                  (he((c2 * 64, f), c2 * 64), jnp.zeros(f, F32)), (he((f, 10), f), jnp.zeros(10, F32))]  # fmt: skip

        def forward(params, x):
            for w, b in params[:2]:
                x = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME") + b[None, :, None, None]
                x = jax.nn.relu(x)
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
            x = x.reshape(x.shape[0], -1)
            x = jax.nn.relu(x @ params[2][0] + params[2][1])
            return x @ params[3][0] + params[3][1]

    def loss(params, x, y):
        logp = jax.nn.log_softmax(forward(params, x))
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    @jax.jit
    def update(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)
        return value, jax.tree_util.tree_map(lambda p, d: p - LR * d, params, grads)

    state = [params]

    def step():
        value, state[0] = update(state[0], x, y)
        value.block_until_ready()

    return step


def by_hand_step(kind: str, size: tuple, dev: Device):
    """The MLP and the chain written out on the array module (CuPy or NumPy): the floor of what
    array-at-a-time Python reaches with the same kernels. None for the CNN (no cuDNN in CuPy)."""
    xp = dev.xp
    xs, ys = data(kind, size)
    x = xp.asarray(xs)
    if kind == "chain":

        def chain():
            out = x
            for _ in range(size[0]):
                out = out * F32(1.0001) + F32(0.0001)
            loss = out.sum()
            g = xp.full_like(x, F32(1.0001) ** size[0])  # d out / d x, the product of the chain's factors
            return loss, g

        return chain
    if kind != "mlp":
        return None
    i, h, n, o, b = size
    dims = [i] + [h] * n + [o]
    g = np.random.default_rng(0)
    ws = [xp.asarray((g.standard_normal((d_out, d_in)) * np.sqrt(2 / d_in)).astype(F32)) for d_in, d_out in zip(dims[:-1], dims[1:])]
    bs = [xp.zeros(d_out, F32) for d_out in dims[1:]]
    y = xp.asarray(ys)
    rows = xp.arange(b)

    def step():
        acts = [x]
        for k, (w, bias) in enumerate(zip(ws, bs)):
            z = acts[-1] @ w.T + bias
            acts.append(xp.maximum(z, 0) if k < len(ws) - 1 else z)
        s = acts[-1]
        p = xp.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[rows, y] -= 1
        d = p / b
        for k in range(len(ws) - 1, -1, -1):
            dw, db = d.T @ acts[k], d.sum(axis=0)
            if k:
                d = (d @ ws[k]) * (acts[k] > 0)
            ws[k] -= LR * dw
            bs[k] -= LR * db

    return step


LIBS = {"chainrule": functools.partial(framework_step, "chainrule"),
        "compiled": functools.partial(framework_step, "chainrule", compiled=True),
        "PyTorch": functools.partial(framework_step, "torch"), "JAX jit": jax_step, "by hand": by_hand_step}


def measure(step, sync, steps: int, warmup: int) -> float:
    """Median milliseconds of one step, each ended by a wait for the device."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


GOALS = {"mlp": 1.1, "cnn": 2.0, "chain": 1.2}


def run(device: str = "cuda", quick: bool = False, rounds: int = 3, steps: int = 20, kinds: tuple = ("mlp", "cnn", "chain"),
        libs: tuple = tuple(LIBS)) -> list[dict]:  # fmt: skip
    """The table's rows: for each workload, each library's best median over ``rounds``."""
    dev = Device(device)
    sizes = QUICK if quick else FULL
    rows = []
    for kind in kinds:
        size = sizes[kind]
        steppers = {}
        for lib in libs:
            try:
                made = LIBS[lib](kind, size, dev)
            except ImportError:  # JAX or PyTorch not installed: its column stays empty
                made = None
            if made is not None:
                steppers[lib] = made
        best: dict[str, float] = {}
        for _ in range(rounds):
            for lib, step in steppers.items():
                ms = measure(step, dev.sync, steps if kind != "chain" else 5 * steps, warmup=3)
                best[lib] = min(best.get(lib, float("inf")), ms)
        nan = float("nan")
        ratio = best["chainrule"] / best["PyTorch"] if "PyTorch" in best else nan
        compiled = best["compiled"] / best["PyTorch"] if "PyTorch" in best and "compiled" in best else nan
        rows.append({"kind": kind, "label": describe(kind, size), "ms": best, "ratio": ratio,
                     "compiled_ratio": compiled, "goal": GOALS[kind]})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--quick", action="store_true", help="small sizes (the script's own test)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    rows = run(args.device, args.quick, args.rounds, args.steps)
    import chainrule  # noqa: F401 - imported by the steps already; named for the header

    print(f"One training step, float32, on {Device(args.device).label}; Python {platform.python_version()}, "
          f"NumPy {np.__version__}. Best of {args.rounds} interleaved rounds, each the median of its steps.")
    print()
    print("| step | chainrule | compiled | PyTorch | JAX jit | by hand | chainrule / PyTorch | compiled / PyTorch | goal |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r['ms'][lib]:.3f} ms" if lib in r["ms"] else "-" for lib in LIBS]
        met = "met" if r["ratio"] <= r["goal"] else "missed"
        print(f"| {r['label']} | " + " | ".join(cells) + f" | {r['ratio']:.2f}x | {r['compiled_ratio']:.2f}x | "
              f"<= {r['goal']}x ({met}) |")


if __name__ == "__main__":
    main()

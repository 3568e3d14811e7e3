"""Small-graph speed: chainrule (eager and compiled) against PyTorch, JAX with jit, and NumPy by hand.

(1) forward + backward of f = (x + y) * z on scalars (the lecture's first example);
(2) the lecture's sigmoid neuron f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))), forward + backward;
(3) forward + backward of a chain of 100 ``y = y * 1.0001 + 0.0001`` on a 10-element
    tensor, summed;
(4) forward + backward of exact GELU (``F.gelu``, x Phi(x)) on a float32 (32, 64, 256) tensor,
    with a given upstream gradient: a big elementwise op, where the speed is the kernels'.

Small graphs are where a lean Python engine can beat a big one, and where a compiled step
shows what tracing buys: eager goals are chainrule <= 0.5x PyTorch's time on (1) and <= 0.8x
on (3); compiled goals (``chainrule.compile``) are <= 1.5x JAX ``jit(value_and_grad)`` on (2)
and <= 2x on (3); GELU's eager goal is <= 1.5x PyTorch. Every step returns the value and the
gradients. One thread each (NumPy's too, through threadpoolctl where installed). Run: ``make bench``.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import platform  # noqa: E402 - after the XLA flags, which JAX reads at import
import timeit  # noqa: E402

import numpy as np  # noqa: E402

import chainrule as cr  # noqa: E402
import chainrule.nn.functional as F  # noqa: E402

try:
    import torch
except ImportError:  # the bench still runs, without the PyTorch column
    torch = None
try:
    from threadpoolctl import threadpool_limits
except ImportError:  # NumPy's elementwise loops are serial anyway; this holds its BLAS to one thread
    threadpool_limits = None
try:
    import jax
    import jax.numpy as jnp
except ImportError:  # the bench extra brings it
    jax = None


def best_us(fn, number: int, repeat: int = 7) -> float:
    """Best-of-``repeat`` time per call in microseconds (the least disturbed run)."""
    fn()  # warm up (and trace, for the compiled and jitted steps)
    fn()
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


# -- the steps: the same code on chainrule's and PyTorch's leaves ---------------------------


def scalar_fn(x, y, z):
    f = (x + y) * z
    f.backward()
    grads = (x.grad, y.grad, z.grad)
    x.grad = y.grad = z.grad = None
    return f, grads


def neuron_fn(w0, x0, w1, x1, w2):
    f = 1.0 / (1.0 + (-(w0 * x0 + w1 * x1 + w2)).exp())
    f.backward()
    grads = tuple(t.grad for t in (w0, x0, w1, x1, w2))
    for t in (w0, x0, w1, x1, w2):
        t.grad = None
    return f, grads


CHAIN = 100


def chain_fn(a):
    y = a
    for _ in range(CHAIN):
        y = y * 1.0001 + 0.0001
    loss = y.sum()
    loss.backward()
    g = a.grad
    a.grad = None
    return loss, g


GELU_SHAPE = (32, 64, 256)


def gelu_fn(x, g, gelu):
    y = gelu(x)
    y.backward(g)
    gx = x.grad
    x.grad = None
    return y, gx


SCALARS = (-2.0, 5.0, -4.0)
NEURON = (2.0, -1.0, -3.0, -2.0, -3.0)


def leaves(tensor, case: str) -> list:
    if case == "gelu":
        rng = np.random.default_rng(0)
        x, g = (rng.standard_normal(GELU_SHAPE).astype(np.float32) for _ in range(2))
        return [tensor(x, requires_grad=True), tensor(g)]
    if case == "chain":
        return [tensor(np.linspace(-1, 1, 10).astype(np.float32), requires_grad=True)]
    return [tensor(v, requires_grad=True) for v in (SCALARS if case == "scalar" else NEURON)]


FNS = {"scalar": scalar_fn, "neuron": neuron_fn, "chain": chain_fn}


def framework(lib: str, case: str):
    ts = leaves(torch.tensor if lib == "torch" else cr.Tensor, case)
    if case == "gelu":
        gelu = torch.nn.functional.gelu if lib == "torch" else F.gelu
        fn = lambda x, g: gelu_fn(x, g, gelu)  # noqa: E731
    else:
        fn = FNS[case]
    fn = cr.compile(fn) if lib == "compiled" else fn
    return lambda: fn(*ts)


def jax_step(case: str):
    if case == "gelu":
        x, g = (jnp.asarray(np.asarray(t.data)) for t in leaves(cr.Tensor, "gelu"))

        def step(x, g):
            y, back = jax.vjp(lambda x: jax.nn.gelu(x, approximate=False), x)
            return y, back(g)

        jitted = jax.jit(step)
        return lambda: jax.block_until_ready(jitted(x, g))
    if case == "scalar":
        def f(x, y, z):
            return (x + y) * z
        args = [jnp.float32(v) for v in SCALARS]
    elif case == "neuron":
        def f(w0, x0, w1, x1, w2):
            return 1.0 / (1.0 + jnp.exp(-(w0 * x0 + w1 * x1 + w2)))
        args = [jnp.float32(v) for v in NEURON]
    else:
        def f(a):
            y = a
            for _ in range(CHAIN):
                y = y * 1.0001 + 0.0001
            return y.sum()
        args = [jnp.linspace(-1, 1, 10, dtype=jnp.float32)]
    vg = jax.jit(jax.value_and_grad(f, argnums=tuple(range(len(args)))))
    return lambda: jax.block_until_ready(vg(*args))


def numpy_step(case: str):
    if case == "gelu":
        return None  # NumPy has no erf to write GELU by hand with
    f32 = np.float32
    if case == "scalar":
        x, y, z = (np.asarray(v, dtype=f32) for v in SCALARS)

        def step():
            q = x + y
            f = q * z
            return f, (z.copy(), z.copy(), q)
    elif case == "neuron":
        w0, x0, w1, x1, w2 = (np.asarray(v, dtype=f32) for v in NEURON)

        def step():
            dot = w0 * x0 + w1 * x1 + w2
            f = 1 / (1 + np.exp(-dot))
            ddot = (1 - f) * f  # the sigmoid gate's local gradient
            return f, (x0 * ddot, w0 * ddot, x1 * ddot, w1 * ddot, ddot)
    else:
        a = np.linspace(-1, 1, 10).astype(f32)

        def step():
            y = a
            for _ in range(CHAIN):
                y = y * f32(1.0001) + f32(0.0001)
            g = np.ones_like(a)
            for _ in range(CHAIN):
                g = g * f32(1.0001)
            return y.sum(), g
    return step


CASES = [("(x+y)*z, scalars", "scalar", 20000, 0.5, None),
         ("sigmoid neuron, scalars", "neuron", 10000, None, 1.5),
         (f"chain of {CHAIN} mul-add, 10 elements", "chain", 300, 0.8, 2.0),
         ("exact GELU, float32 (32, 64, 256)", "gelu", 20, 1.5, None)]  # fmt: skip


def main() -> list[dict]:
    if torch is not None:
        torch.set_num_threads(1)  # tiny tensors: threads only add overhead, for both
    if threadpool_limits is not None:
        threadpool_limits(1)
    rows = []
    for name, case, number, eager_goal, compiled_goal in CASES:
        r = {"name": name, "eager_goal": eager_goal, "compiled_goal": compiled_goal}
        r["ours"] = best_us(framework("chainrule", case), number)
        r["compiled"] = best_us(framework("compiled", case), max(number, 2000) if case != "gelu" else number)
        r["torch"] = best_us(framework("torch", case), number) if torch is not None else float("nan")
        r["jax"] = best_us(jax_step(case), max(number, 2000) if case != "gelu" else number) if jax is not None else float("nan")
        by_hand = numpy_step(case)
        r["numpy"] = best_us(by_hand, number) if by_hand is not None else float("nan")
        rows.append(r)
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}, "
          f"NumPy {np.__version__}" + (f", PyTorch {torch.__version__}" if torch is not None else "")
          + (f", JAX {jax.__version__}" if jax is not None else ""))  # fmt: skip
    print("forward + backward, microseconds per call (best of 7), one thread")
    print("| case | chainrule | compiled | PyTorch | JAX jit | NumPy by hand | eager vs PyTorch | compiled vs JAX |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        eager = r["ours"] / r["torch"]
        comp = r["compiled"] / r["jax"]
        e_goal = f" (goal <= {r['eager_goal']}x: {'met' if eager <= r['eager_goal'] else 'missed'})" if r["eager_goal"] else ""
        c_goal = f" (goal <= {r['compiled_goal']}x: {'met' if comp <= r['compiled_goal'] else 'missed'})" if r["compiled_goal"] else ""
        print(f"| {r['name']} | {r['ours']:.1f} | {r['compiled']:.1f} | {r['torch']:.1f} | {r['jax']:.1f} | "
              f"{r['numpy']:.1f} | {eager:.2f}x{e_goal} | {comp:.2f}x{c_goal} |")  # fmt: skip
    return rows


if __name__ == "__main__":
    main()

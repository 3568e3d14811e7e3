"""A GPT's training step and its sampling: chainrule (eager, compiled) against PyTorch eager.

The model is nanoGPT's layout (chainrule.models.GPT; the same model written in PyTorch below):
n_layer 4, n_head 4, n_embd 128, block 128, a vocabulary of 65, float32. The step is forward,
cross-entropy, backward and one Adam update on a batch of 16 windows. Sampling is 200 new
tokens from a one-token prompt, each a step through the blocks against a key/value cache (in
both libraries). Each (library, case) runs in a fresh subprocess, pinned to 1 or 2 cores; the
best of three interleaved rounds, each the median of its steps; peak memory is the growth of
peak RSS during the steps (over the RSS once each library is loaded: chainrule's Numba loops are
compiled on a tiny GPT first, as torch is imported first). Goals (issue 25): eager step <= 1.0x PyTorch, compiled <= 0.8x,
peak memory <= 1.2x, sampling <= 1.0x. Run: ``python bench/bench_gpt.py`` (``--coretype auto``
as bench_train.py).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import numpy as np
from bench_train import apply_coretype, kernels_line, measure, thread_env

LAYERS, HEADS, EMBD, BLOCK, BATCH, VOCAB, NEW_TOKENS = 4, 4, 128, 128, 16, 65, 200


def batch() -> tuple[np.ndarray, np.ndarray]:
    g = np.random.default_rng(0)
    w = g.integers(0, VOCAB, (BATCH, BLOCK + 1))
    return w[:, :-1], w[:, 1:]


def chainrule_gpt():
    import chainrule as cr
    from chainrule.models import GPT, GPTConfig

    cr.manual_seed(0)
    return cr, GPT(GPTConfig(block_size=BLOCK, vocab_size=VOCAB, n_layer=LAYERS, n_head=HEADS, n_embd=EMBD))


def torch_gpt(layers: int = LAYERS, heads: int = HEADS, embd: int = EMBD, block: int = BLOCK):
    """nanoGPT's layout in PyTorch (this size by default; bench_models.py's tiny one too)."""
    import torch

    torch.manual_seed(0)
    nn, F = torch.nn, torch.nn.functional

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1, self.ln_2 = nn.LayerNorm(embd), nn.LayerNorm(embd)
            self.c_attn, self.a_proj = nn.Linear(embd, 3 * embd), nn.Linear(embd, embd)
            self.c_fc, self.m_proj = nn.Linear(embd, 4 * embd), nn.Linear(4 * embd, embd)

        def forward(self, x, cache=None):
            B, T, C = x.shape
            q, k, v = (t.view(B, T, heads, C // heads).transpose(1, 2) for t in self.c_attn(self.ln_1(x)).split(C, 2))
            past = 0
            if cache is not None:
                if "k" in cache:
                    past = cache["k"].shape[2]
                    k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
                cache["k"], cache["v"] = k, v
            y = F.scaled_dot_product_attention(q, k, v, is_causal=past == 0 and T > 1)
            x = x + self.a_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.m_proj(F.gelu(self.c_fc(self.ln_2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = nn.Embedding(VOCAB, embd), nn.Embedding(block, embd)
            self.h = nn.ModuleList([Block() for _ in range(layers)])
            self.ln_f = nn.LayerNorm(embd)

        def forward(self, idx, caches=None, past=0):
            x = self.wte(idx) + self.wpe(torch.arange(past, past + idx.shape[1]))
            for i, b in enumerate(self.h):
                x = b(x, caches[i] if caches is not None else None)
            return self.ln_f(x) @ self.wte.weight.T  # tied head

    return torch, GPT()


def train_case(lib: str):
    x, y = batch()
    if lib == "torch":
        torch, model = torch_gpt()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)

        def step():
            loss = torch.nn.functional.cross_entropy(model(xt).reshape(-1, VOCAB), yt.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step
    cr, model = chainrule_gpt()
    from chainrule.tasks.language import lm_loss

    opt = cr.optim.Adam(model.parameters(), lr=1e-3)

    def whole(x, y):
        loss = lm_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    run = cr.compile(whole) if lib == "compiled" else whole
    return lambda: run(x, y)


def sample_case(lib: str):
    if lib == "torch":
        torch, model = torch_gpt()
        model.eval()

        @torch.no_grad()
        def sample():
            g = torch.Generator().manual_seed(0)
            caches = [{} for _ in range(LAYERS)]
            out = torch.zeros((1, 1), dtype=torch.long)
            logits = model(out, caches)[:, -1]
            for _ in range(NEW_TOKENS):  # as chainrule's generate: a full cache is rebuilt from the last half
                nxt = torch.multinomial(torch.softmax(logits, -1), 1, generator=g)
                out = torch.cat([out, nxt], 1)
                past = caches[0]["k"].shape[2]
                if past >= BLOCK:
                    caches = [{} for _ in range(LAYERS)]
                    logits = model(out[:, -(BLOCK // 2 + 1):], caches)[:, -1]
                else:
                    logits = model(nxt, caches, past=past)[:, -1]

        return sample
    _, model = chainrule_gpt()
    return lambda: model.generate([[0]], NEW_TOKENS, seed=0)


def warm_loops() -> None:
    """Load chainrule's Numba loops (GELU, layer norm, the fused kernels a compiled step builds)
    on a tiny GPT before the baseline, as torch is imported before it: Numba and its kernels take
    their RSS once per process, not per step."""
    import chainrule as cr
    from chainrule.models import GPT, GPTConfig
    from chainrule.tasks.language import lm_loss

    model = GPT(GPTConfig(block_size=8, vocab_size=VOCAB, n_layer=1, n_head=HEADS, n_embd=32))
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    x = np.zeros((2, 8), np.int64)

    def whole(x):
        loss = lm_loss(model(x), x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss

    step = cr.compile(whole)
    for _ in range(3):
        step(x)
    model.generate([[0]], 2, seed=0)


def one(lib: str, case: str) -> dict:
    if lib == "torch":
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", torch.get_num_threads())))
    else:
        warm_loops()
    if case == "train":
        return measure(train_case(lib), 10, warmup=3)
    return measure(sample_case(lib), 3, warmup=1)


def run_one(lib: str, case: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", lib, case], capture_output=True, text=True, check=True,
                         env={**os.environ, **env})  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        if os.environ.get("BENCH_CPUS"):
            os.sched_setaffinity(0, set(range(int(os.environ["BENCH_CPUS"]))))
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
        return
    apply_coretype(sys.argv)
    print(f"GPT n_layer {LAYERS}, n_head {HEADS}, n_embd {EMBD}, block {BLOCK}, batch {BATCH}, float32. "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"NumPy {np.__version__}")  # fmt: skip
    print(kernels_line())
    print()
    print("| case | threads | chainrule | compiled | PyTorch | eager vs PyTorch | compiled vs PyTorch | peak MiB (ours, compiled / torch) |")
    print("|---|---|---|---|---|---|---|---|")
    for case, label, libs in (("train", "training step", ("chainrule", "compiled", "torch")),
                              ("sample", f"sampling {NEW_TOKENS} tokens", ("chainrule", "torch"))):  # fmt: skip
        for threads in (1, 2):
            env = thread_env(threads)
            r: dict[str, float] = {}
            for _ in range(3):
                for lib in libs:
                    r[lib] = min(r.get(lib, float("inf")), run_one(lib, case, env)["ms"])
            mem = ""
            if case == "train" and threads == 1:
                peak = {lib: run_one(lib, case, {**env, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)})["peak_mib"]
                        for lib in ("chainrule", "compiled", "torch")}  # fmt: skip
                mem = f"{peak['chainrule']:.0f}, compiled {peak['compiled']:.0f} / {peak['torch']:.0f}"
            comp = r.get("compiled", float("nan"))
            print(f"| {label} | {threads} | {r['chainrule']:.1f} ms | {comp:.1f} ms | {r['torch']:.1f} ms | "
                  f"{r['chainrule'] / r['torch']:.2f}x | {comp / r['torch']:.2f}x | {mem} |")


if __name__ == "__main__":
    main()

"""A GPT, as nanoGPT's ``model.py`` writes one: token and position embeddings, pre-norm blocks
of causal self-attention and a GELU MLP, a final norm, and a head tied to the token embedding.

Parameter names are nanoGPT's (``transformer.wte.weight``, ``transformer.h.0.attn.c_attn.weight``,
``lm_head.weight`` ...), so its layout and its ``state_dict`` move between the two.
``generate`` samples with a key/value cache: each new token costs one step through the
blocks, attending to the cached keys and values, instead of a pass over the whole context.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend, nn, ops, rng
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..compiler import compile as compile_step
from ..nn import functional as F
from ..ops.attention import attention_weights


@dataclass
class GPTConfig:
    block_size: int = 128  # the longest context
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the linear layers (the norms always have theirs)


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions <= t."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if config.n_embd % config.n_head:
            raise ValueError(f"GPT: n_embd {config.n_embd} is not a multiple of n_head {config.n_head}")
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x: Tensor, cache: dict | None = None, record: list | None = None) -> Tensor:
        B, T, C = x.shape  # batch, time, channels (n_embd)
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # (B, T, C) each
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        past, mask = 0, None
        if cache is not None and "pos" in cache:  # one token into fixed-size buffers (generate's step)
            k, v, mask = _write_position(cache, k, v)  # (B, nh, block_size, hs); mask (1, block_size)
        elif cache is not None:  # generation: the keys and values of earlier positions, kept
            if "k" in cache:
                past = cache["k"].shape[2]
                k, v = ops.concatenate([cache["k"], k], dim=2), ops.concatenate([cache["v"], v], dim=2)  # (B, nh, past + T, hs)
            cache["k"], cache["v"] = k, v
            # new positions see the past ones and themselves: a causal mask over the new ones (one
            # new position sees them all: no mask)
            mask = None if past == 0 or T == 1 else _causal(T, past + T)
        causal = past == 0 and mask is None and T > 1  # a pass over the whole context
        drop = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop, is_causal=causal)
        if record is not None:  # the attention weights (B, nh, T, past + T), for pictures: computed again
            record.append(attention_weights(q, k, mask, causal=causal, scale=1 / math.sqrt(hs)).numpy())
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, T, C): the heads side by side
        return self.resid_dropout(self.c_proj(y))


def _write_position(cache: dict, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Any]:
    """Generation's fixed-size cache: one position's keys and values k, v (B, nh, 1, hs) written
    in place at ``cache["pos"]`` ((1,) int) of its buffers (B, nh, block_size, hs), the position
    an array (data: a compiled step made for one position serves them all) -> the buffers and
    the (1, block_size) mask of the positions written so far."""
    pos = cache["pos"]
    cache["k"][:, :, pos], cache["v"][:, :, pos] = k, v
    slots = backend.array_module(cache["k"]._data).arange(cache["k"].shape[2])  # where the buffers are
    return cache["k"], cache["v"], (slots <= pos)[None, :]


def _causal(t: int, s: int) -> np.ndarray:
    """(t, s) booleans: query i (the last t of s positions) may attend to keys 0 .. s - t + i."""
    return np.arange(s)[None, :] <= np.arange(s - t, s)[:, None]


class MLP(nn.Module):
    """The block's feed-forward part: expand 4x, GELU, project back."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))  # (B, T, C)


class Block(nn.Module):
    """Pre-norm transformer block: two residual lines."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: Tensor, cache: dict | None = None, record: list | None = None) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, record)  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


class GPT(nn.Module):
    """A decoder-only Transformer language model.

    >>> import chainrule as cr
    >>> cr.manual_seed(0)
    >>> gpt = GPT(GPTConfig(block_size=8, vocab_size=10, n_layer=2, n_head=2, n_embd=16))
    >>> gpt(cr.tensor([[1, 2, 3]])).shape        # (batch, time) token ids in, logits out
    (1, 3, 10)
    >>> gpt.generate([[1, 2]], 4, seed=0).shape  # the prompt and 4 sampled tokens
    (1, 6)
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(config.vocab_size, config.n_embd),  # token embeddings
            "wpe": nn.Embedding(config.block_size, config.n_embd),  # position embeddings
            "drop": nn.Dropout(config.dropout),
            "h": nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            "ln_f": nn.LayerNorm(config.n_embd),
        })  # fmt: skip
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight  # weight tying: one matrix in and out
        object.__setattr__(self, "_generation_lock", threading.Lock())  # one generate at a time
        # GPT-2's initialization, as nanoGPT's _init_weights: over the layers' own (PyTorch's)
        # defaults, every matrix N(0, 0.02), biases 0; kept, not the layers' defaults
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # residual projections scaled by depth
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * config.n_layer))
            elif name.endswith("weight") and p.ndim == 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif name.endswith("bias") and ".ln_" not in name and "ln_f" not in name:
                nn.init.zeros_(p)

    def forward(self, idx: Any, caches: list | None = None, record: list | None = None) -> Tensor:
        """(B, T) token ids -> (B, T, vocab_size) logits. ``caches`` (one dict per block) hold the
        keys and values of earlier positions while generating; ``record`` collects each block's
        attention weights (B, n_head, T, T)."""
        if not isinstance(idx, Tensor):  # an array as it is (a compiled step's too), a list through NumPy
            idx = Tensor(idx if backend.is_array(idx) else np.asarray(idx), dtype=np.int64)
        if idx.ndim != 2:
            raise ValueError(f"GPT: token ids of shape {idx.shape}; expected (batch, time)")
        B, T = idx.shape
        if caches and "pos" in caches[0]:  # one token per row at position pos, into fixed-size buffers
            if T != 1:
                raise ValueError(f"GPT: {T} tokens per row with a fixed-size cache; expected 1")
            pos = caches[0]["pos"]  # (1,)
        else:
            past = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
            if past + T > self.config.block_size:
                raise ValueError(f"GPT: {past + T} positions; the model's block_size is {self.config.block_size}")
            pos = np.arange(past, past + T)  # (T,)
        x = self.transformer["drop"](self.transformer["wte"](idx) + self.transformer["wpe"](pos))  # (B, T, C)
        for i, block in enumerate(self.transformer["h"]):
            x = block(x, caches[i] if caches is not None else None, record)  # (B, T, C)
        return self.lm_head(self.transformer["ln_f"](x))  # (B, T, vocab_size)

    @no_grad()
    def generate(self, idx: Any, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
                 seed: int | None = None) -> np.ndarray:  # fmt: skip
        """``idx`` (B, T) continued by ``max_new_tokens`` sampled tokens -> (B, T + new) ids.

        The prompt runs once, filling each block's key/value cache; then each token is one step
        through the blocks against that cache. The cache's buffers hold ``block_size`` positions,
        so every step has the same shapes and runs compiled (traced on the first step, kept with
        the model, replayed after). When the context fills ``block_size``, the cache is rebuilt
        from the last half of it (so the cost per token stays linear in the context).
        ``temperature`` divides the logits; ``top_k`` keeps the k likeliest tokens; ``seed`` makes
        it repeatable.
        """
        out, g = sampling(idx, temperature, seed)
        block = self.config.block_size
        # one generation at a time: a trace binds the parameters while it runs, and the mode is the model's
        with self._generation_lock:
            step = self._decoder()
            xp = backend.array_module(self.lm_head.weight._data)  # where the cache's buffers are
            was_training = self.training
            self.eval()
            try:
                logits, buffers, pos = self._prefill(out[:, -block:])
                for _ in range(max_new_tokens):
                    nxt = sample_logits(logits, temperature, top_k, g)  # (B, 1)
                    out = np.concatenate([out, nxt], axis=1)
                    if pos >= block:  # full: rebuild from the last half of the context
                        logits, buffers, pos = self._prefill(out[:, -(block // 2 + 1):])
                    else:  # the step writes position pos of the buffers
                        logits = step(xp.asarray(nxt), xp.asarray([pos]), buffers).numpy()
                        pos += 1
            finally:
                self.train(was_training)
        return out

    def _prefill(self, idx: np.ndarray) -> tuple[np.ndarray, list[tuple[Tensor, Tensor]], int]:
        """The prompt's pass -> its last position's logits (B, vocab), each block's keys and
        values in buffers of ``block_size`` positions (B, nh, block_size, hs), and the next position."""
        caches: list[dict] = [{} for _ in self.transformer["h"]]
        logits = self(idx, caches)[:, -1].numpy()
        buffers = []
        for c in caches:
            B, nh, T, hs = c["k"].shape
            xp = backend.array_module(c["k"]._data)  # the buffers where the keys are
            k, v = (Tensor(xp.zeros((B, nh, self.config.block_size, hs), dtype=c["k"]._data.dtype)) for _ in "kv")
            k[:, :, :T], v[:, :, :T] = c["k"], c["v"]
            buffers.append((k, v))
        return logits, buffers, idx.shape[1]

    def _decode(self, idx: Any, pos: Any, buffers: list[tuple[Tensor, Tensor]]) -> Tensor:
        """One token per row (B, 1) at position ``pos`` ((1,) int) against the blocks' buffers,
        which it writes at that position -> its logits (B, vocab)."""
        return self(idx, [{"k": k, "v": v, "pos": pos} for k, v in buffers])[:, -1]  # (B, vocab)

    def _decoder(self) -> Any:
        """``_decode`` compiled, made once and kept with the model while its parameters are the
        same tensors on the CPU (a compiled step reads the tensors it was traced with: a parameter
        replaced, by ``load_state_dict(assign=True)`` say, needs a new one); on a GPU the step
        runs eagerly. Called under the generation lock: no trace of this model is running."""
        eager = backend.array_module(self.lm_head.weight._data) is not np  # moved to a GPU since: eager
        params = (tuple(map(id, self.parameters())), eager)
        kept = self.__dict__.get("_decode_step")
        if kept is None or kept[0] != params:
            kept = (params, self._decode if eager else compile_step(self._decode, max_traces=4))
            object.__setattr__(self, "_decode_step", kept)
        return kept[1]

    def __getstate__(self) -> dict:
        """Copies and pickles leave the compiled decoder and the lock behind (a copy makes its own)."""
        state = dict(self.__dict__)
        state.pop("_decode_step", None)
        state.pop("_generation_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        object.__setattr__(self, "_generation_lock", threading.Lock())


def sampling(idx: Any, temperature: float, seed: int | None) -> tuple[np.ndarray, np.random.Generator]:
    """A language model's ``generate``: the prompt (B, T) as int64 ids, checked, and the generator
    its draws come from (``seed``'s, or chainrule's stream)."""
    if not temperature > 0:
        raise ValueError(f"generate: temperature {temperature}; expected > 0")
    out = np.asarray(idx, dtype=np.int64)
    if out.ndim != 2 or out.shape[1] == 0:
        raise ValueError(f"generate: a prompt of shape {out.shape}; expected (batch, time) with time >= 1")
    return out, np.random.default_rng(seed) if seed is not None else rng.generator()


def sample_logits(logits: np.ndarray, temperature: float, top_k: int | None, g: np.random.Generator) -> np.ndarray:
    """One token per row from softmax(logits / temperature), over the top_k likeliest if given.

    >>> sample_logits(np.array([[0.0, 9.0, 1.0]]), 1.0, 1, np.random.default_rng(0)).tolist()
    [[1]]
    """
    z = logits.astype(np.float64) / temperature  # (B, V)
    if top_k is not None and top_k < z.shape[-1]:
        kth = np.partition(z, -top_k, axis=-1)[:, -top_k, None]  # (B, 1): the k-th largest
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    # drawn as NumPy's Generator.choice(V, p=row) draws, for all rows at once (the same tokens
    # for the same seed): the first entry of the normalized CDF above a uniform number
    cdf = np.cumsum(p, axis=-1)
    cdf /= cdf[:, -1:]
    return (cdf <= g.random(len(p))[:, None]).sum(axis=-1, keepdims=True).astype(np.int64)  # (B, 1)

"""A GPT's attention, drawn: one panel per layer and head, query position against key position.

Row i of a panel is where position i of the prompt looked (its weights sum to 1 along the
row, and the causal mask leaves the upper triangle empty). The axes carry the prompt's
characters, so a head that attends to the previous character, or to the last space,
shows as a line one learns to read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..figures import require_pyplot, save_png


def attention_maps(model: Any, ids: np.ndarray) -> np.ndarray:
    """(n_layer, n_head, T, T) attention weights of ``model`` (a ``models.GPT``) on one prompt.

    >>> import chainrule as cr
    >>> from chainrule.models import GPT, GPTConfig
    >>> gpt = GPT(GPTConfig(block_size=8, vocab_size=5, n_layer=2, n_head=2, n_embd=8))
    >>> maps = attention_maps(gpt, np.array([1, 2, 3]))
    >>> maps.shape, bool(np.allclose(maps.sum(axis=-1), 1))
    ((2, 2, 3, 3), True)
    """
    record: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            model(np.asarray(ids)[None, -model.config.block_size :], record=record)
    finally:
        model.train(was_training)
    return np.stack([r[0] for r in record])


def plot_attention(model: Any, vocab: Any, prompt: str, path: str | Path) -> None:
    """The attention maps of ``prompt`` as a PNG: a row of panels per layer, one per head."""
    plt = require_pyplot()
    ids = vocab.encode(prompt)
    maps = attention_maps(model, ids)  # (L, H, T, T)
    layers, heads, t, _ = maps.shape
    shown = [repr(c)[1:-1] for c in vocab.decode(ids[-t:])]
    size = min(2.0 + 0.18 * t, 6.0)
    fig, axes = plt.subplots(layers, heads, figsize=(size * heads, size * layers), squeeze=False)
    for i in range(layers):
        for j in range(heads):
            ax = axes[i][j]
            ax.imshow(maps[i, j], cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(f"layer {i + 1}, head {j + 1}", fontsize=9)
            if t <= 40:
                ax.set_xticks(range(t), shown, fontsize=6, rotation=90)
                ax.set_yticks(range(t), shown, fontsize=6)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
    fig.supxlabel("key (attended to)")
    fig.supylabel("query (attending)")
    fig.tight_layout()
    save_png(fig, path)

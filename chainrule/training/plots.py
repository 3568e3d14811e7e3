"""The pictures a training run draws: learning curves, gradient norms per layer, a linear
classifier's templates, the NTM's memory weightings. matplotlib draws them off-screen
(``chainrule.figures``); without it they are skipped.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn
from ..autograd.grad_mode import no_grad
from ..figures import pyplot, require_pyplot, save_png
from ..models.ntm import NTM, State
from ..tasks.sequence import copy_loss, task_of


def plot_curves(history: list[dict[str, Any]], path: str | Path) -> bool:
    """Loss and each metric per epoch, train and validation, one panel each, as a PNG. False
    without matplotlib. Accuracy is drawn on [0, 1]; another metric (an error) on a log scale."""
    plt = pyplot()
    if plt is None:
        return False
    from matplotlib.ticker import MaxNLocator

    names = ["loss", *(k[6:] for k in history[0] if k.startswith("train_") and k != "train_loss")]
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    few = len(history) < 30  # a short run's few points get markers: a lone point would show nothing
    for ax, name in zip(axes[0], names):
        for split, label in (("train", "train"), ("val", "validation")):
            values = [h.get(f"{split}_{name}", math.nan) for h in history]
            if any(math.isfinite(v) for v in values):
                ax.plot(epochs, values, marker="o" if few else None, label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if name in ("acc", "accuracy"):
            ax.set(title="accuracy", xlabel="epoch", ylim=(0, 1))
        elif name == "loss":
            ax.set(title="data loss", xlabel="epoch")
        else:
            ax.set(title=name.replace("_", " "), xlabel="epoch", yscale="log")
        ax.legend()
    fig.tight_layout()
    save_png(fig, path)
    return True


def plot_grad_norms(histories: dict[str, list[dict[str, float]]], path: str | Path) -> None:
    """Per-layer gradient norm |dL/dW| over training, one panel per run, log scale, as a PNG.

    Side by side, a deep sigmoid MLP and a ReLU one show vanishing gradients: the sigmoid
    net's first layers get gradients orders of magnitude smaller than its last.
    """
    save_png(grad_norms_figure(histories), path)


def grad_norms_figure(histories: dict[str, list[dict[str, float]]]) -> Any:
    """The figure ``plot_grad_norms`` saves."""
    from matplotlib.ticker import MaxNLocator

    plt = require_pyplot()
    layers = max((sum(k.startswith("grad_norm/") for k in h[0]) for h in histories.values() if h), default=1)
    width = max(6.0, 4.5 * len(histories))
    ncol = 4 if width >= 9 else 3
    rows = math.ceil(layers / ncol)  # the legend sits under the panels: it covers no line
    fig, axes = plt.subplots(1, len(histories), figsize=(width, 3.2 + 0.25 * rows), squeeze=False,
                             sharey=True)  # fmt: skip
    for ax, (title, history) in zip(axes[0], histories.items()):
        keys = [k for k in history[0] if k.startswith("grad_norm/")] if history else []
        for i, k in enumerate(keys):
            ax.plot([h["epoch"] for h in history], [h[k] for h in history], marker=".",
                    label=f"layer {i + 1} ({k.split('/', 1)[1]})")  # fmt: skip
        ax.set(title=title, xlabel="epoch", yscale="log")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0][0].set_ylabel("mean |dL/dW| per batch")
    handles, labels = axes[0][0].get_legend_handles_labels()  # the same layers in every panel: one legend
    height = fig.get_size_inches()[1]
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, (0.3 + 0.22 * rows) / height, 1, 1))
    return fig


def plot_templates(model: nn.Module, input_shape: tuple[int, ...], path: str | Path) -> None:
    """A linear classifier's weights, one row per class, drawn as images: the learned templates."""
    plt = require_pyplot()
    weight = next(p for p in model.parameters() if p.ndim == 2).numpy()  # (K, C*H*W)
    k = weight.shape[0]
    fig, axes = plt.subplots(1, k, figsize=(1.3 * k, 1.6), squeeze=False)
    for j, ax in enumerate(axes[0]):
        img = weight[j].reshape(input_shape)  # (C, H, W)
        img = (img - img.min()) / (img.max() - img.min() + 1e-12)  # each template stretched to [0, 1]
        if input_shape[0] == 1:
            ax.imshow(img[0], cmap="gray")
        else:
            ax.imshow(np.moveaxis(img[:3], 0, -1))
        ax.set_title(str(j), fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path)


def plot_memory(model: NTM, path: str | Path, task: str = "copy") -> None:
    """The NTM's write and read weightings over time for one episode (length 10 for the copy
    task), the classic NTM picture of a head walking down the memory and reading it back."""
    plt = require_pyplot()
    record: list[State] = []
    with no_grad():
        t = task_of(task)
        x, y = t.make(1, {"copy": 10, "repeat-copy": (5, 3), "recall": 4}[task], np.random.default_rng(3))
        copy_loss(model, x, y, record)
    writes = np.stack([s.write_weights[0].numpy()[0] for s in record], axis=1)  # (N, T)
    reads = np.stack([s.read_weights[0].numpy()[0] for s in record], axis=1)
    rows = max(16, int(max(writes.argmax(axis=0).max(), reads.argmax(axis=0).max())) + 4)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), sharey=True)
    for ax, w, title in ((axes[0], writes, "write weighting"), (axes[1], reads, "read weighting")):
        ax.imshow(w[:rows], aspect="auto", cmap="gray_r", interpolation="nearest")
        ax.set(title=title, xlabel="time step")
    axes[0].set_ylabel("memory row")
    fig.tight_layout()
    save_png(fig, path)

"""The tour as one self-contained HTML report: ``chainrule tour --report out/tour.html``.

Every lecture example with its picture (laid out here, no Graphviz), the backward pass
gate by gate, the gradients and their check against the numerical gradient; then the
spiral case study with its decision boundaries and curves, and the vanishing-gradient
comparison. Figures are PNGs embedded as data (matplotlib, the ``plot`` extra); without
matplotlib the report says so and keeps everything else.
"""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..figures import INSTALL, png_bytes, pyplot
from ..serialization import atomic_write
from .explainer import fmt, step_lines
from .graph import build_graph
from .html import to_svg

STYLE = """
body { font-family: Helvetica, Arial, sans-serif; max-width: 1100px; margin: 2em auto; color: #1f2328; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.2em; margin-top: 2.2em; border-bottom: 1px solid #d0d7de; }
code, pre { font-family: Menlo, Consolas, monospace; font-size: 0.85em; }
pre { background: #f6f8fa; padding: 0.7em; border-radius: 6px; overflow-x: auto; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #cf222e; font-weight: bold; }
table { border-collapse: collapse; } td, th { padding: 0.2em 0.8em; border-bottom: 1px solid #eaeef2; text-align: left; }
.figure img { max-width: 100%; } .canvas svg { max-width: 100%; height: auto; }
.legend .v { color: #1a7f37; } .legend .g { color: #cf222e; }
"""


def _png(fig: Any) -> str:
    data = base64.b64encode(png_bytes(fig, dpi=90)).decode()
    return f'<img alt="figure" src="data:image/png;base64,{data}">'


def decision_boundaries(runs: dict[str, Any]) -> str | None:
    """Each trained spiral classifier's regions over the plane, with the training points."""
    from ..data import spiral

    plt = pyplot()
    if plt is None:
        return None
    x, y = spiral()
    grid = np.linspace(-1.1, 1.1, 220, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    points = np.c_[gx.ravel(), gy.ravel()]
    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 4), squeeze=False)
    for ax, (title, run) in zip(axes[0], runs.items()):
        run.model.eval()
        with no_grad():
            regions = run.model(Tensor(points)).numpy().argmax(axis=1).reshape(gx.shape)
        ax.contourf(gx, gy, regions, levels=[-0.5, 0.5, 1.5, 2.5], cmap="Pastel1", alpha=0.9)
        ax.scatter(x[:, 0], x[:, 1], c=y, s=12, cmap="Set1", edgecolors="k", linewidths=0.3)
        ax.set(title=f"{title}: {run.history[-1]['train_acc']:.0%} training accuracy", xticks=[], yticks=[])
        ax.title.set_fontsize(10)
    fig.tight_layout()
    return _png(fig)


def _curves(runs: dict[str, Any]) -> str | None:
    plt = pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for title, run in runs.items():
        ax.plot([h["epoch"] for h in run.history], [h["train_loss"] for h in run.history], label=title)
    ax.set(xlabel="step (full batch)", ylabel="data loss", yscale="log", title="training loss")
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def _grad_norms(histories: dict[str, list[dict[str, float]]]) -> str | None:
    if pyplot() is None:
        return None
    from ..training.plots import grad_norms_figure

    return _png(grad_norms_figure(histories))


def _numbers(d: dict[str, Any]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td><code>{escape(fmt(v))}</code></td></tr>" for k, v in d.items()
                   if k != "losses")  # fmt: skip
    return f"<table>{rows}</table>" if rows else ""


def _example(ex: Any) -> str:
    parts = [f"<h2>{escape(ex.title)}</h2>", f"<p><code>{escape(ex.formula)}</code></p>"]
    if ex.graph is not None:
        parts.append('<p class="legend"><span class="v">green: forward values</span> &middot; '
                     '<span class="g">red: gradients</span> (every wire, after the backward pass)</p>')  # fmt: skip
        parts.append(f'<div class="canvas">{to_svg(build_graph(ex.graph, max_nodes=40))}</div>')
    if ex.steps:
        lines = [line for st in ex.steps for line in step_lines(st)]
        parts.append("<p>The backward pass, gate by gate (upstream x local = downstream):</p>")
        parts.append(f"<pre>{escape(chr(10).join(lines))}</pre>")
    if ex.values:
        parts.append("<p>Values:</p>" + _numbers(ex.values))
    if ex.grads:
        grads = {f"d{ex.output}/d{k}" if "error" not in k else k: v for k, v in ex.grads.items()}
        parts.append("<p>Gradients:</p>" + _numbers(grads))
    if "losses" in ex.values:
        parts.append("<p>Loss while training: <code>" + " &rarr; ".join(f"{v:.3f}" for v in ex.values["losses"])
                     + "</code></p>")  # fmt: skip
    if ex.check is not None:
        cls, word = ("pass", "passed") if ex.check.passed else ("fail", "FAILED")
        parts.append(f'<p class="check">Gradient check against the centered numerical gradient (float64): '
                     f'<span class="{cls}">{word}</span>, max relative error '
                     f'<span class="err">{ex.check.max_rel_error:.1e}</span></p>')  # fmt: skip
    if ex.notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in ex.notes) + "</ul>")
    runs = ex.extra.get("runs")
    if runs:
        fig = decision_boundaries(runs)
        curves = _curves(runs)
        if fig is None:
            parts.append(f"<p><em>Figures skipped: {INSTALL}.</em></p>")
        else:
            parts.append(f'<div class="figure">{fig}</div><div class="figure">{curves}</div>')
    histories = ex.extra.get("histories")
    if histories:
        fig = _grad_norms(histories)
        parts.append(f'<div class="figure">{fig}</div>' if fig else
                     f"<p><em>Figure skipped: {INSTALL}.</em></p>")  # fmt: skip
    return "\n".join(parts)


def write_report(examples: list[Any], path: str | os.PathLike) -> Path:
    """Write the tour's examples (as ``tour.run`` returns them) to one HTML file."""
    body = "\n".join(_example(ex) for ex in examples)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>chainrule: the lecture, computed</title>
<style>{STYLE}</style></head><body>
<h1>The lecture on backpropagation, computed by chainrule</h1>
<p>Every number below was computed by chainrule's engine when this page was written. Each graph shows
the lecture's circuit: values above, gradients below; gates say how they pass gradients back.</p>
{body}
</body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, page.encode())
    return path

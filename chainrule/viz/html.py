"""A graph laid out in Python and drawn as SVG (no Graphviz), and the interactive page.

Layout: a value or gate's column is its longest distance to the output (the output on the
right, leaves on the left, as the lecture draws circuits); within a column, nodes are
ordered by the mean position of their neighbours (a few barycenter sweeps).
"""

from __future__ import annotations

import json
import os
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..serialization import atomic_write
from .explainer import Trace, sentence, trace
from .graph import Graph, build_graph, describe, grad_label
from .render import GRAD_COLOR, VALUE_COLOR

CHAR_W, LINE_H, GATE_R, COL_GAP, ROW_GAP = 6.6, 15, 24, 40, 18
WIRE_GAP = 26  # a scalar circuit's columns: wires and gates sit closer than boxes
# A graph wider than WRAP x PAGE is cut into bands of columns at most PAGE wide, stacked top to
# bottom (read like lines of text); a narrower one is drawn in one band, scaled to the page.
PAGE, WRAP, BAND_GAP = 1100, 1.6, 36


def _lines(node: Any, circuit: bool = False) -> list[tuple[str, str]]:
    """(css class, text) per line of a node's label; a matrix's rows are lines of their own."""
    if node.kind == "value":
        grads = node.grad.split("\n") if node.grad else [""]
        prefix = "" if circuit else "grad "
        out = [("head", node.heading())] if node.heading() or not circuit else []
        out += [("value", line) for line in node.value.split("\n")]
        out += [("grad", prefix + line if line else "") for line in grads]
        if node.fork:
            out.append(("note", "fork: gradients add"))
        return out
    if circuit and node.kind == "gate":
        return [("head", node.symbol or node.title)]
    return [("head", node.title)] + ([("note", node.detail)] if node.detail else [])


def _size(node: Any, circuit: bool = False) -> tuple[float, float]:
    lines = _lines(node, circuit)
    if node.kind == "gate":
        if circuit:  # a circle around the operator
            d = max(34, len(lines[0][1]) * CHAR_W + 14)
            return d, d
        w = max(2 * GATE_R, max(len(t) for _, t in lines) * CHAR_W + 18)
        return w, max(2 * GATE_R, len(lines) * LINE_H + 10)
    if circuit:  # a wire: as long as its longest number, or its name in the smaller font
        width = max([len(t) * CHAR_W for c, t in lines if c != "head"] + [len(t) * CHAR_W * 0.8 for c, t in lines
                    if c == "head"] + [6 * CHAR_W]) + 12  # fmt: skip
        return width, len(lines) * LINE_H + 10
    width = max([len(t) for _, t in lines] + [len("grad ") + 8]) * CHAR_W + 16
    return width, len(lines) * LINE_H + 10


def _wire_y(node: Any, box: tuple[float, float, float, float]) -> float:
    """Where a scalar circuit's wire runs through a value: under its value line, over its gradient."""
    x, y, w, h = box
    above = sum(1 for cls, _ in _lines(node, True) if cls in ("head", "value"))
    return y + 5 + above * LINE_H + 2


def layout(graph: Graph) -> dict[str, tuple[float, float, float, float]]:
    """Node id -> (x, y, width, height) of its box, left to right towards the output."""
    return _layout(graph)[0]


def _layout(graph: Graph) -> tuple[dict[str, tuple[float, float, float, float]], dict[str, float]]:
    """The boxes, and for each node the y just below its band (where wrapped edges turn)."""
    circuit = graph.scalar
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    pred: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
        pred[b].append(a)
    rank: dict[str, int] = {}
    order = list(graph.nodes)
    for _ in range(len(order) + 1):  # longest path to the output, by relaxation (the graph is a DAG)
        changed = False
        for n in order:
            r = 0 if not succ[n] else 1 + max(rank.get(s, 0) for s in succ[n])
            if rank.get(n) != r:
                rank[n], changed = r, True
        if not changed:
            break
    top = max(rank.values(), default=0)
    columns: list[list[str]] = [[] for _ in range(top + 1)]
    for n in order:
        columns[top - rank[n]].append(n)
    pos = {n: float(i) for col in columns for i, n in enumerate(col)}
    for _ in range(4):  # barycenter sweeps, both directions
        for col in columns[1:] + columns[::-1]:
            def key(n: str) -> float:
                nbrs = pred[n] + succ[n]
                return sum(pos[m] for m in nbrs) / len(nbrs) if nbrs else pos[n]

            col.sort(key=key)
            for i, n in enumerate(col):
                pos[n] = float(i)
    sizes = {n: _size(graph.nodes[n], circuit) for n in order}
    gap = WIRE_GAP if circuit else COL_GAP
    heights = [sum(sizes[n][1] for n in col) + ROW_GAP * (len(col) - 1) for col in columns]
    widths = [max((sizes[n][0] for n in col), default=0) for col in columns]
    bands: list[list[int]] = [[]]  # column indices per band
    if sum(widths) + gap * len(widths) > WRAP * PAGE:
        used = 0.0
        for i, w in enumerate(widths):
            if bands[-1] and used + w > PAGE:
                bands.append([])
                used = 0.0
            bands[-1].append(i)
            used += w + gap
    else:
        bands[0] = list(range(len(columns)))
    boxes: dict[str, tuple[float, float, float, float]] = {}
    below: dict[str, float] = {}
    top_y = 10.0
    for band in bands:
        tallest = max((heights[i] for i in band), default=0)
        x = 10.0
        for i in band:
            y = top_y + (tallest - heights[i]) / 2
            for n in columns[i]:
                w, hh = sizes[n]
                boxes[n] = (x + (widths[i] - w) / 2, y, w, hh)
                below[n] = top_y + tallest + BAND_GAP / 2
                y += hh + ROW_GAP
            x += widths[i] + gap
        top_y += tallest + BAND_GAP
    return boxes, below


def to_svg(graph: Graph, show_grads: bool = True) -> str:
    """The graph as an SVG string (laid out here; no Graphviz). Values green, gradients red.

    A circuit of one-number values is drawn as the lecture draws it: gates are circles
    with their operator, and each value sits on its wire, its forward value above the
    line and its gradient below. Graphs of tensors draw a box per value. The picture
    scales down to the width of the page, so a wide graph still shows its output.

    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True, name="x")
    >>> y = x * x
    >>> y.backward()
    >>> svg = to_svg(build_graph(y))
    >>> svg.startswith("<svg") and 'class="wire"' in svg and ">6</tspan>" in svg
    True
    """
    circuit = graph.scalar
    boxes, below = _layout(graph)
    width = max((x + w for x, _, w, _ in boxes.values()), default=100) + 10
    height = max((y + h for _, y, _, h in boxes.values()), default=100) + 10

    def anchor(nid: str) -> float:
        node, box = graph.nodes[nid], boxes[nid]
        return _wire_y(node, box) if circuit and node.kind == "value" else box[1] + box[3] / 2

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" '
           f'style="max-width: 100%; height: auto" viewBox="0 0 {width:.0f} {height:.0f}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#57606a"/></marker></defs>']  # fmt: skip
    for a, b in graph.edges:
        xa, _, wa, _ = boxes[a]
        xb, _, _, _ = boxes[b]
        x1, y1, x2, y2 = xa + wa, anchor(a), xb, anchor(b)
        mid = (x1 + x2) / 2
        into_wire = circuit and graph.nodes[b].kind == "value"  # the wire goes on through the value: no arrow
        marker = "" if into_wire else ' marker-end="url(#arrow)"'
        if below[a] == below[b]:  # the same band
            d = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
        else:  # to a later band: out to the right, down into the gap below, across, down to the node
            turn = below[a]
            d = f"M{x1:.1f},{y1:.1f} H{x1 + 8:.1f} V{turn:.1f} H{x2 - 8:.1f} V{y2:.1f} H{x2:.1f}"
        out.append(f'<path class="edge" d="{d}" fill="none" stroke="#8c959f"{marker}/>')
    for nid, node in graph.nodes.items():
        x, y, w, h = boxes[nid]
        attrs = f'class="node {node.kind}{" leaf" if node.leaf else ""}" id="{escape(nid)}"'
        if node.kind == "value" and show_grads and node.grad_numbers is not None:
            attrs += f" data-grad='{json.dumps(node.grad_numbers)}'"
        out.append(f"<g {attrs}>")
        lines = _lines(node, circuit)
        if circuit and node.kind == "value":
            wy = anchor(nid)
            out.append(f'<line class="wire" x1="{x:.1f}" y1="{wy:.1f}" x2="{x + w:.1f}" y2="{wy:.1f}" stroke="#8c959f"/>')
            ty = y + 5 + LINE_H - 3
        elif node.kind == "gate":
            out.append(f'<ellipse cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                       'fill="#ddf4ff" stroke="#0969da"/>')  # fmt: skip
            ty = y + h / 2 - (len(lines) - 1) * LINE_H / 2 + 4
        else:
            fill = {"group": "#fff8c5", "more": "#f6f8fa"}.get(node.kind, "#f6f8fa" if node.leaf else "#ffffff")
            stroke_w = 2.5 if node.fork else 1
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="{fill}" '
                       f'stroke="#57606a" stroke-width="{stroke_w}"/>')  # fmt: skip
            ty = y + h / 2 - (len(lines) - 1) * LINE_H / 2 + 4
        grads = [text for cls, text in lines if cls == "grad"]
        for i, (cls, text) in enumerate(lines):
            if cls == "grad":
                if i and lines[i - 1][0] == "grad":
                    continue  # a gradient's lines are one text element, tspans per row (the page rewrites it)
                rows = grads if show_grads else []
                prefix = "" if circuit else "grad "
                tspans = "".join(f'<tspan x="{x + w / 2:.1f}" dy="{0 if i == 0 else LINE_H}">{escape(r)}</tspan>'
                                 for i, r in enumerate(rows))  # fmt: skip
                out.append(f'<text class="grad" data-prefix="{prefix}" x="{x + w / 2:.1f}" y="{ty:.1f}" '
                           f'text-anchor="middle" fill="{GRAD_COLOR}">{tspans}</text>')  # fmt: skip
                ty += LINE_H * len(grads)
                continue
            color = {"value": VALUE_COLOR, "note": "#57606a"}.get(cls, "#1f2328")
            if circuit and cls == "head" and node.kind == "value":
                color = "#57606a"
            weight = ' font-weight="bold"' if cls == "head" and (node.kind != "value" or node.leaf or not circuit) else ""
            size = ' font-size="10"' if cls == "note" or (circuit and cls == "head" and node.kind == "value") else ""
            out.append(f'<text class="{cls}" x="{x + w / 2:.1f}" y="{ty:.1f}" text-anchor="middle" fill="{color}"'
                       f"{weight}{size}>{escape(text)}</text>")  # fmt: skip
            ty += LINE_H
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


LEGEND_CIRCUIT = ('<span class="v">green: forward value, above its wire</span> &middot; <span class="g">red: '
                  "gradient, below it</span> &middot; circles are gates; a wire that splits (a fork) adds its "
                  "gradients")
LEGEND_BOXES = ('<span class="v">green: forward value</span> &middot; <span class="g">red: gradient</span> '
                "&middot; circles are gates, boxes are values; a thick box feeds several gates (its gradients add)")


def page_data(graph: Graph, tr: Trace) -> dict[str, Any]:
    """Per step: the gate to highlight, the gradients it fills in, and its sentence."""
    running: dict[int, np.ndarray] = {}
    steps = []
    for st in tr.steps:
        updates: dict[str, Any] = {}
        out_id = f"t{st.output_id}"
        text, numbers = grad_label(np.asarray(st.upstream, dtype=np.float64))
        updates[out_id] = {"text": text, "numbers": numbers}
        for key, d in zip(st.input_ids, st.downstream):
            running[key] = running.get(key, 0) + np.asarray(d, dtype=np.float64)
            text, numbers = grad_label(running[key])
            updates[f"t{key}"] = {"text": text, "numbers": numbers}
        gate = graph.owner.get(st.node, f"g{st.node}")
        steps.append({"gate": gate, "sentence": sentence(st),
                      "updates": {k: v for k, v in updates.items() if k in graph.nodes}})  # fmt: skip
    return {"steps": steps, "intro": f"Forward pass done: {tr.output.name or 'the output'} = "
                                     f"{describe(tr.output.numpy())}. Press Step to run the backward pass "
                                     "one gate at a time, from the output back to the inputs."}  # fmt: skip


def to_html(out: Tensor, path: str | os.PathLike, collapse: Any = None, max_nodes: int | None = 80,
            title: str = "", tr: Trace | None = None) -> Path:  # fmt: skip
    """Write one self-contained HTML page: the graph with its forward values, a Step button
    and a slider that run the backward pass one gate at a time.

    Runs the backward pass itself (through ``chainrule.viz.explainer.trace``), so call it
    instead of ``backward()``, or pass ``tr=`` a trace already made. The page needs no
    network and no Graphviz: its script ships inside the package.
    """
    if tr is None:
        if out._ctx is not None and out._ctx._freed:
            raise ValueError("to_html: backward() already ran through this graph; call to_html on a fresh graph "
                             "(it runs the backward pass itself) or pass tr=chainrule.viz.explainer.trace(loss)")  # fmt: skip
        tr = trace(out)
    graph = build_graph(out, collapse, max_nodes, tr.grads)
    data = page_data(graph, tr)
    script = resources.files("chainrule.viz").joinpath("page.js").read_text()
    style = resources.files("chainrule.viz").joinpath("page.css").read_text()
    head = escape(title or f"Backpropagation through {out.name or 'a graph'}")
    payload = json.dumps(data).replace("</", "<\\/")
    legend = LEGEND_CIRCUIT if graph.scalar else LEGEND_BOXES
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{head}</title>
<style>{style}</style></head>
<body>
<h1>{head}</h1>
<p class="legend">{legend}</p>
<div class="controls">
<button id="reset">Reset</button> <button id="back">Back</button> <button id="step">Step</button>
<input id="slider" type="range" min="0" max="{len(data["steps"])}" value="0" step="1">
<span id="counter"></span>
</div>
<div id="sentence" class="sentence"></div>
<div class="canvas">{to_svg(graph, show_grads=False)}</div>
<script id="steps" type="application/json">{payload}</script>
<script>{script}</script>
</body></html>
"""
    path = Path(path)
    atomic_write(path, page.encode())
    return path


def _repr_html_(self: Tensor) -> str | None:
    """Jupyter shows a Tensor that has a graph as its picture: Graphviz's (``_repr_svg_``)
    where ``dot`` is installed, and without it this offline layout."""
    from .render import dot_program

    if self._ctx is None or dot_program() is not None:
        return None
    return f'<div class="chainrule-graph">{to_svg(build_graph(self, max_nodes=60))}</div>'


Tensor._repr_html_ = _repr_html_

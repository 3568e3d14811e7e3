"""A graph laid out in Python and drawn as SVG (no Graphviz), and the interactive page.

Layout: a value or gate's column is its longest distance to the output (the output on the
right, leaves on the left, as the lecture draws circuits); within a column, nodes are
ordered by the mean position of their neighbours (a few barycenter sweeps). Every use of a
value is its own wire, arriving at its own port of the gate (``u*u``: two wires into the
``*``), and a fork's wires carry the gradients that add there, each written on its wire.
A big graph stays one picture, read by zooming and panning in the page (never wrapped).

Why not Graphviz's WebAssembly build (``@viz-js/viz``) in the page: a 1.4 MB script for a
layout that this one matches on these graphs (layered, left to right, one port per use),
while drawing here keeps the page's SVG the same in Jupyter, the tour and the tests.
"""

from __future__ import annotations

import dataclasses
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
from .render import FORK_NOTE, GRAD_COLOR, VALUE_COLOR, fork_note, sum_note

FONT, NOTE = 14, 12  # px: labels, and the smaller notes (roles, names on wires, fork sums)
CHAR_W, NOTE_W, LINE_H, GATE_R, COL_GAP, ROW_GAP = 8.0, 6.9, 18, 26, 44, 20
WIRE_GAP = 34  # a scalar circuit's columns: wires and gates sit closer than boxes
PORT_GAP = 22  # between two inputs' ports on a gate's left side
GREY, WIRE = "#57606a", "#8c959f"


def _lines(node: Any, circuit: bool = False) -> list[tuple[str, str]]:
    """(css class, text) per line of a node's label; a matrix's rows are lines of their own."""
    if node.kind == "value":
        grads = node.grad.split("\n") if node.grad else [""]
        prefix = "" if circuit else "grad "
        out = [("head", node.heading())] if node.heading() or not circuit else []
        out += [("value", line) for line in node.value.split("\n")]
        out += [("grad", prefix + line if line else "") for line in grads]
        if node.fork:
            out.append(("sum", fork_note(node)))
        return out
    if circuit and node.kind == "gate":
        return [("head", node.symbol or node.title)]
    return [("head", node.heading())] + ([("note", node.detail)] if node.detail else [])


def _width(cls: str, text: str) -> float:
    return len(text) * (NOTE_W if cls in ("note", "sum") else CHAR_W)


def _size(node: Any, circuit: bool = False) -> tuple[float, float]:
    lines = _lines(node, circuit)
    ports = max(1, node.slots) * PORT_GAP + 8 if node.kind in ("gate", "group") else 0
    if node.kind == "gate":
        if circuit:  # a circle around the operator, large enough for a port per input
            d = max(40, len(lines[0][1]) * CHAR_W + 16, ports)
            return d, d
        w = max(2 * GATE_R, max(_width(c, t) for c, t in lines) + 20)
        return w, max(2 * GATE_R, len(lines) * LINE_H + 12, ports)
    if circuit:  # a wire: as long as its longest number, or its name in the smaller font
        width = max([_width("note" if c == "head" else c, t) for c, t in lines] + [6 * CHAR_W]) + 14
        return width, len(lines) * LINE_H + 10
    width = max([_width(c, t) for c, t in lines] + [len("grad ") * CHAR_W + 60]) + 18
    return width, max(len(lines) * LINE_H + 12, ports)


def _wire_y(node: Any, box: tuple[float, float, float, float]) -> float:
    """Where a scalar circuit's wire runs through a value: under its value line, over its gradient."""
    x, y, w, h = box
    above = sum(1 for cls, _ in _lines(node, True) if cls in ("head", "value"))
    return y + 5 + above * LINE_H + 3


def layout(graph: Graph) -> dict[str, tuple[float, float, float, float]]:
    """Node id -> (x, y, width, height) of its box, left to right towards the output.

    >>> import chainrule as cr
    >>> u = cr.Tensor(3.0, requires_grad=True, name="u")
    >>> boxes = layout(build_graph(u * u + u))
    >>> len(boxes), len({round(y) for _, y, _, _ in boxes.values()}) > 1   # one band, nodes stacked
    (5, True)
    """
    return _layout(graph)[0]


def _layout(graph: Graph) -> tuple[dict[str, tuple[float, float, float, float]], dict[int, list[tuple[float, float]]]]:
    """The boxes, and for each edge that spans several columns the points it passes through.

    A wire from a value to a gate several columns on gets a waypoint in every column
    between (a dummy node, ordered with the others), so it runs between the nodes there
    instead of through them: ``u*u + u``'s wire from u to ``+`` passes beside the ``*``.
    """
    circuit = graph.scalar
    succ: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        succ[a].append(b)
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
    column = {n: top - rank[n] for n in order}
    sizes = {n: _size(graph.nodes[n], circuit) for n in order}
    links: list[tuple[str, str]] = []  # the edges cut at every column they cross
    chains: dict[int, list[str]] = {}
    for i, (a, b) in enumerate(graph.edges):
        prev = a
        for c in range(column[a] + 1, column[b]):
            dummy = f"~{i}.{c}"
            column[dummy], sizes[dummy] = c, (0.0, 12.0)
            chains.setdefault(i, []).append(dummy)
            links.append((prev, dummy))
            prev = dummy
        links.append((prev, b))
    columns: list[list[str]] = [[] for _ in range(top + 1)]
    for n in column:
        columns[column[n]].append(n)
    nbrs: dict[str, list[str]] = {n: [] for n in column}
    for a, b in links:
        nbrs[a].append(b)
        nbrs[b].append(a)
    pos = {n: float(i) for col in columns for i, n in enumerate(col)}
    for _ in range(6):  # barycenter sweeps, both directions
        for col in columns[1:] + columns[::-1]:
            def key(n: str) -> float:
                return sum(pos[m] for m in nbrs[n]) / len(nbrs[n]) if nbrs[n] else pos[n]

            col.sort(key=key)
            for i, n in enumerate(col):
                pos[n] = float(i)
    gap = WIRE_GAP if circuit else COL_GAP
    gaps = [gap] * len(columns)  # room before each column: wide enough for the labels of the wires into it
    for e in graph.edges:
        if e.grad and graph.nodes[e.src].fork:
            gaps[column[e.dst]] = max(gaps[column[e.dst]], _width("note", e.grad) + 30)
    heights = [sum(sizes[n][1] for n in col) + ROW_GAP * (len(col) - 1) for col in columns]
    widths = [max((sizes[n][0] for n in col), default=0) for col in columns]
    tallest = max(heights, default=0)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    x = 10.0
    for i, col in enumerate(columns):
        x += gaps[i] if i else 0
        y = 10 + (tallest - heights[i]) / 2
        for n in col:
            w, hh = sizes[n]
            boxes[n] = (x + (widths[i] - w) / 2, y, w, hh)
            y += hh + ROW_GAP
        x += widths[i]
    routes = {}
    for i, chain in chains.items():  # a waypoint across its column's whole width: straight through the gap
        points = []
        for d in chain:
            bx, by, _, bh = boxes.pop(d)
            c = column[d]
            left = bx - widths[c] / 2
            points += [(left, by + bh / 2), (left + widths[c], by + bh / 2)]
        routes[i] = points
    return boxes, routes


def _port(box: tuple[float, float, float, float], slot: int, slots: int, round_: bool) -> tuple[float, float]:
    """Where input ``slot`` of a gate arrives: its own point on the gate's left side."""
    x, y, w, h = box
    cy = y + h / 2
    dy = (slot - (slots - 1) / 2) * PORT_GAP if slots > 1 else 0.0
    if round_:  # on the ellipse's outline
        rx, ry = w / 2, h / 2
        return x + rx - rx * float(np.sqrt(max(0.0, 1 - (dy / ry) ** 2))), cy + dy
    return x, cy + dy


def _curve(points: list[tuple[float, float]]) -> str:
    """An SVG path through the points, leaving and reaching each one horizontally."""
    (x0, y0), rest = points[0], points[1:]
    d = f"M{x0:.1f},{y0:.1f}"
    for x1, y1 in rest:
        if abs(y1 - y0) < 0.5:
            d += f" L{x1:.1f},{y1:.1f}"
        else:
            mid = (x0 + x1) / 2
            d += f" C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f}"
        x0, y0 = x1, y1
    return d


def to_svg(graph: Graph, show_grads: bool = True, fit: bool = True) -> str:
    """The graph as an SVG string (laid out here; no Graphviz). Values green, gradients red.

    A circuit of one-number values is drawn as the lecture draws it: gates are circles
    with their operator, and each value sits on its wire, its forward value above the
    line and its gradient below. Graphs of tensors draw a box per value. Each use of a
    value is its own wire (a ``<g class="use">``, ``data-from``/``data-to``/``data-slot``);
    a fork's wires are labelled with the gradient each carries back, and the fork says
    their sum. ``fit``: the picture scales down to the width of the page (else its size).

    >>> import chainrule as cr
    >>> x = cr.Tensor(3.0, requires_grad=True, name="x")
    >>> y = x * x
    >>> y.backward()
    >>> svg = to_svg(build_graph(y))
    >>> svg.startswith("<svg") and 'class="wire"' in svg and ">6</tspan>" in svg
    True
    >>> svg.count(f'data-from="t{id(x)}"')   # x*x: two wires from x into the * gate
    2
    """
    circuit = graph.scalar
    boxes, routes = _layout(graph)
    width = max((x + w for x, _, w, _ in boxes.values()), default=100) + 10
    height = max((y + h for _, y, _, h in boxes.values()), default=100) + 10

    def anchor(nid: str) -> float:
        node, box = graph.nodes[nid], boxes[nid]
        return _wire_y(node, box) if circuit and node.kind == "value" else box[1] + box[3] / 2

    style = ' style="max-width: 100%; height: auto"' if fit else ""
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width:.0f}" height="{height:.0f}"{style} '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="{FONT}">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{GREY}"/></marker></defs>']  # fmt: skip
    forks: set[tuple[float, float]] = set()
    for i, e in enumerate(graph.edges):
        a, b = e.src, e.dst
        xa, _, wa, _ = boxes[a]
        x1, y1 = xa + wa, anchor(a)
        dst = graph.nodes[b]
        if dst.kind in ("gate", "group") and graph.nodes[a].kind == "value":
            x2, y2 = _port(boxes[b], e.slot, dst.slots if dst.kind == "gate" else 1, dst.kind == "gate")
        else:
            x2, y2 = boxes[b][0], anchor(b)
        into_wire = circuit and dst.kind == "value"  # the wire goes on through the value: no arrow
        marker = "" if into_wire else ' marker-end="url(#arrow)"'
        d = _curve([(x1, y1)] + routes.get(i, []) + [(x2, y2)])
        fork = graph.nodes[a].fork and graph.nodes[a].kind == "value"
        out.append(f'<g class="use" id="e{i}" data-from="{escape(a)}" data-to="{escape(b)}" data-slot="{e.slot}">'
                   f'<path class="edge" d="{d}" fill="none" stroke="{WIRE}" stroke-width="1.4"{marker}/>')  # fmt: skip
        if fork:
            forks.add((round(x1, 1), round(y1, 1)))
            text = escape(e.grad) if show_grads and e.grad else ""
            below = e.slot > (dst.slots - 1) / 2 if dst.kind == "gate" else False  # a lower port: its label below
            ty = y2 + (NOTE + 4 if below else -6)  # clear of its own wire, which arrives level with the port
            out.append(f'<text class="grad" data-prefix="" x="{x2 - 14:.1f}" y="{ty:.1f}" text-anchor="end" '
                       f'font-size="{NOTE}" fill="{GRAD_COLOR}">{text}</text>')  # fmt: skip
        out.append("</g>")
    for fx, fy in sorted(forks):  # the branching point, where the wires' gradients add
        out.append(f'<circle class="fork" cx="{fx}" cy="{fy}" r="3.5" fill="{GREY}"/>')
    for nid, node in graph.nodes.items():
        x, y, w, h = boxes[nid]
        attrs = f'class="node {node.kind}{" leaf" if node.leaf else ""}{" fork" if node.fork else ""}" id="{escape(nid)}"'
        if node.kind == "value" and show_grads and node.grad_numbers is not None:
            attrs += f" data-grad='{json.dumps(node.grad_numbers)}'"
        opens = node.kind == "group" and node.module  # the page opens a folded module on a click
        if opens:
            attrs += f' data-view="{escape(node.module)}"'
        out.append(f"<g {attrs}>")
        if opens:
            out.append(f"<title>{escape(node.module)}: click to open it</title>")
        lines = _lines(node, circuit)
        if circuit and node.kind == "value":
            wy = anchor(nid)
            out.append(f'<line class="wire" x1="{x:.1f}" y1="{wy:.1f}" x2="{x + w:.1f}" y2="{wy:.1f}" '
                       f'stroke="{WIRE}" stroke-width="1.4"/>')  # fmt: skip
            ty = y + 5 + LINE_H - 3
        elif node.kind == "gate":
            out.append(f'<ellipse cx="{x + w / 2:.1f}" cy="{y + h / 2:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" '
                       'fill="#ddf4ff" stroke="#0969da"/>')  # fmt: skip
            ty = y + h / 2 - (len(lines) - 1) * LINE_H / 2 + 5
        else:
            fill = {"group": "#fff8c5", "more": "#f6f8fa"}.get(node.kind, "#f6f8fa" if node.leaf else "#ffffff")
            stroke_w = 2.5 if node.fork else 1
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" fill="{fill}" '
                       f'stroke="{GREY}" stroke-width="{stroke_w}"/>')  # fmt: skip
            ty = y + h / 2 - (len(lines) - 1) * LINE_H / 2 + 5
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
            color = {"value": VALUE_COLOR, "note": GREY, "sum": GREY}.get(cls, "#1f2328")
            if circuit and cls == "head" and node.kind == "value":
                color = GREY
            weight = ' font-weight="bold"' if cls == "head" and (node.kind != "value" or node.leaf or not circuit) else ""
            small = cls in ("note", "sum") or (circuit and cls == "head" and node.kind == "value")
            size = f' font-size="{NOTE}"' if small else ""
            shown = text if cls != "sum" or show_grads else FORK_NOTE
            out.append(f'<text class="{cls}" x="{x + w / 2:.1f}" y="{ty:.1f}" text-anchor="middle" fill="{color}"'
                       f"{weight}{size}>{escape(shown)}</text>")  # fmt: skip
            ty += LINE_H
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


LEGEND_CIRCUIT = ('<span class="v">green: forward value, above its wire</span> &middot; <span class="g">red: '
                  "gradient, below it</span> &middot; circles are gates; where a wire splits (a fork, the dot) "
                  "each branch carries its own gradient back, and they add")
LEGEND_BOXES = ('<span class="v">green: forward value</span> &middot; <span class="g">red: gradient</span> '
                "&middot; circles are gates, boxes are values; a thick box feeds several gates: each wire out of "
                "it carries its own gradient back, and they add")


def _named(st: Any, graph: Graph) -> Any:
    """A step whose values are called as the picture calls them (a network's ``fc1.weight``
    and ``relu``, where the explainer alone would say ``const`` and ``relu(...)``)."""

    def title(key: int, fallback: str) -> str:
        node = graph.nodes.get(f"t{key}")
        return node.title if node is not None and node.title else fallback

    return dataclasses.replace(st, output=title(st.output_id, st.output),
                               inputs=[title(k, n) for k, n in zip(st.input_ids, st.inputs)])  # fmt: skip


def page_data(graph: Graph, tr: Trace) -> dict[str, Any]:
    """Per step: the gate to highlight, the gradients it fills in (values, and the wires
    out of forks), and its sentence."""
    running: dict[int, np.ndarray] = {}
    ran: set[str] = set()  # the gates whose step has run: their wires' gradients are known
    into: dict[str, list[int]] = {}  # gate -> its labelled wires out of forks, by edge index
    for i, e in enumerate(graph.edges):
        if e.grad and graph.nodes[e.src].fork:
            into.setdefault(e.dst, []).append(i)
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
        ran.add(gate)
        for i in into.get(gate, []):
            e = graph.edges[i]
            updates[f"e{i}"] = {"text": e.grad, "numbers": None}
            node = graph.nodes[e.src]
            parts = [u.grad for u in graph.uses(e.src) if u.dst in ran]
            if parts and node.size == 1 and node.id in updates:  # one-number parts add up on the fork, so far
                total = updates[node.id]["text"]
                updates[node.id]["sum"] = sum_note(parts, total)
        steps.append({"gate": gate, "sentence": sentence(_named(st, graph)),
                      "updates": {k: v for k, v in updates.items() if k in graph.nodes or k[0] == "e"}})  # fmt: skip
    return {"steps": steps, "intro": f"Forward pass done: {tr.output.name or 'the output'} = "
                                     f"{describe(tr.output.numpy())}. Press Step to run the backward pass "
                                     "one gate at a time, from the output back to the inputs."}  # fmt: skip


def to_html(out: Tensor, path: str | os.PathLike, collapse: Any = None, max_nodes: int | None = 80,
            title: str = "", tr: Trace | None = None) -> Path:  # fmt: skip
    """Write one self-contained HTML page: the graph with its forward values, a Step button
    and a slider that run the backward pass one gate at a time, zoom and pan (mouse wheel,
    drag, and buttons).

    Runs the backward pass itself (through ``chainrule.viz.explainer.trace``), so call it
    instead of ``backward()``, or pass ``tr=`` a trace already made. The page needs no
    network and no Graphviz: its script ships inside the package.
    """
    if tr is None:
        if out._ctx is not None and out._ctx._freed:
            raise ValueError("to_html: backward() already ran through this graph; call to_html on a fresh graph "
                             "(it runs the backward pass itself) or pass tr=chainrule.viz.explainer.trace(loss)")  # fmt: skip
        tr = trace(out)
    graph = build_graph(out, collapse, max_nodes, tr=tr)
    data = page_data(graph, tr)
    views = _views(out, collapse, max_nodes, tr) if collapse == "modules" else {}
    if views:  # the page swaps pictures: a folded module opens on a click
        data["views"] = views
    script = resources.files("chainrule.viz").joinpath("page.js").read_text()
    style = resources.files("chainrule.viz").joinpath("page.css").read_text()
    head = escape(title or f"Backpropagation through {out.name or 'a graph'}")
    payload = json.dumps(data).replace("</", "<\\/")
    legend = LEGEND_CIRCUIT if graph.scalar else LEGEND_BOXES
    if views:
        legend += " &middot; a yellow box is a module: click it to open it"
    folding = ('<button id="fold" title="each module one box">fold modules</button>'
               '<button id="unfold" title="every gate">open all</button>') if views else ""
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
<span class="zoom">{folding}<button id="zoom-out" title="zoom out">&minus;</button><button id="zoom-in" title="zoom in">+</button>
<button id="zoom-fit" title="the whole graph">fit</button><button id="zoom-one" title="actual size">1:1</button></span>
</div>
<div id="sentence" class="sentence"></div>
<div class="canvas" id="canvas" title="mouse wheel: zoom; drag: pan">{to_svg(graph, show_grads=False, fit=False)}</div>
<script id="steps" type="application/json">{payload}</script>
<script>{script}</script>
</body></html>
"""
    path = Path(path)
    atomic_write(path, page.encode())
    return path


def _views(out: Tensor, collapse: Any, max_nodes: int | None, tr: Trace) -> dict[str, Any]:
    """The pictures a page with folded modules swaps between: every module folded (""),
    one module open (its name), all open ("*"); each with its own steps (gate ids differ)."""
    from .graph import Names

    names = Names(out)
    parts = names.parts()
    if not parts:
        return {}
    choices: dict[str, Any] = {"": parts, "*": None}
    for module in parts:
        choices[names.paths.get(id(module), type(module).__name__)] = [m for m in parts if m is not module]
    views = {}
    for key, folded in choices.items():
        graph = build_graph(out, folded, max_nodes, tr=tr)
        views[key] = {"svg": to_svg(graph, show_grads=False, fit=False), "steps": page_data(graph, tr)["steps"]}
    return views


class GraphPicture:
    """The picture of a tensor's graph, as Jupyter shows it: ``t.graph()`` in a cell.

    Graphviz's drawing where ``dot`` is installed, else the offline layout of ``to_svg``;
    ``_repr_svg_`` and ``_repr_html_`` give the same picture. ``save(path)`` writes it
    (``.svg``, ``.png`` with Graphviz, ``.html`` the stepping page), ``dot`` is its DOT text.

    >>> import chainrule as cr
    >>> u = cr.Tensor(3.0, requires_grad=True, name="u")
    >>> pic = (u * u + u).graph()
    >>> pic._repr_svg_().count(f'data-from="t{id(u)}"') if pic.offline else 3  # u's three uses, a wire each
    3
    """

    def __init__(self, out: Tensor, collapse: Any = None, max_nodes: int | None = 80,
                 tr: Trace | None = None) -> None:  # fmt: skip
        self.out, self.collapse, self.max_nodes, self.tr = out, collapse, max_nodes, tr

    @property
    def offline(self) -> bool:
        """Drawn here (no Graphviz installed) rather than by Graphviz's ``dot``."""
        from .render import dot_program

        return dot_program() is None

    @property
    def dot(self) -> str:
        from .render import to_dot

        return to_dot(self.out, self.collapse, self.max_nodes, tr=self.tr)

    def _repr_svg_(self) -> str:
        from .render import _run_dot

        if self.offline:
            return to_svg(build_graph(self.out, self.collapse, self.max_nodes, tr=self.tr), fit=False)
        return _run_dot(self.dot, "svg").decode()

    def _repr_html_(self) -> str:
        return f'<div class="chainrule-graph" style="overflow: auto">{self._repr_svg_()}</div>'

    def save(self, path: str | os.PathLike, scale: float = 1.5) -> Path:
        """Write the picture: ``.html`` (the page, no Graphviz needed), ``.svg`` or ``.png``."""
        from .render import render

        if Path(path).suffix.lower() == ".html":
            return to_html(self.out, path, self.collapse, self.max_nodes, tr=self.tr)
        return render(self.out, path, self.collapse, self.max_nodes, tr=self.tr, scale=scale)


def graph(self: Tensor, collapse: Any = None, max_nodes: int | None = 80, tr: Trace | None = None) -> GraphPicture:
    """The picture of the graph behind this tensor (Jupyter shows it); see ``GraphPicture``.

    >>> import chainrule as cr
    >>> x = cr.Tensor([1.0, 2.0], requires_grad=True)
    >>> type((x * 2).sum().graph()).__name__
    'GraphPicture'
    """
    if self._ctx is None:
        raise ValueError("graph: this tensor is a leaf (no gate made it); expected a computed tensor, "
                         "such as a loss")  # fmt: skip
    return GraphPicture(self, collapse, max_nodes, tr)


def _repr_html_(self: Tensor) -> str | None:
    """Jupyter shows a computed tensor as its numbers (its ``repr``), with the picture of its
    graph one click away in a closed ``<details>``; a leaf shows as its ``repr`` alone."""
    if self._ctx is None:
        return None
    gates = len(_gates(self))
    try:
        picture = GraphPicture(self, max_nodes=60)._repr_html_()
    except Exception as e:  # a picture that fails to draw must not hide the numbers
        picture = f"<pre>graph not drawn: {escape(str(e))}</pre>"
    return (f'<pre class="chainrule-tensor">{escape(repr(self))}</pre>'
            f"<details><summary>graph: {gates} gate{'s' if gates != 1 else ''} (click to show)</summary>"
            f"{picture}</details>")


def _gates(t: Tensor) -> set[int]:
    from .graph import _all_gates

    return _all_gates(t)


Tensor._repr_html_ = _repr_html_
Tensor.graph = graph

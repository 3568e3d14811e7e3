"""Graphviz DOT text for a graph (pure), and rendering it with the ``dot`` program."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import escape
from pathlib import Path
from typing import Any

from ..autograd.tensor import Tensor
from ..serialization import atomic_write
from .graph import Graph, build_graph

VALUE_COLOR = "#1a7f37"  # green: forward values, as the lecture writes them above the wires
GRAD_COLOR = "#cf222e"  # red: gradients, written below the wires
INSTALL = "Graphviz's dot is not installed: apt-get install graphviz (Debian/Ubuntu), brew install graphviz (macOS) or conda install graphviz"


FONT, NOTE = 14, 12  # points; at Graphviz's 96 dpi a label is 18 px, a note 16 px


def fork_note(node: Any) -> str:
    """What a fork says: its gradient is the sum of what its wires carried back.

    >>> from chainrule.viz.graph import GraphNode
    >>> fork_note(GraphNode("u", "value", "u", fork=True, grad="7", parts=["1", "3", "3"]))
    'gradients add: 1 + 3 + 3 = 7'
    """
    if node.parts and node.grad and all("\n" not in p for p in node.parts + [node.grad]):
        return sum_note(node.parts, node.grad)
    return FORK_NOTE


FORK_NOTE = "fork: gradients add"  # a fork whose parts are not one-number each (or not known yet)


def sum_note(parts: list[str], total: str) -> str:
    """A fork's one-number parts and their sum, as its picture writes them."""
    return "gradients add: " + " + ".join(parts) + f" = {total}"


class GraphvizNotFound(RuntimeError):
    """``render`` needs Graphviz's ``dot`` program; the message says how to install it."""


def _html(text: str) -> str:
    return escape(text, quote=True).replace("\n", "<BR/>")  # a matrix's rows, one per line


def _label(node: Any) -> str:
    rows = []
    if node.kind == "value":
        head = _html(node.heading())
        rows.append(f"<B>{head}</B>" if node.title else head)
        rows.append(f'<FONT COLOR="{VALUE_COLOR}">{_html(node.value)}</FONT>')
        if node.grad:
            rows.append(f'<FONT COLOR="{GRAD_COLOR}">grad {_html(node.grad)}</FONT>')
        if node.fork:
            rows.append(f'<FONT POINT-SIZE="{NOTE}">{_html(fork_note(node))}</FONT>')
    else:
        rows.append(f"<B>{_html(node.heading())}</B>")
        if node.detail:
            rows.append(f'<FONT POINT-SIZE="{NOTE}">{_html(node.detail)}</FONT>')
    return "<" + "<BR/>".join(rows) + ">"


_SHAPES = {"value": "box", "gate": "circle", "group": "box3d", "more": "note"}


def _wire(node: Any) -> str:
    """A scalar circuit's value as the lecture writes it on its wire: the name, then the
    forward value above the line (green) and the gradient below it (red). The line is the
    bottom border of the value's cell; edges meet it at its ends (ports ``v:sw``, ``v:se``)."""
    rows = []
    if node.title:
        weight = ("<B>", "</B>") if node.leaf else ("", "")
        rows.append(f'<TR><TD><FONT POINT-SIZE="{NOTE}" COLOR="#57606a">{weight[0]}{_html(node.title)}{weight[1]}</FONT></TD></TR>')
    rows.append(f'<TR><TD PORT="v" SIDES="B" BORDER="1" COLOR="#57606a"><FONT COLOR="{VALUE_COLOR}">'
                f"{_html(node.value)}</FONT></TD></TR>")
    rows.append(f'<TR><TD><FONT COLOR="{GRAD_COLOR}">{_html(node.grad) or " "}</FONT></TD></TR>')
    if node.fork:
        rows.append(f'<TR><TD><FONT POINT-SIZE="{NOTE}" COLOR="#57606a">{_html(fork_note(node))}</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _circuit_dot(graph: Graph, title: str) -> str:
    """DOT for a scalar circuit, drawn as the lecture draws it: gates are circles with their
    operator, and each wire carries its value above and its gradient below."""
    lines = ["digraph chainrule {",
             f'  rankdir=LR; nodesep=0.3; ranksep=0.35; node [fontname="Helvetica", fontsize={FONT}];',
             f'  edge [color="#57606a", arrowsize=0.6, fontname="Helvetica", fontsize={NOTE}, fontcolor="{GRAD_COLOR}"];']  # fmt: skip
    if title:
        lines.append(f'  labelloc="t"; label="{_html(title)}";')
    for node in graph.nodes.values():
        if node.kind == "gate":
            tip = f' tooltip="{_html(node.title)}: {_html(node.detail)}"' if node.detail else ""
            lines.append(f'  "{node.id}" [shape=circle style="filled" fillcolor="#ddf4ff" color="#0969da" width=0.45 '
                         f'fixedsize=false margin=0.02{tip} label=<<B>{_html(node.symbol or node.title)}</B>>];')
        else:
            lines.append(f'  "{node.id}" [shape=plain label={_wire(node)}];')
    for e in graph.edges:
        if graph.nodes[e.src].kind == "value":  # one edge per use: a fork's wires leave its end apart
            lines.append(f'  "{e.src}":v:se -> "{e.dst}"{_wire_label(graph, e)};')
        else:  # into a value: the wire goes on through it
            lines.append(f'  "{e.src}" -> "{e.dst}":v:sw [arrowhead=none];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _wire_label(graph: Graph, e: Any) -> str:
    """A fork's wire is labelled with the gradient it carries back (the parts that add)."""
    if not e.grad or not graph.nodes[e.src].fork:
        return ""
    return f' [label=<{_html(e.grad)}>, tooltip="gradient sent back along this use"]'


def graph_to_dot(graph: Graph, title: str = "") -> str:
    """DOT text for a ``Graph``: left to right, as the lecture draws its circuits.

    A circuit of one-number values is drawn as the lecture draws it (circles for gates,
    values on the wires); a graph of tensors keeps a box per value.
    """
    if graph.scalar:
        return _circuit_dot(graph, title)
    lines = ["digraph chainrule {", f'  rankdir=LR; node [fontname="Helvetica", fontsize={FONT}];',
             f'  edge [color="#57606a", fontname="Helvetica", fontsize={NOTE}, fontcolor="{GRAD_COLOR}"];']
    if title:
        lines.append(f'  labelloc="t"; label="{_html(title)}";')
    for node in graph.nodes.values():
        style = ' style="rounded"' if node.kind == "value" else ""
        if node.kind == "value" and node.leaf:
            style = ' style="rounded,filled" fillcolor="#f6f8fa"'
        shape = _SHAPES[node.kind]
        if node.kind == "gate":
            style = ' style="filled" fillcolor="#ddf4ff" width=0.6 fixedsize=false'
            shape = "circle" if len(node.title) <= 8 else "ellipse"  # a long name: no giant circle
        periph = " peripheries=2" if node.fork else ""
        lines.append(f'  "{node.id}" [shape={shape}{style}{periph} label={_label(node)}];')
    for e in graph.edges:
        lines.append(f'  "{e.src}" -> "{e.dst}"{_wire_label(graph, e)};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(out: Tensor, collapse: Any = None, max_nodes: int | None = 80, grads: dict[int, Any] | None = None,
           title: str = "", tr: Any = None) -> str:  # fmt: skip
    """Graphviz DOT text for the graph behind ``out`` (a pure function: nothing is run or written).

    Values show their forward value (green) and, once backward has run, their gradient
    (red); gates show their op and role. After a plain ``backward()`` only leaves keep a
    gradient (as in PyTorch); after ``chainrule.viz.explainer.trace(loss)`` (or ``explain``) every
    value does, and with ``tr=`` that trace, each wire out of a fork is labelled with the
    gradient it carried back. See ``build_graph`` for ``collapse``, ``max_nodes`` and ``grads``.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True, name="x")
    >>> f = (x + 5.0) * -4.0
    >>> f.backward()
    >>> dot = to_dot(f)   # a scalar circuit: the operator in a circle, x's gradient under its wire
    >>> dot.startswith("digraph") and "<B>*</B>" in dot and '#cf222e">-4<' in dot
    True
    """
    return graph_to_dot(build_graph(out, collapse, max_nodes, grads, tr), title)


def dot_program() -> str | None:
    """The path of Graphviz's ``dot``, or None."""
    return shutil.which("dot")


def render(out: Tensor, path: str | os.PathLike, collapse: Any = None, max_nodes: int | None = 80,
           grads: dict[int, Any] | None = None, tr: Any = None, scale: float = 1.5, title: str = "") -> Path:  # fmt: skip
    """Draw the graph behind ``out`` to ``path`` (.svg or .png) with Graphviz's ``dot``.

    ``scale`` sizes the picture: a PNG is drawn at ``96 * scale`` dots per inch (1.5 by
    default, so a label is 28 px; 3 for a slide or a high-density screen), an SVG gets
    ``scale`` times the width and height (1: Graphviz's own size). Raises ``GraphvizNotFound`` (one line: how to install it) when ``dot``
    is missing; ``to_dot`` and ``to_html`` need no Graphviz.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"render: {path} has suffix {path.suffix!r}; expected .svg or .png")
    check_scale(scale, "render")
    picture = _run_dot(to_dot(out, collapse, max_nodes, grads, title, tr), fmt, scale)
    atomic_write(path, picture)
    return path


def check_scale(scale: Any, who: str) -> float:
    """A picture's scale: a number from 0.1 to 10; anything else is one line naming it."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0.1 <= scale <= 10:
        raise ValueError(f"{who}: scale={scale!r}; expected a number from 0.1 to 10 (1 = Graphviz's 96 dpi)")
    return float(scale)


def _run_dot(dot: str, fmt: str, scale: float = 1.0) -> bytes:
    exe = dot_program()
    if exe is None:
        raise GraphvizNotFound(INSTALL)
    args = [exe, f"-T{fmt}"] + ([f"-Gdpi={96 * scale:g}"] if fmt == "png" else [])
    proc = subprocess.run(args, input=dot.encode(), capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"render: dot failed: {proc.stderr.decode(errors='replace').strip()}")
    if fmt == "svg" and scale != 1.0:  # dot's SVG is in points with a viewBox: scaling its size scales it
        return _scale_svg(proc.stdout.decode(), scale).encode()
    return proc.stdout


def _scale_svg(svg: str, scale: float) -> str:
    """Multiply the ``width`` and ``height`` of an SVG's root element (``"280pt"``) by ``scale``."""
    def grow(m: re.Match) -> str:
        return f'{m.group(1)}="{float(m.group(2)) * scale:.2f}{m.group(3)}"'

    head, sep, rest = svg.partition("<svg")
    tag, close, body = rest.partition(">")
    tag = re.sub(r'\b(width|height)="([0-9.]+)([a-z]*)"', grow, tag)
    return head + sep + tag + close + body

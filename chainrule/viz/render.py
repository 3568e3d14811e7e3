"""Graphviz DOT text for a graph (pure), and rendering it with the ``dot`` program."""

from __future__ import annotations

import os
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
            rows.append('<FONT POINT-SIZE="9">fork: gradients add</FONT>')
    else:
        rows.append(f"<B>{_html(node.title)}</B>")
        if node.detail:
            rows.append(f'<FONT POINT-SIZE="9">{_html(node.detail)}</FONT>')
    return "<" + "<BR/>".join(rows) + ">"


_SHAPES = {"value": "box", "gate": "circle", "group": "box3d", "more": "note"}


def _wire(node: Any) -> str:
    """A scalar circuit's value as the lecture writes it on its wire: the name, then the
    forward value above the line (green) and the gradient below it (red). The line is the
    bottom border of the value's cell; edges meet it at its ends (ports ``v:sw``, ``v:se``)."""
    rows = []
    if node.title:
        weight = ("<B>", "</B>") if node.leaf else ("", "")
        rows.append(f'<TR><TD><FONT POINT-SIZE="10" COLOR="#57606a">{weight[0]}{_html(node.title)}{weight[1]}</FONT></TD></TR>')
    rows.append(f'<TR><TD PORT="v" SIDES="B" BORDER="1" COLOR="#57606a"><FONT COLOR="{VALUE_COLOR}">'
                f"{_html(node.value)}</FONT></TD></TR>")
    rows.append(f'<TR><TD><FONT COLOR="{GRAD_COLOR}">{_html(node.grad) or " "}</FONT></TD></TR>')
    if node.fork:
        rows.append('<TR><TD><FONT POINT-SIZE="8" COLOR="#57606a">fork: gradients add</FONT></TD></TR>')
    return '<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _circuit_dot(graph: Graph, title: str) -> str:
    """DOT for a scalar circuit, drawn as the lecture draws it: gates are circles with their
    operator, and each wire carries its value above and its gradient below."""
    lines = ["digraph chainrule {",
             '  rankdir=LR; nodesep=0.3; ranksep=0.25; node [fontname="Helvetica", fontsize=11];',
             '  edge [color="#57606a", arrowsize=0.6];']  # fmt: skip
    if title:
        lines.append(f'  labelloc="t"; label="{_html(title)}";')
    for node in graph.nodes.values():
        if node.kind == "gate":
            tip = f' tooltip="{_html(node.title)}: {_html(node.detail)}"' if node.detail else ""
            lines.append(f'  "{node.id}" [shape=circle style="filled" fillcolor="#ddf4ff" color="#0969da" width=0.45 '
                         f'fixedsize=false margin=0.02{tip} label=<<B>{_html(node.symbol or node.title)}</B>>];')
        else:
            lines.append(f'  "{node.id}" [shape=plain label={_wire(node)}];')
    for a, b in graph.edges:
        if graph.nodes[a].kind == "value":
            lines.append(f'  "{a}":v:se -> "{b}";')
        else:  # into a value: the wire goes on through it
            lines.append(f'  "{a}" -> "{b}":v:sw [arrowhead=none];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def graph_to_dot(graph: Graph, title: str = "") -> str:
    """DOT text for a ``Graph``: left to right, as the lecture draws its circuits.

    A circuit of one-number values is drawn as the lecture draws it (circles for gates,
    values on the wires); a graph of tensors keeps a box per value.
    """
    if graph.scalar:
        return _circuit_dot(graph, title)
    lines = ["digraph chainrule {", '  rankdir=LR; node [fontname="Helvetica", fontsize=11]; edge [color="#57606a"];']
    if title:
        lines.append(f'  labelloc="t"; label="{_html(title)}";')
    for node in graph.nodes.values():
        style = ' style="rounded"' if node.kind == "value" else ""
        if node.kind == "value" and node.leaf:
            style = ' style="rounded,filled" fillcolor="#f6f8fa"'
        if node.kind == "gate":
            style = ' style="filled" fillcolor="#ddf4ff" width=0.6 fixedsize=false'
        periph = " peripheries=2" if node.fork else ""
        lines.append(f'  "{node.id}" [shape={_SHAPES[node.kind]}{style}{periph} label={_label(node)}];')
    for a, b in graph.edges:
        lines.append(f'  "{a}" -> "{b}";')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_dot(out: Tensor, collapse: Any = None, max_nodes: int | None = 80, grads: dict[int, Any] | None = None,
           title: str = "") -> str:  # fmt: skip
    """Graphviz DOT text for the graph behind ``out`` (a pure function: nothing is run or written).

    Values show their forward value (green) and, once backward has run, their gradient
    (red); gates show their op and role. After a plain ``backward()`` only leaves keep a
    gradient (as in PyTorch); after ``chainrule.viz.explainer.trace(loss)`` (or ``explain``) every
    value does. See ``build_graph`` for ``collapse``, ``max_nodes`` and ``grads``.

    >>> import chainrule as cr
    >>> x = cr.Tensor(-2.0, requires_grad=True, name="x")
    >>> f = (x + 5.0) * -4.0
    >>> f.backward()
    >>> dot = to_dot(f)   # a scalar circuit: the operator in a circle, x's gradient under its wire
    >>> dot.startswith("digraph") and "<B>*</B>" in dot and '#cf222e">-4<' in dot
    True
    """
    return graph_to_dot(build_graph(out, collapse, max_nodes, grads), title)


def dot_program() -> str | None:
    """The path of Graphviz's ``dot``, or None."""
    return shutil.which("dot")


def render(out: Tensor, path: str | os.PathLike, collapse: Any = None, max_nodes: int | None = 80,
           grads: dict[int, Any] | None = None) -> Path:  # fmt: skip
    """Draw the graph behind ``out`` to ``path`` (.svg or .png) with Graphviz's ``dot``.

    Raises ``GraphvizNotFound`` (one line: how to install it) when ``dot`` is missing;
    ``to_dot`` and ``to_html`` need no Graphviz.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("svg", "png"):
        raise ValueError(f"render: {path} has suffix {path.suffix!r}; expected .svg or .png")
    picture = _run_dot(to_dot(out, collapse, max_nodes, grads), fmt)
    atomic_write(path, picture)
    return path


def _run_dot(dot: str, fmt: str) -> bytes:
    exe = dot_program()
    if exe is None:
        raise GraphvizNotFound(INSTALL)
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"render: dot failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _repr_svg_(self: Tensor) -> str | None:
    """Jupyter shows a Tensor that has a graph as its picture, when Graphviz is installed."""
    if self._ctx is None or dot_program() is None:
        return None
    return _run_dot(to_dot(self, max_nodes=60), "svg").decode()


Tensor._repr_svg_ = _repr_svg_

"""Pictures of computational graphs, drawn as the lecture draws its circuits.

Each wire (value) shows its forward value in green and, once backward has run, its
gradient in red; each gate shows its op and its part in the backward flow (add
distributes, mul swaps, max routes). Every use of a value is its own wire from a fork,
labelled with the gradient it carries back, and the fork shows their sum (branches add).
A circuit of one-number values is drawn exactly as the lecture draws it: gates are circles
with their operator, and each value is written on its wire, its forward value above the
line and its gradient below. Graphs of tensors draw a box per value (small tensors with
their numbers, larger ones with min / mean / max). Values are named by the name they were
given, by the module path of a network's parameters and outputs (``fc1.weight``, ``fc1``),
or by the sub-expression that computed them (``x + y``, ``W.T``).

- ``to_dot(tensor)``: Graphviz DOT text, a pure function;
- ``render(tensor, path, scale=1.5)``: SVG or PNG through Graphviz's ``dot`` (when installed);
- ``to_html(tensor, path)``: one self-contained page with a Step button and a slider that
  run the backward pass a gate at a time, zoom and pan (no Graphviz, no network needed);
- ``tensor.graph()``: the picture as an object Jupyter displays (``GraphPicture``); in
  Jupyter a tensor itself shows as its numbers, its graph one click away.

Big graphs: ``collapse="modules"`` folds each module call (a ``Linear``, a whole block)
into one box (the page opens it on a click), and ``max_nodes`` summarizes what lies beyond
the nodes nearest the output.
"""

from .graph import Graph, GraphNode, build_graph
from .html import GraphPicture, to_html, to_svg
from .render import GraphvizNotFound, graph_to_dot, render, to_dot

__all__ = ["Graph", "GraphNode", "GraphPicture", "GraphvizNotFound", "build_graph", "graph_to_dot", "render", "to_dot", "to_html",
           "to_svg"]

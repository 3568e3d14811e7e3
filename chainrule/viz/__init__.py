"""Pictures of computational graphs, drawn as the lecture draws its circuits.

Each wire (value) shows its forward value in green and, once backward has run, its
gradient in red; each gate shows its op and its part in the backward flow (add
distributes, mul swaps, max routes); a value that feeds several gates is marked as a fork,
where gradients sum. A circuit of one-number values is drawn exactly as the lecture draws
it: gates are circles with their operator, and each value is written on its wire, its
forward value above the line and its gradient below. Graphs of tensors draw a box per
value (small tensors with their numbers, larger ones with min / mean / max). Values are
named by the sub-expression that computed them (``x + y``, ``w0*x0``, ``W.T``).

- ``to_dot(tensor)``: Graphviz DOT text, a pure function;
- ``render(tensor, path)``: SVG or PNG through Graphviz's ``dot`` (when installed);
- ``to_html(tensor, path)``: one self-contained page with a Step button and a slider that
  run the backward pass a gate at a time (no Graphviz, no network needed);
- in Jupyter, a Tensor with a graph shows as its picture: Graphviz's where ``dot`` is
  installed, else the offline layout of ``to_svg``.

Big graphs: ``collapse=`` folds module calls (a ``Linear``, a whole block) into one node,
and ``max_nodes`` summarizes what lies beyond the nodes nearest the output.
"""

from .graph import Graph, GraphNode, build_graph
from .html import to_html, to_svg
from .render import GraphvizNotFound, graph_to_dot, render, to_dot

__all__ = ["Graph", "GraphNode", "GraphvizNotFound", "build_graph", "graph_to_dot", "render", "to_dot", "to_html",
           "to_svg"]

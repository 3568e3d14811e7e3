"""The lecture's backward-flow patterns, by gate: what each gate does with the upstream gradient.

"Add distributes, max routes, mul swaps": the explainer, the graph pictures and the
compiled source's comments name a gate's part in those words.
"""

from __future__ import annotations

ROLES = {
    "Add": "distributes: each input gets the upstream gradient unchanged",
    "Sub": "distributes: the first input gets the upstream gradient, the second its negative",
    "Mul": "swaps: each input gets the upstream gradient times the other input",
    "Maximum": "routes: the larger input gets the whole upstream gradient",
    "Max": "routes: the largest entry gets the upstream gradient",
    "MaxPool": "routes: each window's maximum gets its gradient",
    "Relu": "routes: the gradient passes where the input was positive",
    "Sum": "copies: every summed entry gets the upstream gradient",
    "Expand": "sums: the broadcast copies' gradients add up",
}


def role(gate: str) -> str:
    """The gate's part in the backward flow, in the lecture's words ('' when it has no name)."""
    return ROLES.get(gate, "")

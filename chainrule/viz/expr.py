"""Expressions typed on the command line, built into graphs without ``eval``.

``build("(x + y) * z", {"x": -2, "y": 5, "z": -4})`` parses the text with Python's
``ast`` and walks the tree itself, allowing only: the variables given, numbers, the
operators ``+ - * / ** @`` (and unary ``-``/``+``) and a fixed set of chainrule
functions. Anything else (attribute access, ``__import__``, lambdas, subscripts,
keywords, very long input) is refused with a one-line error naming the offending part.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor

MAX_LENGTH = 500

FUNCTIONS = {
    "exp": ops.exp, "log": ops.log, "sqrt": ops.sqrt, "abs": ops.abs, "tanh": ops.tanh, "sigmoid": ops.sigmoid,
    "relu": ops.relu, "softplus": ops.softplus, "erf": ops.erf, "max": ops.max, "min": ops.min, "sum": ops.sum,
    "mean": ops.mean, "maximum": ops.maximum, "minimum": ops.minimum, "softmax": ops.softmax,
    "log_softmax": ops.log_softmax,
}  # fmt: skip

_BINARY = {ast.Add: ops.add, ast.Sub: ops.sub, ast.Mult: ops.mul, ast.Div: ops.div, ast.Pow: ops.pow,
           ast.MatMult: ops.matmul}  # fmt: skip
_UNARY = {ast.USub: ops.neg, ast.UAdd: lambda a: a}


class ExpressionError(ValueError):
    """An expression that is not allowed or cannot be built; the message is one line."""


def _allowed(variables: dict[str, Any]) -> str:
    names = ", ".join(sorted(variables)) or "none given"
    return (f"expected the variables ({names}), numbers, + - * / ** @ and the functions "
            f"{', '.join(sorted(FUNCTIONS))}")  # fmt: skip


def parse_values(text: str) -> dict[str, Any]:
    """``"x=-2,y=5,v=[1,2]"`` -> {"x": -2.0, "y": 5.0, "v": [1.0, 2.0]} (literals only, never evaluated).

    >>> parse_values("x=-2, y=5, v=[1, 2.5]")
    {'x': -2.0, 'y': 5.0, 'v': [1.0, 2.5]}
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"--at is {len(text)} characters long; expected at most {MAX_LENGTH}")
    try:
        tree = ast.parse(f"f({text})", mode="eval")
    except SyntaxError:
        raise ExpressionError(f"--at {text!r}: expected name=value pairs separated by commas, e.g. x=-2,y=5") from None
    call = tree.body
    if not isinstance(call, ast.Call) or call.args:
        raise ExpressionError(f"--at {text!r}: expected name=value pairs separated by commas, e.g. x=-2,y=5")
    values: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise ExpressionError(f"--at {text!r}: expected name=value pairs")
        try:
            v = ast.literal_eval(kw.value)
        except ValueError:
            raise ExpressionError(f"--at: {kw.arg}={ast.unparse(kw.value)} is not a number or a list of numbers") from None
        arr = np.asarray(v, dtype=object)
        if arr.size == 0 or not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in arr.ravel()):
            raise ExpressionError(f"--at: {kw.arg}={ast.unparse(kw.value)} is not a number or a list of numbers")
        values[kw.arg] = float(v) if arr.ndim == 0 else np.asarray(v, dtype=np.float64).tolist()
    return values


def build(text: str, values: dict[str, Any], leaves: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Build the graph of ``text`` over leaf tensors named after ``values`` (float64, requiring grad),
    or over the given ``leaves`` (one Tensor per name of ``values``).

    >>> f, leaves = build("(x + y) * z", {"x": -2.0, "y": 5.0, "z": -4.0})
    >>> f.item(), sorted(leaves)
    (-12.0, ['x', 'y', 'z'])
    >>> build("x.__class__", {"x": 1.0})
    Traceback (most recent call last):
    ...
    chainrule.viz.expr.ExpressionError: attribute access 'x.__class__' is not allowed; expected the variables (x), numbers, + - * / ** @ and the functions abs, erf, exp, log, log_softmax, max, maximum, mean, min, minimum, relu, sigmoid, softmax, softplus, sqrt, sum, tanh
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; expected at most {MAX_LENGTH}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExpressionError(f"{text!r} is not a valid expression ({e.msg})") from None
    if leaves is None:
        leaves = {name: Tensor(v, requires_grad=True, dtype="float64", name=name) for name, v in values.items()}
    allowed = _allowed(values)

    def refuse(what: str) -> ExpressionError:
        return ExpressionError(f"{what} is not allowed; {allowed}")

    source = text.strip()

    def walk(node: ast.AST) -> Any:
        out = _walk(node)
        if isinstance(out, Tensor) and out._ctx is not None and not out.name:
            # the value is named by the sub-expression that made it, as the lecture names its wires
            out.name = " ".join((ast.get_source_segment(source, node) or ast.unparse(node)).split())
        return out

    def _walk(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                return float(node.value)
            raise refuse(f"the constant {ast.unparse(node)}")
        if isinstance(node, ast.Name):
            if node.id in leaves:
                return leaves[node.id]
            if node.id in FUNCTIONS:
                raise refuse(f"the function {node.id} without a call")
            raise ExpressionError(f"unknown name {node.id!r}; {allowed}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Lambda):
                raise refuse("lambda")
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise refuse(f"calling {ast.unparse(node.func)!r}")
            if node.keywords:
                raise refuse(f"keyword arguments in {ast.unparse(node)!r}")
            return FUNCTIONS[node.func.id](*[walk(a) for a in node.args])
        if isinstance(node, ast.Attribute):
            raise refuse(f"attribute access {ast.unparse(node)!r}")
        if isinstance(node, ast.Lambda):
            raise refuse("lambda")
        raise refuse(f"{type(node).__name__} {ast.unparse(node)!r}")

    try:
        out = walk(tree.body)
    except ExpressionError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        raise ExpressionError(f"{text!r} cannot be computed at these values: {str(e).splitlines()[0]}") from None
    if not isinstance(out, Tensor) or out._ctx is None:
        raise ExpressionError(f"{text!r} does not depend on any variable; {allowed}")
    if out.numel() != 1:
        out = ops.sum(out)  # backward needs one number: a vector result is summed
    out.name = "f"
    return out, leaves

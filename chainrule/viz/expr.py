"""Expressions typed on the command line, built into graphs without ``eval``.

``build("q = x + y; f = q * z", {"x": -2, "y": 5, "z": -4})`` parses the text with Python's
``ast`` and walks the tree itself, allowing only:

- statements separated by ``;`` or newlines, each ``name = expression`` (the name labels that
  value in the graph and the explanation, as the lecture writes ``q = x + y``), the last one
  also a bare expression; the last statement's value is the result, which must be one number;
- the variables given, numbers, the operators ``+ - * / ** @`` (and unary ``-``/``+``);
- indexing and slicing with integers (``softmax(s)[1]``, ``s[0:2]``, ``W[1, -1]``), or with a
  variable that is only ever used as an index (``softmax(s)[y]`` at ``y=1``: a class label);
- a fixed set of chainrule functions, each with one argument, except ``max``/``min``: with
  one, the largest/smallest entry; with two, the elementwise max/min gate (max routes).

Anything else (attribute access, ``__import__``, lambdas, keywords, other statements, very
long input) is refused with a one-line error naming the offending part.
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
# How many arguments each function takes (one unless named here). Two-argument max/min are the
# elementwise gates, never a reduction over a dim: the language has no axes.
_ARITY = {"max": (1, 2), "min": (1, 2), "maximum": (2,), "minimum": (2,)}
_ELEMENTWISE = {"max": ops.maximum, "min": ops.minimum}

_BINARY = {ast.Add: ops.add, ast.Sub: ops.sub, ast.Mult: ops.mul, ast.Div: ops.div, ast.Pow: ops.pow,
           ast.MatMult: ops.matmul}  # fmt: skip
_UNARY = {ast.USub: ops.neg, ast.UAdd: lambda a: a}


class ExpressionError(ValueError):
    """An expression that is not allowed or cannot be built; the message is one line."""


def _allowed(variables: dict[str, Any]) -> str:
    names = ", ".join(sorted(variables)) or "none given"
    return (f"expected the variables ({names}), numbers, + - * / ** @, indexing s[0] s[0:2], "
            f"names for values (q = x + y; f = q * z) and the functions {', '.join(sorted(FUNCTIONS))}")  # fmt: skip


def parse_values(text: str) -> dict[str, Any]:
    """``"x=-2,y=5,v=[1,2]"`` -> {"x": -2.0, "y": 5.0, "v": [1.0, 2.0]} (literals only, never evaluated).

    A name may take a number, a list (a vector) or a list of equal lists (a matrix):

    >>> parse_values("x=-2, y=5, v=[1, 2.5]")
    {'x': -2.0, 'y': 5.0, 'v': [1.0, 2.5]}
    >>> parse_values("W=[[1,2],[3,4]]")
    {'W': [[1.0, 2.0], [3.0, 4.0]]}
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
        try:
            arr = np.asarray(v, dtype=object)
        except ValueError:  # ragged nesting NumPy cannot even hold as objects
            arr = np.asarray([None], dtype=object)
        if arr.size == 0 or not all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in arr.ravel()):
            raise ExpressionError(f"--at: {kw.arg}={ast.unparse(kw.value)} is not a number or a list of numbers "
                                  "(a matrix: a list of equal-length lists)")  # fmt: skip
        values[kw.arg] = float(v) if arr.ndim == 0 else np.asarray(v, dtype=np.float64).tolist()
    return values


def _index_names(tree: ast.AST, values: dict[str, Any]) -> set[str]:
    """The variables used as indices (inside ``[...]``): class labels, not leaves of the graph.
    A variable used both as an index and as a value is refused (its gradient would mean nothing)."""
    in_slices = [n for s in ast.walk(tree) if isinstance(s, ast.Subscript) for n in ast.walk(s.slice)]
    index = {n.id for n in in_slices if isinstance(n, ast.Name) and n.id in values}
    inside = {id(n) for n in in_slices}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id in index and id(n) not in inside:
            raise ExpressionError(f"{n.id} is used both as an index and as a value; expected an index variable "
                                  "(a class label, as y in softmax(s)[y]) to be used only inside [...]")
    return index


def _statements(text: str) -> tuple[str, list[ast.stmt]]:
    """The source (each line stripped, so an indented block of statements parses) and its statements."""
    source = "\n".join(line.strip() for line in text.strip().splitlines())
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as e:
        raise ExpressionError(f"{text!r} is not a valid expression ({e.msg})") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"{text[:40]!r}... is nested too deeply; expected a shallower expression") from None
    if not tree.body:
        raise ExpressionError(f"{text!r} is empty; expected an expression such as (x + y) * z")
    return source, tree.body


def build(text: str, values: dict[str, Any], leaves: dict[str, Tensor] | None = None) -> tuple[Tensor, dict[str, Tensor]]:
    """Build the graph of ``text`` over leaf tensors named after ``values`` (float64, requiring grad),
    or over the given ``leaves`` (one Tensor per name of ``values`` not used as an index).
    Returns the result (named by its statement, else ``f``) and the leaves.

    >>> f, leaves = build("q = x + y; f = q * z", {"x": -2.0, "y": 5.0, "z": -4.0})
    >>> f.item(), f.name, f._ctx.inputs[0].name, sorted(leaves)
    (-12.0, 'f', 'q', ['x', 'y', 'z'])
    >>> loss, leaves = build("-log(softmax(s)[y])", {"s": [1.0, 2.0, 3.0], "y": 2.0})
    >>> round(loss.item(), 4), sorted(leaves)
    (0.4076, ['s'])
    >>> build("x.__class__", {"x": 1.0})
    Traceback (most recent call last):
    ...
    chainrule.viz.expr.ExpressionError: attribute access 'x.__class__' is not allowed; expected the variables (x), numbers, + - * / ** @, indexing s[0] s[0:2], names for values (q = x + y; f = q * z) and the functions abs, erf, exp, log, log_softmax, max, maximum, mean, min, minimum, relu, sigmoid, softmax, softplus, sqrt, sum, tanh
    """
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is {len(text)} characters long; expected at most {MAX_LENGTH}")
    source, body = _statements(text)
    allowed = _allowed(values)

    def refuse(what: str) -> ExpressionError:
        return ExpressionError(f"{what} is not allowed; {allowed}")

    module = ast.Module(body=body, type_ignores=[])
    index_names = _index_names(module, values)
    if leaves is None:
        leaves = {name: Tensor(v, requires_grad=True, dtype="float64", name=name)
                  for name, v in values.items() if name not in index_names}  # fmt: skip
    named: dict[str, Any] = {}  # the statements' names -> their values
    by_statement: set[int] = set()  # ids of tensors a statement named (a later alias keeps their name)

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
            if node.id in named:
                return named[node.id]
            if node.id in leaves:
                return leaves[node.id]
            if node.id in FUNCTIONS:
                raise refuse(f"the function {node.id} without a call")
            raise ExpressionError(f"unknown name {node.id!r}; {allowed}")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](walk(node.operand))
        if isinstance(node, ast.Subscript):
            base = walk(node.value)
            if not isinstance(base, Tensor):
                raise ExpressionError(f"{ast.unparse(node)!r} indexes a number; expected a vector or matrix before [...]")
            return ops.getitem(base, _index(node.slice))
        if isinstance(node, ast.Call):
            return call(node)
        if isinstance(node, ast.Attribute):
            raise refuse(f"attribute access {ast.unparse(node)!r}")
        if isinstance(node, ast.Lambda):
            raise refuse("lambda")
        raise refuse(f"{type(node).__name__} {ast.unparse(node)!r}")

    def call(node: ast.Call) -> Any:
        if isinstance(node.func, ast.Lambda):
            raise refuse("lambda")
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise refuse(f"calling {ast.unparse(node.func)!r}")
        if node.keywords:
            raise refuse(f"keyword arguments in {ast.unparse(node)!r}")
        if any(isinstance(a, ast.Starred) for a in node.args):
            raise refuse(f"unpacking in {ast.unparse(node)!r}")
        name, counts = node.func.id, _ARITY.get(node.func.id, (1,))
        if len(node.args) not in counts:
            expected = " or ".join(str(c) for c in counts)
            raise ExpressionError(f"{ast.unparse(node)!r} gives {name} {len(node.args)} argument(s); expected {expected}")
        args = [walk(a) for a in node.args]
        if len(args) == 2 and name in _ELEMENTWISE:  # max(x, y): the elementwise gate that routes
            return _ELEMENTWISE[name](*args)
        return FUNCTIONS[name](*args)

    def _index(node: ast.AST) -> Any:
        """An index: integers (a leading minus allowed), slices of them, index variables, tuples of those."""
        if isinstance(node, ast.Tuple):
            return tuple(_index_part(p) for p in node.elts)
        return _index_part(node)

    def _index_part(node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            return slice(*(None if p is None else _integer(p) for p in (node.lower, node.upper, node.step)))
        return _integer(node)

    def _integer(node: ast.AST) -> Any:
        sign = 1
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            sign, node = (-1 if isinstance(node.op, ast.USub) else 1), node.operand
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return sign * node.value
        if isinstance(node, ast.Name) and node.id in index_names:
            v = np.asarray(values[node.id], dtype=np.float64)
            if not np.all(v == np.round(v)):
                raise ExpressionError(f"{node.id}={values[node.id]} is used as an index; expected whole numbers")
            return sign * (int(v) if v.ndim == 0 else v.astype(np.int64))
        raise ExpressionError(f"the index {ast.unparse(node)!r} is not allowed; expected whole numbers (s[1], s[-1], "
                              "s[0:2], W[1, 2]) or a variable given by --at and used only as an index (softmax(s)[y])")  # fmt: skip

    def statement(i: int, stmt: ast.stmt, last: bool) -> Any:
        if isinstance(stmt, ast.Expr):
            if not last:
                raise ExpressionError(f"statement {i + 1}, {ast.unparse(stmt)!r}, computes a value nothing uses; "
                                      "expected a name for it (q = ...) or only the last statement without one")  # fmt: skip
            return walk(stmt.value)
        if not isinstance(stmt, ast.Assign):
            raise refuse(f"the statement {ast.unparse(stmt).splitlines()[0]!r}")
        target = stmt.targets[0]
        if len(stmt.targets) != 1 or not isinstance(target, ast.Name):
            raise ExpressionError(f"{ast.unparse(stmt)!r}: expected one name on the left, as in q = x + y")
        name = target.id
        if name in values or name in named or name in FUNCTIONS:
            what = "a variable" if name in values else "already named" if name in named else "a function"
            raise ExpressionError(f"{ast.unparse(stmt)!r}: {name} is {what}; expected a new name for each value")
        v = walk(stmt.value)
        if isinstance(v, Tensor) and v._ctx is not None and id(v) not in by_statement:
            v.name = name  # the graph's and the explanation's label for this value
            by_statement.add(id(v))
        named[name] = v
        return v

    try:
        for i, stmt in enumerate(body):
            out = statement(i, stmt, i == len(body) - 1)
    except ExpressionError:
        raise
    except (ValueError, TypeError, IndexError) as e:
        raise ExpressionError(f"{text!r} cannot be computed at these values: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise ExpressionError(f"{text[:40]!r}... is nested too deeply; expected a shallower expression") from None
    if not isinstance(out, Tensor) or out._ctx is None:
        raise ExpressionError(f"{text!r} does not depend on any variable; {allowed}")
    if out.numel() != 1:
        # refused, never summed behind the user's back: the graph and explain would show a different function
        last = ast.unparse(body[-1].value) if isinstance(body[-1], (ast.Expr, ast.Assign)) else "..."
        raise ExpressionError(f"the result has shape {out.shape}; backprop needs a scalar: wrap it in sum(...), "
                              f"e.g. sum({last})")  # fmt: skip
    if not isinstance(body[-1], ast.Assign) and id(out) not in by_statement:
        out.name = "out" if "f" in values or "f" in named else "f"
    return out, leaves

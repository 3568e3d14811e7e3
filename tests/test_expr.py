"""The expression language of ``chainrule graph``/``explain``: the lecture's numbers through its
new forms (names, indexing, vectors, a leading minus, two-argument max), and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.viz import build_graph
from chainrule.viz.explainer import trace
from chainrule.viz.expr import ExpressionError, build, parse_values


def grads(leaves):
    return {k: v.grad.numpy().tolist() if v.grad.ndim else v.grad.item() for k, v in leaves.items()}


def test_named_intermediates_give_the_lecture_numbers_and_labels():
    f, leaves = build("q = x + y; f = q * z", parse_values("x=-2,y=5,z=-4"))
    tr = trace(f)
    assert f.item() == -12.0 and grads(leaves) == {"x": -4.0, "y": -4.0, "z": 3.0}
    assert [(s.gate, s.output, s.inputs) for s in tr.steps] == [("Mul", "f", ["q", "z"]), ("Add", "q", ["x", "y"])]
    titles = {n.title for n in build_graph(f, grads=tr.grads).nodes.values()}
    assert {"q", "f", "x", "y", "z"} <= titles and not any("+" in t for t in titles if t)  # q, not "x + y"


def test_newlines_separate_statements_and_the_result_keeps_its_name():
    f, leaves = build("q = x + y\n    L = q * z", parse_values("x=-2,y=5,z=-4"))
    text = trace(f).text(list(leaves.values()))
    assert f.name == "L" and text.splitlines()[-3:] == ["dL/dx = -4", "dL/dy = -4", "dL/dz = 3"]
    f, _ = build("a = x * x; a + x", {"x": 3.0})  # a bare last expression is f
    assert f.name == "f" and f._ctx.inputs[0].name == "a" and f.item() == 12.0
    assert build("a = x * 2; x + 1", {"x": 3.0})[0].item() == 4.0  # a named value nobody uses is no error


def test_the_sigmoid_neuron_through_the_language():
    f, leaves = build("dot = w0*x0 + w1*x1 + w2; f = 1 / (1 + exp(-dot))", parse_values("w0=2,x0=-1,w1=-3,x1=-2,w2=-3"))
    f.backward()
    assert round(f.item(), 2) == 0.73
    got = [round(leaves[k].grad.item(), 2) for k in ("w0", "x0", "w1", "x1", "w2")]
    assert got == [-0.2, 0.39, -0.39, -0.59, 0.2]
    g, more = build("1/(1+exp(-(w0*x0+w1*x1+w2)))", parse_values("w0=2,x0=-1,w1=-3,x1=-2,w2=-3"))
    g.backward()
    assert g.item() == f.item() and [round(more[k].grad.item(), 2) for k in more] == got


def test_softmax_loss_with_indexing_and_a_vector():
    s = [3.2, 5.1, -1.7]  # the lecture's cat scores; the correct class is 0
    f, leaves = build("-log(softmax(s)[y])", parse_values("s=[3.2, 5.1, -1.7], y=0"))
    assert sorted(leaves) == ["s"] and round(f.item(), 2) == 2.04  # the lecture's L_i = -log(0.13) = 2.04
    f.backward()
    p = np.exp(s) / np.exp(s).sum()
    np.testing.assert_allclose(leaves["s"].grad.numpy(), p - np.eye(3)[0], rtol=1e-12)  # dL/ds = p - 1[y]
    text = trace(build("-log(softmax(s)[y])", parse_values("s=[3.2, 5.1, -1.7], y=0"))[0]).text()
    assert "GetItem" in text and text.splitlines()[-1].startswith("df/ds = [")


def test_slices_and_matrix_entries_are_gates():
    f, leaves = build("sum(s[0:2] * s[1:3]) + W[1, 0] * W[-1, -1]", parse_values("s=[1,2,3], W=[[1,2],[3,4]]"))
    f.backward()
    assert f.item() == 1 * 2 + 2 * 3 + 3 * 4
    assert leaves["s"].grad.tolist() == [2.0, 4.0, 2.0] and leaves["W"].grad.tolist() == [[0.0, 0.0], [4.0, 3.0]]
    f, leaves = build("sum(W @ v)", parse_values("W=[[1,2],[3,4]], v=[1,-1]"))  # a matrix --at
    f.backward()
    assert f.item() == -2.0 and leaves["v"].grad.tolist() == [4.0, 6.0]


def test_two_argument_max_routes_and_one_argument_max_reduces():
    f, leaves = build("max(x, y) * 2", {"x": 3.0, "y": -1.0})
    tr = trace(f)
    assert f.item() == 6.0 and grads(leaves) == {"x": 2.0, "y": 0.0}
    assert next(s for s in tr.steps if s.gate == "Maximum").downstream == [2.0, 0.0]  # routed to the larger
    f, leaves = build("min(x, y)", {"x": 3.0, "y": -1.0})
    f.backward()
    assert f.item() == -1.0 and grads(leaves) == {"x": 0.0, "y": 1.0}
    f, leaves = build("max(s) + min(s)", parse_values("s=[1, 7, -2]"))
    f.backward()
    assert f.item() == 5.0 and leaves["s"].grad.tolist() == [0.0, 1.0, 1.0]
    with pytest.raises(ExpressionError, match=r"gives max 3 argument\(s\); expected 1 or 2"):
        build("max(x, y, x)", {"x": 1.0, "y": 2.0})


def test_explain_ends_with_every_gradient_and_counts_uses_and_gates(capsys):
    assert main(["explain", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "q = x + y; f = q * z  at  x=-2,y=5,z=-4"
    assert out.splitlines()[-3:] == ["df/dx = -4", "df/dy = -4", "df/dz = 3"]
    assert main(["explain", "u*u + u", "--at", "u=3"]) == 0
    out = capsys.readouterr().out
    assert "u is used 3 times (by 2 gates), so its gradient is the sum: 1 + 3 + 3 = 7" in out and "feeds" not in out
    assert main(["explain", "a = x*2; b = x*3; a + b + x", "--at", "x=1"]) == 0
    assert "x feeds 3 gates, so its gradient is the sum" in capsys.readouterr().out  # three gates, once each
    assert main(["explain", "x * x", "--at", "x=3,z=1"]) == 0
    out = capsys.readouterr().out
    assert "x is used 2 times (by 1 gate)" in out and out.splitlines()[-1] == "df/dz = 0 (f does not depend on z)"


@pytest.mark.parametrize("argv", [["explain", "-log(x)", "--at", "x=2"], ["explain", "--at", "x=2", "-log(x)"],
                                  ["explain", "--at=x=2", "-log(x)"]])  # fmt: skip
def test_a_leading_minus_is_an_expression_not_an_option(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("f = -log(x)  at  x=2") and out.splitlines()[-1] == "df/dx = -0.5"


def test_graph_command_with_names_and_a_leading_minus(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["graph", "-log(softmax(s)[y])", "--at", "s=[1,2,3],y=2", "--out", str(out)]) == 0
    assert "df/ds = [" in (out / "explanation.txt").read_text()
    assert main(["graph", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4", "--out", str(out)]) == 0
    assert "df/dz = 3" in (out / "explanation.txt").read_text() and '"q' in (out / "graph.dot").read_text()
    capsys.readouterr()


@pytest.mark.parametrize(
    "text,words",
    [
        ("s * 2", ["the result has shape (3,); backprop needs a scalar: wrap it in sum(...)", "sum(s * 2)"]),
        ("t = s + x; t", ["the result has shape (3,)", "sum(t)"]),
        ("__import__('os').system('ls')", ["calling", "not allowed"]),
        ("s.__class__", ["attribute access 's.__class__' is not allowed"]),
        ("(lambda: x)()", ["lambda is not allowed"]),
        ("import os", ["the statement 'import os' is not allowed"]),
        ("s[x.real]", ["the index 'x.real' is not allowed"]),
        ("s[__import__('os')]", ["the index", "not allowed"]),
        ("exp(*s)", ["unpacking", "not allowed"]),
        ("x = x + 1; x", ["x is a variable; expected a new name"]),
        ("q = x; q = q * 2; q", ["q is already named"]),
        ("exp = x * 2; exp", ["exp is a function"]),
        ("x * 2; x + 1", ["statement 1, 'x * 2', computes a value nothing uses"]),
        ("s[y] * y", ["y is used both as an index and as a value"]),
        ("s[1.5]", ["the index '1.5' is not allowed; expected whole numbers"]),
        ("s[q]", ["the index 'q' is not allowed"]),
        ("x[0]", ["cannot be computed at these values", "does not fit shape ()"]),
        ("s[7]", ["cannot be computed at these values"]),
        ("a, b = x, x", ["expected one name on the left"]),
        ("", ["is empty"]),
    ],
)
def test_refusals_are_one_line_and_name_the_problem(text, words):
    values = {"x": 2.0, "s": [1.0, 2.0, 3.0], "y": 1.0}
    with pytest.raises(ExpressionError) as e:
        build(text, values)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_an_index_variable_must_be_whole():
    with pytest.raises(ExpressionError, match="y=0.5 is used as an index; expected whole numbers"):
        build("s[y]", {"s": [1.0, 2.0], "y": 0.5})
    f, leaves = build("sum(s[y])", parse_values("s=[1,2,3], y=[2, 0, 2]"))  # a list of labels picks several
    f.backward()
    assert f.item() == 7.0 and leaves["s"].grad.tolist() == [1.0, 0.0, 2.0]


def test_matrices_on_at_and_ragged_ones_refused():
    assert parse_values("W=[[1,2],[3,4]], s=[1,2,3]") == {"W": [[1.0, 2.0], [3.0, 4.0]], "s": [1.0, 2.0, 3.0]}
    with pytest.raises(ExpressionError, match="a list of equal-length lists"):
        parse_values("W=[[1,2],[3]]")


def test_the_compiled_source_of_a_named_and_indexed_expression(capsys):
    assert main(["compile-source", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4"]) == 0
    namespace: dict = {}
    exec(compile(capsys.readouterr().out, "step.py", "exec"), namespace)
    f, *g = namespace["step"](*[np.float64(v) for v in (-2, 5, -4)], (np.float64(1.0),))
    assert float(f) == -12.0 and [float(v) for v in g] == [-4.0, -4.0, 3.0]


def test_explain_of_a_python_graph_names_its_unnamed_inputs():
    x = cr.Tensor(3.0, requires_grad=True)
    text = cr.explain(x * 2.0)
    assert text.splitlines()[-1] == "df/d(input 1) = 2"

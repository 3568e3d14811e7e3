"""Seeing backprop: the explainer, graph pictures, the interactive page and the graph command."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, viz
from chainrule.cli import main
from chainrule.viz.explainer import trace
from chainrule.viz.expr import ExpressionError, build, parse_values


def lecture_graph():
    x = cr.Tensor(-2.0, requires_grad=True, name="x")
    y = cr.Tensor(5.0, requires_grad=True, name="y")
    z = cr.Tensor(-4.0, requires_grad=True, name="z")
    q = x + y
    q.name = "q"
    f = q * z
    f.name = "f"
    return f, (x, y, z)


# -- the explainer -----------------------------------------------------------------------------


def test_explain_walks_the_lecture_example():
    f, (x, y, z) = lecture_graph()
    text = cr.explain(f)
    assert text.splitlines()[1].split() == ["[", "Mul]", "f", "q:", "1", "x", "-4", "=", "-4;", "z:", "1", "x", "3", "=", "3"]
    assert "q: 1 x -4 = -4" in text and "x: -4 x 1 = -4" in text and "y: -4 x 1 = -4" in text
    assert "Mul swaps" in text and "Add distributes" in text
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)  # it ran the backward pass


def test_explain_shows_sums_at_forks():
    x = cr.Tensor(3.0, requires_grad=True, name="x")
    a = x * 2.0
    a.name = "a"
    b = a * a + a  # a feeds two gates (Mul twice, Add once)
    b.name = "b"
    text = cr.explain(b)
    # db/da = 2a + 1 = 13: the parts 6 + 6 from the Mul and 1 from the Add
    assert re.search(r"a is used 3 times \(by 2 gates\), so its gradient is the sum: (6 \+ 6 \+ 1|1 \+ 6 \+ 6) = 13", text), text
    assert x.grad.item() == 26.0


def test_explain_gives_shapes_and_norms_for_tensors():
    W = cr.Tensor(np.ones((4, 5)), requires_grad=True, name="W")
    X = cr.Tensor(np.ones((5, 3)), name="X")
    text = cr.explain(((W @ X) ** 2).sum())
    assert "W <- <(4, 5) |.|=" in text


def test_trace_keeps_every_gradient():
    f, _ = lecture_graph()
    tr = trace(f)
    q = f._ctx.inputs[0]
    assert q.grad.item() == -4.0 and f.grad.item() == 1.0
    assert tr.grads[id(q)] == -4.0 and len(tr.steps) == 2


# -- DOT -------------------------------------------------------------------------------------------


def test_dot_shows_values_gradients_roles_and_forks():
    f, (x, _, _) = lecture_graph()
    assert '<FONT COLOR="#cf222e">-4</FONT>' not in viz.to_dot(f)  # before backward: values only
    f.backward()
    dot = viz.to_dot(f)
    assert dot.count("->") == 6
    assert '<FONT COLOR="#1a7f37">-2</FONT>' in dot  # x's value, green, above its wire
    assert '<FONT COLOR="#cf222e">-4</FONT>' in dot  # its gradient, red, below it
    assert "distributes" in dot and "swaps" in dot
    w = cr.Tensor(2.0, requires_grad=True, name="w")
    m = cr.maximum(w * w, 1.0)
    assert "routes" in viz.to_dot(m)
    assert "fork: gradients add" in viz.to_dot(m)
    v = cr.Tensor([2.0, 3.0], requires_grad=True, name="v")
    assert "fork: gradients add" in viz.to_dot((v * v).sum()) and "peripheries=2" in viz.to_dot((v * v).sum())


def test_scalar_circuits_are_drawn_as_the_lecture_draws_them():
    f, _ = lecture_graph()
    tr = trace(f)
    graph = viz.build_graph(f, grads=tr.grads)
    assert graph.scalar
    dot = viz.graph_to_dot(graph)
    assert dot.count("shape=circle") == 2 and "<B>+</B>" in dot and "<B>*</B>" in dot  # gates: circles, operators
    assert "shape=box" not in dot and "shape=plain" in dot  # values: on their wires, no boxes
    # each wire: the value's cell is ruled below (the wire), the gradient under it; edges meet the rule's ends
    assert re.search(r'PORT="v" SIDES="B" BORDER="1"[^>]*><FONT COLOR="#1a7f37">3</FONT></TD></TR><TR><TD><FONT COLOR="#cf222e">-4</FONT>', dot)
    assert re.search(r'":v:se -> "g\d+"', dot) and re.search(r'"g\d+" -> "t\d+":v:sw \[arrowhead=none\]', dot)
    svg = viz.to_svg(graph)
    assert svg.count('<line class="wire"') == 5 and svg.count("<ellipse") == 2 and "<rect" not in svg
    assert "(scalar)" not in dot + svg and "grad " not in svg
    tensors = viz.build_graph((cr.Tensor([1.0, 2.0], requires_grad=True) * 2).sum())
    assert not tensors.scalar and "shape=box" in viz.graph_to_dot(tensors) and "<rect" in viz.to_svg(tensors)


def test_values_are_named_by_their_sub_expressions():
    f, leaves = build("1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))", parse_values("w0=2,x0=-1,w1=-3,x1=-2,w2=-3"))
    text = cr.explain(f)
    assert "<" not in text and "scalar" not in text
    for name in ("w0*x0", "w0*x0 + w1*x1 + w2", "-(w0*x0 + w1*x1 + w2)", "exp(-(w0*x0 + w1*x1 + w2))"):
        assert f"] {name} " in text, name
    w = cr.Tensor(1.0, requires_grad=True, name="w")  # built in Python without names: the same rule
    x = cr.Tensor(2.0, name="x")
    tr = trace(cr.tanh(w * x + 1.0))
    assert [s.output for s in tr.steps] == ["tanh(w*x + 1)", "w*x + 1", "w*x"]
    W = cr.Tensor(np.ones((3, 4)), requires_grad=True, name="W")
    g = viz.build_graph((cr.Tensor(np.ones((2, 4))) @ W.T).sum())
    assert [n.title for n in g.nodes.values() if n.kind == "gate"] == ["Sum", "MatMul", "transpose"]
    assert "W.T (4x3)" in [n.heading() for n in g.nodes.values()]


def test_small_tensors_show_their_numbers_and_gradients():
    W = cr.Tensor(np.arange(12.0).reshape(3, 4) / 10, requires_grad=True, name="W")
    x = cr.Tensor([1.0, -1.0, 2.0, 0.5], name="x")
    loss = ((W @ x) ** 2).sum()
    tr = trace(loss)
    node = next(n for n in viz.build_graph(loss, grads=tr.grads).nodes.values() if n.title == "W")
    assert node.value.split("\n") == ["[0, 0.1, 0.2, 0.3]", "[0.4, 0.5, 0.6, 0.7]", "[0.8, 0.9, 1, 1.1]"]
    assert len(node.grad.split("\n")) == 3 and "|.|" not in node.grad and len(node.grad_numbers) == 12
    svg = viz.to_svg(viz.build_graph(loss, grads=tr.grads))
    assert "[0.4, 0.5, 0.6, 0.7]" in svg and svg.count("<tspan") >= 3  # the gradient's rows too


def test_small_tensors_show_numbers_large_ones_statistics():
    small = cr.Tensor([1.0, 2.0], requires_grad=True, name="small")
    big = cr.Tensor(np.arange(100.0), requires_grad=True, name="big")
    dot = viz.to_dot((small * 2).sum() + big.mean())
    assert "[1, 2]" in dot and "min 0 / mean 49.5 / max 99" in dot


def test_modules_fold_and_max_nodes_summarizes():
    cr.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 16), nn.ReLU(), nn.Linear(16, 3),
    )  # fmt: skip
    loss = nn.functional.cross_entropy(net(cr.Tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)))), [0, 2])
    full = viz.build_graph(loss, max_nodes=None)
    folded = viz.build_graph(loss, collapse=(nn.Conv2d, nn.Linear), max_nodes=None)
    groups = [n for n in folded.nodes.values() if n.kind == "group"]
    assert [g.title for g in groups] == ["Linear(in_features=16, out_features=3, bias=True)",
                                         "Linear(in_features=32, out_features=16, bias=True)",
                                         "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
                                         "Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"]  # fmt: skip
    assert "weight 8x4x3x3, bias 8" in groups[2].detail
    assert len(folded.nodes) < len(full.nodes)
    whole = viz.build_graph(loss, collapse=net)
    assert [n.kind for n in whole.nodes.values()].count("group") == 1 and len(whole.nodes) == 5  # input, net, scores, CE, loss
    small = viz.build_graph(loss, max_nodes=6)
    more = small.nodes["more"]
    assert len(small.nodes) == 7 and re.fullmatch(r"\.\.\. \d+ more gates", more.title)
    total = len([n for n in full.nodes.values() if n.kind == "gate"])
    shown = len([n for n in small.nodes.values() if n.kind == "gate"])
    assert more.title == f"... {total - shown} more gates"


# -- rendering with Graphviz ----------------------------------------------------------------------

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")


@needs_dot
def test_render_svg_and_png(tmp_path):
    f, _ = lecture_graph()
    f.backward()
    svg = viz.render(f, tmp_path / "f.svg").read_text()
    assert "<svg" in svg and (">-4<" in svg or ">&#45;4<" in svg)  # dot writes - as &#45;
    assert viz.render(f, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in f.graph()._repr_svg_() and "graphviz" in f.graph()._repr_html_().lower()  # Graphviz's picture
    assert "<details>" in f._repr_html_() and "-12" in f._repr_html_()  # Jupyter: the numbers, the graph a click away


def test_render_without_graphviz_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    f, _ = lecture_graph()
    with pytest.raises(viz.GraphvizNotFound) as e:
        viz.render(f, tmp_path / "f.svg")
    assert "apt-get install graphviz" in str(e.value) and "\n" not in str(e.value)
    assert f.graph().offline and 'class="use"' in f.graph()._repr_svg_()  # without Graphviz: the offline layout
    assert f._repr_html_().startswith('<pre class="chainrule-tensor">') and cr.Tensor(1.0)._repr_html_() is None
    assert '<details><summary>graph: 2 gates' in f._repr_html_() and 'class="use"' in f._repr_html_()
    assert not (tmp_path / "f.svg").exists()
    with pytest.raises(ValueError, match=r"render: .*f.pdf has suffix '.pdf'; expected .svg or .png"):
        viz.render(f, tmp_path / "f.pdf")


# -- the interactive page ------------------------------------------------------------------------


def test_html_is_self_contained(tmp_path):
    f, _ = lecture_graph()
    page = viz.to_html(f, tmp_path / "f.html").read_text()
    assert "<script>" in page and "Step" in page and 'type="range"' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no network, no CDN
    data = json.loads(re.search(r'<script id="steps" type="application/json">(.*?)</script>', page, re.S).group(1))
    assert [s["sentence"].split(" gate")[0] for s in data["steps"]] == ["Mul", "Add"]
    with pytest.raises(ValueError, match="to_html: backward\\(\\) already ran"):
        viz.to_html(f, tmp_path / "again.html")


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (a test dependency) drives the browser")
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,700"):  # fmt: skip
        options.add_argument(flag)
    options.binary_location = chromium
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def test_page_steps_to_the_engines_gradients(tmp_path):
    cr.manual_seed(0)
    w = cr.Tensor([2.0, -3.0, -3.0], requires_grad=True, name="w")
    x = cr.Tensor([-1.0, -2.0, 1.0], name="x")
    s = (w * x).sum()
    s.name = "s"
    f = cr.sigmoid(s)
    f.name = "f"
    path = viz.to_html(f, tmp_path / "neuron.html")
    browser = _browser()
    try:
        browser.get(path.resolve().as_uri())
        body = browser.find_element("tag name", "body")
        assert body.get_attribute("data-step") == "0"
        assert browser.find_elements("css selector", "g.node[data-grad]") == []  # no gradients before stepping
        step = browser.find_element("id", "step")
        clicks = 0
        while step.is_enabled():
            step.click()
            clicks += 1
        assert clicks == 3 and body.get_attribute("data-step") == "3"
        assert "Mul gate" in browser.find_element("id", "sentence").text  # the last gate: w * x
        shown = json.loads(browser.find_element("id", f"t{id(w)}").get_attribute("data-grad"))
        np.testing.assert_allclose(shown, w.grad.numpy(), rtol=1e-12)  # the page ends where the engine does
        np.testing.assert_allclose(shown, [-0.19661193, -0.39322387, 0.19661193], rtol=1e-6)
        errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        browser.find_element("id", "slider").send_keys("\ue012")  # the left arrow key: one step back
        assert body.get_attribute("data-step") == "2"
        # a screenshot for the docs, in the ignored out/ folder (docs/graph-page.png is one of these)
        shot = Path(__file__).resolve().parent.parent / "out" / "screenshots" / "neuron-page.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(shot)) and shot.read_bytes()[:4] == b"\x89PNG"
    finally:
        browser.quit()


# -- expressions and the graph command -----------------------------------------------------------


def test_expressions_build_the_lecture_graphs():
    f, leaves = build("(x + y) * z", parse_values("x=-2,y=5,z=-4"))
    f.backward()
    assert f.item() == -12 and [leaves[k].grad.item() for k in "xyz"] == [-4, -4, 3]
    f, leaves = build("1 / (1 + exp(-(w0*x0 + w1*x1 + w2)))", parse_values("w0=2,x0=-1,w1=-3,x1=-2,w2=-3"))
    f.backward()
    assert round(f.item(), 2) == 0.73 and round(leaves["w0"].grad.item(), 2) == -0.2
    f, leaves = build("w @ v", parse_values("w=[1,2],v=[3,4]"))
    assert f.item() == 11


@pytest.mark.parametrize(
    "text,words",
    [
        ("__import__('os').system('ls')", ["calling", "__import__('os').system", "not allowed"]),
        ("x.__class__", ["attribute access 'x.__class__'"]),
        ("(lambda: x)()", ["lambda is not allowed"]),
        ("{x: 1}", ["Dict '{x: 1}'"]),
        ("open('f')", ["calling 'open'"]),
        ("exp(x, out=x)", ["keyword arguments"]),
        ("q + 1", ["unknown name 'q'", "variables (x)"]),
        ("'a' + x", ["the constant 'a'"]),
        ("x + " * 200 + "x", ["characters long", "at most 500"]),
        ("x +", ["not a valid expression"]),
        ("2 + 3", ["does not depend on any variable"]),
    ],
)
def test_expressions_refuse_everything_else(text, words):
    with pytest.raises(ExpressionError) as e:
        build(text, {"x": 1.0})
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_at_values_are_literals_only():
    with pytest.raises(ExpressionError, match="not a number or a list of numbers"):
        parse_values("x=__import__('os')")
    with pytest.raises(ExpressionError, match="expected name=value pairs"):
        parse_values("x")


def test_graph_command_writes_its_files(tmp_path, capsys):
    out = tmp_path / "g"
    assert main(["graph", "(x + y) * z", "--at", "x=-2,y=5,z=-4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "x: -4 x 1 = -4" in text
    names = {p.name for p in out.iterdir()}
    assert {"graph.dot", "graph.html", "explanation.txt"} <= names
    if shutil.which("dot"):
        assert {"graph.svg", "graph.png"} <= names
    else:
        assert "apt-get install graphviz" in text
    assert "z: 1 x 3 = 3" in (out / "explanation.txt").read_text()


@pytest.mark.parametrize("argv", [["explain", "x.__dict__", "--at", "x=1"], ["graph", "__import__('os')", "--at", "x=1"],
                                  ["explain", "x", "--at", "x=import os"]])  # fmt: skip
def test_expression_commands_refuse_in_one_line(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not allowed" in err or "expected name=value" in err


def test_wide_graphs_stay_one_picture_to_zoom():
    # once wrapped into bands whose edges crossed; now one row, read by zooming and panning in the page
    from chainrule.viz.html import layout

    x = cr.Tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True, name="x")
    h = x
    for _ in range(12):  # a long chain of tensor gates: far wider than a page in one row
        h = cr.tanh(h * 1.5 + 0.1)
    loss = h.sum()
    graph = viz.build_graph(loss, grads=trace(loss).grads)
    boxes = layout(graph)
    gates = sorted((bx, by + bh / 2) for n, (bx, by, _, bh) in boxes.items() if graph.nodes[n].kind == "gate")
    assert max(bx + w for bx, _, w, _ in boxes.values()) > 3000 and len({round(cy) for _, cy in gates}) <= 2
    svg = viz.to_svg(graph)
    assert 'style="max-width: 100%; height: auto"' in svg  # inline (the tour, Jupyter): scales to the page
    assert "max-width" not in viz.to_svg(graph, fit=False)
